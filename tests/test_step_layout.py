"""The step lays an MLflow model out where its runtime loads it, in a real S3 server (MinIO on 127.0.0.1),
for every backend x predictor x format the step accepts; the stack it leaves plans the same runtime and
format again, and the runtime's own loading rule (written here from its source, not from step/layout.py)
finds the model's bytes in the folder deployed."""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from components.backends import registry
from kernel.errors import StepInputError
from kernel.redact import Redactor
from step import inputs as step_inputs
from step.__main__ import laid_out
from step.runner import Console
from tests import s3server

APP = "cifar10-kserve"
BACKENDS = registry()
TF_MLMODEL = """\
artifact_path: model
flavors:
  tensorflow:
    saved_model_dir: tfmodel
    meta_graph_tags: [serve]
    signature_def_key: serving_default
  python_function:
    loader_module: mlflow.tensorflow
"""
#: The model's own bytes per format: what the runtime must find in the folder deployed.
MODEL = {fmt: f"<{fmt} model>".encode() for fmt in BACKENDS["kserve"].FORMATS}
CONDA = {"conda.yaml": b"name: x\n", "requirements.txt": b"mlflow\n"}
#: MLflow folders as each flavor's save_model writes them (mlflow/<flavor>/__init__.py), no version folder.
MLFLOW: dict[str, dict[str, bytes]] = {
    "onnx": {"MLmodel": b"flavors:\n  onnx:\n    data: model.onnx\n", "model.onnx": MODEL["onnx"], **CONDA},
    "tensorflow": {
        "MLmodel": TF_MLMODEL.encode(),
        "tfmodel/saved_model.pb": MODEL["tensorflow"],
        "tfmodel/variables/variables.index": b"index",
        **CONDA,
    },
    "keras": {
        "MLmodel": b"flavors:\n  tensorflow:\n    model_type: keras\n    data: data\n",
        "data/model/saved_model.pb": MODEL["keras"],
        "data/model/variables/variables.index": b"index",
        **CONDA,
    },
    # No MLflow flavor writes IR: the converter's output (convert/: <model>/ovms/<version>/) is what a
    # step gets for openvino, in versions already.
    "openvino": {"1/model.xml": MODEL["openvino"], "1/model.bin": b"weights", "1/fuseml-convert.json": b"{}"},
    "sklearn": {
        "MLmodel": b"flavors:\n  sklearn:\n    pickled_model: model.pkl\n",
        "model.pkl": MODEL["sklearn"],
    },
    # MLflow 2 writes input_example.json beside an example-logged model: a second .json at the top.
    "xgboost": {
        "MLmodel": b"flavors:\n  xgboost:\n    data: model.xgb\n    model_class: xgboost.core.Booster\n",
        "model.xgb": MODEL["xgboost"],
        "input_example.json": b"{}",
        **CONDA,
    },
    "lightgbm": {
        "MLmodel": b"flavors:\n  lightgbm:\n    data: model.lgb\n    model_class: lightgbm.basic.Booster\n",
        "model.lgb": MODEL["lightgbm"],
        **CONDA,
    },
    "pytorch": {
        "MLmodel": b"flavors:\n  pytorch:\n    model_data: data\n  python_function:\n    loader_module: "
        b"mlflow.pytorch\n",
        "data/model.pth": MODEL["pytorch"],
        **CONDA,
    },
    "mlflow": {
        "MLmodel": b"flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n",
        "python_model.pkl": MODEL["mlflow"],
        **CONDA,
    },
}


# What each runtime loads from the folder it is given, from its source: each returns the key it would read
# the model from, or None when it would fail to load.


def _versions(keys: list[str]) -> str | None:
    found = [k.split("/", 1)[0] for k in keys if "/" in k and k.split("/", 1)[0].isdigit()]
    return max(found, key=int) if found else None


def _inside(keys: list[str], folder: str) -> list[str]:
    return [k.removeprefix(f"{folder}/") for k in keys if k.startswith(f"{folder}/")] if folder else keys


def _model_file(files: list[str], fmt: str) -> str | None:
    """OVMS's model files in a version folder (model_server docs/models_repository_classic.md, 2026.2: .xml
    with .bin, .onnx, or a SavedModel's saved_model.pb; any file name)."""
    top = [f for f in files if "/" not in f]
    if fmt == "openvino":
        return next((f for f in top if f.endswith(".xml") and f"{f[:-4]}.bin" in top), None)
    if fmt == "onnx":
        return next((f for f in top if f.endswith(".onnx")), None)
    return "saved_model.pb" if "saved_model.pb" in top else None


def ovms(keys: list[str], fmt: str) -> str | None:
    """OVMS (backend ovms; KServe's kserve-openvino passes --model_path=/mnt/models): the highest numeric
    version folder, then the model files in it."""
    version = _versions(keys)
    found = _model_file(_inside(keys, version), fmt) if version else None
    return f"{version}/{found}" if found else None


def tf_serving(keys: list[str], fmt: str) -> str | None:
    """TensorFlow Serving (--model_base_path=/mnt/models): <base>/<numeric version>/saved_model.pb."""
    version = _versions(keys)
    return f"{version}/saved_model.pb" if version and f"{version}/saved_model.pb" in keys else None


def triton(keys: list[str], fmt: str) -> str | None:
    """Triton (--model-store=/mnt/models; docs/user_guide/model_repository.md): <model>/<version>/model.onnx
    or model.savedmodel/saved_model.pb, the model folder named as KServe and Seldon address it (the app)."""
    version = _versions(_inside(keys, APP))
    name = "model.onnx" if fmt == "onnx" else "model.savedmodel/saved_model.pb"
    key = f"{APP}/{version}/{name}"
    return key if version and key in keys else None


def _mesh_folder(keys: list[str]) -> tuple[str, list[str]]:
    """ModelMesh's adapters (modelmesh-runtime-adapter model-mesh-{ovms,triton}-adapter adaptmodellayout.go
    largestNumberDir): the largest version folder when every sub-folder is numeric, else the whole folder
    as version 1."""
    dirs = {k.split("/", 1)[0] for k in keys if "/" in k}
    if dirs and all(d.isdigit() for d in dirs):
        version = max(dirs, key=int)
        return f"{version}/", _inside(keys, version)
    return "", keys


def mesh_ovms(keys: list[str], fmt: str) -> str | None:
    prefix, files = _mesh_folder(keys)
    found = _model_file(files, fmt)
    return f"{prefix}{found}" if found else None


def mesh_triton(keys: list[str], fmt: str) -> str | None:
    """The Triton adapter links the folder (or its one entry) as 1/model.savedmodel."""
    prefix, files = _mesh_folder(keys)
    entries = {f.split("/", 1)[0] for f in files}
    if len(entries) == 1 and any("/" in f for f in files):
        (only,) = entries
        prefix, files = f"{prefix}{only}/", _inside(files, only)
    return f"{prefix}saved_model.pb" if "saved_model.pb" in files else None


def one_with(suffixes: tuple[str, ...]) -> Callable[[list[str], str], str | None]:
    """KServe's sklearnserver, xgbserver, lgbserver (python/*/model.py, v0.20.0): exactly one top-level file
    with the server's extensions, else ModelMissingError or "More than one model file is detected"."""

    def load(keys: list[str], fmt: str) -> str | None:
        found = [k for k in keys if "/" not in k and k.endswith(suffixes)]
        return found[0] if len(found) == 1 else None

    return load


def mlserver(names: tuple[str, ...]) -> Callable[[list[str], str], str | None]:
    """MLServer (mlserver/utils.py get_model_uri, 1.3.5): the first WELLKNOWN_MODEL_FILENAMES in the folder
    (sklearn: model.joblib, model.pickle, model.pkl; xgboost: model.bst, .json, .ubj; lightgbm:
    model.bst), else the folder itself, which those runtimes cannot load."""

    def load(keys: list[str], fmt: str) -> str | None:
        return next((name for name in names if name in keys), None)

    return load


def mlflow_runtime(keys: list[str], fmt: str) -> str | None:
    """MLServer's MLflow runtime (mlserver_mlflow/runtime.py: mlflow.pyfunc.load_model of the folder):
    the MLmodel at the top, which names the model's files."""
    return "MLmodel" if "MLmodel" in keys else None


SKLEARN = mlserver(("model.joblib", "model.pickle", "model.pkl"))
XGBOOST = mlserver(("model.bst", "model.json", "model.ubj"))
LIGHTGBM = mlserver(("model.bst",))
#: (runtime, format) -> how it loads. kserve-mlserver picks MLServer's runtime from the format
#: (kserve pkg/apis/serving/v1beta1/inference_service_defaults.go modelClass).
LOADS: dict[tuple[str, str], Callable[[list[str], str], str | None]] = {
    **{("ovms", f): ovms for f in ("openvino", "onnx", "tensorflow")},
    **{("kserve-openvino", f): ovms for f in ("openvino", "onnx")},
    **{
        (r, f): tf_serving
        for r in ("kserve-tensorflow-serving", "TENSORFLOW_SERVER")
        for f in ("tensorflow", "keras")
    },
    **{
        (r, f): triton
        for r in ("kserve-tritonserver", "TRITON_SERVER")
        for f in ("onnx", "tensorflow", "keras")
    },
    ("kserve-sklearnserver", "sklearn"): one_with((".joblib", ".pkl", ".pickle")),
    ("kserve-xgbserver", "xgboost"): one_with((".bst", ".json", ".ubj")),
    ("kserve-lgbserver", "lightgbm"): one_with((".bst",)),
    **{("kserve-mlserver", f): mlflow_runtime for f in ("pytorch", "mlflow")},
    ("SKLEARN_SERVER", "sklearn"): SKLEARN,
    ("XGBOOST_SERVER", "xgboost"): XGBOOST,
    **{("MLFLOW_SERVER", f): mlflow_runtime for f in ("lightgbm", "pytorch", "mlflow")},
    **{("ovms-1.x", f): mesh_ovms for f in ("openvino", "onnx")},
    **{("triton-2.x", f): mesh_triton for f in ("tensorflow", "keras")},
    ("mlserver-1.x", "sklearn"): SKLEARN,
    ("mlserver-1.x", "xgboost"): XGBOOST,
    ("mlserver-1.x", "lightgbm"): LIGHTGBM,
}


def cases() -> list[tuple[str, str, str]]:
    """(backend, predictor, format) for every pair the step accepts: each backend with each format it
    serves, detected from the MLmodel (`auto` with every format), and FuseML's predictor values."""
    found = [(backend, "", fmt) for backend, cls in BACKENDS.items() for fmt in cls.FORMATS]
    found += [("auto", "", fmt) for fmt in MLFLOW]
    found += [(b, p, p) for b in ("kserve", "seldon") for p in ("tensorflow", "sklearn")]
    found += [(b, "triton", f) for b in ("kserve", "seldon") for f in ("onnx", "tensorflow", "keras")]
    return found


@pytest.fixture(scope="module")
def minio():
    with s3server.running() as server:
        yield server


_CLIENTS: dict[int, object] = {}


def client(minio):
    """One S3 client per server: making one costs more than the requests of a test."""
    if id(minio) not in _CLIENTS:
        _CLIENTS[id(minio)] = minio.client()
    return _CLIENTS[id(minio)]


def mlflow_model(minio, files: dict[str, bytes]) -> str:
    bucket = f"mlflow-{uuid.uuid4().hex[:8]}"
    client(minio).create_bucket(Bucket=bucket)
    for key, body in files.items():
        client(minio).put_object(Bucket=bucket, Key=f"1/run/artifacts/model/{key}", Body=body)
    return f"s3://{bucket}/1/run/artifacts/model"


def keys(minio, url: str) -> list[str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    listed = client(minio).list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
    return sorted(item["Key"].removeprefix(prefix + "/") for item in listed)


def read(minio, url: str, key: str) -> bytes:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return client(minio).get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read()


def run(
    minio, tmp_path: Path, url: str, backend: str, predictor: str = "tensorflow", format: str = ""
) -> tuple[step_inputs.StepInputs, str, object]:
    env = {
        "FUSEML_APP_NAME": APP,
        "FUSEML_MODEL": url,
        "FUSEML_BACKEND": backend,
        "FUSEML_PREDICTOR": predictor,
        "FUSEML_FORMAT": format,
        "FUSEML_ENV_WORKFLOW_NAME": "mlflow-multi-pulumi",
        "FUSEML_ENV_WORKFLOW_NAMESPACE": "fuseml-workloads",
        "FUSEML_SERVING_DOMAIN": "10.0.0.1.nip.io",
        "TASK_RESULT": "prediction-url",
        **minio.env(),
    }
    read_ = step_inputs.read(env, tmp_path)
    out = io.StringIO()
    done, ready = laid_out(read_, step_inputs.prepare(read_), Console(Redactor([]), out, io.StringIO()))
    # The stack deployed is the one prepared before the copy, now reading the laid-out folder.
    assert [m.model for m in ready.cfg.models] == [done.raw["models"][0]["model"]]
    (plan,) = ready.plans.values()
    return done, out.getvalue(), plan


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("backend", "predictor", "fmt"), cases())
def test_the_folder_deployed_is_what_the_runtime_loads(
    minio, tmp_path: Path, backend: str, predictor: str, fmt: str
) -> None:
    url = mlflow_model(minio, MLFLOW[fmt])
    done, said, plan = run(minio, tmp_path, url, backend, predictor=predictor)
    deployed = done.raw["models"][0]["model"]
    # The deploy that follows (the stack's own config, as `pulumi up` on it reads it) plans the same.
    (again,) = step_inputs.prepare(done).plans.values()
    assert (again.backend, again.runtime) == (plan.backend, plan.runtime)
    # OVMS reads the folder itself: the format stays as planned where no copy was needed (the IR).
    assert again.format in (fmt, plan.format) and plan.format in (fmt, "auto")
    load = LOADS[(again.runtime, fmt)]
    found = load(keys(minio, deployed), fmt)
    assert found is not None, f"{again.runtime} finds no {fmt} model in {keys(minio, deployed)} ({said})"
    if load is not mlflow_runtime:
        assert read(minio, deployed, found) == MODEL[fmt]
    # The MLflow folder itself is left as it was: only serving/ is added.
    assert [k for k in keys(minio, url) if not k.startswith("serving/")] == sorted(MLFLOW[fmt])


def test_every_pair_the_step_accepts_is_tested() -> None:
    """Each runtime x format the planner chooses (BACKENDS' FORMATS, Triton's) has a loading rule here."""
    planned = {(cls.FORMATS[f], f) for cls in BACKENDS.values() for f in cls.FORMATS}
    planned |= {
        (r, f) for r in ("kserve-tritonserver", "TRITON_SERVER") for f in ("onnx", "tensorflow", "keras")
    }
    assert planned == set(LOADS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["kserve", "seldon"])
def test_the_savedmodel_is_copied_once(minio, tmp_path: Path, backend: str) -> None:
    url = mlflow_model(minio, MLFLOW["tensorflow"])
    done, said, _ = run(minio, tmp_path, url, backend)
    assert done.raw["models"][0]["model"] == f"{url}/serving/versioned"
    assert "laid the model out for" in said and "2 files copied" in said
    assert [k for k in keys(minio, url) if k.startswith("serving/")] == [
        "serving/versioned/1/saved_model.pb",
        "serving/versioned/1/variables/variables.index",
    ]
    again, said, _ = run(minio, tmp_path, url, backend)
    assert again.raw["models"][0]["model"] == f"{url}/serving/versioned" and "nothing copied" in said
    # The secret key never reaches the log.
    assert minio.secret_key not in said


@pytest.mark.timeout(60)
def test_a_copy_cut_short_is_made_again(minio, tmp_path: Path) -> None:
    """saved_model.pb is copied last: a folder without it is not taken for a finished copy."""
    url = mlflow_model(minio, {**MLFLOW["tensorflow"], "serving/versioned/1/variables/variables.index": b"x"})
    _, said, _ = run(minio, tmp_path, url, "kserve")
    assert "2 files copied" in said and "serving/versioned/1/saved_model.pb" in keys(minio, url)


@pytest.mark.timeout(60)
def test_a_model_without_a_savedmodel_is_refused_in_one_line(minio, tmp_path: Path) -> None:
    url = mlflow_model(minio, {"MLmodel": TF_MLMODEL.encode(), "tfmodel/model.h5": b"keras"})
    with pytest.raises(StepInputError) as caught:
        run(minio, tmp_path, url, "kserve")
    assert str(caught.value) == (
        f"FUSEML_MODEL: {url} holds no TensorFlow SavedModel (saved_model.pb); allowed: an MLflow "
        "tensorflow or keras model saved as a SavedModel"
    )
    assert not [k for k in keys(minio, url) if k.startswith("serving/")]


@pytest.mark.timeout(60)
def test_a_folder_already_in_versions_is_served_as_it_is(minio, tmp_path: Path) -> None:
    # The converter's <model>/ovms/<version>/ ...
    versioned = mlflow_model(minio, {"1/model.onnx": b"onnx"})
    done, said, _ = run(minio, tmp_path, versioned, "ovms", predictor="", format="onnx")
    assert done.raw["models"][0]["model"] == versioned and said == ""
    # ... but not for Triton, which wants <model>/<version>/: it gets its repository.
    done, _, _ = run(minio, tmp_path, versioned, "kserve", predictor="triton")
    assert done.raw["models"][0]["model"] == f"{versioned}/serving/triton-{APP}"


@pytest.mark.timeout(60)
def test_ovms_serves_a_folder_the_step_cannot_read_as_it_is_and_says_so(minio, tmp_path: Path) -> None:
    """OVMS reads the store with its own credentials (a public bucket, workload identity): the step's
    failed read is a notice, not a refusal; the converter's `<model>/ovms` is not read at all."""
    env = {**minio.env(), "AWS_SECRET_ACCESS_KEY": "not-the-key-of-this-server"}
    url = mlflow_model(minio, MLFLOW["onnx"])
    given = {"FUSEML_APP_NAME": APP, "FUSEML_MODEL": url, "FUSEML_BACKEND": "ovms", "TASK_RESULT": "r"}
    read_ = step_inputs.read({**given, "FUSEML_SERVING_DOMAIN": "d.io", **env}, tmp_path)
    out = io.StringIO()
    done, _ = laid_out(read_, step_inputs.prepare(read_), Console(Redactor([]), out, io.StringIO()))
    assert done.raw["models"][0]["model"] == url
    assert (
        out.getvalue().startswith(f"could not read {url} to lay it out (")
        and "served as it is" in out.getvalue()
    )
    converted = {**read_.raw, "models": [{**read_.raw["models"][0], "model": "s3://nowhere-at-all/m/ovms"}]}
    read_ = dataclasses.replace(read_, raw=converted)
    done, _ = laid_out(read_, step_inputs.prepare(read_), Console(Redactor([]), out, io.StringIO()))
    assert done.raw["models"][0]["model"] == "s3://nowhere-at-all/m/ovms"


@pytest.mark.timeout(60)
def test_an_onnx_folder_with_no_single_model_file_is_refused_in_one_line(minio, tmp_path: Path) -> None:
    url = mlflow_model(minio, {"a.onnx": b"a", "b.onnx": b"b"})
    with pytest.raises(StepInputError) as caught:
        run(minio, tmp_path, url, "ovms", predictor="", format="onnx")
    assert str(caught.value) == (
        f"FUSEML_MODEL: {url} holds 2 .onnx files at its top; allowed: one (the MLflow onnx flavor's "
        "model.onnx), or a folder already laid out in versions"
    )
    assert not [k for k in keys(minio, url) if k.startswith("serving/")]


@pytest.mark.timeout(60)
def test_triton_with_a_format_it_cannot_load_is_refused_before_any_copy(minio, tmp_path: Path) -> None:
    url = mlflow_model(minio, MLFLOW["pytorch"])
    with pytest.raises(StepInputError) as caught:
        run(minio, tmp_path, url, "seldon", predictor="triton")
    line = str(caught.value)
    assert line.startswith("FUSEML_FORMAT: got 'pytorch'") and "FUSEML_PREDICTOR triton" in line
    assert "allowed: keras, onnx, tensorflow" in line and "\n" not in line
    assert not [k for k in keys(minio, url) if k.startswith("serving/")]


@pytest.mark.timeout(60)
def test_a_pickled_lightgbm_wrapper_is_refused_for_the_booster_server(minio, tmp_path: Path) -> None:
    files = {"MLmodel": b"flavors:\n  lightgbm:\n    data: model.pkl\n", "model.pkl": b"pickle"}
    url = mlflow_model(minio, files)
    with pytest.raises(StepInputError) as caught:
        run(minio, tmp_path, url, "kserve", predictor="")
    assert str(caught.value) == (
        f"FUSEML_MODEL: {url} holds no single lightgbm Booster file (the pickled scikit-learn wrapper "
        "model.pkl); allowed: a model saved by mlflow.lightgbm from a Booster, or FUSEML_FORMAT mlflow "
        "(MLServer's MLflow runtime loads it)"
    )


def test_backends_that_load_the_folder_as_it_is_need_no_layout(tmp_path: Path) -> None:
    from components.config import parse
    from components.serving import Plan
    from step.layout import lay_out

    cfg = parse(
        {
            "istio": {"domain": "d.io"},
            "fuseml": {"register": False},
            "models": [{"app_name": "m", "model": "gs://b/m", "format": "sklearn", "backend": "kserve"}],
        }
    )

    def no_store(*args: object) -> None:
        raise AssertionError("the store must not be opened")

    assert lay_out(cfg, Plan("kserve", "sklearn", "", "kserve-sklearnserver"), None, no_store) is None
    assert lay_out(cfg, Plan("kserve", "mlflow", "", "kserve-mlserver"), None, no_store) is None
    assert lay_out(cfg, Plan("kserve", "onnx", "", "my-own-runtime"), None, no_store) is None
