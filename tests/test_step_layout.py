"""The step lays an MLflow SavedModel out for TF Serving before deploying it on KServe or Seldon, in a real
S3 server (MinIO on 127.0.0.1), as FuseML's own kserve and seldon predictor steps did."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from kernel.errors import StepInputError
from kernel.redact import Redactor
from step import inputs as step_inputs
from step.__main__ import laid_out
from step.runner import Console
from tests import s3server

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


#: An MLflow onnx-flavor folder as MLflow writes it: the model at the top, no version folder.
ONNX_MODEL = {"MLmodel": b"flavors:\n  onnx:\n    data: model.onnx\n", "model.onnx": b"onnx"}


@pytest.fixture(scope="module")
def minio():
    with s3server.running() as server:
        yield server


def mlflow_model(minio, files: dict[str, bytes]) -> str:
    bucket = minio.make_bucket(f"mlflow-{uuid.uuid4().hex[:8]}")
    for key, body in files.items():
        minio.client().put_object(Bucket=bucket, Key=f"1/run/artifacts/model/{key}", Body=body)
    return f"s3://{bucket}/1/run/artifacts/model"


def keys(minio, url: str) -> list[str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    listed = minio.client().list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
    return sorted(item["Key"].removeprefix(prefix + "/") for item in listed)


def run(
    minio, tmp_path: Path, url: str, backend: str, predictor: str = "tensorflow", format: str = ""
) -> tuple[step_inputs.StepInputs, str]:
    env = {
        "FUSEML_APP_NAME": "cifar10-kserve",
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
    read = step_inputs.read(env, tmp_path)
    out = io.StringIO()
    done, ready = laid_out(read, step_inputs.prepare(read), Console(Redactor([]), out, io.StringIO()))
    # The stack deployed is the one prepared before the copy, now reading the laid-out folder.
    assert [m.model for m in ready.cfg.models] == [done.raw["models"][0]["model"]]
    return done, out.getvalue()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["kserve", "seldon"])
def test_the_savedmodel_is_copied_to_a_version_folder_once(minio, tmp_path: Path, backend: str) -> None:
    url = mlflow_model(
        minio,
        {
            "MLmodel": TF_MLMODEL.encode(),
            "tfmodel/saved_model.pb": b"graph",
            "tfmodel/variables/variables.index": b"index",
            "conda.yaml": b"name: x\n",
        },
    )
    done, said = run(minio, tmp_path, url, backend)
    assert done.raw["models"][0]["model"] == f"{url}/serving"
    assert "laid the model out for" in said and "2 files copied" in said
    assert [k for k in keys(minio, url) if k.startswith("serving/")] == [
        "serving/1/saved_model.pb",
        "serving/1/variables/variables.index",
    ]
    again, said = run(minio, tmp_path, url, backend)
    assert again.raw["models"][0]["model"] == f"{url}/serving" and "nothing copied" in said
    # The secret key never reaches the log.
    assert minio.secret_key not in said


@pytest.mark.timeout(180)
def test_a_model_without_a_savedmodel_is_refused_in_one_line(minio, tmp_path: Path) -> None:
    url = mlflow_model(minio, {"MLmodel": TF_MLMODEL.encode(), "tfmodel/model.h5": b"keras"})
    with pytest.raises(StepInputError) as caught:
        run(minio, tmp_path, url, "kserve")
    assert str(caught.value) == (
        f"FUSEML_MODEL: {url} holds no TensorFlow SavedModel (saved_model.pb); allowed: an MLflow "
        "tensorflow or keras model saved as a SavedModel"
    )
    assert not [k for k in keys(minio, url) if k.startswith("serving/")]


@pytest.mark.timeout(180)
def test_an_mlflow_onnx_model_gets_the_version_folder_ovms_loads(minio, tmp_path: Path) -> None:
    url = mlflow_model(minio, ONNX_MODEL)
    done, said = run(minio, tmp_path, url, "ovms", predictor="", format="onnx")
    assert done.raw["models"][0]["model"] == f"{url}/serving"
    assert "serving/1/model.onnx" in keys(minio, url) and "1 files copied" in said
    # A folder already laid out (the converter's <model>/ovms/<version>/ ...) is served as it is.
    versioned = mlflow_model(minio, {"1/model.onnx": b"onnx"})
    done, said = run(minio, tmp_path, versioned, "ovms", predictor="", format="onnx")
    assert done.raw["models"][0]["model"] == versioned and said == ""


@pytest.mark.timeout(180)
def test_an_onnx_folder_with_no_single_model_file_is_refused_in_one_line(minio, tmp_path: Path) -> None:
    url = mlflow_model(minio, {"MLmodel": ONNX_MODEL["MLmodel"], "a.onnx": b"a", "b.onnx": b"b"})
    with pytest.raises(StepInputError) as caught:
        run(minio, tmp_path, url, "ovms", predictor="", format="onnx")
    assert str(caught.value) == (
        f"FUSEML_MODEL: {url} holds 2 .onnx files at its top; allowed: one (the MLflow onnx flavor's "
        "model.onnx), or a folder already laid out in versions"
    )
    assert not [k for k in keys(minio, url) if k.startswith("serving/")]


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
    assert lay_out(cfg, Plan("ovms", "tensorflow", "", "ovms"), None, no_store) is None


@pytest.mark.timeout(180)
def test_onnx_on_seldon_gets_a_triton_model_repository(minio, tmp_path: Path) -> None:
    url = mlflow_model(minio, ONNX_MODEL)
    done, _ = run(minio, tmp_path, url, "seldon", predictor="", format="onnx")
    assert done.raw["models"][0]["model"] == f"{url}/serving"
    assert "serving/cifar10-kserve/1/model.onnx" in keys(minio, url)
