"""modelstore: format detection from real MLmodel files of each flavor, on a local folder and on MinIO."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from modelstore import FORMATS, StoreError, StoreSettings, credentials_from_env, detect, open_store
from modelstore.stores import split_url
from tests import s3server

# Built here, at collection, when missing (about two minutes on a fresh machine): a build inside a
# fixture would count against the first test's 60 s timeout.
s3server.ensure_minio()

#: MLmodel files as MLflow 2.x writes them (mlflow.<flavor>.save_model), trimmed of run metadata.
MLMODELS = {
    "onnx": """artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.16.0
    providers: [CUDAExecutionProvider, CPUExecutionProvider]
  python_function:
    data: model.onnx
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.onnx
    python_version: 3.10.12
mlflow_version: 2.14.1
""",
    "tensorflow": """artifact_path: model
flavors:
  python_function:
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.tensorflow
    python_version: 3.10.12
  tensorflow:
    code: null
    meta_graph_tags: [serve]
    model_type: tf2-module
    saved_model_dir: tfmodel
    saved_model_dir_v2: true
mlflow_version: 2.14.1
""",
    "keras": """artifact_path: model
flavors:
  python_function:
    data: data
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.tensorflow
    python_version: 3.10.12
  tensorflow:
    code: null
    data: data
    keras_version: 2.15.0
    model_type: keras
    save_format: tf
mlflow_version: 2.14.1
""",
    "sklearn": """artifact_path: model
flavors:
  python_function:
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.10.12
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.0
mlflow_version: 2.14.1
""",
    "xgboost": """flavors:
  python_function:
    data: model.xgb
    loader_module: mlflow.xgboost
  xgboost:
    data: model.xgb
    model_class: xgboost.sklearn.XGBClassifier
    xgb_version: 2.0.3
""",
    "lightgbm": """flavors:
  lightgbm:
    data: model.lgb
    lgb_version: 4.3.0
    model_class: lightgbm.basic.Booster
  python_function:
    data: model.lgb
    loader_module: mlflow.lightgbm
""",
    "pytorch": """flavors:
  python_function:
    data: data
    loader_module: mlflow.pytorch
    pickle_module_name: mlflow.pytorch.pickle_module
  pytorch:
    code: null
    model_data: data
    pytorch_version: 2.3.0
""",
    "mlflow": """flavors:
  python_function:
    cloudpickle_version: 3.0.0
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
""",
}

#: format -> (artifact, evidence fragment)
EXPECTED = {
    "onnx": ("model.onnx", "MLmodel flavor onnx"),
    "tensorflow": ("tfmodel", "MLmodel flavor tensorflow (saved_model_dir: tfmodel)"),
    "keras": ("data", "MLmodel flavor tensorflow (data: data)"),
    "sklearn": ("model.pkl", "MLmodel flavor sklearn"),
    "xgboost": ("model.xgb", "MLmodel flavor xgboost"),
    "lightgbm": ("model.lgb", "MLmodel flavor lightgbm"),
    "pytorch": ("data", "MLmodel flavor pytorch"),
    "mlflow": ("", "python_function only (loader_module mlflow.pyfunc.model)"),
}


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


@pytest.fixture(scope="module")
def minio():
    with s3server.running() as server:
        yield server


def upload(minio, folder: Path) -> str:
    bucket = minio.make_bucket(f"mlflow-{uuid.uuid4().hex[:8]}")
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            minio.client().upload_file(str(path), bucket, f"1/run/artifacts/model/{path.relative_to(folder)}")
    return f"s3://{bucket}/1/run/artifacts/model"


@pytest.mark.parametrize("fmt", sorted(MLMODELS))
def test_each_mlflow_flavor_is_detected_on_a_local_folder(tmp_path, fmt):
    folder = write(tmp_path / "model", {"MLmodel": MLMODELS[fmt], "conda.yaml": "name: x\n"})
    found = detect(str(folder))
    assert found.format == fmt
    artifact, evidence = EXPECTED[fmt]
    assert found.artifact == artifact and evidence in found.evidence


def test_every_format_of_the_vocabulary_but_openvino_has_an_mlmodel_case():
    assert set(FORMATS) - set(MLMODELS) == {"openvino"}


def test_mlflow_flavors_are_detected_on_s3(tmp_path, minio):
    for fmt in ("onnx", "keras", "sklearn", "mlflow"):
        url = upload(minio, write(tmp_path / fmt, {"MLmodel": MLMODELS[fmt], "model.onnx": b"\x08\x07"}))
        found = detect(url, minio.credentials(), endpoint=minio.endpoint)
        assert (found.format, found.artifact) == (fmt, EXPECTED[fmt][0])
        assert "MLmodel" in found.files


def test_an_ir_folder_is_openvino_at_its_highest_version(tmp_path, minio):
    folder = write(
        tmp_path / "ir",
        {
            "1/model.xml": "<net/>",
            "1/model.bin": b"\0",
            "2/m.xml": "<net/>",
            "2/m.bin": b"\0",
            "README.md": "x",
        },
    )
    for url, settings in ((str(folder), {}), (upload(minio, folder), minio.credentials())):
        found = detect(url, settings, endpoint=minio.endpoint)
        assert (found.format, found.artifact) == ("openvino", "2/m.xml")


def test_an_xml_without_its_bin_is_not_an_ir(tmp_path):
    folder = write(tmp_path / "half", {"1/model.xml": "<net/>"})
    with pytest.raises(StoreError, match=r"no MLmodel file, OpenVINO IR .*; set `format` \(one of openvino,"):
        detect(str(folder))


def test_a_bare_onnx_file_and_a_saved_model_are_detected(tmp_path):
    assert detect(str(write(tmp_path / "a", {"net.onnx": b"\x08"}))).format == "onnx"
    found = detect(str(write(tmp_path / "b", {"1/saved_model.pb": b"\x08", "1/variables/v.index": b""})))
    assert (found.format, found.artifact) == ("tensorflow", "1")


def test_the_mlmodel_wins_over_the_files_beside_it(tmp_path):
    folder = write(
        tmp_path / "m", {"MLmodel": MLMODELS["sklearn"], "ovms/1/model.xml": "", "ovms/1/model.bin": ""}
    )
    assert detect(str(folder)).format == "sklearn"


def test_several_flavors_prefer_onnx(tmp_path):
    text = MLMODELS["sklearn"].replace("flavors:\n", "flavors:\n  onnx:\n    data: m.onnx\n", 1)
    found = detect(str(write(tmp_path / "m", {"MLmodel": text})))
    assert (found.format, found.artifact) == ("onnx", "m.onnx")


def test_unreadable_stores_say_why_and_to_set_format(tmp_path, minio):
    wrong = {**minio.credentials(), "aws_secret_access_key": "not-the-secret"}
    cases = [
        (("s3://no-such-bucket/m", minio.credentials()), "NoSuchBucket: the bucket does not exist"),
        ((upload(minio, write(tmp_path / "x", {"a.onnx": b"1"})), wrong), "SignatureDoesNotMatch"),
        ((str(tmp_path / "absent"), {}), "no files there (check the path)"),
    ]
    for (url, creds), reason in cases:
        with pytest.raises(StoreError) as caught:
            detect(url, creds, endpoint=minio.endpoint)
        message = str(caught.value)
        assert reason in message and message.endswith("; set `format` to skip detection")
        assert "\n" not in message and "not-the-secret" not in message and minio.secret_key not in message
    with pytest.raises(StoreError, match=r"S3 endpoint http://127\.0\.0\.1:1 cannot be reached"):
        detect("s3://bucket/m", minio.credentials(), endpoint="http://127.0.0.1:1")


def test_a_broken_mlmodel_is_reported(tmp_path):
    with pytest.raises(StoreError, match="MLmodel is not valid YAML; set `format`"):
        detect(str(write(tmp_path / "a", {"MLmodel": "flavors: [\n"})))
    with pytest.raises(StoreError, match=r"MLmodel has no flavor this project knows \(h2o\)"):
        detect(str(write(tmp_path / "b", {"MLmodel": "flavors:\n  h2o:\n    data: m\n"})))


def test_the_callers_hint_replaces_format(tmp_path):
    with pytest.raises(StoreError) as caught:
        detect(str(tmp_path / "absent"), hint="set models[0].format")
    assert str(caught.value).endswith("; set models[0].format to skip detection")
    with pytest.raises(StoreError) as caught:
        detect(str(tmp_path / "absent"), hint=None)
    assert str(caught.value).endswith("(check the path)")


def test_publish_on_s3_leaves_only_the_version_folder(tmp_path, minio):
    bucket = minio.make_bucket(f"out-{uuid.uuid4().hex[:8]}")
    store = open_store(f"s3://{bucket}/served", StoreSettings(minio.credentials(), minio.endpoint))
    folder = write(tmp_path / "ir", {"model.xml": "<net/>", "model.bin": b"\1\2", "meta.json": "{}"})
    store.publish(folder, "1", order=("model.bin", "model.xml", "meta.json"))
    assert store.list() == ["1/meta.json", "1/model.bin", "1/model.xml"]
    assert store.read("1/model.bin") == b"\1\2"
    fetched = store.fetch(tmp_path / "back")
    assert fetched == store.list() and (tmp_path / "back" / "1" / "model.xml").read_text() == "<net/>"


def test_publish_on_a_local_folder_is_one_rename(tmp_path):
    store = open_store(str(tmp_path / "served"))
    store.publish(write(tmp_path / "ir", {"model.xml": "x", "model.bin": "y"}), "3")
    assert store.list() == ["3/model.bin", "3/model.xml"]
    assert sorted(p.name for p in (tmp_path / "served").iterdir()) == ["3"]


def test_a_failed_publish_leaves_nothing_where_ovms_looks(tmp_path, minio):
    bucket = minio.make_bucket(f"out-{uuid.uuid4().hex[:8]}")
    store = open_store(f"s3://{bucket}/served", StoreSettings(minio.credentials(), minio.endpoint))
    folder = write(tmp_path / "ir", {"model.xml": "<net/>", "model.bin": b"\1"})
    real_copy = store.copy
    store.copy = lambda src, dst: (_ for _ in ()).throw(StoreError("copy failed"))  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="copy failed"):
        store.publish(folder, "1")
    store.copy = real_copy  # type: ignore[method-assign]
    assert store.list() == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket/a/b/", ("s3", "bucket", "a/b")),
        ("gs://bucket", ("gs", "bucket", "")),
        ("az://container/m", ("az", "container", "m")),
        ("azfs://share/m", ("azfs", "share", "m")),
        ("/models/m", ("", "", "/models/m")),
    ],
)
def test_urls_split_into_scheme_bucket_and_prefix(url, expected):
    assert split_url(url) == expected


@pytest.mark.parametrize("url", ["azure://c/m", "http://x/m", "s3://", "relative/path"])
def test_other_urls_are_refused_in_one_line(url):
    with pytest.raises(StoreError, match=r"is not a model store URL; allowed: s3://<bucket>/<path>, gs://"):
        split_url(url)


@pytest.mark.parametrize(
    ("url", "module", "package"),
    [
        ("gs://b/m", "google.cloud", "google-cloud-storage"),
        ("az://c/m", "azure.storage.blob", "azure-storage-blob"),
        ("azfs://s/m", "azure.storage.fileshare", "azure-storage-file-share"),
    ],
)
def test_a_missing_cloud_client_is_one_line_naming_the_package(monkeypatch, url, module, package):
    # None in sys.modules makes `import` raise ImportError, installed or not.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(StoreError, match=f"needs {package}"):
        open_store(url, StoreSettings({"azure_storage_connection_string": "x"}))


def test_credentials_come_from_the_step_environment(tmp_path):
    key = tmp_path / "sa.json"
    text = (
        '{"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com", '
        '"private_key": "-----BEGIN PRIVATE KEY-----", "token_uri": "https://oauth2.googleapis.com/token"}'
    )
    key.write_text(text)
    env = {
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "s",
        "GOOGLE_APPLICATION_CREDENTIALS": str(key),
        "AZURE_STORAGE_CONNECTION_STRING": "",
    }
    assert credentials_from_env(env) == {
        "aws_access_key_id": "a",
        "aws_secret_access_key": "s",
        "gcs_credentials": text,
    }
    with pytest.raises(StoreError, match="GOOGLE_APPLICATION_CREDENTIALS='/nope' cannot be read"):
        credentials_from_env({"GOOGLE_APPLICATION_CREDENTIALS": "/nope"})
