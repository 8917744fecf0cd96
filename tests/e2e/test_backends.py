"""Every backend's objects under the real CLI and provider, held by the loopback API server.

The loopback cluster has the upstream CRDs of every kind the program creates (ModelServer, Istio's, KServe's
InferenceService and serving runtimes, Seldon Core's SeldonDeployment), so `pulumi up` proves the API
server accepts each object as the program writes it, and `pulumi destroy` that the program's lifecycle
takes them away again. The controllers are the test bed's stand-ins (testbed/standins.py), which report
each model ready as its system would once its Pods run, so the readiness gates pass; no URL answers, and
the outputs and FuseML's applications are checked as the strings they are.

The tutorial's stack (`Pulumi.tutorial.yaml`: one CIFAR-10 model on OVMS, KServe and Seldon Core) is
deployed as a user would, its S3 keys set with `pulumi config set --secret`, in a namespace of its own and
registered with the FuseML stand-in; a second stack puts one model on ModelMesh and one on KServe's
OpenVINO runtime, which the stack installs (a cluster-scoped ClusterServingRuntime, so that test always
destroys its stack, even when it fails).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.backends import kserve, modelmesh
from offline.plan import Plan, stack_file
from testbed.cluster import Cluster
from testbed.engine import Engine
from testbed.local import prepare_namespace
from tests.e2e import stacks
from tests.fuseml_server import FakeFuseML, running_server

pytestmark = pytest.mark.timeout(900)

SECRETS = {
    "aws_access_key_id": "AKIAE2EBACKENDS00001",
    "aws_secret_access_key": "e2e-backends-Never-In-State-91c4",
}
#: What the planner holds where the engine has the decrypted keys.
PLACEHOLDERS = {key: f"[secret {key}]" for key in SECRETS}
TUTORIAL = "tutorial"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
SELDON_DEPLOYMENT = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
MODEL_SERVER = "kubernetes:intel.com/v1alpha1:ModelServer"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1beta1:VirtualService"
GATEWAY = "kubernetes:networking.istio.io/v1beta1:Gateway"
SECRET = "kubernetes:core/v1:Secret"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime"
RUNTIME_PATH = f"/apis/{kserve.RUNTIME_API_VERSION}/clusterservingruntimes/{kserve.OPENVINO_RUNTIME}"


def tutorial_settings(namespace: str, fuseml_url: str) -> dict[str, Any]:
    """Pulumi.tutorial.yaml's settings, with the test's namespace and the FuseML stand-in's URL."""
    document = yaml.safe_load(stack_file(TUTORIAL).read_text(encoding="utf-8"))
    config = {key.split(":", 1)[1]: value for key, value in document["config"].items()}
    config["namespace"] = namespace
    config["fuseml"] = {**config["fuseml"], "url": fuseml_url}
    return config


def with_secrets(value: Any) -> Any:
    """A planned value with the planner's placeholders replaced by the keys the engine decrypted (also
    inside strings the program built from them, as the storage-config JSON)."""
    if isinstance(value, dict):
        return {k: with_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_secrets(v) for v in value]
    if isinstance(value, str):
        for key, placeholder in PLACEHOLDERS.items():
            value = value.replace(placeholder, SECRETS[key])
    return value


def object_path(obj: dict[str, Any]) -> str:
    """The API path of a planned object (every kind here is its lower-case name plus `s`)."""
    api_version, metadata = obj["apiVersion"], obj["metadata"]
    group = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    scope = f"/namespaces/{metadata['namespace']}" if "namespace" in metadata else ""
    return f"{group}{scope}/{obj['kind'].lower()}s/{metadata['name']}"


def differences(cluster: Cluster, planned: dict[str, Any]) -> list[str]:
    """Where the object the API server holds differs from the planned one (its additions aside)."""
    expected = with_secrets(planned)
    held = cluster.get(object_path(expected))
    if held is None:
        return [f"{object_path(expected)}: not held by the API server"]
    body = {k: v for k, v in expected.items() if k not in ("apiVersion", "kind", "metadata")}
    if "stringData" in body:
        # The API server keeps a Secret's stringData as base64 data.
        strings = body.pop("stringData")
        body["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in strings.items()}
    wanted_metadata = {k: v for k, v in expected["metadata"].items() if k in ("labels", "annotations")}
    return stacks.missing(held, body) + stacks.missing(held["metadata"], wanted_metadata, ".metadata")


def kubernetes_objects(plan: Plan, *types: str) -> dict[str, dict[str, Any]]:
    """The planned objects of the given types, by `<type> <namespace>/<name>`."""
    return {
        f"{r.type} {r.inputs['metadata'].get('namespace', '')}/{r.inputs['metadata']['name']}": r.inputs
        for t in types
        for r in plan.of_type(t)
    }


def assert_no_secret_in_state(engine: Engine, stack: str, cluster: Cluster, secrets: list[str]) -> None:
    """Neither the keys, nor any Secret's data as the API server holds it, nor the decoded entries that
    carry the keys (the storage-config JSON among them) are in the exported state."""
    exported = engine.run("stack", "export", "--stack", stack).stdout
    for value in SECRETS.values():
        assert value not in exported
        assert base64.b64encode(value.encode()).decode() not in exported
    for path in secrets:
        data = cluster.get(path)["data"]
        assert data, path
        for key, encoded in data.items():
            assert encoded not in exported, (path, key)
            decoded = base64.b64decode(encoded).decode()
            if any(value in decoded for value in SECRETS.values()):
                assert decoded not in exported, (path, key)


def new_engine(bin_dir: Path, cluster: Cluster, work: Path, stack: str, config: dict[str, Any]) -> Engine:
    """An engine with the stack created, its settings written and the S3 keys set as secrets."""
    engine = Engine(bin_dir=bin_dir, work=work, kubeconfig=cluster.kubeconfig)
    stacks.new_stack(engine, stack, config)
    for key, value in SECRETS.items():
        engine.set_config(stack, f"fuseml-serving:{key}", value, secret=True)
    return engine


def destroy(engine: Engine, stack: str) -> None:
    engine.run("destroy", "--stack", stack, "--yes", "--skip-preview", timeout=900)


@dataclass
class Tutorial:
    engine: Engine
    cluster: Cluster
    fuseml: FakeFuseML
    namespace: str
    plan: Plan
    destroyed: bool = False


@pytest.fixture(scope="module")
def tutorial(bin_dir: Path, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tutorial]:
    namespace = "e2e-tutorial"
    prepare_namespace(cluster, namespace)
    with running_server() as fuseml:
        config = tutorial_settings(namespace, fuseml.url)
        engine = new_engine(bin_dir, cluster, tmp_path_factory.mktemp("tutorial"), TUTORIAL, config)
        deployed = Tutorial(
            engine, cluster, fuseml, namespace, stacks.planned(config, TUTORIAL, PLACEHOLDERS)
        )
        try:
            stacks.up(engine, TUTORIAL)
            yield deployed
        finally:
            if not deployed.destroyed:
                destroy(engine, TUTORIAL)


#: What the tutorial stack puts on the API server, across its three backends.
TUTORIAL_KINDS = (
    MODEL_SERVER,
    VIRTUAL_SERVICE,
    INFERENCE_SERVICE,
    SELDON_DEPLOYMENT,
    SECRET,
    SERVICE_ACCOUNT,
)


def test_tutorial_up_creates_every_backends_objects_as_planned(tutorial: Tutorial) -> None:
    planned = kubernetes_objects(tutorial.plan, *TUTORIAL_KINDS)
    ns = tutorial.namespace
    assert set(planned) == {
        f"{MODEL_SERVER} {ns}/ovms-cifar10-ovms",
        f"{VIRTUAL_SERVICE} {ns}/ovms-cifar10-ovms",
        f"{INFERENCE_SERVICE} {ns}/cifar10-kserve",
        f"{SECRET} {ns}/cifar10-kserve-kserve",
        f"{SERVICE_ACCOUNT} {ns}/cifar10-kserve-kserve",
        f"{SELDON_DEPLOYMENT} {ns}/cifar10-seldon",
        f"{SECRET} {ns}/cifar10-seldon-seldon-s3",
    }
    for name, obj in planned.items():
        assert differences(tutorial.cluster, obj) == [], name
    # The API server holds the keys the engine decrypted, where each backend's storage reader looks.
    secret = tutorial.cluster.get(f"/api/v1/namespaces/{ns}/secrets/cifar10-kserve-kserve")
    assert (
        base64.b64decode(secret["data"]["AWS_SECRET_ACCESS_KEY"]).decode() == SECRETS["aws_secret_access_key"]
    )
    account = tutorial.cluster.get(f"/api/v1/namespaces/{ns}/serviceaccounts/cifar10-kserve-kserve")
    assert account["secrets"] == [{"name": "cifar10-kserve-kserve"}]
    isvc = stacks.items(tutorial.cluster, kserve.API_VERSION, "inferenceservices", ns)["cifar10-kserve"]
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "cifar10-kserve-kserve"
    seldon = stacks.items(tutorial.cluster, "machinelearning.seldon.io/v1", "seldondeployments", ns)
    graph = seldon["cifar10-seldon"]["spec"]["predictors"][0]["graph"]
    assert (graph["implementation"], graph["envSecretRefName"]) == (
        "TENSORFLOW_SERVER",
        "cifar10-seldon-seldon-s3",
    )
    rclone = tutorial.cluster.get(f"/api/v1/namespaces/{ns}/secrets/cifar10-seldon-seldon-s3")["data"]
    assert base64.b64decode(rclone["RCLONE_CONFIG_S3_ACCESS_KEY_ID"]).decode() == SECRETS["aws_access_key_id"]


def test_tutorial_outputs_and_fuseml_carry_the_tutorials_three_urls(tutorial: Tutorial) -> None:
    ns, domain = tutorial.namespace, "34.118.93.249.nip.io"
    # The tutorial's URLs (seed 004, `fuseml application list`), in the test's namespace.
    tutorial_urls = {
        "cifar10-ovms": f"http://cifar10-ovms.ovms.{domain}/v1/models/default:predict",
        "cifar10-kserve": f"http://cifar10-kserve.{ns}.{domain}/v1/models/cifar10-kserve:predict",
        "cifar10-seldon": f"http://cifar10-seldon.seldon.{domain}/seldon/{ns}/cifar10-seldon"
        "/v1/models/cifar10-seldon:predict",
    }
    outputs = stacks.outputs(tutorial.engine, TUTORIAL)
    assert outputs["prediction_urls"] == tutorial_urls == tutorial.plan.outputs["prediction_urls"]
    assert {app: served["backend"] for app, served in outputs["serving"].items()} == {
        "cifar10-ovms": "ovms",
        "cifar10-kserve": "kserve",
        "cifar10-seldon": "seldon",
    }
    assert {name: app["url"] for name, app in tutorial.fuseml.store.items()} == tutorial_urls


def test_tutorial_state_holds_no_credential_in_plain_text(tutorial: Tutorial) -> None:
    ns = tutorial.namespace
    secrets = [
        f"/api/v1/namespaces/{ns}/secrets/{n}" for n in ("cifar10-kserve-kserve", "cifar10-seldon-seldon-s3")
    ]
    assert_no_secret_in_state(tutorial.engine, TUTORIAL, tutorial.cluster, secrets)


def test_tutorial_destroy_removes_every_object_and_application(tutorial: Tutorial) -> None:
    destroy(tutorial.engine, TUTORIAL)
    tutorial.destroyed = True
    planned = kubernetes_objects(tutorial.plan, *TUTORIAL_KINDS)
    assert [name for name, obj in planned.items() if tutorial.cluster.get(object_path(obj))] == []
    assert tutorial.fuseml.store == {}
    tutorial.engine.run("stack", "rm", TUTORIAL, "--yes")


def test_modelmesh_and_the_kserve_openvino_runtime_are_accepted_and_go_away(
    bin_dir: Path, cluster: Cluster, namespace: str, fuseml: FakeFuseML, tmp_path: Path
) -> None:
    stack = "mesh"
    models = [
        {
            "app_name": "mnist-mesh",
            "model": "s3://models/mnist/sklearn",
            "format": "sklearn",
            "backend": "modelmesh",
        },
        {
            "app_name": "onnx-mesh",
            "model": "s3://models/mnist/onnx",
            "format": "onnx",
            "backend": "modelmesh",
        },
        {
            "app_name": "resnet-kserve",
            "model": "s3://models/resnet/ir",
            "format": "openvino",
            "backend": "kserve",
        },
    ]
    config = stacks.settings(
        namespace,
        models,
        fuseml_url=fuseml.url,
        kserve={"openvino_runtime": True},
        storage={"s3_endpoint": "http://minio.minio:9000"},
    )
    plan = stacks.planned(config, stack, PLACEHOLDERS)
    assert cluster.get(RUNTIME_PATH) is None, "another stack holds the cluster-scoped runtime"
    engine = new_engine(bin_dir, cluster, tmp_path / "engine", stack, config)
    destroyed = False
    try:
        stacks.up(engine, stack)
        planned = kubernetes_objects(
            plan, INFERENCE_SERVICE, SECRET, SERVICE_ACCOUNT, RUNTIME, VIRTUAL_SERVICE, GATEWAY
        )
        assert set(planned) == {
            f"{INFERENCE_SERVICE} {namespace}/mnist-mesh",
            f"{INFERENCE_SERVICE} {namespace}/onnx-mesh",
            f"{INFERENCE_SERVICE} {namespace}/resnet-kserve",
            f"{SECRET} {namespace}/{modelmesh.STORAGE_SECRET}",
            f"{SECRET} {namespace}/resnet-kserve-kserve",
            f"{SERVICE_ACCOUNT} {namespace}/resnet-kserve-kserve",
            f"{RUNTIME} /{kserve.OPENVINO_RUNTIME}",
            f"{VIRTUAL_SERVICE} {namespace}/mnist-mesh",
            f"{GATEWAY} {namespace}/ovms",
        }
        for name, obj in planned.items():
            assert differences(cluster, obj) == [], name

        held = stacks.items(cluster, modelmesh.API_VERSION, "inferenceservices", namespace)
        mesh = held["mnist-mesh"]
        assert mesh["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "ModelMesh"
        assert mesh["spec"]["predictor"]["model"]["runtime"] == "mlserver-1.x"
        assert held["onnx-mesh"]["spec"]["predictor"]["model"]["runtime"] == "ovms-1.x"
        assert held["resnet-kserve"]["spec"]["predictor"]["model"]["runtime"] == kserve.OPENVINO_RUNTIME
        # ModelMesh has no exposure of its own: the route goes to its shared REST proxy; ovms-1.x speaks
        # grpc-v1 only, which the proxy does not translate, so that model gets no route, only its gRPC URL.
        routes = stacks.virtual_services(cluster, namespace)
        assert "onnx-mesh" not in routes
        assert fuseml.store["onnx-mesh"]["url"] == (
            f"grpc://{modelmesh.SERVICE}.{namespace}:{modelmesh.GRPC_PORT}?mm-vmodel-id=onnx-mesh"
        )
        route = routes["mnist-mesh"]
        assert route["spec"]["http"][0]["route"][0]["destination"] == {
            "host": f"{modelmesh.SERVICE}.{namespace}.svc.cluster.local",
            "port": {"number": modelmesh.REST_PORT},
        }
        storage = cluster.get(f"/api/v1/namespaces/{namespace}/secrets/{modelmesh.STORAGE_SECRET}")["data"]
        entry = json.loads(base64.b64decode(storage[modelmesh.storage_key("models")]))
        assert entry == {
            "type": "s3",
            "access_key_id": SECRETS["aws_access_key_id"],
            "secret_access_key": SECRETS["aws_secret_access_key"],
            "bucket": "models",
            "endpoint_url": "http://minio.minio:9000",
        }
        runtime = cluster.get(RUNTIME_PATH)
        assert runtime["spec"]["containers"][0]["image"].startswith(f"{kserve.OPENVINO_IMAGE}:")
        assert sorted(fuseml.store) == ["mnist-mesh", "onnx-mesh", "resnet-kserve"]
        assert {n: a["url"] for n, a in fuseml.store.items()} == plan.outputs["prediction_urls"]
        assert_no_secret_in_state(
            engine,
            stack,
            cluster,
            [
                f"/api/v1/namespaces/{namespace}/secrets/{n}"
                for n in (modelmesh.STORAGE_SECRET, "resnet-kserve-kserve")
            ],
        )

        destroy(engine, stack)
        destroyed = True
        assert [name for name, obj in planned.items() if cluster.get(object_path(obj))] == []
        assert fuseml.store == {}
    finally:
        if not destroyed:
            destroy(engine, stack)
