"""A stack's whole life under the real CLI and provider, against the loopback API server and FuseML.

One stack per module, deployed once; the tests run in file order and each takes the stack one step
further (second up, refresh, an in-place update, a removed model, destroy), as a platform engineer would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from testbed.cluster import Cluster
from testbed.engine import Engine
from tests.e2e import stacks
from tests.fuseml_server import FakeFuseML

pytestmark = pytest.mark.timeout(900)

STACK = "lifecycle"
MODELS = [
    {
        "app_name": "resnet",
        "model": "gs://ovms-public-eu/resnet50-binary",
        "format": "openvino",
        "model_name": "resnet",
        "nireq": 2,
    },
    {"app_name": "mnist", "model": "s3://models/mnist", "model_name": "mnist", "format": "onnx"},
]
SECRETS = {
    "aws_access_key_id": "AKIAE2ETESTKEYID0001",
    "aws_secret_access_key": "e2e-secret-Do-Not-Leak-7f3a",
}


@dataclass
class Deployed:
    engine: Engine
    cluster: Cluster
    fuseml: FakeFuseML
    namespace: str
    config: dict[str, Any]
    first_up: str


@pytest.fixture(scope="module")
def deployed(bin_dir: Any, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from testbed.local import prepare_namespace
    from tests.fuseml_server import running_server

    namespace = "e2e-lifecycle"
    prepare_namespace(cluster, namespace)
    with running_server() as fuseml:
        engine = Engine(
            bin_dir=bin_dir, work=tmp_path_factory.mktemp("lifecycle"), kubeconfig=cluster.kubeconfig
        )
        config = stacks.settings(
            namespace, MODELS, fuseml_url=fuseml.url, storage={"s3_endpoint": "http://minio:9000"}
        )
        stacks.new_stack(engine, STACK, config)
        for key, value in SECRETS.items():
            engine.set_config(STACK, f"fuseml-serving:{key}", value, secret=True)
        first = stacks.up(engine, STACK)
        yield Deployed(engine, cluster, fuseml, namespace, config, first)


def test_up_creates_what_the_plan_says(deployed: Deployed) -> None:
    plan = stacks.planned(deployed.config, STACK, {k: f"[secret {k}]" for k in SECRETS})
    servers = stacks.model_servers(deployed.cluster, deployed.namespace)
    routes = stacks.virtual_services(deployed.cluster, deployed.namespace)
    planned_servers = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in plan.of_type("kubernetes:intel.com/v1alpha1:ModelServer")
    }
    planned_routes = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in plan.of_type("kubernetes:networking.istio.io/v1beta1:VirtualService")
    }
    assert set(servers) == set(planned_servers) == {"ovms-resnet", "ovms-mnist"}
    for name, server in servers.items():
        expected = planned_servers[name]["spec"]
        repository = dict(server["spec"]["models_repository"])
        if repository.get("storage_type") == "S3":
            # The plan holds placeholders where the engine decrypted the real secrets.
            assert repository["aws_secret_access_key"] == SECRETS["aws_secret_access_key"]
            expected = {**expected, "models_repository": {**expected["models_repository"], **{
                k: SECRETS[k] for k in SECRETS}}}  # fmt: skip
        # The API server adds the CRD's defaults; everything planned must be there as planned.
        assert stacks.missing(server["spec"], expected) == [], name
        assert server["metadata"]["labels"] == planned_servers[name]["metadata"]["labels"]
    assert set(routes) == set(planned_routes)
    for name, route in routes.items():
        assert stacks.missing(route["spec"], planned_routes[name]["spec"]) == [], name
        destination = route["spec"]["http"][0]["route"][0]["destination"]
        assert destination == {
            "host": f"{name}.{deployed.namespace}.svc.cluster.local",
            # OVMS's REST port as FuseML's ovms extension routes it (ovms-virtualservice.yaml, rest_port).
            "port": {"number": 8081},
        }
    assert sorted(deployed.fuseml.store) == ["mnist", "resnet"]
    urls = stacks.outputs(deployed.engine, STACK)["prediction_urls"]
    assert urls["resnet"] == f"http://resnet.ovms.{stacks.DOMAIN}/v1/models/resnet:predict"
    assert deployed.fuseml.store["resnet"]["url"] == urls["resnet"]


def test_second_up_changes_nothing_and_writes_nothing(deployed: Deployed) -> None:
    api_writes, fuseml_writes = len(deployed.cluster.writes()), len(deployed.fuseml.writes())
    stacks.up(deployed.engine, STACK, "--expect-no-changes")
    assert deployed.cluster.writes()[api_writes:] == []
    assert deployed.fuseml.writes()[fuseml_writes:] == []


def state(deployed: Deployed) -> dict[str, dict[str, Any]]:
    """The stack's resources as its exported state holds them, by URN, secrets decrypted (each write of
    the state encrypts them anew, so only their plain values compare)."""
    exported = json.loads(deployed.engine.run("stack", "export", "--stack", STACK, "--show-secrets").stdout)
    return {r["urn"]: r for r in exported["deployment"]["resources"]}


#: The API group and plural of each Kubernetes kind the stack holds, by its Pulumi type.
KUBERNETES_KINDS = {
    "kubernetes:intel.com/v1alpha1:ModelServer": ("intel.com/v1alpha1", "modelservers"),
    "kubernetes:networking.istio.io/v1beta1:VirtualService": (
        "networking.istio.io/v1beta1",
        "virtualservices",
    ),
    "kubernetes:networking.istio.io/v1beta1:Gateway": ("networking.istio.io/v1beta1", "gateways"),
}


def program_outputs(resource: dict) -> dict:
    """A resource's outputs without what its controller writes: `status`, the operator's uninstall finalizer
    (helm-operator adds `helm.sdk.operatorframework.io/uninstall-release` to each CR it installs), and the
    metadata that moves with every write (resourceVersion, managedFields)."""
    outputs = {k: v for k, v in (resource.get("outputs") or {}).items() if k != "status"}
    if isinstance(outputs.get("metadata"), dict):
        written = ("resourceVersion", "managedFields", "finalizers")
        outputs["metadata"] = {k: v for k, v in outputs["metadata"].items() if k not in written}
    return outputs


def test_refresh_is_clean(deployed: Deployed) -> None:
    before = state(deployed)
    api_writes, fuseml_writes = len(deployed.cluster.writes()), len(deployed.fuseml.writes())
    deployed.engine.run("refresh", "--stack", STACK, "--yes", "--skip-preview", "--expect-no-changes")
    after = state(deployed)
    # The refresh read every object and found each as the state had it: the same resources, each with the
    # same outputs, and nothing written to the cluster or to FuseML. Only what a controller writes may have
    # moved meanwhile: the operator's status of a ModelServer (and the version and field owners that come
    # with writing it), as on a real cluster.
    assert set(after) == set(before)
    assert [urn for urn in after if program_outputs(after[urn]) != program_outputs(before[urn])] == []
    assert deployed.cluster.writes()[api_writes:] == []
    assert deployed.fuseml.writes()[fuseml_writes:] == []
    # And what the state holds is what the cluster holds: every Kubernetes object of the stack is the live
    # object of that name, at its live version, and every application the URL FuseML has.
    kinds = {urn: r for urn, r in after.items() if r["type"] in KUBERNETES_KINDS}
    names = sorted((r["type"].rsplit(":", 1)[1], r["outputs"]["metadata"]["name"]) for r in kinds.values())
    assert names == [
        ("Gateway", "ovms"),
        ("ModelServer", "ovms-mnist"),
        ("ModelServer", "ovms-resnet"),
        ("VirtualService", "ovms-mnist"),
        ("VirtualService", "ovms-resnet"),
    ]
    for urn, resource in kinds.items():
        metadata = resource["outputs"]["metadata"]
        group, plural = KUBERNETES_KINDS[resource["type"]]
        live = deployed.cluster.get(
            f"/apis/{group}/namespaces/{deployed.namespace}/{plural}/{metadata['name']}"
        )
        assert live is not None, urn
        assert (metadata["uid"], metadata["resourceVersion"]) == (
            live["metadata"]["uid"],
            live["metadata"]["resourceVersion"],
        ), urn
    apps = {r["outputs"]["name"]: r["outputs"] for r in after.values() if r["type"].endswith(":Application")}
    assert {name: app["url"] for name, app in apps.items()} == {
        name: app["url"] for name, app in deployed.fuseml.store.items()
    }
    assert sorted(apps) == ["mnist", "resnet"]


def test_stack_export_holds_no_credential_in_plain_text(deployed: Deployed) -> None:
    exported = deployed.engine.run("stack", "export", "--stack", STACK).stdout
    assert "ovms-mnist" in exported
    for value in SECRETS.values():
        assert value not in exported


def test_changed_nireq_updates_the_server_in_place(deployed: Deployed) -> None:
    before = stacks.model_servers(deployed.cluster, deployed.namespace)["ovms-resnet"]
    models = [{**MODELS[0], "nireq": 4}, MODELS[1]]
    deployed.config["models"] = models
    stacks.write_stack(deployed.engine, STACK, deployed.config)
    out = stacks.up(deployed.engine, STACK)
    after = stacks.model_servers(deployed.cluster, deployed.namespace)["ovms-resnet"]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["models_settings"]["nireq"] == 4
    # The server, and its readiness gate, which waits again for the new spec to serve.
    assert "2 updated" in out, out


def test_removed_model_loses_its_server_route_and_application(deployed: Deployed) -> None:
    deployed.config["models"] = deployed.config["models"][:1]
    stacks.write_stack(deployed.engine, STACK, deployed.config)
    stacks.up(deployed.engine, STACK)
    assert set(stacks.model_servers(deployed.cluster, deployed.namespace)) == {"ovms-resnet"}
    assert set(stacks.virtual_services(deployed.cluster, deployed.namespace)) == {"ovms-resnet"}
    assert sorted(deployed.fuseml.store) == ["resnet"]


def test_destroy_leaves_nothing_and_the_stack_can_be_removed(deployed: Deployed) -> None:
    deployed.engine.run("destroy", "--stack", STACK, "--yes", "--skip-preview", timeout=900)
    assert stacks.model_servers(deployed.cluster, deployed.namespace) == {}
    assert stacks.virtual_services(deployed.cluster, deployed.namespace) == {}
    gateways = stacks.items(deployed.cluster, "networking.istio.io/v1beta1", "gateways", deployed.namespace)
    assert gateways == {}
    assert deployed.fuseml.store == {}
    deployed.engine.run("stack", "rm", STACK, "--yes")
    listed = deployed.engine.run("stack", "ls", "--json").stdout
    assert STACK not in listed
