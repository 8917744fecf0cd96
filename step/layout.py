"""Lay an MLflow model out where its server loads it, before the step deploys it.

Why: MLflow keeps a SavedModel under `tfmodel/` (or `data/model` for Keras) and an ONNX model as
`model.onnx`, with no version folder, while TF Serving (KServe's kserve-tensorflow-serving, Seldon's
TENSORFLOW_SERVER) loads only `<uri>/<version>/saved_model.pb`, OpenVINO Model Server (backend ovms, KServe's
kserve-openvino) only `<uri>/<version>/<model file>` (OVMS docs, "Preparing a Model Repository"), and Triton
(Seldon's TRITON_SERVER, KServe's kserve-tritonserver) a repository `<uri>/<model>/<version>/model.onnx` or
`.../model.savedmodel/` (Triton docs/user_guide/model_repository.md; FuseML's kserve run.sh built the same).
FuseML's own kserve and seldon predictor steps copied the model into `1/` first (fuseml/extensions
images/inference-services/kserve/run.sh); this step does the same, server-side in the store, into
`<model>/serving/1/`, and deploys that folder. Copying once per source is enough: a folder already in a
version layout is used as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.config import StackConfig
from kernel.errors import StepInputError

#: Where the laid-out copy goes, beside the MLflow files (as the converter writes `ovms/` there).
SERVING = "serving"
#: The converter's output inside its source (convert/: `<model>/ovms/<version>/`): not the source's layout.
CONVERTED = "ovms"
VERSION = "1"
SAVED_MODEL = "saved_model.pb"
TF_SERVING = ("kserve-tensorflow-serving", "TENSORFLOW_SERVER")
OVMS = ("ovms", "kserve-openvino")
TRITON = ("kserve-tritonserver", "TRITON_SERVER")
_VERSIONED = re.compile(r"^(\d+|[^/]+/\d+)/")


@dataclass(frozen=True)
class Laid:
    """What `lay_out` did: the model URL to deploy, and one line for the log."""

    url: str
    said: str


def target(runtime: str, fmt: str, app: str) -> str | None:
    """Where below serving/ the runtime looks for the model (a folder for a SavedModel, a file for ONNX)."""
    if fmt in ("tensorflow", "keras") and runtime in TF_SERVING:
        return VERSION
    if fmt in ("tensorflow", "keras") and runtime in TRITON:
        return f"{app}/{VERSION}/model.savedmodel"
    if fmt == "onnx" and runtime in OVMS:
        return f"{VERSION}/model.onnx"
    if fmt == "onnx" and runtime in TRITON:
        return f"{app}/{VERSION}/model.onnx"
    return None


def lay_out(cfg: StackConfig, plan: Any, settings: Any, open_store: Callable[..., Any]) -> Laid | None:
    """The step's model laid out where its runtime loads it, or None when it loads the folder as it is.

    `plan` is the model's serving plan (runtime and format); `open_store(url, settings)` opens the model's
    folder (modelstore's, injected for the tests).
    """
    (model,) = cfg.models
    where = target(plan.runtime, plan.format, model.app_name)
    # A path on the models claim is the servers' volume, not the step's: it is served as it is.
    if where is None or model.server is not None or model.storage_scheme == "":
        return None
    from modelstore.errors import StoreError

    try:
        store = open_store(model.model, settings)
        files = store.list()
        if any(_VERSIONED.match(f) for f in files if not f.startswith((f"{SERVING}/", f"{CONVERTED}/"))):
            return None  # laid out already (the converter's <version>/ folders, a Triton repository)
        url, dest = store.child(SERVING), f"{SERVING}/{where}"
        if any(f == dest or f.startswith(f"{dest}/") for f in files):
            return Laid(url, f"{plan.runtime} layout already at {url}: nothing copied")
        copies = _copies(files, plan.format, dest, model.model)
        for src, dst in copies:
            store.copy(src, dst)
    except StoreError as err:
        raise StepInputError(f"FUSEML_MODEL: {err}") from None
    return Laid(url, f"laid the model out for {plan.runtime} at {url} ({len(copies)} files copied)")


def _copies(files: list[str], fmt: str, dest: str, url: str) -> list[tuple[str, str]]:
    """(source key, destination key) of each file to copy; StepInputError when the model is not there."""
    if fmt == "onnx":
        sources = [f for f in files if f.endswith(".onnx") and "/" not in f]
        if len(sources) != 1:
            raise StepInputError(
                f"FUSEML_MODEL: {url} holds {len(sources)} .onnx files at its top; allowed: one (the MLflow "
                "onnx flavor's model.onnx), or a folder already laid out in versions"
            )
        return [(sources[0], dest)]
    source = _saved_model_dir(files)
    if source is None:
        raise StepInputError(
            f"FUSEML_MODEL: {url} holds no TensorFlow SavedModel ({SAVED_MODEL}); allowed: an MLflow "
            "tensorflow or keras model saved as a SavedModel"
        )
    keys = [f for f in files if f.startswith(f"{source}/")] if source else _top(files)
    return [(key, f"{dest}/{key.removeprefix(f'{source}/') if source else key}") for key in keys]


def _saved_model_dir(files: list[str]) -> str | None:
    """The folder holding the SavedModel: MLflow's tfmodel/ or data/model/, or the top."""
    for candidate in ("tfmodel", "data/model", "data", ""):
        if (f"{candidate}/{SAVED_MODEL}" if candidate else SAVED_MODEL) in files:
            return candidate
    return None


def _top(files: list[str]) -> list[str]:
    """A SavedModel at the folder's top: its files, not the rest of the MLflow folder."""
    return [f for f in files if f == SAVED_MODEL or f.startswith(("variables/", "assets/"))]


def with_model(raw: Mapping[str, Any], url: str) -> dict[str, Any]:
    """The raw config with the step's model entry pointing at url."""
    (entry,) = raw["models"]
    return {**raw, "models": [{**entry, "model": url}]}
