"""The shipped `local` stack, as `python -m testbed try-local` deploys it: operator install included.

It gets a cluster of its own: the operator's install carries the ModelServer CRD, and destroying the
stack deletes it, which the other tests' cluster must keep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.backends.ovms.operator import AUTH_PROXY, CONTROLLER_IMAGE, MANAGER_ARGS
from testbed import cluster as testbed_cluster
from testbed import local
from testbed.engine import Engine
from tests.e2e import stacks

pytestmark = pytest.mark.timeout(900)

MODEL_SERVER = "kubernetes:intel.com/v1alpha1:ModelServer"


def _operator_object(urn: str) -> bool:
    """Whether a URN is one object of the operator's install (not a component around them)."""
    chain = urn.split("::")[-2]
    kind = chain.split("$")[-1]
    return (
        "OvmsOperator" in chain
        and kind.startswith("kubernetes:")
        and kind != "kubernetes:kustomize:Directory"
    )


@pytest.fixture
def own_cluster(bin_dir: Path, tmp_path: Path) -> Iterator[testbed_cluster.Cluster]:
    # With the stand-ins, as `try-local` runs: the operator stand-in renders the ModelServer, so the
    # readiness gate passes as on a cluster with the operator.
    with testbed_cluster.running(tmp_path / "cluster", bin_dir, stand_ins=True) as running:
        yield running


def test_local_stack_installs_the_operator_first_then_serves_and_goes_away(
    own_cluster: testbed_cluster.Cluster, tmp_path: Path
) -> None:
    root = tmp_path / "try-local"
    engine = Engine(
        bin_dir=own_cluster.bin_dir,
        work=root / local.ENGINE_DIR,
        kubeconfig=own_cluster.kubeconfig,
        # `--event-log` is a debug flag of the CLI (pkg/cmd/pulumi/operations/up.go), the Automation API's
        # own event stream.
        extra_env={"PULUMI_DEBUG_COMMANDS": "true"},
    )
    manifests = local.operator_manifests(root / "operator-manifests")
    settings = local.local_stack_file(root / "Pulumi.local.yaml", manifests)
    config = yaml.safe_load(settings.read_text())["config"]
    local.prepare_namespace(own_cluster, config["fuseml-serving:namespace"])
    engine.init_stack(local.STACK, settings)
    log = tmp_path / "events.jsonl"
    stacks.up(engine, local.STACK, f"--event-log={log}")

    # Every object of the operator's install was created before any ModelServer was started.
    events = stacks.events(log)
    done = {e["resOutputsEvent"]["metadata"]["urn"]: e["sequence"] for e in events if "resOutputsEvent" in e}
    started = [
        (e["sequence"], e["resourcePreEvent"]["metadata"])
        for e in events
        if "resourcePreEvent" in e and e["resourcePreEvent"]["metadata"]["op"] == "create"
    ]
    operator = [seq for urn, seq in done.items() if _operator_object(urn)]
    servers = [seq for seq, meta in started if meta["type"] == MODEL_SERVER]
    assert operator and servers
    assert max(operator) < min(servers)

    # What the install runs: the release image, the Kubernetes bundle's arguments, no withdrawn sidecar.
    deployment = own_cluster.get(
        "/apis/apps/v1/namespaces/ovms-operator-system/deployments/ovms-operator-controller-manager"
    )
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["manager"]
    assert AUTH_PROXY not in str(deployment)
    assert containers[0]["image"] == CONTROLLER_IMAGE.format(version="1.2.0")
    assert containers[0]["args"] == MANAGER_ARGS
    assert deployment["status"]["availableReplicas"] == 1
    services = stacks.items(own_cluster, "v1", "services", "ovms-operator-system")
    assert services == {}

    namespace = config["fuseml-serving:namespace"]
    assert set(stacks.model_servers(own_cluster, namespace)) == {"ovms-resnet50-ovms"}
    (route,) = stacks.virtual_services(own_cluster, namespace).values()
    assert route["spec"]["hosts"] == ["resnet50-ovms.ovms.127.0.0.1.nip.io"]

    engine.run("destroy", "--stack", local.STACK, "--yes", "--skip-preview", timeout=900)
    assert own_cluster.get("/api/v1/namespaces/ovms-operator-system") is None
    assert (
        own_cluster.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/modelservers.intel.com")
        is None
    )
    engine.run("stack", "rm", local.STACK, "--yes")
