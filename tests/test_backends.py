"""Every backend planned under Pulumi mocks: the tutorial's three servers, the choice `auto` makes (from a
real MLmodel in a real S3 server), what one backend refuses of another's settings, shared OVMS servers
validated against the OVMS config schema of their release, and credentials that stay secret."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from components.backends import registry
from components.backends.ovms.server import CONFIG_KEY
from components.config import ConfigError, parse
from offline.plan import Plan, engine_config, plan, plan_stack_file
from offline.schemas import crd_dir, validate
from tests import s3server
from tests.stackfiles import configured

SECRETS = {
    "aws_access_key_id": "AKIAFUSEMLTESTKEY0002",
    "aws_secret_access_key": "s3cr3t-Backend-Never-Shown",
}
BASE: dict[str, Any] = {
    "istio": {"domain": "34.118.93.249.nip.io"},
    "fuseml": {"url": "http://fuseml-core.34.118.93.249.nip.io", "workflow": "mlflow-multi-e2e"},
    "namespace": "fuseml-workloads",
    "operator": {"install": False},
}
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
SELDON = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
MODEL_SERVER = "kubernetes:intel.com/v1alpha1:ModelServer"
SECRET = "kubernetes:core/v1:Secret"


def plan_models(*models: dict[str, Any], secrets: dict[str, str] | None = SECRETS, **top: Any) -> Plan:
    raw = {**BASE, **top, "models": list(models)}
    secrets = secrets or {}
    return plan(engine_config({**raw, **secrets}), secret_keys=[f"fuseml-serving:{k}" for k in secrets])


def refused(*models: dict[str, Any], **top: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        plan_models(*models, **top)
    return str(caught.value)


def objects_valid(result: Plan) -> None:
    for resource in result.resources:
        if resource.kubernetes_object:
            assert validate(resource.inputs) == [], (resource.name, validate(resource.inputs))


def test_the_tutorial_stack_serves_one_model_on_ovms_kserve_and_seldon_at_the_tutorials_urls(
    tmp_path: Path,
) -> None:
    result = plan_stack_file("tutorial", configured("tutorial", tmp_path))
    # The URLs the tutorial's FuseML listed (seed 004, `fuseml application list`).
    assert result.outputs["prediction_urls"] == {
        "cifar10-ovms": "http://cifar10-ovms.ovms.34.118.93.249.nip.io/v1/models/default:predict",
        "cifar10-kserve": "http://cifar10-kserve.fuseml-workloads.34.118.93.249.nip.io/v1/models/cifar10-kserve:predict",
        "cifar10-seldon": "http://cifar10-seldon.seldon.34.118.93.249.nip.io/seldon/fuseml-workloads/cifar10-seldon"
        "/v1/models/cifar10-seldon:predict",
    }
    assert {app: s["backend"] for app, s in result.outputs["serving"].items()} == {
        "cifar10-ovms": "ovms",
        "cifar10-kserve": "kserve",
        "cifar10-seldon": "seldon",
    }
    (isvc,) = result.of_type(INFERENCE_SERVICE)
    assert isvc.inputs["spec"]["predictor"]["model"] == {
        "modelFormat": {"name": "tensorflow"},
        "runtime": "kserve-tensorflow-serving",
        "protocolVersion": "v1",
        "storageUri": "s3://mlflow-artifacts/1/7b1549fc8c3a45189564c521f9313a66/artifacts/model/serving",
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    }
    (seldon,) = result.of_type(SELDON)
    graph = seldon.inputs["spec"]["predictors"][0]["graph"]
    assert (graph["implementation"], seldon.inputs["spec"]["protocol"]) == ("TENSORFLOW_SERVER", "tensorflow")
    assert seldon.inputs["metadata"]["annotations"] == {
        "seldon.io/istio-gateway": "fuseml-workloads/seldon",
        "seldon.io/istio-host": "cifar10-seldon.seldon.34.118.93.249.nip.io",
    }
    apps = {
        r.inputs["name"]: r.inputs["url"] for r in result.of_type("pulumi-python:dynamic/fuseml:Application")
    }
    assert apps == result.outputs["prediction_urls"]
    objects_valid(result)


def test_kserve_reads_s3_through_a_service_account_and_an_annotated_secret_that_stay_secret() -> None:
    result = plan_models(
        {"app_name": "iris", "model": "s3://models/iris", "format": "sklearn", "backend": "kserve"},
        storage={"s3_endpoint": "http://mlflow-minio.mlflow:9000", "aws_region": "eu-west-1"},
    )
    (isvc,) = result.of_type(INFERENCE_SERVICE)
    predictor = isvc.inputs["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "iris-kserve"
    assert predictor["model"]["runtime"] == "kserve-sklearnserver"
    (secret,) = result.of_type(SECRET)
    # kserve pkg/credentials/s3: endpoint without its scheme, https off for an http endpoint.
    assert secret.inputs["metadata"]["annotations"] == {
        "serving.kserve.io/s3-endpoint": "mlflow-minio.mlflow:9000",
        "serving.kserve.io/s3-usehttps": "0",
        "serving.kserve.io/s3-region": "eu-west-1",
    }
    assert set(secret.inputs["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert SECRETS["aws_secret_access_key"] not in json.dumps(result.outputs)
    assert "stringData" in secret.secret_paths[0] or any("stringData" in p for p in secret.secret_paths)
    objects_valid(result)


def test_kserve_serves_openvino_ir_on_its_openvino_runtime_which_the_stack_can_install() -> None:
    result = plan_models(
        {"app_name": "resnet", "model": "gs://bucket/resnet", "format": "openvino", "backend": "kserve"},
        kserve={"openvino_runtime": True, "openvino_image_tag": "2025.1"},
    )
    (runtime,) = result.of_type("kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime")
    assert runtime.inputs["metadata"]["name"] == "kserve-openvino"
    assert runtime.inputs["spec"]["containers"][0]["image"] == "openvino/model_server:2025.1"
    (isvc,) = result.of_type(INFERENCE_SERVICE)
    assert isvc.inputs["spec"]["predictor"]["model"]["modelFormat"] == {"name": "openvino"}
    assert isvc.inputs["spec"]["predictor"]["model"]["runtime"] == "kserve-openvino"
    objects_valid(result)


def test_modelmesh_models_share_the_namespaces_storage_config_and_get_a_rest_route() -> None:
    result = plan_models(
        {"app_name": "mesh-a", "model": "s3://models/a", "format": "onnx", "backend": "modelmesh"},
        {"app_name": "mesh-b", "model": "s3://models/b", "format": "sklearn", "backend": "modelmesh"},
    )
    services = result.of_type(INFERENCE_SERVICE)
    assert {s.inputs["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] for s in services} == {
        "ModelMesh"
    }
    assert {s.inputs["spec"]["predictor"]["model"]["runtime"] for s in services} == {
        "ovms-1.x",
        "mlserver-1.x",
    }
    (mesh_a,) = [s for s in services if s.inputs["metadata"]["name"] == "mesh-a"]
    assert mesh_a.inputs["spec"]["predictor"]["model"]["storage"] == {"key": "s3-models", "path": "a"}
    (config,) = [s for s in result.of_type(SECRET) if s.inputs["metadata"]["name"] == "storage-config"]
    assert json.loads(config.inputs["stringData"]["s3-models"])["type"] == "s3"
    assert any("stringData" in path for path in config.secret_paths)
    # ovms-1.x speaks grpc-v1 only, where ModelMesh's REST proxy has nothing to translate to.
    assert result.outputs["prediction_urls"] == {
        "mesh-a": "grpc://modelmesh-serving.fuseml-workloads:8033?mm-vmodel-id=mesh-a",
        "mesh-b": "http://mesh-b.ovms.34.118.93.249.nip.io/v2/models/mesh-b/infer",
    }
    assert "mesh-a" not in result.outputs["inference_urls"]
    assert result.outputs["grpc_endpoints"] == {
        "mesh-a": "grpc://modelmesh-serving.fuseml-workloads:8033",
        "mesh-b": "grpc://modelmesh-serving.fuseml-workloads:8033",
    }
    (route,) = result.of_type("kubernetes:networking.istio.io/v1beta1:VirtualService")
    assert route.inputs["spec"]["http"][0]["route"][0]["destination"]["port"]["number"] == 8008
    assert route.inputs["spec"]["hosts"] == ["mesh-b.ovms.34.118.93.249.nip.io"]
    objects_valid(result)


def test_auto_puts_ir_and_onnx_on_ovms_and_the_rest_on_kserve_and_says_why() -> None:
    result = plan_models(
        {"app_name": "ir", "model": "gs://b/ir", "format": "openvino"},
        {"app_name": "trees", "model": "gs://b/trees", "format": "xgboost"},
        {"app_name": "tuned", "model": "gs://b/tuned", "nireq": 4},
    )
    serving = result.outputs["serving"]
    assert (serving["ir"]["backend"], serving["trees"]["backend"], serving["tuned"]["backend"]) == (
        "ovms",
        "kserve",
        "ovms",
    )
    assert serving["trees"]["runtime"] == "kserve-xgbserver"
    assert "fastest backend here that serves xgboost" in serving["trees"]["why"]
    assert serving["tuned"]["why"] == "ovms: the entry sets nireq, which only OpenVINO Model Server reads"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"backend": "kserve", "format": "onnx", "nireq": 4},
            "fuseml-serving:models[0].nireq (app 'm'): got 4; allowed: nothing with backend kserve: "
            "nireq is a setting of the ovms backend",
        ),
        (
            {"backend": "seldon", "format": "openvino"},
            "fuseml-serving:models[0].format (app 'm'): got 'openvino'; allowed: a format backend seldon "
            "serves (sklearn, xgboost, tensorflow, keras, onnx, lightgbm, pytorch, mlflow); openvino is "
            "served by ovms, kserve, modelmesh",
        ),
        (
            {"backend": "ovms", "runtime_version": "2.6.0"},
            "fuseml-serving:models[0].runtime_version (app 'm'): got '2.6.0'; allowed: nothing with "
            "backend ovms: runtime_version is a setting of the kserve and seldon backends",
        ),
        (
            {"backend": "kserve", "format": "tensorflow", "protocol_version": "v2"},
            "fuseml-serving:models[0].protocol_version (app 'm'): got 'v2'; allowed: one of v1: runtime "
            "kserve-tensorflow-serving speaks no other",
        ),
        (
            {"backend": "kserve", "format": "sklearn", "prediction_type": "classify"},
            "fuseml-serving:models[0].prediction_type (app 'm'): got 'classify'; allowed: predict: the v1 "
            "API of runtime kserve-sklearnserver answers no other verb",
        ),
        (
            # The default verb written out on a v2 runtime: refused without contradicting itself.
            {"backend": "kserve", "format": "mlflow", "prediction_type": "predict"},
            "fuseml-serving:models[0].prediction_type (app 'm'): got 'predict'; allowed: no prediction_type "
            "key: runtime kserve-mlserver serves this model on the v2 protocol, whose URLs have no verb",
        ),
        (
            # KServe's controller refuses a named runtime that does not list the model's format.
            {"backend": "kserve", "format": "onnx", "runtime": "kserve-sklearnserver"},
            "fuseml-serving:models[0].runtime (app 'm'): got 'kserve-sklearnserver'; allowed: a runtime that "
            "serves onnx models (kserve-openvino, kserve-tritonserver): KServe refuses kserve-sklearnserver "
            "for them (it serves sklearn)",
        ),
        (
            {"backend": "modelmesh", "format": "onnx", "runtime": "mlserver-1.x"},
            "fuseml-serving:models[0].runtime (app 'm'): got 'mlserver-1.x'; allowed: a runtime that serves "
            "onnx models (ovms-1.x, triton-2.x): ModelMesh places no onnx model on mlserver-1.x (it serves "
            "sklearn, xgboost, lightgbm)",
        ),
        (
            {"backend": "seldon", "format": "onnx", "runtime": "TRITON"},
            "fuseml-serving:models[0].runtime (app 'm'): got 'TRITON'; allowed: a prepackaged server: one of "
            "SKLEARN_SERVER, XGBOOST_SERVER, MLFLOW_SERVER, TENSORFLOW_SERVER, TRITON_SERVER",
        ),
        (
            {"backend": "modelmesh", "format": "sklearn", "replicas": 3},
            "fuseml-serving:models[0].replicas (app 'm'): got 3; allowed: nothing with backend modelmesh: "
            "the model lives in shared runtime pods, which ModelMesh scales itself",
        ),
        (
            {"backend": "kserve", "format": "sklearn", "app_name": "9iris"},
            "fuseml-serving:models[0].app_name (app '9iris'): got '9iris'; allowed: a name starting with a "
            "letter for backend kserve: it names the InferenceService and its Services, which Kubernetes "
            "wants DNS-1035 labels",
        ),
        (
            {"backend": "modelmesh", "format": "onnx", "model": "gs://b/m"},
            "fuseml-serving:models[0].model (app 'm'): got 'gs://b/m'; allowed: a model URL backend "
            "modelmesh reads: s3://",
        ),
    ],
)
def test_a_backend_refuses_what_it_cannot_serve_naming_both(entry: dict[str, Any], message: str) -> None:
    assert refused({"app_name": "m", "model": "s3://b/m", **entry}) == message


def test_modelmesh_takes_its_built_in_runtimes_by_their_dotted_names() -> None:
    """ModelMesh's built-in ServingRuntimes are named with dots (modelmesh-serving v0.12.0 config/runtimes:
    ovms-1.x, triton-2.x, mlserver-1.x): a ServingRuntime name is a DNS subdomain, not a label."""
    result = plan_models({"app_name": "m", "model": "s3://b/m", "backend": "modelmesh", "format": "onnx",
                          "runtime": "triton-2.x"})  # fmt: skip
    (service,) = result.of_type(INFERENCE_SERVICE)
    assert service.inputs["spec"]["predictor"]["model"]["runtime"] == "triton-2.x"


def test_a_seldon_server_named_by_runtime_is_taken() -> None:
    result = plan_models(
        {
            "app_name": "m",
            "model": "s3://b/m",
            "backend": "seldon",
            "format": "onnx",
            "runtime": "TRITON_SERVER",
        }
    )
    (seldon,) = result.of_type(SELDON)
    assert seldon.inputs["spec"]["predictors"][0]["graph"]["implementation"] == "TRITON_SERVER"
    assert seldon.inputs["spec"]["protocol"] == "v2"


def test_objects_of_two_backends_cannot_share_a_name() -> None:
    message = refused(
        {"app_name": "x", "model": "s3://b/x", "backend": "ovms", "format": "openvino"},
        {"app_name": "ovms-x", "model": "s3://b/y", "backend": "kserve", "format": "sklearn"},
    )
    assert message == (
        "fuseml-serving:models[1].app_name (app 'ovms-x'): got 'ovms-x'; allowed: a name whose objects do "
        "not clash: models[0] (x) already names its objects ovms-x"
    )


def test_kserve_serves_v2_only_runtimes_at_their_v2_url_and_warns_of_a_runtime_it_lacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = plan_models(
        {"app_name": "flow", "model": "s3://b/f", "backend": "kserve", "format": "mlflow"},
        {"app_name": "onnx", "model": "s3://b/o", "backend": "kserve", "format": "onnx"},
    )
    assert result.outputs["prediction_urls"]["flow"] == (
        "http://flow.fuseml-workloads.34.118.93.249.nip.io/v2/models/flow/infer"
    )
    (flow,) = [r for r in result.of_type(INFERENCE_SERVICE) if r.inputs["metadata"]["name"] == "flow"]
    assert flow.inputs["spec"]["predictor"]["model"]["protocolVersion"] == "v2"
    assert (
        "onnx run on KServe's kserve-openvino runtime, which KServe's release does not install" in caplog.text
    )


def test_every_model_the_backends_refuse_is_named_in_one_error() -> None:
    message = refused(
        {"app_name": "a", "model": "s3://b/a", "backend": "kserve", "format": "onnx", "shape": "(1,3)"},
        {"app_name": "b", "model": "s3://b/b", "backend": "seldon", "format": "openvino"},
    )
    assert [line.split(" ")[0] for line in message.splitlines()] == [
        "fuseml-serving:models[0].shape",
        "fuseml-serving:models[1].format",
    ]


def test_each_backend_says_where_it_stands_upstream() -> None:
    backends = registry()
    assert list(backends) == ["ovms", "kserve", "modelmesh", "seldon"]
    assert backends["modelmesh"].UPSTREAM.status.startswith("archived upstream")
    assert "Business Source License" in backends["seldon"].UPSTREAM.status
    assert "deprecated" in backends["ovms"].UPSTREAM.status
    assert backends["kserve"].UPSTREAM.status.startswith("active")
    for backend in backends.values():
        assert backend.FORMATS and set(backend.settings()) <= {
            "ovms_image_tag", "nireq", "plugin_config", "batch_size", "shape", "target_device", "layout",
            "model_version_policy", "loglevel", "server", "runtime", "runtime_version", "protocol_version",
        }  # fmt: skip


# --- shared OVMS servers (multi-model mode) --------------------------------------------------------------


SERVERS = [{"name": "vision", "ovms_image_tag": "2024.0", "replicas": 2}]


def test_models_on_a_shared_server_are_served_from_one_config_json_of_the_releases_schema() -> None:
    result = plan_models(
        {
            "app_name": "resnet",
            "model": "gs://b/resnet",
            "server": "vision",
            "model_name": "resnet",
            "nireq": 2,
        },
        {
            "app_name": "mobilenet",
            "model": "gs://b/mobilenet",
            "server": "vision",
            "model_name": "mobilenet",
            "batch_size": "1:8",
            "plugin_config": {"PERFORMANCE_HINT": "LATENCY"},
        },
        servers=SERVERS,
    )
    (server,) = result.of_type(MODEL_SERVER)
    assert server.inputs["metadata"]["name"] == "ovms-vision"
    assert server.inputs["spec"]["models_settings"] == {
        "single_model_mode": False,
        "config_configmap_name": "ovms-vision",
    }
    assert server.inputs["spec"]["deployment_parameters"]["replicas"] == 2
    (config_map,) = result.of_type("kubernetes:core/v1:ConfigMap")
    config = json.loads(config_map.inputs["data"][CONFIG_KEY])
    schema = json.loads((crd_dir() / "ovms-config-schema" / "models_config_schema_v2024.0.json").read_text())
    jsonschema.validate(config, schema)
    assert [entry["config"]["name"] for entry in config["model_config_list"]] == ["resnet", "mobilenet"]
    assert config["model_config_list"][1]["config"]["plugin_config"] == {"PERFORMANCE_HINT": "LATENCY"}
    assert result.outputs["prediction_urls"] == {
        "resnet": "http://vision.ovms.34.118.93.249.nip.io/v1/models/resnet:predict",
        "mobilenet": "http://vision.ovms.34.118.93.249.nip.io/v1/models/mobilenet:predict",
    }
    apps = result.of_type("pulumi-python:dynamic/fuseml:Application")
    assert sorted(a.inputs["name"] for a in apps) == ["mobilenet", "resnet"]
    objects_valid(result)


def test_a_config_json_that_breaks_the_schema_is_caught() -> None:
    schema = json.loads((crd_dir() / "ovms-config-schema" / "models_config_schema_v2024.0.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"model_config_list": [{"config": {"name": "m", "base_path": "/m", "nirq": 1}}]}, schema
        )


@pytest.mark.parametrize(
    ("entry", "key", "allowed"),
    [
        ({"server": "nope"}, "models[0].server", "the name of an entry of servers (vision)"),
        ({"server": "vision", "replicas": 3}, "models[0].replicas", "takes replicas from servers[0]"),
        ({"server": "vision", "backend": "kserve"}, "models[0].backend", "a shared server (server: vision)"),
    ],
)
def test_what_a_model_on_a_shared_server_cannot_set(entry: dict[str, Any], key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({**BASE, "servers": SERVERS, "models": [{"app_name": "m", "model": "gs://b/m", **entry}]})
    assert str(caught.value).startswith(f"fuseml-serving:{key} (app 'm'): got ")
    assert allowed in str(caught.value)


def test_a_gpu_model_on_a_shared_server_needs_the_servers_gpu_image() -> None:
    servers = [{"name": "vision", "ovms_image_tag": "2024.0-gpu"}]
    gpu = {"app_name": "m", "model": "gs://b/m", "server": "vision", "target_device": "GPU"}
    assert parse({**BASE, "servers": servers, "models": [gpu]}).models[0].target_device == "GPU"
    with pytest.raises(ConfigError) as caught:
        parse({**BASE, "servers": SERVERS, "models": [gpu]})
    assert str(caught.value).startswith(
        "fuseml-serving:models[0].server (app 'm'): got 'vision'; allowed: a server"
    )


def test_servers_must_be_a_list() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({**BASE, "servers": "vision", "models": [{"app_name": "m", "model": "gs://b/m"}]})
    assert str(caught.value) == (
        "fuseml-serving:servers: got 'vision'; allowed: a list of servers {name, ovms_image_tag, ...}"
    )


def test_two_models_of_one_server_need_one_storage_and_distinct_model_names() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(
            {
                **BASE,
                "servers": SERVERS,
                "models": [
                    {"app_name": "a", "model": "gs://b/a", "server": "vision"},
                    {"app_name": "b", "model": "az://c/b", "server": "vision"},
                ],
            }
        )
    assert [e.key for e in caught.value.errors] == ["models[1].model", "models[1].model_name"]


# --- format detection against a real S3 server -----------------------------------------------------------


SKLEARN_MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.5.0
"""


@pytest.fixture(scope="module")
def minio():
    with s3server.running() as server:
        yield server


@pytest.mark.timeout(180)
def test_auto_reads_the_mlmodel_from_the_store_with_the_stacks_credentials(minio) -> None:
    bucket = minio.make_bucket(f"mlflow-{uuid.uuid4().hex[:8]}")
    client = minio.client()
    client.put_object(Bucket=bucket, Key="1/run/artifacts/model/MLmodel", Body=SKLEARN_MLMODEL.encode())
    client.put_object(Bucket=bucket, Key="1/run/artifacts/model/model.pkl", Body=b"\x80\x04N.")
    result = plan_models(
        {"app_name": "iris", "model": f"s3://{bucket}/1/run/artifacts/model"},
        secrets=minio.credentials(),
        storage={"s3_endpoint": minio.endpoint},
    )
    serving = result.outputs["serving"]["iris"]
    assert (serving["backend"], serving["format"], serving["runtime"]) == (
        "kserve",
        "sklearn",
        "kserve-sklearnserver",
    )
    assert "MLmodel flavor sklearn" in serving["why"]
    # The same store without the keys: the error says the store could not be read, and what to set.
    message = refused(
        {"app_name": "iris", "model": f"s3://{bucket}/1/run/artifacts/model"},
        secrets={**minio.credentials(), "aws_secret_access_key": "Wr0ng-Secret-Value-7x"},
        storage={"s3_endpoint": minio.endpoint},
    )
    assert message.startswith("fuseml-serving:models[0].format (app 'iris'): got 'auto'; allowed: a format")
    assert "could not be read" in message and "set `format`" in message and "Wr0ng-Secret" not in message


def test_every_host_a_backend_derives_is_checked_against_253_before_anything_exists() -> None:
    """KServe's `<app>.<namespace>.<domain>`, Seldon's `<app>.<seldon.host_prefix>.<domain>` and a shared
    server's `<server>.<host_prefix>.<domain>` (RFC 1123: 253 chars), each named by the key that makes it."""
    domain = ".".join(["d" * 60] * 3)
    app = {"app_name": "m" * 10, "model": "s3://b/m"}
    kserve = refused(
        {**app, "backend": "kserve", "format": "sklearn"}, namespace="n" * 63, istio={"domain": domain}
    )
    assert kserve.startswith(
        f"fuseml-serving:models[0].app_name (app '{'m' * 10}'): got 'mmmmmmmmmm'; allowed: "
    )
    assert kserve.endswith("(257 chars) to fit 253")
    seldon = refused(
        {**app, "backend": "seldon", "format": "sklearn"},
        seldon={"host_prefix": "s" * 63},
        istio={"domain": domain},
    )
    assert seldon.startswith("fuseml-serving:models[0].app_name") and seldon.endswith(
        "(257 chars) to fit 253"
    )
    wide = ".".join(["d" * 50] * 4)
    shared = refused(
        {"app_name": "a", "model": "s3://b/a", "server": "v" * 48},
        servers=[{"name": "v" * 48}],
        istio={"domain": wide},
    )
    (line,) = shared.splitlines()
    assert line.startswith(f"fuseml-serving:servers[0].name: got '{'v' * 48}'; allowed: a name short enough")
    assert line.endswith("(257 chars) to fit 253")
    # The same names fit a shorter domain.
    assert plan_models({**app, "backend": "kserve", "format": "sklearn"}, namespace="n" * 63).resources


def test_config_backend_detection_and_workflow_mistakes_are_reported_in_one_run() -> None:
    """A config mistake does not hide the planning mistakes of the entries that are valid on their own, nor
    the workflow label's: one run names every one of them."""
    from components.program import prepare
    from modelstore.errors import StoreError

    def unreadable(url: str) -> tuple[str, str]:
        raise StoreError(f"no such folder {url}")

    raw = {
        **BASE,
        "fuseml": {"url": "http://fuseml.example"},
        "namespace": "Not_A_Namespace",
        "models": [
            {"app_name": "a", "model": "s3://b/a", "backend": "kserve", "format": "onnx", "nireq": 2},
            {"app_name": "b", "model": "s3://b/b", "backend": "kserve"},
            {"app_name": "c", "model": "s3://b/c", "replicas": 0},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        prepare(raw, SECRETS, project="fuseml-serving", stack="x" * 60, detect=unreadable)
    keys = [line.split(" ")[0].split(":")[1] for line in str(caught.value).splitlines()]
    assert keys == [
        "namespace",
        "models[2].replicas",
        "fuseml.workflow",
        "models[0].nireq",
        "models[1].format",
    ]
