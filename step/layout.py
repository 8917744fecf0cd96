"""Lay an MLflow model out where its server loads it, before the step deploys it.

Why: MLflow keeps a SavedModel under `tfmodel/` (or `data/model` for Keras) and an ONNX model as
`model.onnx`, with no version folder, while TF Serving (KServe's kserve-tensorflow-serving, Seldon's
TENSORFLOW_SERVER) loads only `<uri>/<version>/saved_model.pb` and OpenVINO Model Server (backend ovms,
KServe's kserve-openvino) only `<uri>/<version>/<model file>` (OVMS docs, "Preparing a Model Repository").
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
from step.errors import StepInputError

#: Where the laid-out copy goes, beside the MLflow files (as the converter writes `ovms/` there).
SERVING = "serving"
VERSION = "1"
SAVED_MODEL = "saved_model.pb"
#: Backends whose runtime for these formats is TF Serving.
TF_SERVING = {("kserve", "tensorflow"), ("kserve", "keras"), ("seldon", "tensorflow"), ("seldon", "keras")}
#: Backends whose runtime for ONNX is OpenVINO Model Server, which wants a version folder too.
OVMS_ONNX = {("ovms", "onnx"), ("kserve", "onnx")}
_VERSIONED = re.compile(r"^\d+/")


@dataclass(frozen=True)
class Laid:
    """What `lay_out` did: the model URL to deploy, and one line for the log."""

    url: str
    said: str


def lay_out(
    cfg: StackConfig, backend: str, fmt: str, settings: Any, open_store: Callable[..., Any]
) -> Laid | None:
    """The SavedModel of the step's model laid out for TF Serving, or None when its backend needs nothing.

    `open_store(url, settings)` opens the model's folder (modelstore's, injected for the tests).
    """
    (model,) = cfg.models
    # A path on the models claim is the servers' volume, not the step's: it is served as it is.
    if (backend, fmt) not in TF_SERVING | OVMS_ONNX or model.server is not None or model.storage_scheme == "":
        return None
    from modelstore.errors import StoreError

    try:
        store = open_store(model.model, settings)
        files = store.list()
        if (backend, fmt) in OVMS_ONNX:
            return _onnx(store, files, model.model)
        source = _saved_model_dir(files)
        if source is None:
            raise StepInputError(
                f"FUSEML_MODEL: {model.model} holds no TensorFlow SavedModel ({SAVED_MODEL}) for TF Serving; "
                "allowed: an MLflow tensorflow or keras model saved as a SavedModel"
            )
        target = f"{SERVING}/{VERSION}"
        url = store.child(SERVING)
        if f"{target}/{SAVED_MODEL}" in files or source == target:
            return Laid(url, f"TF Serving layout already at {url}/{VERSION}: nothing copied")
        keys = [f for f in files if f.startswith(f"{source}/")] if source else _top(files)
        for key in keys:
            store.copy(key, f"{target}/{key.removeprefix(f'{source}/') if source else key}")
    except StoreError as err:
        raise StepInputError(f"FUSEML_MODEL: {err}") from None
    return Laid(url, f"laid the SavedModel out for TF Serving at {url}/{VERSION} ({len(keys)} files copied)")


def _onnx(store: Any, files: list[str], url: str) -> Laid | None:
    """An MLflow ONNX model's file copied to serving/1/model.onnx; None when already versioned."""
    if any(_VERSIONED.match(f) and f.endswith(".onnx") for f in files):
        return None
    target = f"{SERVING}/{VERSION}/model.onnx"
    laid = store.child(SERVING)
    if target in files:
        return Laid(laid, f"OVMS layout already at {laid}/{VERSION}: nothing copied")
    sources = [f for f in files if f.endswith(".onnx") and "/" not in f]
    if len(sources) != 1:
        raise StepInputError(
            f"FUSEML_MODEL: {url} holds {len(sources)} .onnx files at its top; allowed: one (the MLflow onnx "
            "flavor's model.onnx), or a folder already laid out as <version>/model.onnx"
        )
    store.copy(sources[0], target)
    return Laid(
        laid, f"laid the ONNX model out for OpenVINO Model Server at {laid}/{VERSION} (1 file copied)"
    )


def _saved_model_dir(files: list[str]) -> str | None:
    """The folder holding the SavedModel: MLflow's tfmodel/ or data/model/, a version folder, or the top."""
    for candidate in ("tfmodel", "data/model", "data", f"{SERVING}/{VERSION}", ""):
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
