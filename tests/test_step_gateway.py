"""The step's Gateway lookup against a real HTTP server on 127.0.0.1: every failure is one input error."""

from __future__ import annotations

import base64
import json
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from kernel.errors import StepInputError
from step import gateway


class Answers:
    """What the stand-in API server answers, and the paths it was asked for."""

    def __init__(self) -> None:
        self.status, self.body, self.paths = 200, b"", []


@pytest.fixture
def api() -> Iterator[tuple[str, Answers]]:
    answers = Answers()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers.paths.append(self.path)
            self.send_response(answers.status)
            self.end_headers()
            self.wfile.write(answers.body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(path: Path, server: str, **user: str) -> dict[str, str]:
    config = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user or {"token": "t0ken"}}],
    }
    path.write_text(yaml.safe_dump(config))
    return {"KUBECONFIG": str(path)}


def gateway_body(*hosts: str) -> bytes:
    return json.dumps({"spec": {"servers": [{"hosts": list(hosts)}]}}).encode()


def test_a_namespaced_gateway_name_is_looked_up_in_its_namespace(
    api: tuple[str, Answers], tmp_path: Path
) -> None:
    url, answers = api
    answers.body = gateway_body("*.ovms.34.118.93.249.nip.io")
    env = kubeconfig(tmp_path / "kubeconfig", url)
    found = gateway.discover("fuseml-workloads", "istio-system/ovms-gateway", env)
    assert found == gateway.Found(domain="34.118.93.249.nip.io", host_prefix="ovms")
    assert answers.paths == [
        "/apis/networking.istio.io/v1beta1/namespaces/istio-system/gateways/ovms-gateway"
    ]


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (200, b"<html>not json</html>", "cannot be read (JSONDecodeError)"),
        (200, b'{"spec": null}', "has no host like *.<prefix>.<domain> (its first is '')"),
        (403, b"{}", "cannot be read (HTTP 403)"),
    ],
)
def test_a_bad_answer_is_one_input_error(
    api: tuple[str, Answers], tmp_path: Path, status: int, body: bytes, why: str
) -> None:
    url, answers = api
    answers.status, answers.body = status, body
    with pytest.raises(StepInputError) as raised:
        gateway.discover("ns", "ovms-gateway", kubeconfig(tmp_path / "kubeconfig", url))
    assert f"Gateway ns/ovms-gateway {why}; set FUSEML_SERVING_DOMAIN" in str(raised.value)


@pytest.mark.parametrize(
    "user",
    [{"tokenFile": "/nonexistent/token"}, {"client-certificate-data": "%%%", "client-key-data": "%%%"}],
)
def test_a_broken_kubeconfig_is_one_input_error(tmp_path: Path, user: dict[str, str]) -> None:
    env = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", **user)
    with pytest.raises(
        StepInputError, match=r"no service account or usable kubeconfig \(.*\) to read the Gateway"
    ):
        gateway.discover("ns", "ovms-gateway", env)


def test_client_key_material_does_not_outlive_the_lookup(api: tuple[str, Answers], tmp_path: Path) -> None:
    url, answers = api
    answers.body = gateway_body("*.ovms.example.com")
    pem = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\n...\n").decode()
    env = kubeconfig(tmp_path / "kubeconfig", url, **{"client-certificate-data": pem, "client-key-data": pem})
    before = set(Path(tempfile.gettempdir()).glob("fuseml-step-*"))
    # The stand-in speaks plain HTTP, so the client certificate is never used; it must still be cleaned up.
    gateway.discover("ns", "ovms-gateway", env)
    assert set(Path(tempfile.gettempdir()).glob("fuseml-step-*")) == before
