"""Store reads for `format: auto` (issue 16): concurrent, one client per store, each store bounded in time
and refused in one line naming it; a bad S3 endpoint or GCS key refused with the setting's name (config,
step and converter), never a traceback or the secret; no google-api-core FutureWarning on import.

The stores are real: MinIO (tests/s3server.py) for S3, and for the unreachable case a listening socket
on 127.0.0.1 that never accepts (connections to it stall as to an unroutable address); the Google client
is pointed at it with its own STORAGE_EMULATOR_HOST override.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelstore.many
import modelstore.stores
from components.config import ConfigError
from components.program import prepare
from convert.__main__ import main as convert_main
from kernel.errors import StepInputError
from modelstore import StoreError, StoreSettings, credentials_from_env, detect_many
from modelstore.stores import endpoint_from_env, endpoint_problem
from step import inputs as step_inputs
from step.__main__ import main as step_main
from tests import s3server

s3server.ensure_minio()

ROOT = Path(__file__).resolve().parents[1]
SKLEARN = "flavors:\n  sklearn:\n    pickled_model: model.pkl\n"
BASE: dict[str, Any] = {
    "istio": {"domain": "34.118.93.249.nip.io"},
    "fuseml": {"register": False},
    "operator": {"install": False},
}
#: Text that must never appear in any output: it stands for a password or a key's content.
SECRET = "Pr1vate-Passw0rd-Never-Shown"


@pytest.fixture(scope="module")
def minio() -> Iterator[s3server.S3Server]:
    with s3server.running() as server:
        yield server


@pytest.fixture
def stalled() -> Iterator[int]:
    """The port of a socket on 127.0.0.1 that never accepts and whose backlog is full: connections to it
    get no SYN-ACK (or, queued, no reply), as to an unroutable address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in (*fillers, listener):
        sock.close()


def stack(models: list[dict[str, Any]], **storage: Any) -> dict[str, Any]:
    return {**BASE, "storage": storage, "models": models}


def refusal(raw: dict[str, Any], secrets: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        prepare(raw, secrets, project="fuseml-serving", stack="test")
    return str(caught.value).splitlines()


def fill(minio: s3server.S3Server, bucket: str, folders: dict[str, dict[str, bytes]]) -> None:
    client = minio.client()
    for folder, files in folders.items():
        for name, body in files.items():
            client.put_object(Bucket=bucket, Key=f"{folder}/{name}", Body=body)


# --- many models: concurrent, one client per store, fewest calls -----------------------------------------


def test_many_models_are_read_concurrently_with_one_client_per_store_and_the_fewest_calls(
    minio, monkeypatch
) -> None:
    buckets = [minio.make_bucket(f"many-{uuid.uuid4().hex[:8]}") for _ in range(2)]
    mlflow = {"MLmodel": SKLEARN.encode(), "model.pkl": b"x", "conda.yaml": b"name: x"}
    ir = {"1/model.xml": b"<net/>", "1/model.bin": b"\0"}
    for bucket in buckets:
        fill(minio, bucket, {f"m{i}": mlflow for i in range(20)} | {f"ir{i}": ir for i in range(5)})
    built: list[str] = []
    calls: list[str] = []
    real = modelstore.stores._s3_client

    def counted(url: str, settings: StoreSettings) -> Any:
        built.append(url)
        client = real(url, settings)
        client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        return client

    monkeypatch.setattr(modelstore.stores, "_s3_client", counted)
    busy, peak, lock = [0], [0], threading.Lock()
    detect_in = modelstore.many.detect_in

    def watched(*args: Any, **kwargs: Any) -> Any:
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        try:
            time.sleep(0.02)  # long enough for the pool's other workers to be inside a read too
            return detect_in(*args, **kwargs)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(modelstore.many, "detect_in", watched)
    urls = [f"s3://{b}/{kind}{i}" for b in buckets for kind, n in (("m", 20), ("ir", 5)) for i in range(n)]
    found = detect_many(urls, StoreSettings(minio.credentials(), minio.endpoint))
    assert {url: getattr(found[url], "format", found[url]) for url in urls} == {
        url: "openvino" if "/ir" in url else "sklearn" for url in urls
    }
    assert len(built) == 2, "one client per store (bucket), not one per model"
    assert peak[0] > 1, "folders are read concurrently"
    # One listing per folder; the MLmodel file is the only object read, and only where it is listed.
    assert calls.count("ListObjectsV2") == 50 and calls.count("GetObject") == 40
    assert len(calls) == 90


def test_a_store_failing_as_a_whole_is_one_line_naming_every_model_and_the_store(minio) -> None:
    bucket = minio.make_bucket(f"mixed-{uuid.uuid4().hex[:8]}")
    fill(minio, bucket, {f"m{i}": {"MLmodel": SKLEARN.encode(), "model.pkl": b"x"} for i in range(3)})
    models = [{"app_name": f"a{i}", "model": f"s3://{bucket}/m{i}"} for i in range(3)]
    models += [{"app_name": "empty", "model": f"s3://{bucket}/nothing"}]
    models += [{"app_name": f"gone{i}", "model": f"s3://no-such-bucket-{bucket}/m{i}"} for i in range(3)]
    models += [{"app_name": "late", "model": f"s3://{bucket}/m0", "format": "auto"}]
    lines = refusal(stack(models, s3_endpoint=minio.endpoint), minio.credentials())
    assert len(lines) == 2, lines
    store_line = next(line for line in lines if "no-such-bucket" in line)
    assert store_line.startswith(
        f"fuseml-serving:models[4-6].format (3 models on s3://no-such-bucket-{bucket} at {minio.endpoint}):"
    )
    assert "NoSuchBucket: the bucket does not exist" in store_line and "set `format`" in store_line
    assert "storage.read_timeout_s" not in store_line  # only a store that did not answer in time says so
    # A folder's own problem stays that model's line.
    assert any(line.startswith("fuseml-serving:models[3].format (app 'empty')") for line in lines)
    assert all(minio.secret_key not in line for line in lines)


# --- the time bound --------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 300])
def test_an_unreachable_s3_store_is_refused_within_its_bound_in_one_line(stalled, count) -> None:
    models = [{"app_name": f"m{i}", "model": f"s3://bench/m{i}"} for i in range(count)]
    raw = stack(models, s3_endpoint=f"http://127.0.0.1:{stalled}", read_timeout_s=2)
    start = time.monotonic()
    lines = refusal(raw, {"aws_access_key_id": "id", "aws_secret_access_key": SECRET})
    took = time.monotonic() - start
    key = "models[0].format (app 'm0')" if count == 1 else f"models[0-{count - 1}].format ({count} models"
    assert len(lines) == 1 and lines[0].startswith(f"fuseml-serving:{key}"), lines
    assert f"s3://bench at http://127.0.0.1:{stalled}" in lines[0] and "set `format`" in lines[0]
    assert SECRET not in lines[0]
    # The bound (2 s) plus setting up, not a wait per model or the client's own minutes.
    assert took < 8, took


def test_an_unreachable_gcs_store_is_refused_at_the_bound_not_after_the_clients_retries(
    stalled, monkeypatch
) -> None:
    # google-cloud-storage honours STORAGE_EMULATOR_HOST as its endpoint (google/cloud/storage/client.py);
    # its default retry would keep trying the stalled endpoint for 120 s per call.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{stalled}")
    models = [{"app_name": f"m{i}", "model": f"gs://bench/m{i}"} for i in range(50)]
    start = time.monotonic()
    lines = refusal(stack(models, read_timeout_s=2), {})
    took = time.monotonic() - start
    assert len(lines) == 1 and lines[0].startswith(
        "fuseml-serving:models[0-49].format (50 models on gs://bench)"
    )
    assert "gs://bench cannot be read" in lines[0] and "set `format`" in lines[0]
    assert took < 8, took
    # The client itself stops at the bound too (its retry and timeouts), so no read lingers for minutes.
    store = modelstore.stores.open_store("gs://bench/m0", StoreSettings({}, read_timeout_s=1.0))
    start = time.monotonic()
    with pytest.raises(StoreError, match=r"gs://bench cannot be read: the GCS endpoint cannot be reached"):
        store.list()
    assert time.monotonic() - start < 6


@pytest.mark.parametrize(("scheme", "endpoint"), [("az", "BlobEndpoint"), ("azfs", "FileEndpoint")])
def test_an_unreachable_azure_store_is_refused_in_one_line_without_the_sdks_backoff(scheme, endpoint) -> None:
    # A closed port: the storage SDK's default retry would wait 15 s and more before its second attempt.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={base64.b64encode(SECRET.encode()).decode()};"
        f"{endpoint}=http://127.0.0.1:{port}/acct;"
    )
    models = [{"app_name": f"m{i}", "model": f"{scheme}://models/m{i}"} for i in range(3)]
    start = time.monotonic()
    lines = refusal(stack(models), {"azure_storage_connection_string": conn})
    assert time.monotonic() - start < 8
    assert len(lines) == 1 and lines[0].startswith(
        f"fuseml-serving:models[0-2].format (3 models on {scheme}://models)"
    )
    assert "the Azure endpoint cannot be reached" in lines[0]
    assert base64.b64encode(SECRET.encode()).decode() not in lines[0] and "AccountKey" not in lines[0]


def test_the_step_refuses_an_unreachable_store_within_its_bound(stalled, monkeypatch, tmp_path) -> None:
    # The step prepares with the core's `prepare`: the same bounded read, the bound from its environment.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{stalled}")
    env = {
        "FUSEML_APP_NAME": "iris",
        "FUSEML_MODEL": "gs://mlflow/0/run/artifacts/model",
        "FUSEML_SERVING_DOMAIN": "10.0.0.1.nip.io",
        "FUSEML_SERVING_READ_TIMEOUT_S": "2",
        "TASK_RESULT": "prediction-url",
        "FUSEML_SERVING_RESULTS_DIR": str(tmp_path),
    }
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    assert step_main(env, tmp_path, out=out, err=err) == 2
    assert time.monotonic() - start < 8
    text = err.getvalue() or out.getvalue()
    assert text.startswith("error: fuseml-serving:models[0].format (app 'iris'): got 'auto'"), text
    assert "gs://mlflow cannot be read" in text and "(step input: FUSEML_FORMAT)" in text
    assert "Traceback" not in text


def test_a_store_that_does_not_answer_in_time_says_so_and_names_the_setting(minio, monkeypatch) -> None:
    bucket = minio.make_bucket(f"slow-{uuid.uuid4().hex[:8]}")
    fill(minio, bucket, {f"m{i}": {"MLmodel": SKLEARN.encode()} for i in range(4)})
    detect_in = modelstore.many.detect_in

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.5)  # a store slower than the bound, with no error of its own
        return detect_in(*args, **kwargs)

    monkeypatch.setattr(modelstore.many, "detect_in", slow)
    models = [{"app_name": f"m{i}", "model": f"s3://{bucket}/m{i}"} for i in range(4)]
    lines = refusal(stack(models, s3_endpoint=minio.endpoint, read_timeout_s=0.5), minio.credentials())
    assert len(lines) == 1 and lines[0].startswith("fuseml-serving:models[0-3].format (4 models on s3://")
    assert "no answer within 0.5 s" in lines[0] and "storage.read_timeout_s" in lines[0]


@pytest.mark.parametrize("value", [0, -1, "soon", 301, True])
def test_read_timeout_is_a_number_of_seconds(value) -> None:
    lines = refusal(
        stack([{"app_name": "a", "model": "s3://b/m", "format": "onnx"}], read_timeout_s=value), {}
    )
    assert lines[0].startswith("fuseml-serving:storage.read_timeout_s: got ")
    assert "a number of seconds in (0, 300]" in lines[0]


# --- the S3 endpoint ---------------------------------------------------------------------------------------

GOOD_ENDPOINTS = [
    "http://minio:9000",
    "https://s3.eu.example.com",
    "http://10.0.0.1:9000/",
    "http://[::1]:9000",
]
BAD_ENDPOINTS = [
    "minio:9000",
    "mlflow-minio.mlflow:9000",
    "ftp://minio:9000",
    "http://",
    "http://minio:9000/bucket",
    "http://minio:9000?x=1",
    "http://minio:9000#f",
    "http://minio:99999",
    "http://min io:9000",
    "http://minio:\uff19\uff10\uff10\uff10",  # fullwidth digits
    "http://mínio:9000",
]


@pytest.mark.parametrize("value", GOOD_ENDPOINTS)
def test_an_s3_endpoint_is_a_scheme_and_a_host(value) -> None:
    assert endpoint_problem(value) is None


@pytest.mark.parametrize("value", BAD_ENDPOINTS)
def test_an_s3_endpoint_without_a_scheme_or_with_more_than_a_host_is_refused_at_validation(value) -> None:
    keys = {"aws_access_key_id": "id", "aws_secret_access_key": "key"}
    lines = refusal(stack([{"app_name": "a", "model": "s3://b/m"}], s3_endpoint=value), keys)
    assert len(lines) == 1 and lines[0].startswith("fuseml-serving:storage.s3_endpoint: got ")
    assert "allowed: http[s]://host[:port]" in lines[0]


@pytest.mark.parametrize(
    "value", [f"http://minio:{SECRET}@minio:9000", f"http://{SECRET}@minio:9000", f"minio:{SECRET}@m:9"]
)
def test_a_user_and_password_in_the_endpoint_are_refused_and_never_shown(value) -> None:
    lines = refusal(stack([{"app_name": "a", "model": "s3://b/m"}], s3_endpoint=value), {})
    assert lines[0].startswith("fuseml-serving:storage.s3_endpoint: got ")
    assert "credential in plain text" in lines[0] and "aws_secret_access_key" in lines[0]
    assert SECRET not in lines[0]


def test_the_step_refuses_a_bad_endpoint_naming_its_variable(tmp_path) -> None:
    env = {
        "FUSEML_APP_NAME": "iris",
        "FUSEML_MODEL": "s3://mlflow/0/run/artifacts/model",
        "FUSEML_SERVING_DOMAIN": "10.0.0.1.nip.io",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "key",
        "TASK_RESULT": "prediction-url",
        "FUSEML_SERVING_RESULTS_DIR": str(tmp_path),
    }
    for name, value in (("S3_ENDPOINT", "minio:9000"), ("MLFLOW_S3_ENDPOINT_URL", f"http://u:{SECRET}@m:9")):
        out, err = io.StringIO(), io.StringIO()
        assert step_main({**env, name: value}, tmp_path, out=out, err=err) == 2
        text = out.getvalue() + err.getvalue()
        assert "storage.s3_endpoint: got " in text and "S3_ENDPOINT or MLFLOW_S3_ENDPOINT_URL" in text
        assert "Traceback" not in text and SECRET not in text


def test_the_converter_refuses_a_bad_endpoint_naming_its_variable(tmp_path) -> None:
    env = {"FUSEML_INPUT_MODEL": "s3://mlflow/0/run/artifacts/model"}
    for name, value in (("S3_ENDPOINT", "minio:9000"), ("MLFLOW_S3_ENDPOINT_URL", f"http://u:{SECRET}@m:9")):
        out, err = io.StringIO(), io.StringIO()
        assert convert_main([], {**env, name: value}, out, err) == 2
        assert err.getvalue().startswith(f"error: {name}: got ") and "http[s]://host[:port]" in err.getvalue()
        assert "Traceback" not in err.getvalue() and SECRET not in err.getvalue() + out.getvalue()
    with pytest.raises(StoreError, match=r"^S3_ENDPOINT: got 'minio:9000'; allowed: http\[s\]://"):
        endpoint_from_env({"S3_ENDPOINT": "minio:9000", "MLFLOW_S3_ENDPOINT_URL": "http://minio:9000"})
    assert endpoint_from_env({"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000/"}) == "http://minio:9000"


# --- the GCS key -------------------------------------------------------------------------------------------


def service_account_key(**changes: Any) -> str:
    key = {
        "type": "service_account",
        "project_id": "p",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n",
        "client_email": "sa@p.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    key.update(changes)
    return json.dumps({k: v for k, v in key.items() if v is not None})


BAD_KEYS = {
    "not JSON": f"{SECRET} is not json",
    "a JSON array": f'["{SECRET}"]',
    "a JSON string": f'"{SECRET}"',
    "a JSON number": "42",
    'its "type" must be "service_account"': service_account_key(type="authorized_user"),
    "without client_email, token_uri": service_account_key(client_email=None, token_uri=None),
}


@pytest.mark.parametrize("reason", sorted(BAD_KEYS))
def test_a_gcs_key_that_is_not_a_service_account_key_is_refused_naming_its_variable(tmp_path, reason) -> None:
    path = tmp_path / "key.json"
    path.write_text(BAD_KEYS[reason])
    with pytest.raises(StoreError) as caught:
        credentials_from_env({"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    assert str(caught.value).startswith(f"GOOGLE_APPLICATION_CREDENTIALS: the file '{path}' is ")
    assert reason in str(caught.value) and SECRET not in str(caught.value)
    # The step (its secrets) and the converter (exit 2, one line) say the same.
    with pytest.raises(StepInputError, match=r"^GOOGLE_APPLICATION_CREDENTIALS: "):
        step_inputs.secrets({"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    out, err = io.StringIO(), io.StringIO()
    env = {"FUSEML_INPUT_MODEL": "gs://b/m", "GOOGLE_APPLICATION_CREDENTIALS": str(path)}
    assert convert_main([], env, out, err) == 2
    assert err.getvalue().startswith("error: GOOGLE_APPLICATION_CREDENTIALS: the file ")
    assert SECRET not in err.getvalue() + out.getvalue()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (BAD_KEYS["a JSON array"], "gcs_credentials is a JSON array, not an object"),
        (BAD_KEYS["not JSON"], "gcs_credentials is not JSON"),
        # Well-formed, but its private key is no PEM key: google-auth refuses it while parsing.
        (service_account_key(), "gcs_credentials is not a usable service-account key"),
    ],
)
def test_a_stacks_gcs_key_that_cannot_be_used_is_refused_naming_gcs_credentials(key, reason) -> None:
    models = [{"app_name": f"m{i}", "model": f"gs://bucket/m{i}"} for i in range(2)]
    lines = refusal(stack(models), {"gcs_credentials": key})
    assert len(lines) == 1 and lines[0].startswith(
        "fuseml-serving:models[0-1].format (2 models on gs://bucket)"
    )
    assert reason in lines[0] and SECRET not in lines[0] and "Traceback" not in lines[0]


# --- google-api-core's FutureWarning -------------------------------------------------------------------


def test_importing_the_program_and_opening_a_gcs_store_prints_no_warning() -> None:
    code = (
        "import components.program, step.inputs, convert.inputs\n"
        "from modelstore import open_store\n"
        "open_store('gs://bucket/model')\n"
        "import google.api_core\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_filter_is_that_message_from_that_module_only() -> None:
    # The same words from another module still warn: the filter names google-api-core's module.
    code = (
        "import warnings, modelstore.stores\n"
        "modelstore.stores._quiet_google()\n"
        "warnings.warn('You are using a Python version (3.11.7) which Google will stop', FutureWarning)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert "FutureWarning: You are using a Python version" in result.stderr
