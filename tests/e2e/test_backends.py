"""Every backend's objects under the real CLI and provider, held by the loopback API server.

The loopback cluster has the upstream CRDs of every kind the program creates (ModelServer, Istio's, KServe's
InferenceService and serving runtimes, Seldon Core's SeldonDeployment), so `pulumi up` proves the API
server accepts each object as the program writes it, and `pulumi destroy` that the program's lifecycle
takes them away again. The controllers are the test bed's stand-ins (testbed/standins.py), which report
each model ready as its system would once its Pods run, so the readiness gates pass; no URL answers, and
the outputs and FuseML's applications are checked as the strings they are.

The tutorial's stack (`Pulumi.tutorial.yaml`: one CIFAR-10 model on OVMS, KServe and Seldon Core) is
deployed as a user would, its S3 keys set with `pulumi config set --secret`, in a namespace of its own and
registered with the FuseML stand-in; a second stack puts two models on ModelMesh, one on KServe's OpenVINO
runtime, which the stack installs (a cluster-scoped ClusterServingRuntime, so that stack is always destroyed,
even when a test fails), and two on one shared OVMS server.

Each object is checked twice: against the offline plan (the same program under mocks: the API server
kept every field as written) and against ground truth, values written by hand from the stack's settings,
the README's defaults and the upstream contracts named beside them (FuseML's own templates in
reference/fuseml, the CRDs in reference/crds, the upstream sources), so a value the program gets wrong
cannot pass by being wrong in the plan too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from offline import schemas
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
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
RUNTIME_PATH = "/apis/serving.kserve.io/v1alpha1/clusterservingruntimes/kserve-openvino"


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
    # What each object holds, the ground truth, is checked by the tests below.


#: Pulumi.tutorial.yaml's model folders (the IR the workflow converted, the TF Serving layout beside it).
RUN = "s3://mlflow-artifacts/1/7b1549fc8c3a45189564c521f9313a66/artifacts/model"
#: Every server's default size: README, "A model entry", `resources` (limits default to the requests).
DEFAULT_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
#: The same in a ModelServer, as the API server keeps it: the CRD defaults xpu_device_quantity to "1"
#: (intel.com_model_servers.yaml), which the operator's chart reads only with an xpu_device, which these
#: servers have not (openvinotoolkit/operator helm-charts/ovms/templates/deployment.yaml).
MODEL_SERVER_RESOURCES = {
    side: {**quantities, "xpu_device_quantity": "1"} for side, quantities in DEFAULT_RESOURCES.items()
}


def secret_strings(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    """A Secret's data as the API server holds it, decoded."""
    held = cluster.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    assert held is not None, name
    return {key: base64.b64decode(value).decode() for key, value in held["data"].items()}


def held(cluster: Cluster, path: str) -> dict[str, Any]:
    found = cluster.get(path)
    assert found is not None, f"{path}: not held by the API server"
    return found


# Ground truth: the values below are written by hand from Pulumi.tutorial.yaml, the README's defaults and
# the upstream contracts named beside them, never taken from the program or its offline plan, so a value
# the program gets wrong fails here even where the plan comparison above agrees with it.


def test_tutorial_ovms_model_server_and_route_hold_the_stack_files_values(tutorial: Tutorial) -> None:
    ns, cluster = tutorial.namespace, tutorial.cluster
    # FuseML's ovms extension (reference/fuseml/extension-templates/ovms-cr.yaml, ovms-virtualservice.yaml,
    # ovms-values-schema.yaml): the server and its route are `ovms-<app>`, gRPC 8080, REST 8081, ClusterIP,
    # model name `default`, the file system polled every second.
    server = held(cluster, f"/apis/intel.com/v1alpha1/namespaces/{ns}/modelservers/ovms-cifar10-ovms")
    spec = server["spec"]
    # The default image: OVMS 2026.2, the newest the operator 1.2.0 can run (kernel/backends.py cites why).
    assert spec["image_name"] == "openvino/model_server:2026.2"
    assert spec["service_parameters"] == {"grpc_port": 8080, "rest_port": 8081, "service_type": "ClusterIP"}
    assert (
        stacks.missing(
            spec["models_settings"],
            {
                "single_model_mode": True,
                "model_name": "default",
                "model_path": f"{RUN}/ovms",
                "batch_size": "-1",  # the stack's -1; the CRD's batch_size is a string
                "target_device": "CPU",
                "plugin_config": '{"PERFORMANCE_HINT":"LATENCY"}',  # README's default
            },
        )
        == []
    )
    assert (
        stacks.missing(spec["server_settings"], {"log_level": "INFO", "file_system_poll_wait_seconds": 1})
        == []
    )
    # The operator reads S3 keys inline (intel.com_model_servers.yaml, models_repository): exactly these.
    assert spec["models_repository"] == {
        "storage_type": "S3",
        "s3_compat_api_endpoint": "http://mlflow-minio.mlflow:9000",
        "aws_access_key_id": SECRETS["aws_access_key_id"],
        "aws_secret_access_key": SECRETS["aws_secret_access_key"],
    }
    assert spec["deployment_parameters"]["replicas"] == 1
    assert spec["deployment_parameters"]["resources"] == MODEL_SERVER_RESOURCES
    assert (
        stacks.missing(
            server["metadata"]["labels"],
            {"fuseml/app-name": "cifar10-ovms", "fuseml/workflow": "mlflow-multi-e2e"},
        )
        == []
    )

    route = held(
        cluster, f"/apis/networking.istio.io/v1beta1/namespaces/{ns}/virtualservices/ovms-cifar10-ovms"
    )
    assert route["spec"] == {
        "gateways": [f"{ns}/ovms"],
        "hosts": ["cifar10-ovms.ovms.34.118.93.249.nip.io"],
        "http": [
            {
                "match": [{"uri": {"prefix": "/"}}],
                "route": [
                    {
                        "destination": {
                            "host": f"ovms-cifar10-ovms.{ns}.svc.cluster.local",
                            "port": {"number": 8081},
                        }
                    }
                ],
            }
        ],
    }


def test_tutorial_kserve_inference_service_and_credentials_hold_the_stack_files_values(
    tutorial: Tutorial,
) -> None:
    ns, cluster = tutorial.namespace, tutorial.cluster
    isvc = held(cluster, f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/cifar10-kserve")
    # FuseML's kserve extension (reference/fuseml/extension-templates/kserve-inferenceservice.yaml): named
    # after the app, its service account and Secret `<app>-kserve`, TensorFlow on the v1 protocol; KServe's
    # runtime for it is `kserve-tensorflow-serving` (kserve config/runtimes), modelFormat `tensorflow`.
    assert isvc["metadata"]["labels"]["fuseml/app-name"] == "cifar10-kserve"
    predictor = isvc["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "cifar10-kserve-kserve"
    assert predictor.get("minReplicas") == 1
    assert predictor["model"] == {
        "modelFormat": {"name": "tensorflow"},
        "runtime": "kserve-tensorflow-serving",
        "protocolVersion": "v1",
        "storageUri": f"{RUN}/serving",
        "resources": DEFAULT_RESOURCES,
    }
    # KServe's S3 Secret (kserve pkg/credentials/s3/s3_secret.go; its docs' MinIO example): the endpoint as
    # host:port without a scheme, HTTPS off for the stack's http:// endpoint, the keys as AWS_* entries.
    secret = held(cluster, f"/api/v1/namespaces/{ns}/secrets/cifar10-kserve-kserve")
    assert (
        stacks.missing(
            secret["metadata"]["annotations"],
            {
                "serving.kserve.io/s3-endpoint": "mlflow-minio.mlflow:9000",
                "serving.kserve.io/s3-usehttps": "0",
            },
        )
        == []
    )
    assert secret_strings(cluster, ns, "cifar10-kserve-kserve") == {
        "AWS_ACCESS_KEY_ID": SECRETS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": SECRETS["aws_secret_access_key"],
    }
    account = held(cluster, f"/api/v1/namespaces/{ns}/serviceaccounts/cifar10-kserve-kserve")
    assert account["secrets"] == [{"name": "cifar10-kserve-kserve"}]


def test_tutorial_seldon_deployment_and_credentials_hold_the_stack_files_values(tutorial: Tutorial) -> None:
    ns, cluster = tutorial.namespace, tutorial.cluster
    seldon = held(
        cluster, f"/apis/machinelearning.seldon.io/v1/namespaces/{ns}/seldondeployments/cifar10-seldon"
    )
    # Seldon Core's operator routes through these annotations (seldondeployment_controller.go,
    # ANNOTATION_ISTIO_GATEWAY and ANNOTATION_ISTIO_HOST): the `seldon` gateway FuseML's installer creates
    # in the namespace, and the host `<app>.<seldon.host_prefix>.<domain>`.
    assert (
        stacks.missing(
            seldon["metadata"]["annotations"],
            {
                "seldon.io/istio-gateway": f"{ns}/seldon",
                "seldon.io/istio-host": "cifar10-seldon.seldon.34.118.93.249.nip.io",
            },
        )
        == []
    )
    assert seldon["spec"]["protocol"] == "tensorflow"
    (predictor,) = seldon["spec"]["predictors"]
    assert (predictor["name"], predictor["replicas"]) == ("default", 1)
    # A prepackaged server (Seldon's TENSORFLOW_SERVER) reads the model with rclone, configured from the
    # Secret `envSecretRefName` names (SeldonDeployment CRD, graph); its container is the graph node's name.
    assert predictor["graph"] == {
        "name": "cifar10-seldon",
        "implementation": "TENSORFLOW_SERVER",
        "modelUri": f"{RUN}/serving",
        "envSecretRefName": "cifar10-seldon-seldon-s3",
    }
    (component,) = predictor["componentSpecs"]
    (container,) = component["spec"]["containers"]
    assert (container["name"], container["resources"]) == ("cifar10-seldon", DEFAULT_RESOURCES)
    # rclone's remote `s3` from RCLONE_CONFIG_S3_* (seldon-core v1.18.2 doc/source/servers/overview.md, its
    # MinIO example), pointed at the stack's endpoint.
    assert secret_strings(cluster, ns, "cifar10-seldon-seldon-s3") == {
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Minio",
        "RCLONE_CONFIG_S3_ENV_AUTH": "false",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": SECRETS["aws_access_key_id"],
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": SECRETS["aws_secret_access_key"],
        "RCLONE_CONFIG_S3_ENDPOINT": "http://mlflow-minio.mlflow:9000",
    }


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


MESH = "mesh"
MESH_NAMESPACE = "e2e-mesh"
MESH_MODELS = [
    {
        "app_name": "mnist-mesh",
        "model": "s3://models/mnist/sklearn",
        "format": "sklearn",
        "backend": "modelmesh",
    },
    {"app_name": "onnx-mesh", "model": "s3://models/mnist/onnx", "format": "onnx", "backend": "modelmesh"},
    {
        "app_name": "resnet-kserve",
        "model": "s3://models/resnet/ir",
        "format": "openvino",
        "backend": "kserve",
    },
    # Two models on one shared OVMS server (`servers`): one ModelServer, one config.json, one route.
    {
        "app_name": "face",
        "model": "gs://ovms-public-eu/face-detection",
        "model_name": "face",
        "server": "shared",
    },
    {"app_name": "age", "model": "gs://ovms-public-eu/age-gender", "model_name": "age", "server": "shared"},
]


@dataclass
class Mesh:
    engine: Engine
    cluster: Cluster
    fuseml: FakeFuseML
    namespace: str
    plan: Plan
    destroyed: bool = False


@pytest.fixture(scope="module")
def mesh(bin_dir: Path, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """ModelMesh, KServe's OpenVINO runtime (which the stack installs: a cluster-scoped
    ClusterServingRuntime, so the stack is always destroyed) and a shared OVMS server, in one stack."""
    prepare_namespace(cluster, MESH_NAMESPACE)
    with running_server() as fuseml:
        config = stacks.settings(
            MESH_NAMESPACE,
            MESH_MODELS,
            fuseml_url=fuseml.url,
            kserve={"openvino_runtime": True},
            storage={"s3_endpoint": "http://minio.minio:9000"},
            servers=[{"name": "shared"}],
        )
        assert cluster.get(RUNTIME_PATH) is None, "another stack holds the cluster-scoped runtime"
        engine = new_engine(bin_dir, cluster, tmp_path_factory.mktemp("mesh"), MESH, config)
        deployed = Mesh(engine, cluster, fuseml, MESH_NAMESPACE, stacks.planned(config, MESH, PLACEHOLDERS))
        try:
            stacks.up(engine, MESH)
            yield deployed
        finally:
            if not deployed.destroyed:
                destroy(engine, MESH)


MESH_KINDS = (
    INFERENCE_SERVICE,
    SECRET,
    SERVICE_ACCOUNT,
    RUNTIME,
    VIRTUAL_SERVICE,
    GATEWAY,
    MODEL_SERVER,
    CONFIG_MAP,
)


def test_mesh_up_creates_every_object_as_planned(mesh: Mesh) -> None:
    ns = mesh.namespace
    planned = kubernetes_objects(mesh.plan, *MESH_KINDS)
    assert set(planned) == {
        f"{INFERENCE_SERVICE} {ns}/mnist-mesh",
        f"{INFERENCE_SERVICE} {ns}/onnx-mesh",
        f"{INFERENCE_SERVICE} {ns}/resnet-kserve",
        f"{SECRET} {ns}/storage-config",
        f"{SECRET} {ns}/resnet-kserve-kserve",
        f"{SERVICE_ACCOUNT} {ns}/resnet-kserve-kserve",
        f"{RUNTIME} /kserve-openvino",
        f"{VIRTUAL_SERVICE} {ns}/mnist-mesh",
        f"{VIRTUAL_SERVICE} {ns}/ovms-shared",
        f"{GATEWAY} {ns}/ovms",
        f"{MODEL_SERVER} {ns}/ovms-shared",
        f"{CONFIG_MAP} {ns}/ovms-shared",
    }
    for name, obj in planned.items():
        assert differences(mesh.cluster, obj) == [], name


def test_mesh_modelmesh_inference_services_and_storage_hold_the_stacks_values(mesh: Mesh) -> None:
    ns, cluster = mesh.namespace, mesh.cluster
    path = f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices"
    # ModelMesh mode is KServe's annotation serving.kserve.io/deploymentMode: ModelMesh; the model is read
    # through a storage-config entry (`key`) and a path in its bucket; the runtimes are ModelMesh's built-in
    # mlserver-1.x (sklearn) and ovms-1.x (openvino_ir, onnx) (reference/crds/modelmesh-builtin-runtimes).
    for app, model in {
        "mnist-mesh": {
            "modelFormat": {"name": "sklearn"},
            "runtime": "mlserver-1.x",
            "storage": {"key": "s3-models", "path": "mnist/sklearn"},
        },
        "onnx-mesh": {
            "modelFormat": {"name": "onnx"},
            "runtime": "ovms-1.x",
            "storage": {"key": "s3-models", "path": "mnist/onnx"},
        },
    }.items():
        isvc = held(cluster, f"{path}/{app}")
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "ModelMesh", app
        assert isvc["spec"]["predictor"] == {"model": model}, app
    # modelmesh-serving docs/predictors/setup-storage.md: the namespace's `storage-config` Secret, one JSON
    # entry per key, of type s3 with the keys and the endpoint; `bucket` is what the runtime adapter's
    # puller reads (modelmesh-runtime-adapter v0.12.0 pullman/storageproviders/s3/provider.go).
    entries = secret_strings(cluster, ns, "storage-config")
    assert list(entries) == ["s3-models"]
    assert json.loads(entries["s3-models"]) == {
        "type": "s3",
        "access_key_id": SECRETS["aws_access_key_id"],
        "secret_access_key": SECRETS["aws_secret_access_key"],
        "bucket": "models",
        "endpoint_url": "http://minio.minio:9000",
        # The runtime adapter requires a region (provider.go NewRepository): AWS's default, none being set.
        "region": "us-east-1",
    }
    # ModelMesh has no exposure of its own: the route goes to its Service modelmesh-serving, REST proxy port
    # 8008 (modelmesh-serving docs/configuration/README.md: inferenceServiceName, restProxy.port); ovms-1.x
    # speaks grpc-v1 only, which that proxy does not translate, so onnx-mesh gets no route, only gRPC 8033.
    routes = stacks.virtual_services(cluster, ns)
    assert "onnx-mesh" not in routes
    assert routes["mnist-mesh"]["spec"] == {
        "gateways": [f"{ns}/ovms"],
        "hosts": [f"mnist-mesh.ovms.{stacks.DOMAIN}"],
        "http": [
            {
                "match": [{"uri": {"prefix": "/"}}],
                "route": [
                    {
                        "destination": {
                            "host": f"modelmesh-serving.{ns}.svc.cluster.local",
                            "port": {"number": 8008},
                        }
                    }
                ],
            }
        ],
    }
    assert (
        mesh.fuseml.store["mnist-mesh"]["url"]
        == f"http://mnist-mesh.ovms.{stacks.DOMAIN}/v2/models/mnist-mesh/infer"
    )
    assert (
        mesh.fuseml.store["onnx-mesh"]["url"] == f"grpc://modelmesh-serving.{ns}:8033?mm-vmodel-id=onnx-mesh"
    )


def test_mesh_storage_entry_names_the_region_the_runtime_adapter_requires(mesh: Mesh) -> None:
    """ModelMesh's runtime adapter refuses an S3 entry without a region (modelmesh-runtime-adapter v0.12.0
    pullman/storageproviders/s3/provider.go NewRepository, "missing required string configuration
    'region'"): without storage.aws_region the entry names AWS's default one."""
    entry = json.loads(secret_strings(mesh.cluster, mesh.namespace, "storage-config")["s3-models"])
    assert entry["region"] == "us-east-1", entry


def test_mesh_kserve_openvino_model_and_runtime_hold_the_stacks_values(mesh: Mesh) -> None:
    ns, cluster = mesh.namespace, mesh.cluster
    isvc = held(cluster, f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/resnet-kserve")
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "resnet-kserve-kserve"
    assert isvc["spec"]["predictor"]["model"] == {
        "modelFormat": {"name": "openvino"},
        "runtime": "kserve-openvino",  # KServe's OVMS runtime, kserve config/runtimes/kserve-openvino.yaml
        "protocolVersion": "v1",
        "storageUri": "s3://models/resnet/ir",
        "resources": DEFAULT_RESOURCES,
    }
    secret = held(cluster, f"/api/v1/namespaces/{ns}/secrets/resnet-kserve-kserve")
    assert (
        stacks.missing(
            secret["metadata"]["annotations"],
            {"serving.kserve.io/s3-endpoint": "minio.minio:9000", "serving.kserve.io/s3-usehttps": "0"},
        )
        == []
    )
    assert secret_strings(cluster, ns, "resnet-kserve-kserve") == {
        "AWS_ACCESS_KEY_ID": SECRETS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": SECRETS["aws_secret_access_key"],
    }
    account = held(cluster, f"/api/v1/namespaces/{ns}/serviceaccounts/resnet-kserve-kserve")
    assert account["secrets"] == [{"name": "resnet-kserve-kserve"}]
    # The runtime the stack installs: OVMS at kserve.openvino_image_tag's default (README: 2026.2, the newest
    # that still serves the runtime's v1 protocol), serving IR.
    runtime = held(cluster, RUNTIME_PATH)
    (container,) = runtime["spec"]["containers"]
    assert container["image"] == "openvino/model_server:2026.2"
    assert "openvino" in [f["name"] for f in runtime["spec"]["supportedModelFormats"]]
    assert mesh.fuseml.store["resnet-kserve"]["url"] == (
        f"http://resnet-kserve.{ns}.{stacks.DOMAIN}/v1/models/resnet-kserve:predict"
    )


def test_mesh_shared_server_config_map_model_server_and_route_hold_the_stacks_values(mesh: Mesh) -> None:
    ns, cluster = mesh.namespace, mesh.cluster
    # OVMS multi-model mode: config.json's model_config_list, one `config` (name, base_path) per model
    # (reference/crds/ovms-config-schema, the release's models_config_schema), in the ConfigMap the
    # ModelServer names (intel.com_model_servers.yaml: single_model_mode false, config_configmap_name).
    config_map = held(cluster, f"/api/v1/namespaces/{ns}/configmaps/ovms-shared")
    assert list(config_map["data"]) == ["config.json"]
    config = json.loads(config_map["data"]["config.json"])
    latency = {"PERFORMANCE_HINT": "LATENCY"}
    assert config == {
        "model_config_list": [
            {
                "config": {
                    "name": "face",
                    "base_path": "gs://ovms-public-eu/face-detection",
                    "plugin_config": latency,
                }
            },
            {
                "config": {
                    "name": "age",
                    "base_path": "gs://ovms-public-eu/age-gender",
                    "plugin_config": latency,
                }
            },
        ]
    }
    # The server runs the default 2026.2, between the two nearest schemas of the reference (2025.1, 2026.3).
    for release in ("2025.1", "2026.3"):
        schema = json.loads(
            (schemas.crd_dir() / "ovms-config-schema" / f"models_config_schema_v{release}.json").read_text()
        )
        jsonschema.validate(config, schema)

    server = held(cluster, f"/apis/intel.com/v1alpha1/namespaces/{ns}/modelservers/ovms-shared")
    spec = server["spec"]
    assert spec["image_name"] == "openvino/model_server:2026.2"
    assert (
        stacks.missing(
            spec["models_settings"], {"single_model_mode": False, "config_configmap_name": "ovms-shared"}
        )
        == []
    )
    # (model_name and model_path hold the CRD's defaults, which multi-model mode does not read: the chart
    # then passes only `--config_path /config/config.json`, the ConfigMap mounted at /config.)
    assert spec["models_repository"] == {"storage_type": "google"}
    assert spec["service_parameters"] == {"grpc_port": 8080, "rest_port": 8081, "service_type": "ClusterIP"}
    assert spec["deployment_parameters"]["resources"] == MODEL_SERVER_RESOURCES

    route = held(cluster, f"/apis/networking.istio.io/v1beta1/namespaces/{ns}/virtualservices/ovms-shared")
    assert route["spec"] == {
        "gateways": [f"{ns}/ovms"],
        "hosts": [f"shared.ovms.{stacks.DOMAIN}"],
        "http": [
            {
                "match": [{"uri": {"prefix": "/"}}],
                "route": [
                    {"destination": {"host": f"ovms-shared.{ns}.svc.cluster.local", "port": {"number": 8081}}}
                ],
            }
        ],
    }
    # Each model on the server is its own FuseML application, at the server's host.
    assert {app: mesh.fuseml.store[app]["url"] for app in ("face", "age")} == {
        "face": f"http://shared.ovms.{stacks.DOMAIN}/v1/models/face:predict",
        "age": f"http://shared.ovms.{stacks.DOMAIN}/v1/models/age:predict",
    }


def test_mesh_state_holds_no_credential_and_destroy_removes_everything(mesh: Mesh) -> None:
    ns = mesh.namespace
    assert sorted(mesh.fuseml.store) == ["age", "face", "mnist-mesh", "onnx-mesh", "resnet-kserve"]
    assert {n: a["url"] for n, a in mesh.fuseml.store.items()} == mesh.plan.outputs["prediction_urls"]
    assert_no_secret_in_state(
        mesh.engine,
        MESH,
        mesh.cluster,
        [f"/api/v1/namespaces/{ns}/secrets/{n}" for n in ("storage-config", "resnet-kserve-kserve")],
    )
    destroy(mesh.engine, MESH)
    mesh.destroyed = True
    planned = kubernetes_objects(mesh.plan, *MESH_KINDS)
    assert [name for name, obj in planned.items() if mesh.cluster.get(object_path(obj))] == []
    assert mesh.fuseml.store == {}
    mesh.engine.run("stack", "rm", MESH, "--yes")
