"""FuseML down during a real `pulumi up`: a clear failure within the client's retry bound, then recovery."""

from __future__ import annotations

import time

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


def retry_bound_s() -> float:
    """The longest one FuseML call can take when every attempt is answered 503 at once (client defaults)."""
    client = FuseMLClient("http://127.0.0.1:9")
    return sum(min(client.backoff_s * 2**i, client.max_backoff_s) for i in range(client.retries))


def test_fuseml_503_throughout_fails_the_up_clearly_and_the_next_up_registers(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML
) -> None:
    stacks.new_stack(engine, STACK, stacks.settings(namespace, [MODEL], fuseml_url=fuseml.url))
    fuseml.inject(503, times=None)
    started = time.monotonic()
    failed = engine.run("up", "--stack", STACK, "--yes", "--skip-preview", check=False)
    elapsed = time.monotonic() - started
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "503" in output and "flaky" in output, output
    # The registration's calls (look up, then register) each retry within the bound; the rest of the
    # update is a few seconds on this cluster.
    assert elapsed < 2 * retry_bound_s() + 30, elapsed
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
