"""Fixtures of the end-to-end suite: the real CLI and provider, a loopback cluster, FuseML on 127.0.0.1.

The toolchain is built (or reused from its cache) once per session; CI builds it before pytest starts so
that its time shows on its own. One cluster serves the whole session and is always stopped, even when a
test fails or the session is interrupted (its processes also die with this one). Each test gets a
fresh engine (state folder, PULUMI_HOME, project folder) and a namespace of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import cluster as testbed_cluster
from testbed import kubelet, toolchain
from testbed.engine import Engine
from testbed.local import prepare_namespace
from tests.fuseml_server import FakeFuseML, running_server

_names = itertools.count()


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    try:
        return toolchain.ensure()
    except toolchain.ToolchainError as err:
        pytest.fail(f"the real-engine toolchain is not available: {err}", pytrace=False)


@pytest.fixture(scope="session")
def cluster(bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[testbed_cluster.Cluster]:
    # With the controller stand-ins: every model a test deploys becomes ready (or fails, by the kubelet's
    # fault switch) as on a cluster running its serving system, so `pulumi up`'s readiness gates pass.
    with testbed_cluster.running(tmp_path_factory.mktemp("cluster"), bin_dir, stand_ins=True) as running:
        yield running


@pytest.fixture
def namespace(cluster: testbed_cluster.Cluster) -> Iterator[str]:
    """A namespace of this test's own (the FuseML installer's part on a real cluster); the kubelet's fault
    rules a test set are cleared after it."""
    name = f"e2e-{next(_names)}"
    prepare_namespace(cluster, name)
    yield name
    kubelet.set_faults(cluster.dir, [])


@pytest.fixture
def engine(bin_dir: Path, cluster: testbed_cluster.Cluster, tmp_path: Path) -> Engine:
    return Engine(bin_dir=bin_dir, work=tmp_path / "engine", kubeconfig=cluster.kubeconfig)


@pytest.fixture
def fuseml() -> Iterator[FakeFuseML]:
    with running_server() as server:
        yield server
