"""Lay an MLflow model out where its runtime loads it, before the step deploys it.

Why: MLflow writes a model as its flavor saves it (a SavedModel under `tfmodel/` or `data/model`, ONNX as
`model.onnx`, XGBoost as `model.xgb`, LightGBM as `model.lgb`, with no version folder), and each runtime
loads only its own layout. FuseML's own kserve and seldon predictor steps copied the model into `1/` first
(fuseml/extensions images/inference-services/kserve/run.sh); this step does the same for every runtime,
server-side in the store, into `<model>/serving/<layout>/`, and deploys that folder. `LAYOUTS` says, per
runtime and format, what the runtime loads, from its source; a pair it does not name is served as it is
(the folder as MLflow wrote it, or a runtime this module does not know, such as one named in `runtime`).
A folder already in the runtime's layout (the converter's `<version>/` folders) is served as it is, and a
copy already made is used again: the files that mark a copy complete are copied last.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.config import StackConfig
from kernel.errors import StepInputError

#: Where the laid-out copies go, beside the MLflow files (as the converter writes `ovms/` there).
SERVING = "serving"
#: The converter's output inside its source (convert/: `<model>/ovms/<version>/`): not the source's layout.
CONVERTED = "ovms"
VERSION = "1"
SAVED_MODEL = "saved_model.pb"
#: The one Booster file name both KServe's xgbserver/lgbserver and MLServer's xgboost/lightgbm runtimes read.
BOOSTER = "model.bst"
#: Booster files as MLflow (model.xgb, model.lgb) and XGBoost/LightGBM (.bst, .json, .ubj, .txt) name them.
BOOSTER_SUFFIXES = (".xgb", ".lgb", ".bst", ".json", ".ubj", ".txt")

#: Layout kinds: the folder below serving/ each is written to (app-specific for Triton: the repository's
#: model folder is named after the app, which KServe and Seldon address it by).
VERSIONED = "versioned"  # <version>/<model files>: OpenVINO Model Server, TF Serving, ModelMesh's Triton
TRITON = "triton"  # <app>/<version>/model.onnx or model.savedmodel/: Triton's model repository
BOOSTER_FILE = "booster"  # model.bst at the top: the gradient-boosting servers


@dataclass(frozen=True)
class Layout:
    """How one runtime loads one format: the layout kind it needs, and where upstream says so."""

    kind: str
    source: str


def _layout(kind: str, source: str) -> Layout:
    return Layout(kind, source)


_OVMS = _layout(
    VERSIONED,
    "openvinotoolkit/model_server docs/models_repository_classic.md (2026.2): each model folder holds a "
    "numeric folder per version, which holds the model files",
)
_OVMS_KSERVE = _layout(
    VERSIONED,
    "kserve config/runtimes/kserve-openvino.yaml (v0.20.0): --model_path=/mnt/models, the storageUri's "
    "files; OVMS then wants a numeric version folder there (models_repository_classic.md)",
)
_TF_SERVING = _layout(
    VERSIONED,
    "kserve config/runtimes/kserve-tensorflow-serving.yaml (v0.20.0) --model_base_path=/mnt/models; "
    "TensorFlow Serving loads <base path>/<numeric version>/saved_model.pb (tensorflow/serving "
    "file_system_storage_path_source: servable versions are numeric sub-folders)",
)
_TRITON = _layout(
    TRITON,
    "Triton docs/user_guide/model_repository.md: <repository>/<model>/<version>/model.onnx or "
    "model.savedmodel/; kserve config/runtimes/kserve-tritonserver.yaml --model-store=/mnt/models",
)
_MESH_TRITON = _layout(
    VERSIONED,
    "kserve/modelmesh-runtime-adapter model-mesh-triton-adapter/server/adaptmodellayout.go: a folder of "
    "several entries is linked whole as 1/model.savedmodel, so the SavedModel must be at its top (or in "
    "its one version folder)",
)
_XGB_KSERVE = _layout(
    BOOSTER_FILE,
    "kserve python/xgbserver/xgbserver/model.py (v0.20.0): exactly one top-level file ending .bst, .json or "
    ".ubj; MLflow writes model.xgb, and XGBoost reads a model by its content (src/learner.cc LoadModel)",
)
_LGB_KSERVE = _layout(
    BOOSTER_FILE,
    "kserve python/lgbserver/lgbserver/model.py (v0.20.0): exactly one top-level file ending .bst; MLflow "
    "writes model.lgb (LightGBM's text model, which lightgbm.Booster(model_file=...) reads by content)",
)
_MLSERVER_BOOSTER = _layout(
    BOOSTER_FILE,
    "SeldonIO/MLServer mlserver/utils.py get_model_uri (1.3.5): a folder is searched for the runtime's "
    "WELLKNOWN_MODEL_FILENAMES (xgboost: model.bst/json/ubj; lightgbm: model.bst), else the folder itself "
    "is loaded, which fails",
)

#: (runtime, format) -> the layout it loads. OpenVINO IR is not named: no MLflow flavor writes it, and
#: what does (the converter, OVMS model repositories) writes version folders. Pairs not named load the
#: MLflow folder as it is:
#: kserve-sklearnserver (one top-level .joblib/.pkl/.pickle: MLflow's model.pkl), MLServer's sklearn
#: (WELLKNOWN model.pkl) and MLflow runtimes (mlflow.pyfunc.load_model of the folder: kserve-mlserver,
#: Seldon's MLFLOW_SERVER), ModelMesh's OVMS adapter (model-mesh-ovms-adapter adaptmodellayout.go links a
#: folder with no numeric folders as version 1).
LAYOUTS: dict[tuple[str, str], Layout] = {
    ("ovms", "onnx"): _OVMS,
    ("ovms", "tensorflow"): _OVMS,
    ("kserve-openvino", "onnx"): _OVMS_KSERVE,
    ("kserve-tensorflow-serving", "tensorflow"): _TF_SERVING,
    ("kserve-tensorflow-serving", "keras"): _TF_SERVING,
    ("TENSORFLOW_SERVER", "tensorflow"): _TF_SERVING,
    ("TENSORFLOW_SERVER", "keras"): _TF_SERVING,
    ("kserve-tritonserver", "onnx"): _TRITON,
    ("kserve-tritonserver", "tensorflow"): _TRITON,
    ("kserve-tritonserver", "keras"): _TRITON,
    ("TRITON_SERVER", "onnx"): _TRITON,
    ("TRITON_SERVER", "tensorflow"): _TRITON,
    ("TRITON_SERVER", "keras"): _TRITON,
    ("triton-2.x", "tensorflow"): _MESH_TRITON,
    ("triton-2.x", "keras"): _MESH_TRITON,
    ("kserve-xgbserver", "xgboost"): _XGB_KSERVE,
    ("kserve-lgbserver", "lightgbm"): _LGB_KSERVE,
    ("kserve-mlserver", "xgboost"): _MLSERVER_BOOSTER,
    ("kserve-mlserver", "lightgbm"): _MLSERVER_BOOSTER,
    ("XGBOOST_SERVER", "xgboost"): _MLSERVER_BOOSTER,
    ("mlserver-1.x", "xgboost"): _MLSERVER_BOOSTER,
    ("mlserver-1.x", "lightgbm"): _MLSERVER_BOOSTER,
}
#: Runtimes that run Triton: only what LAYOUTS names for them can be laid out (a pickled PyTorch module or
#: a scikit-learn model is no Triton model).
TRITON_RUNTIMES = ("kserve-tritonserver", "TRITON_SERVER")
_NUMERIC = re.compile(r"\d+")


@dataclass(frozen=True)
class Laid:
    """What `lay_out` did: the model URL to deploy, the format it holds, and one line for the log."""

    url: str
    said: str
    format: str


def layout_of(runtime: str, fmt: str) -> Layout | None:
    """How the runtime loads the format; None when it loads the MLflow folder as it is. StepInputError for
    a pair no layout serves (Triton with a format it has no backend for here)."""
    found = LAYOUTS.get((runtime, fmt))
    if found is None and runtime in TRITON_RUNTIMES and fmt != "auto":
        served = sorted({f for r, f in LAYOUTS if r == runtime})
        raise StepInputError(
            f"FUSEML_FORMAT: got {fmt!r} (set, or read from the model's MLmodel) for runtime {runtime} "
            f"(FUSEML_PREDICTOR triton or FUSEML_RUNTIME); allowed: {', '.join(served)}, the formats Triton "
            "loads from an MLflow model, or another predictor"
        )
    return found


def lay_out(cfg: StackConfig, plan: Any, settings: Any, open_store: Callable[..., Any]) -> Laid | None:
    """The step's model laid out where its runtime loads it, or None when it loads the folder as it is.

    `plan` is the model's serving plan (runtime and format; format `auto` when the backend reads the folder
    itself, OVMS, and then the format is read here); `open_store(url, settings)` opens the model's folder
    (modelstore's, injected for the tests).
    """
    (model,) = cfg.models
    # A path on the models claim is the servers' volume, not the step's; a shared server's config.json
    # is the servers': both are served as they are.
    if model.server is not None or model.storage_scheme == "":
        return None
    fmt = plan.format
    if fmt == "auto" and not any(runtime == plan.runtime for runtime, _ in LAYOUTS):
        return None
    if fmt != "auto" and layout_of(plan.runtime, fmt) is None:
        return None
    from modelstore.detect import detect_in
    from modelstore.errors import StoreError

    if fmt == "auto" and model.model.rstrip("/").rsplit("/", 1)[-1] == CONVERTED:
        return None  # the converter's output, FuseML's `ovms-model-url`: in versions already
    try:
        store = open_store(model.model, settings)
        listed = store.list()
        artifact = ""
        if fmt == "auto":
            # OVMS reads the folder itself, so planning left the format to it: read it here.
            detected = detect_in(store, hint="set FUSEML_FORMAT")
            fmt, artifact = detected.format, detected.artifact
    except StoreError as err:
        if fmt != "auto":
            raise StepInputError(f"FUSEML_MODEL: {err}") from None
        # OVMS reads the folder with its own credentials and network, which may reach what the step
        # cannot (a public bucket, workload identity): say so and deploy the folder as it is.
        return Laid(model.model, f"could not read {model.model} to lay it out ({err}): served as it is", fmt)
    try:
        files = [f for f in listed if not f.startswith((f"{SERVING}/", f"{CONVERTED}/"))]
        if not artifact and "MLmodel" in files:
            artifact = _artifact(store, detect_in)
        layout = layout_of(plan.runtime, fmt)
        if layout is None or _laid_out_already(files, layout.kind):
            return None
        folder = layout.kind if layout.kind != TRITON else f"{TRITON}-{model.app_name}"
        url = store.child(f"{SERVING}/{folder}")
        copies = _copies(files, fmt, layout.kind, model.app_name, artifact, model.model)
        # The last copy marks the folder complete (saved_model.pb, model.xml, the model file): a copy cut
        # short is made again.
        if f"{SERVING}/{folder}/{copies[-1][1]}" in listed:
            return Laid(url, f"{plan.runtime} layout already at {url}: nothing copied", fmt)
        for src, dst in copies:
            store.copy(src, f"{SERVING}/{folder}/{dst}")
    except StoreError as err:
        raise StepInputError(f"FUSEML_MODEL: {err}") from None
    return Laid(url, f"laid the model out for {plan.runtime} at {url} ({len(copies)} files copied)", fmt)


def _artifact(store: Any, detect_in: Callable[..., Any]) -> str:
    """The model file or folder MLmodel names; "" when MLmodel cannot say (the format was set, so the
    files decide)."""
    from modelstore.errors import StoreError

    try:
        return detect_in(store, hint=None).artifact
    except StoreError:
        return ""


def _laid_out_already(files: list[str], kind: str) -> bool:
    """Whether the folder is in that layout already (the converter's version folders, a Triton repository,
    a Booster file), so the runtime loads it as it is."""
    tops = {f.split("/", 1)[0] for f in files if "/" in f}
    if kind == VERSIONED:
        return any(_NUMERIC.fullmatch(top) for top in tops)
    if kind == TRITON:
        parts = [f.split("/") for f in files]
        return any(len(p) > 2 and _NUMERIC.fullmatch(p[1]) and not _NUMERIC.fullmatch(p[0]) for p in parts)
    # One Booster file, and no other that KServe's servers would also take for the model.
    return BOOSTER in files and not any("/" not in f and f.endswith((".json", ".ubj")) for f in files)


def _copies(
    files: list[str], fmt: str, kind: str, app: str, artifact: str, url: str
) -> list[tuple[str, str]]:
    """(source key, key below the layout folder) of each file to copy, the one that marks it complete last;
    StepInputError when the model the format needs is not there."""
    if fmt in ("xgboost", "lightgbm"):
        return [(_booster(files, fmt, artifact, url), BOOSTER)]
    base = f"{app}/{VERSION}" if kind == TRITON else VERSION
    if fmt == "onnx":
        return [
            (_one(files, ".onnx", artifact, url, "the MLflow onnx flavor's model.onnx"), f"{base}/model.onnx")
        ]
    if fmt == "openvino":
        xml = _one(files, ".xml", artifact, url, "an OpenVINO IR, model.xml beside model.bin")
        name = xml.rsplit("/", 1)[-1]
        if f"{xml[:-4]}.bin" not in files:
            raise StepInputError(f"FUSEML_MODEL: {url} holds {xml} without {xml[:-4]}.bin; allowed: an IR")
        return [(f"{xml[:-4]}.bin", f"{base}/{name[:-4]}.bin"), (xml, f"{base}/{name}")]
    source = _saved_model_dir(files, artifact)
    if source is None:
        raise StepInputError(
            f"FUSEML_MODEL: {url} holds no TensorFlow SavedModel ({SAVED_MODEL}); allowed: an MLflow "
            "tensorflow or keras model saved as a SavedModel"
        )
    dest = f"{base}/model.savedmodel" if kind == TRITON else base
    keys = [f for f in files if f.startswith(f"{source}/")] if source else _top(files)
    keys.sort(key=lambda k: k == (f"{source}/{SAVED_MODEL}" if source else SAVED_MODEL))
    return [(key, f"{dest}/{key.removeprefix(f'{source}/') if source else key}") for key in keys]


def _one(files: list[str], suffix: str, artifact: str, url: str, allowed: str) -> str:
    """The model file: the one MLmodel names, else the single file with that suffix at the top (or in the
    highest version folder, OVMS's layout, for a runtime that wants another)."""
    if artifact.endswith(suffix) and artifact in files:
        return artifact
    found = [f for f in files if f.endswith(suffix) and "/" not in f]
    version = _highest_version(files)
    if not found and version:
        found = [f for f in files if f.endswith(suffix) and f.count("/") == 1 and f.startswith(f"{version}/")]
    if len(found) != 1:
        raise StepInputError(
            f"FUSEML_MODEL: {url} holds {len(found)} {suffix} files at its top; allowed: one ({allowed}), "
            "or a folder already laid out in versions"
        )
    return found[0]


def _booster(files: list[str], fmt: str, artifact: str, url: str) -> str:
    """The Booster file MLflow wrote (the flavor's `data`: model.xgb, model.lgb), else the one model.* file
    in a Booster format at the top."""
    pickled = artifact.endswith((".pkl", ".pickle", ".joblib"))
    if artifact in files and not pickled:
        return artifact
    found = [f for f in files if "/" not in f and f.startswith("model.") and f.endswith(BOOSTER_SUFFIXES)]
    if pickled or len(found) != 1:
        held = f"the pickled scikit-learn wrapper {artifact}" if pickled else f"{len(found)} such files"
        raise StepInputError(
            f"FUSEML_MODEL: {url} holds no single {fmt} Booster file ({held}); allowed: a model saved "
            f"by mlflow.{fmt} from a Booster, or FUSEML_FORMAT mlflow (MLServer's MLflow runtime loads it)"
        )
    return found[0]


def _saved_model_dir(files: list[str], artifact: str) -> str | None:
    """The folder holding the SavedModel: the one MLmodel names (Keras: its `model/`), MLflow's defaults
    tfmodel/ or data/model/, the top, or the highest version folder."""
    named = [artifact, f"{artifact}/model"] if artifact else []
    version = _highest_version(files)
    for candidate in (*named, "tfmodel", "data/model", "data", "", *([version] if version else [])):
        if (f"{candidate}/{SAVED_MODEL}" if candidate else SAVED_MODEL) in files:
            return candidate
    return None


def _highest_version(files: list[str]) -> str | None:
    found = [f.split("/", 1)[0] for f in files if "/" in f and _NUMERIC.fullmatch(f.split("/", 1)[0])]
    return max(found, key=int) if found else None


def _top(files: list[str]) -> list[str]:
    """A SavedModel at the folder's top: its files, not the rest of the MLflow folder."""
    return [f for f in files if f == SAVED_MODEL or f.startswith(("variables/", "assets/"))]


def with_model(raw: Mapping[str, Any], url: str, fmt: str | None = None) -> dict[str, Any]:
    """The raw config with the step's model entry pointing at url, and its format pinned when given: the
    laid-out folder holds no MLmodel to detect it from (a Triton repository, a Booster file)."""
    (entry,) = raw["models"]
    moved = {**entry, "model": url}
    if fmt is not None and fmt != "auto":
        moved["format"] = fmt
    return {**raw, "models": [moved]}
