"""Tell a model folder's format: from its MLflow `MLmodel` file, else from the files OVMS itself loads.

The format decides what can happen to the model: OVMS loads OpenVINO IR and ONNX as they are, the
converter turns ONNX, TensorFlow and PyTorch into IR, and the tree-model and pyfunc formats need another
serving backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from modelstore.errors import StoreError
from modelstore.stores import Store, StoreSettings, open_store

#: The format vocabulary, shared with the Pulumi program's `format` setting; "mlflow" is pyfunc-only.
FORMATS = (
    "openvino",
    "onnx",
    "tensorflow",
    "keras",
    "sklearn",
    "xgboost",
    "lightgbm",
    "pytorch",
    "mlflow",
)

MLMODEL = "MLmodel"
#: How a StoreError tells the user to do without detection: the Pulumi program's per-model setting.
DEFAULT_HINT = "set `format`"

#: MLflow flavor -> (format, the flavor key naming the model's file or folder, its default), in the order a
#: model logged with several flavors is read: the ones OVMS serves or the converter turns into IR first.
#: Keys from MLflow's flavor modules (mlflow/onnx, tensorflow, keras, pytorch, sklearn, xgboost, lightgbm:
#: each `save_model` writes them with `mlflow_model.add_flavor`).
FLAVORS: dict[str, tuple[str, str, str]] = {
    "openvino": ("openvino", "data", ""),
    "onnx": ("onnx", "data", "model.onnx"),
    "tensorflow": ("tensorflow", "saved_model_dir", "tfmodel"),
    "keras": ("keras", "data", "data"),
    "pytorch": ("pytorch", "model_data", "data"),
    "sklearn": ("sklearn", "pickled_model", "model.pkl"),
    "xgboost": ("xgboost", "data", "model.xgb"),
    "lightgbm": ("lightgbm", "data", "model.lgb"),
}

#: pyfunc `loader_module` -> format, for a model whose MLmodel has only the python_function flavor.
LOADER_MODULES = {f"mlflow.{flavor}": fmt for flavor, (fmt, _, _) in FLAVORS.items()}

#: OVMS model folder layout: `<model>/<version>/` with a numeric version (OVMS docs, "Preparing a Model
#: Repository"); detection also accepts the files at the top, as MLflow and exporters write them.
_VERSION = re.compile(r"\d+")


@dataclass(frozen=True)
class Detected:
    """What a model folder holds: its format, why we think so, and where the model file or folder is."""

    format: str
    evidence: str
    artifact: str = ""
    """The model file or folder, relative to the store root ("" for the root itself)."""
    files: tuple[str, ...] = ()
    """Every file of the folder, relative, as listed."""
    mlmodel: Mapping[str, Any] = field(default_factory=dict)
    """The parsed MLmodel file ({} without one): its signature gives input shapes."""


def detect(
    url: str,
    credentials: Mapping[str, str] | None = None,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    hint: str | None = DEFAULT_HINT,
) -> Detected:
    """Open the store at url and tell the format of the model folder there (see `detect_in`)."""
    settings = StoreSettings(credentials=dict(credentials or {}), endpoint=endpoint, region=region)
    return detect_in(open_store(url, settings), hint=hint)


def detect_in(store: Store, hint: str | None = DEFAULT_HINT, exclude: str = "") -> Detected:
    """The format of the model at the store's root; StoreError (one line ending with `hint`) otherwise.

    `hint` tells the user how to do without detection (the Pulumi program: set `format`); None for a
    caller that needs the files anyway (the converter).

    The MLmodel file, when there is one, decides: its flavors in FLAVORS order, else the python_function
    flavor's loader_module, else "mlflow" (a pyfunc model). Without one: an OpenVINO IR (`*.xml` beside a
    `*.bin` of the same name), a `.onnx` file or a TensorFlow `saved_model.pb`, at the top or in a
    numeric version folder. `exclude` leaves out a sub-folder (the converter's output inside its source).
    """
    try:
        files = tuple(
            f for f in store.list() if not (exclude and (f == exclude or f.startswith(f"{exclude}/")))
        )
    except StoreError as err:
        raise StoreError(f"{err}{_skip(hint)}", store=err.store) from None
    if not files:
        raise StoreError(f"{store.url}: no files there (check the path){_skip(hint)}")
    if MLMODEL in files:
        return _from_mlmodel(store, files, hint)
    found = _from_files(files)
    if found is None:
        raise StoreError(
            f"{store.url}: no MLmodel file, OpenVINO IR (*.xml + *.bin), .onnx file or saved_model.pb"
            f"{_name(hint)}"
        )
    fmt, artifact, evidence = found
    return Detected(fmt, evidence, artifact, files)


def _skip(hint: str | None) -> str:
    return f"; {hint} to skip detection" if hint else ""


def _name(hint: str | None) -> str:
    return f"; {hint} (one of {', '.join(FORMATS)})" if hint else ""


def _from_mlmodel(store: Store, files: tuple[str, ...], hint: str | None) -> Detected:
    where = store.child(MLMODEL)
    try:
        parsed = yaml.safe_load(store.read(MLMODEL).decode("utf-8", errors="replace"))
    except StoreError as err:
        raise StoreError(f"{err}{_skip(hint)}", store=err.store) from None
    except yaml.YAMLError:
        raise StoreError(f"{where} is not valid YAML{_skip(hint)}") from None
    flavors = parsed.get("flavors") if isinstance(parsed, dict) else None
    if not isinstance(flavors, dict) or not flavors:
        raise StoreError(f"{where} names no flavors{_name(hint)}")
    for flavor, (fmt, key, default) in FLAVORS.items():
        conf = flavors.get(flavor)
        if conf is None:
            continue
        conf = conf if isinstance(conf, dict) else {}
        if flavor == "tensorflow":
            fmt, key, default = _tensorflow_kind(conf)
        artifact = str(conf.get(key) or default)
        return Detected(fmt, f"MLmodel flavor {flavor} ({key}: {artifact})", artifact, files, parsed)
    pyfunc = flavors.get("python_function")
    loader = pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None
    if loader in LOADER_MODULES:
        fmt = LOADER_MODULES[loader]
        artifact = str(pyfunc.get("data") or "")
        return Detected(fmt, f"MLmodel python_function loader_module {loader}", artifact, files, parsed)
    if isinstance(pyfunc, dict):
        evidence = f"MLmodel python_function only (loader_module {loader or 'none'})"
        return Detected("mlflow", evidence, str(pyfunc.get("data") or ""), files, parsed)
    names = ", ".join(sorted(map(str, flavors)))
    raise StoreError(f"{where} has no flavor this project knows ({names}){_name(hint)}")


def _tensorflow_kind(conf: Mapping[str, Any]) -> tuple[str, str, str]:
    """Keras or a plain SavedModel: MLflow's tensorflow flavor holds both, told apart by `model_type`.

    mlflow/tensorflow/__init__.py writes model_type "keras" (with keras_version, save_format and `data`) for
    a Keras model and "tf2-module" or "tf1-estimator" (with saved_model_dir) otherwise; older MLflow wrote
    no model_type, only saved_model_dir for a SavedModel.
    """
    if conf.get("model_type") == "keras" or ("keras_version" in conf and "saved_model_dir" not in conf):
        return "keras", "data", "data"
    return "tensorflow", "saved_model_dir", "tfmodel"


def _from_files(files: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(format, artifact, evidence) from the files OVMS loads, the highest version folder first."""
    folders: dict[str, list[str]] = {}
    for name in files:
        folder, _, base = name.rpartition("/")
        if folder == "" or _VERSION.fullmatch(folder):
            folders.setdefault(folder, []).append(base)
    order = sorted(folders, key=lambda f: (f != "", int(f) if f else 0), reverse=True)
    for folder in order:
        names = set(folders[folder])
        prefix = f"{folder}/" if folder else ""
        for name in sorted(names):
            if name.endswith(".xml") and f"{name[:-4]}.bin" in names:
                return "openvino", prefix + name, f"OpenVINO IR {prefix}{name}"
        for name in sorted(names):
            if name.endswith(".onnx"):
                return "onnx", prefix + name, f"ONNX file {prefix}{name}"
        if "saved_model.pb" in names:
            return "tensorflow", folder, f"TensorFlow SavedModel {prefix}saved_model.pb"
    return None
