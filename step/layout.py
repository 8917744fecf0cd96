"""Lay a TensorFlow SavedModel out where TF Serving loads it, before the step deploys it on KServe or Seldon.

Why: MLflow keeps a SavedModel under `tfmodel/` (or `data/model` for Keras) with no version folder, and
TF Serving (KServe's kserve-tensorflow-serving, Seldon's TENSORFLOW_SERVER) loads only
`<uri>/<version>/saved_model.pb`. FuseML's own kserve and seldon predictor steps copied it into `1/` first
(fuseml/extensions images/inference-services/kserve/run.sh); this step does the same, server-side in the
store, into `<model>/serving/1/`, and deploys that folder. Copying once per source is enough: a folder
that already holds the SavedModel is used as it is.
"""

from __future__ import annotations

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
    if (backend, fmt) not in TF_SERVING:
        return None
    from modelstore.errors import StoreError

    try:
        store = open_store(model.model, settings)
        files = store.list()
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
