"""FuseML down during a real `pulumi up`: a clear failure once the client's retries are spent, then
recovery."""

from __future__ import annotations

import pytest

from fuseml.client import FuseMLClient
from testbed.cluster import Cluster
from testbed.engine import Engine
from tests.e2e import stacks
from tests.fuseml_server import FakeFuseML

pytestmark = pytest.mark.timeout(600)

STACK = "faults"
MODEL = {
    "app_name": "flaky",
    "model": "gs://ovms-public-eu/resnet50-binary",
    "model_name": "resnet",
    "format": "openvino",
}


def attempts_per_call() -> int:
    """How many times the client sends one call that is answered 503 every time: its first try and its
    retries (client defaults, the ones the provider uses)."""
    return FuseMLClient("http://127.0.0.1:9").retries + 1


def test_fuseml_503_throughout_fails_the_up_clearly_and_the_next_up_registers(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML
) -> None:
    stacks.new_stack(engine, STACK, stacks.settings(namespace, [MODEL], fuseml_url=fuseml.url))
    fuseml.inject(503, times=None)
    failed = engine.run("up", "--stack", STACK, "--yes", "--skip-preview", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "503" in output and "flaky" in output, output
    # The bound is in attempts, not seconds: the registration's first call (its look-up of the app) was
    # sent exactly as many times as the client tries one call, and then the update gave up, saying so.
    assert fuseml.calls() == [("GET", "/applications/flaky")] * attempts_per_call(), fuseml.calls()
    assert f"after {attempts_per_call()} attempt(s)" in output, output
    assert fuseml.store == {}
    # The server and its route were created: only the registration waits for FuseML.
    assert set(stacks.model_servers(cluster, namespace)) == {"ovms-flaky"}
    assert set(stacks.virtual_services(cluster, namespace)) == {"ovms-flaky"}

    fuseml.faults.clear()
    stacks.up(engine, STACK)
    assert fuseml.store["flaky"]["url"] == f"http://flaky.ovms.{stacks.DOMAIN}/v1/models/resnet:predict"
    stacks.up(engine, STACK, "--expect-no-changes")
    engine.run("destroy", "--stack", STACK, "--yes", "--skip-preview")
    assert fuseml.store == {}
