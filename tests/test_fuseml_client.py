"""Tests of fuseml.client against a real local HTTP server: calls, retries, errors, no secret leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from fuseml.client import (
    FuseMLAuthError,
    FuseMLBadRequest,
    FuseMLClient,
    FuseMLConflict,
    FuseMLError,
    FuseMLNotFound,
    FuseMLUnavailable,
    redact_url,
    redactor,
)
from tests.fuseml_server import FakeFuseML, closed_port_url, goa_error, running_server

TOKEN = "tok-SECRET-5f3a9c1e77"

APP = {
    "name": "mnist-ovms",
    "type": "predictor",
    "description": "MNIST on OVMS",
    "url": "http://mnist.fuseml.example/v1/models/mnist:predict",
    "workflow": "mlflow-ovms-e2e",
    "k8s_namespace": "fuseml-workloads",
    "k8s_resources": [{"name": "mnist", "kind": "ModelServer"}, {"name": "mnist", "kind": "VirtualService"}],
}


class Sleeps(list):
    """Records requested sleeps instead of waiting, so retry tests are fast."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[FakeFuseML]:
    with running_server() as srv:
        yield srv


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUSEML_TOKEN", TOKEN)
    monkeypatch.delenv("FUSEML_TOKEN_FILE", raising=False)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make(server: FakeFuseML, sleeps: Sleeps, **kwargs) -> FuseMLClient:
    return FuseMLClient(server.url, sleep=sleeps, **kwargs)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text


# -- happy paths ----------------------------------------------------------------------------------


def test_register_get_list_delete_round_trip(server: FakeFuseML, sleeps: Sleeps) -> None:
    client = make(server, sleeps)
    assert client.register(APP) == APP
    assert client.get("mnist-ovms") == APP
    assert client.list() == [APP]
    assert client.list(type="predictor", workflow="mlflow-ovms-e2e") == [APP]
    assert client.list(workflow="other") == []
    assert client.delete("mnist-ovms") is True
    assert client.get("mnist-ovms") is None
    assert server.calls() == [
        ("POST", "/applications"),
        ("GET", "/applications/mnist-ovms"),
        ("GET", "/applications"),
        ("GET", "/applications"),
        ("GET", "/applications"),
        ("DELETE", "/applications/mnist-ovms/"),
        ("GET", "/applications/mnist-ovms"),
    ]
    # FuseML deletes the listed Kubernetes objects along with the record.
    assert server.deleted_k8s == [
        {"namespace": "fuseml-workloads", "name": "mnist", "kind": "ModelServer"},
        {"namespace": "fuseml-workloads", "name": "mnist", "kind": "VirtualService"},
    ]
    assert sleeps == []


def test_every_request_asks_for_json_and_sends_bearer_token(server: FakeFuseML, sleeps: Sleeps) -> None:
    make(server, sleeps).get("x")
    headers = server.requests[0].headers
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_no_authorization_header_without_token(
    server: FakeFuseML, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUSEML_TOKEN")
    make(server, sleeps).get("x")
    assert "Authorization" not in server.requests[0].headers


def test_token_file_is_read_at_call_time(
    server: FakeFuseML, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv("FUSEML_TOKEN")
    client = make(server, sleeps)  # Built before the file exists: the token is read per call.
    token_file = tmp_path / "token"
    token_file.write_text("from-file-token\n")
    monkeypatch.setenv("FUSEML_TOKEN_FILE", str(token_file))
    client.get("x")
    assert server.requests[0].headers["Authorization"] == "Bearer from-file-token"


def test_missing_token_file_names_the_variable(
    sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv("FUSEML_TOKEN")
    monkeypatch.setenv("FUSEML_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(FuseMLError, match="FUSEML_TOKEN_FILE"):
        FuseMLClient("http://127.0.0.1:9", sleep=sleeps).get("x")


def test_register_replaces_record_with_same_name(server: FakeFuseML, sleeps: Sleeps) -> None:
    client = make(server, sleeps)
    client.register(APP)
    client.register({**APP, "url": "http://new.example/predict"})
    assert server.store["mnist-ovms"]["url"] == "http://new.example/predict"
    assert len(server.store) == 1


def test_yaml_answer_is_parsed(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.seed(APP)
    server.inject(as_yaml=True)
    assert make(server, sleeps).get("mnist-ovms") == APP
    assert server.requests[0].headers["Accept"] == "application/json"


def test_yaml_list_answer_is_parsed(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.seed(APP)
    server.inject(as_yaml=True)
    assert make(server, sleeps).list() == [APP]


def test_delete_of_missing_record_is_success(server: FakeFuseML, sleeps: Sleeps) -> None:
    assert make(server, sleeps).delete("ghost") is False
    assert server.calls() == [("DELETE", "/applications/ghost/")]


def test_names_are_percent_encoded(server: FakeFuseML, sleeps: Sleeps) -> None:
    assert make(server, sleeps).get("a/b") is None
    assert server.requests[0].path == "/applications/a%2Fb"


# -- retries --------------------------------------------------------------------------------------


def test_500_then_success_is_retried_once(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.seed(APP)
    server.inject(500, body=goa_error("fault", "boom", fault=True))
    assert make(server, sleeps).get("mnist-ovms") == APP
    assert server.calls() == [("GET", "/applications/mnist-ovms")] * 2
    assert sleeps == [0.5]


def test_post_503_then_success_registers_once(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.inject(503, method="POST")
    assert make(server, sleeps).register(APP) == APP
    assert server.writes() == [("POST", "/applications")] * 2


def test_503_forever_gives_up_after_bounded_retries(server: FakeFuseML, sleeps: Sleeps, caplog) -> None:
    server.inject(503, body=f"upstream down; Authorization: Bearer {TOKEN}", times=None)
    client = make(server, sleeps, retries=4, backoff_s=0.5, max_backoff_s=2.0)
    with caplog.at_level(logging.DEBUG, logger="fuseml.client"), pytest.raises(FuseMLUnavailable) as info:
        client.get("mnist-ovms")
    assert len(server.requests) == 5
    assert sleeps == [0.5, 1.0, 2.0, 2.0]  # exponential, capped at max_backoff_s
    err = info.value
    assert err.status == 503
    assert err.method == "GET"
    assert "GET /applications/mnist-ovms" in str(err)
    assert "503" in str(err) and "5 attempt" in str(err)
    assert "upstream down" in err.body
    assert_no_secret(str(err), err.body, repr(err), caplog.text)
    # Exactly one log line per attempt, none with the token.
    lines = [r for r in caplog.records if r.name == "fuseml.client"]
    assert len(lines) == 5
    assert [f"attempt {i}/5" in r.getMessage() for i, r in enumerate(lines, 1)] == [True] * 5


def test_429_honours_retry_after_capped(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.inject(429, headers={"Retry-After": "3"})
    server.inject(429, headers={"Retry-After": "120"})
    server.seed(APP)
    assert make(server, sleeps, max_backoff_s=8.0).get("mnist-ovms") == APP
    assert sleeps == [3.0, 8.0]
    assert len(server.requests) == 3


def test_hang_past_timeout_is_retried(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.seed(APP)
    server.inject(delay_s=1.0)
    assert make(server, sleeps, timeout_s=0.3).get("mnist-ovms") == APP
    assert len(server.requests) == 2
    assert sleeps == [0.5]


def test_hang_forever_raises_unavailable(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.inject(delay_s=1.0, times=None)
    with pytest.raises(FuseMLUnavailable, match="ReadTimeout after 2 attempt"):
        make(server, sleeps, timeout_s=0.3, retries=1).get("mnist-ovms")
    assert len(server.requests) == 2


def test_connection_refused_raises_unavailable(sleeps: Sleeps, caplog) -> None:
    client = FuseMLClient(closed_port_url(), sleep=sleeps, retries=2)
    with caplog.at_level(logging.INFO, logger="fuseml.client"), pytest.raises(FuseMLUnavailable) as info:
        client.get("mnist-ovms")
    assert info.value.status is None
    assert "ConnectionError after 3 attempt" in str(info.value)
    assert sleeps == [0.5, 1.0]
    assert len([r for r in caplog.records if r.name == "fuseml.client"]) == 3
    assert_no_secret(str(info.value), caplog.text)


def test_timeout_applies_to_every_call(monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps) -> None:
    seen = []

    class Boom(Exception):
        pass

    def fake_request(self, method, url, **kwargs):
        seen.append(kwargs["timeout"])
        raise Boom

    client = FuseMLClient("http://fuseml.invalid", timeout_s=2.5, sleep=sleeps)
    monkeypatch.setattr(type(client._session), "request", fake_request)
    for call in (
        lambda: client.get("a"),
        client.list,
        lambda: client.register(APP),
        lambda: client.delete("a"),
    ):
        with pytest.raises(Boom):
            call()
    assert seen == [(2.5, 2.5)] * 4


# -- errors that must not be retried --------------------------------------------------------------


def test_400_goa_error_is_not_retried_and_carries_message(server: FakeFuseML, sleeps: Sleeps, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="fuseml.client"), pytest.raises(FuseMLBadRequest) as info:
        make(server, sleeps).register({**APP, "owner": "unexpected"})  # schema forbids extra fields
    err = info.value
    assert err.status == 400
    assert "POST /applications" in str(err)
    assert "invalid application" in str(err) and "'owner' was unexpected" in str(err)
    assert server.writes() == [("POST", "/applications")]
    assert sleeps == []
    assert len(caplog.records) == 1
    assert_no_secret(str(err), caplog.text)


def test_missing_required_field_is_rejected_by_schema(server: FakeFuseML, sleeps: Sleeps) -> None:
    app = {k: v for k, v in APP.items() if k != "workflow"}
    with pytest.raises(FuseMLBadRequest, match="'workflow' is a required property"):
        make(server, sleeps).register(app)
    assert server.store == {}


def test_injected_400_with_goa_body(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.inject(400, body=goa_error("bad_request", "Value of ID must be an integer"))
    with pytest.raises(FuseMLBadRequest, match="HTTP 400: Value of ID must be an integer"):
        make(server, sleeps).get("x")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (409, FuseMLConflict),
        (422, FuseMLBadRequest),
        (401, FuseMLAuthError),
        (403, FuseMLAuthError),
        (418, FuseMLError),
    ],
)
def test_other_4xx_map_to_errors_without_retry(server: FakeFuseML, sleeps: Sleeps, status: int, cls) -> None:
    server.inject(status, body=goa_error("x", f"status {status}"))
    with pytest.raises(cls) as info:
        make(server, sleeps).register(APP)
    assert info.value.status == status
    assert f"HTTP {status}: status {status}" in str(info.value)
    assert len(server.requests) == 1
    assert sleeps == []


def test_404_raises_not_found_for_list(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.inject(404, body=goa_error("not_found", "gone"))
    with pytest.raises(FuseMLNotFound):
        make(server, sleeps).list()


def test_body_is_truncated_and_redacted(server: FakeFuseML, sleeps: Sleeps) -> None:
    body = f'{{"token": "{TOKEN}", "password": "hunter2", "pad": "{"x" * 1000}"}}'
    server.inject(418, body=body)
    with pytest.raises(FuseMLError) as info:
        make(server, sleeps).get("x")
    err = info.value
    assert len(err.body) < 330 and err.body.endswith("[truncated]")
    assert "hunter2" not in str(err)
    assert_no_secret(str(err), err.body)


def test_unparseable_success_body_is_an_error(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.inject(200, body="{not: [valid")
    with pytest.raises(FuseMLError, match="unparseable"):
        make(server, sleeps).get("x")


def test_non_object_success_body_is_an_error(server: FakeFuseML, sleeps: Sleeps) -> None:
    server.inject(201, body=["not", "an", "app"], method="POST")
    with pytest.raises(FuseMLError, match="expected an application object"):
        make(server, sleeps).register(APP)


# -- redaction helpers ----------------------------------------------------------------------------


def test_redact_masks_known_and_token_like_values() -> None:
    text = f"Authorization: Bearer abc.def; api_key=zzz token={TOKEN} raw {TOKEN}"
    out = redactor(TOKEN)(text)
    assert "abc.def" not in out and "zzz" not in out and TOKEN not in out


def test_redact_url_drops_userinfo() -> None:
    assert redact_url("https://user:pw@fuseml.example/x?token=abc") == "https://fuseml.example/x?token=***"


def test_repr_does_not_show_token() -> None:
    client = FuseMLClient("http://fuseml.example", token=TOKEN)
    assert_no_secret(repr(client))
