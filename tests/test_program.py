"""The program planned under Pulumi mocks: stack files, the seed example, CRD validity, secrets, graph."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components.backends.ovms import GCS_SECRET_NAME
from components.config import ConfigError
from offline.plan import Plan, PlannedResource, engine_config, plan, plan_stack_file
from offline.schemas import crd_dir, crd_schema, validate
from tests.stackfiles import configured, shipped

MODEL_SERVER = "kubernetes:intel.com/v1alpha1:ModelServer"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1beta1:VirtualService"
APPLICATION = "pulumi-python:dynamic/fuseml:Application"
SECRETS = {"aws_access_key_id": "AKIAFUSEMLTESTKEY0001", "aws_secret_access_key": "s3cr3t-Value-Never-Shown"}

#: The OVMS predictor example of seed 000, as a stack.
SEED_EXAMPLE = {
    "istio": {"domain": "34.118.93.249.nip.io"},
    "fuseml": {"url": "http://fuseml-core.34.118.93.249.nip.io", "workflow": "ovms-workflow"},
    "models": [
        {
            "app_name": "resnet50-ovms",
            "model": "gs://ovms-public-eu/resnet50-binary",
            "format": "openvino",
            "resources": '{"requests": {"cpu": 1}}',
        }
    ],
}


def plan_raw(raw: dict[str, Any], secrets: dict[str, str] | None = None, **kwargs: Any) -> Plan:
    config = engine_config({**raw, **(secrets or {})})
    keys = [f"fuseml-serving:{k}" for k in secrets or {}]
    return plan(config, secret_keys=keys, **kwargs)


def kubernetes_objects(result: Plan) -> list[PlannedResource]:
    return [r for r in result.resources if r.kubernetes_object]


@pytest.mark.parametrize("stack", shipped())
def test_every_stack_file_plans_valid_objects(stack: str, tmp_path: Path) -> None:
    result = plan_stack_file(stack, configured(stack, tmp_path))
    objects = kubernetes_objects(result)
    assert any(r.type == MODEL_SERVER for r in objects)
    for resource in objects:
        assert validate(resource.inputs) == [], resource.name
    assert result.outputs["prediction_urls"]


def test_the_seed_example_plans_and_registers() -> None:
    result = plan_raw(SEED_EXAMPLE)
    url = "http://resnet50-ovms.ovms.34.118.93.249.nip.io/v1/models/default:predict"
    v2 = "http://resnet50-ovms.ovms.34.118.93.249.nip.io/v2/models/default/infer"
    assert result.outputs == {
        "prediction_urls": {"resnet50-ovms": url},
        "prediction_url": url,
        "inference_urls": {"resnet50-ovms": v2},
        "serving": {
            "resnet50-ovms": {
                "backend": "ovms",
                "format": "openvino",
                "runtime": "ovms",
                "why": "openvino (format set in the stack): ovms is the fastest backend here that serves "
                "openvino on Intel CPUs",
                # Readiness is checked (the default bound); when it passed is the gate's output, which
                # mocks leave unset.
                "ready_timeout_s": 600,
                "readiness": "checked",
                "ready_at": None,
                "ready_after_s": None,
            }
        },
    }
    (server,) = result.of_type(MODEL_SERVER)
    assert server.inputs["metadata"]["name"] == "ovms-resnet50-ovms"
    assert server.inputs["spec"]["deployment_parameters"]["resources"]["requests"] == {
        "cpu": "1",
        "memory": "1Gi",
    }
    assert server.inputs["spec"]["models_repository"] == {"storage_type": "google"}
    (app,) = result.of_type(APPLICATION)
    assert app.inputs["url"] == url and app.inputs["workflow"] == "ovms-workflow"
    for resource in kubernetes_objects(result):
        assert validate(resource.inputs) == []


def test_model_server_carries_every_setting_in_crd_types() -> None:
    entry = {
        "app_name": "cifar10-ovms",
        "model": "s3://mlflow-artifacts/1/abc/artifacts/model/ovms",
        "model_name": "cifar",
        "ovms_image_tag": "2023.3",
        "loglevel": "DEBUG",
        "nireq": "4",
        "plugin_config": {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2},
        "batch_size": "auto",
        "shape": "(1,32,32,3)",
        "target_device": "CPU",
        "layout": "NHWC",
        "model_version_policy": {"specific": {"versions": [1, 3]}},
        "replicas": 2,
        "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"cpu": "4"}},
        "resources_limits": {"gpu.intel.com/i915": 1},
        "prediction_type": "classify",
    }
    raw = {
        **SEED_EXAMPLE,
        "models": [entry],
        "storage": {"s3_endpoint": "http://minio:9000", "aws_region": "eu"},
    }
    result = plan_raw(raw, SECRETS)
    (server,) = result.of_type(MODEL_SERVER)
    spec = server.inputs["spec"]
    settings = spec["models_settings"]
    assert spec["image_name"] == "openvino/model_server:2023.3"
    assert settings["nireq"] == 4 and isinstance(settings["nireq"], int)
    assert json.loads(settings["plugin_config"]) == {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2}
    assert (settings["batch_size"], settings["shape"], settings["layout"]) == ("auto", "(1,32,32,3)", "NHWC")
    assert json.loads(settings["model_version_policy"]) == {"specific": {"versions": [1, 3]}}
    assert spec["server_settings"]["log_level"] == "DEBUG"
    assert spec["deployment_parameters"]["replicas"] == 2
    assert spec["deployment_parameters"]["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi"},
        "limits": {
            "cpu": "4",
            "memory": "2Gi",
            "xpu_device": "gpu.intel.com/i915",
            "xpu_device_quantity": "1",
        },
    }
    repo = spec["models_repository"]
    assert repo["storage_type"] == "S3" and repo["s3_compat_api_endpoint"] == "http://minio:9000"
    assert server.inputs["metadata"]["labels"]["fuseml/app-name"] == "cifar10-ovms"
    assert validate(server.inputs) == []
    assert result.outputs["prediction_url"].endswith("/v1/models/cifar:classify")


def test_strict_validation_catches_a_misspelt_spec_key() -> None:
    """The validator must be able to fail: a typo anywhere in the spec is an error."""
    (server,) = plan_raw(SEED_EXAMPLE).of_type(MODEL_SERVER)
    broken = json.loads(json.dumps(server.inputs))
    broken["spec"]["models_settings"]["nireqs"] = 2
    assert any("nireqs" in problem for problem in validate(broken))
    broken = json.loads(json.dumps(server.inputs))
    broken["spec"]["image"] = "x"
    assert any("image" in problem for problem in validate(broken))


def test_virtual_service_also_fits_istio_1_11() -> None:
    (route,) = plan_raw(SEED_EXAMPLE).of_type(VIRTUAL_SERVICE)
    variant = crd_dir() / "variants" / "istio@1.11.0"
    assert validate(route.inputs, crd_directory=variant) == []
    spec = route.inputs["spec"]
    assert spec["hosts"] == ["resnet50-ovms.ovms.34.118.93.249.nip.io"]
    assert spec["gateways"] == ["fuseml-workloads/ovms"]
    destination = spec["http"][0]["route"][0]["destination"]
    assert destination == {
        "host": "ovms-resnet50-ovms.fuseml-workloads.svc.cluster.local",
        "port": {"number": 8081},
    }


def test_crd_schema_conversion_is_strict() -> None:
    schema = crd_schema("intel.com_model_servers.yaml", "v1alpha1")
    spec = schema["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert spec["properties"]["deployment_parameters"]["additionalProperties"] is False


def test_secrets_stay_secret_in_state_and_outputs() -> None:
    raw = {**SEED_EXAMPLE, "models": [{"app_name": "m", "model": "s3://bucket/m", "format": "openvino"}]}
    secrets = {**SECRETS, "gcs_credentials": '{"private_key": "-----BEGIN PRIVATE KEY-----"}'}
    result = plan_raw(raw, secrets)
    (server,) = result.of_type(MODEL_SERVER)
    # The status too: the operator's Helm status holds the rendered release, inline S3 key id included.
    assert server.additional_secret_outputs == ["spec", "status"]
    assert ("spec", "models_repository", "aws_secret_access_key") in server.secret_paths
    assert ("spec", "models_repository", "aws_access_key_id") in server.secret_paths
    for resource in result.resources:
        shown = json.dumps(resource.masked_inputs())
        for value in secrets.values():
            assert value not in shown, resource.name
    # The GCS key is not needed by an s3 model, so no Secret is made for it.
    assert not [r for r in result.resources if r.type == "kubernetes:core/v1:Secret"]


def test_gcs_credentials_go_into_the_secret_the_operator_mounts() -> None:
    result = plan_raw(SEED_EXAMPLE, {"gcs_credentials": '{"type": "service_account"}'})
    (secret,) = [r for r in result.resources if r.type == "kubernetes:core/v1:Secret"]
    assert secret.inputs["metadata"]["name"] == GCS_SECRET_NAME
    assert ("stringData",) in secret.secret_paths
    assert validate(secret.inputs) == []
    (server,) = result.of_type(MODEL_SERVER)
    assert server.inputs["spec"]["models_repository"]["gcp_creds_secret_name"] == GCS_SECRET_NAME
    (component,) = result.of_type("fuseml-serving:ovms:ModelServer")
    assert secret.urn in component.dependencies


def test_bad_config_registers_nothing() -> None:
    record: list[PlannedResource] = []
    bad = {
        **SEED_EXAMPLE,
        "models": [{"app_name": "ok", "model": "gs://b/m"}, {"app_name": "x", "model": "ftp://m"}],
    }
    with pytest.raises(ConfigError, match=r"models\[1\]\.model \(app 'x'\)"):
        plan_raw(bad, record=record)
    assert record == []


def test_gke_cluster_and_intel_node_pool(tmp_path: Path) -> None:
    result = plan_stack_file("dev", configured("dev", tmp_path))
    (cluster,) = result.of_type("gcp:container/cluster:Cluster")
    (pool,) = result.of_type("gcp:container/nodePool:NodePool")
    assert cluster.inputs["removeDefaultNodePool"] is True
    assert cluster.inputs["workloadIdentityConfig"] == {"workloadPool": "fuseml.svc.id.goog"}
    assert cluster.inputs["enableShieldedNodes"] is True
    node = pool.inputs["nodeConfig"]
    assert (node["machineType"], node["minCpuPlatform"]) == ("n2-standard-4", "Intel Cascade Lake")
    assert pool.inputs["nodeCount"] == 2 and pool.inputs["management"]["autoRepair"] is True
    assert node["labels"]["fuseml-serving/pool"] == "ovms-n2"
    assert node["taints"] == [
        {"key": "fuseml-serving/dedicated", "value": "ovms", "effect": "PREFER_NO_SCHEDULE"}
    ]
    (server,) = result.of_type(MODEL_SERVER)
    affinity = server.inputs["spec"]["deployment_parameters"]["node_affinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "fuseml-serving/pool", "operator": "In", "values": ["ovms-n2"]} in terms[0][
        "matchExpressions"
    ]
    assert result.outputs["cluster_name"] == "fuseml"
    assert "kubeconfig" in result.secret_outputs and "gke-gcloud-auth-plugin" in result.outputs["kubeconfig"]
    (provider,) = result.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["clusterIdentifier"] and pool.urn in provider.dependencies


def test_autoscaling_pool() -> None:
    raw = {
        **SEED_EXAMPLE,
        "cluster": {
            "mode": "create",
            "project": "p",
            "location": "europe-central2",
            "node_pool": {"min_nodes": 1, "max_nodes": 4},
        },
    }
    (pool,) = plan_raw(raw).of_type("gcp:container/nodePool:NodePool")
    assert pool.inputs["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 4}
    assert "nodeCount" not in pool.inputs


def test_a_misspelt_top_level_key_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError) as raised:
        plan_raw({**SEED_EXAMPLE, "namepsace": "serving"})
    message = str(raised.value)
    assert message.startswith("fuseml-serving:namepsace: got 'serving'; allowed: one of the keys namespace,")
    assert message.endswith("(did you mean namespace?)")


def test_existing_mode_creates_no_gcp_resource() -> None:
    result = plan_stack_file("local")
    assert not [r for r in result.resources if r.type.startswith("gcp:")]
    assert "kubeconfig" not in result.outputs and not result.of_type(APPLICATION)


OPERATOR_MANIFESTS = {
    "kubernetes:kustomize:directory": {
        "result": [
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "modelservers.intel.com"},
                "spec": {
                    "group": "intel.com",
                    "names": {"kind": "ModelServer", "plural": "modelservers"},
                    "scope": "Namespaced",
                    "versions": [],
                },
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "controller-manager", "namespace": "system"},
                "spec": {
                    "selector": {"matchLabels": {"control-plane": "controller-manager"}},
                    "template": {
                        "metadata": {"labels": {"control-plane": "controller-manager"}},
                        "spec": {"containers": [{"name": "manager", "image": "controller:latest"}]},
                    },
                },
            },
        ]
    }
}


def test_model_servers_wait_for_the_pinned_operator() -> None:
    result = plan_raw({**SEED_EXAMPLE, "operator": {"version": "1.2.0"}}, invokes=OPERATOR_MANIFESTS)
    (deployment,) = result.of_type("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "quay.io/openvino/ovms-operator:1.2.0"
    )
    assert deployment.inputs["metadata"]["namespace"] == "ovms-operator-system"
    (crd,) = result.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    (component,) = result.of_type("fuseml-serving:ovms:ModelServer")
    assert {crd.urn, deployment.urn} <= set(component.dependencies)


def upstream_base() -> list[dict[str, Any]]:
    """The manifests above with what config/default adds: the kube-rbac-proxy sidecar and its Service."""
    crd, deployment = copy.deepcopy(OPERATOR_MANIFESTS["kubernetes:kustomize:directory"]["result"])
    pod = deployment["spec"]["template"]["spec"]
    proxy = {"name": "kube-rbac-proxy", "image": "gcr.io/kubebuilder/kube-rbac-proxy:v0.5.0"}
    pod["containers"].insert(0, proxy)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "controller-manager-metrics-service", "namespace": "system"},
        "spec": {"ports": [{"name": "https", "port": 8443, "targetPort": "https"}]},
    }
    return [crd, service, deployment]


def test_operator_install_is_runnable_and_fetched_at_the_release_tag() -> None:
    asked: list[str] = []

    def kustomize(args: dict[str, Any]) -> dict[str, Any]:
        asked.append(args["directory"])
        return {"result": upstream_base()}

    result = plan_raw({**SEED_EXAMPLE}, invokes={"kubernetes:kustomize:directory": kustomize})
    # pulumi's git helper reads the ref from /tree/<ref>/ (sdk gitutil), never from ?ref=.
    assert asked == ["https://github.com/openvinotoolkit/operator/tree/v1.2.0/config/default"]
    (deployment,) = result.of_type("kubernetes:apps/v1:Deployment")
    (manager,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert manager["name"] == "manager" and manager["image"] == "quay.io/openvino/ovms-operator:1.2.0"
    assert "--watches-file=watches_k8s.yaml" in manager["args"]
    assert manager["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8081}
    # The withdrawn proxy's Service goes with it.
    assert not result.of_type("kubernetes:core/v1:Service")


def test_operator_manifests_can_come_from_a_local_folder(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    asked: list[str] = []

    def kustomize(args: dict[str, Any]) -> dict[str, Any]:
        asked.append(args["directory"])
        return {"result": []}

    invokes = {"kubernetes:kustomize:directory": kustomize}
    plan_raw({**SEED_EXAMPLE, "operator": {"manifests": str(tmp_path)}}, invokes=invokes)
    assert asked == [str(tmp_path)]


def test_no_operator_install_when_relying_on_one() -> None:
    result = plan_raw({**SEED_EXAMPLE, "operator": {"install": False}}, invokes=OPERATOR_MANIFESTS)
    assert not result.of_type("fuseml-serving:operator:OvmsOperator")
    assert not result.of_type("kubernetes:apps/v1:Deployment")


def test_one_application_per_model_and_none_without_registration() -> None:
    models = [{"app_name": f"m{i}", "model": f"gs://bucket/m{i}", "format": "onnx"} for i in range(3)]
    result = plan_raw({**SEED_EXAMPLE, "namespace": "serving", "models": models})
    apps = {a.inputs["name"]: a for a in result.of_type(APPLICATION)}
    assert sorted(apps) == ["m0", "m1", "m2"]
    app = apps["m1"].inputs
    assert app["url"] == result.outputs["prediction_urls"]["m1"]
    assert (app["k8s_namespace"], app["workflow"], app["owner"]) == (
        "serving",
        "ovms-workflow",
        "fuseml-serving/dev",
    )
    assert app["k8s_resources"] == [
        {"name": "ovms-m1", "kind": "ModelServer"},
        {"name": "ovms-m1", "kind": "VirtualService"},
    ]
    waits_for = {r.name for r in result.resources if r.urn in apps["m1"].dependencies}
    # The Application comes after the model's server and route, and is itself the model's readiness gate.
    assert waits_for == {"m1-server", "m1-route"}
    assert apps["m1"].inputs["readiness"]["name"] == "ovms-m1"
    off = plan_raw({**SEED_EXAMPLE, "fuseml": {"register": False}, "models": models})
    assert off.of_type(APPLICATION) == []
    assert "prediction_url" not in off.outputs and len(off.outputs["prediction_urls"]) == 3


def test_dependency_chain_does_not_grow_with_models() -> None:
    def chain(count: int) -> int:
        models = [{"app_name": f"m{i}", "model": f"gs://bucket/m{i}", "format": "onnx"} for i in range(count)]
        raw = {**SEED_EXAMPLE, "istio": {"domain": "x.nip.io", "create_gateway": True}, "models": models}
        return plan_raw(raw, invokes=OPERATOR_MANIFESTS).longest_chain()

    assert chain(1) == chain(12) > 3


def test_a_default_workflow_label_too_long_for_kubernetes_is_refused_before_any_resource() -> None:
    recorded: list[PlannedResource] = []
    with pytest.raises(ConfigError) as raised:
        plan(engine_config(SEED_EXAMPLE | {"fuseml": {"register": False}}), stack="s" * 60, record=recorded)
    message = str(raised.value)
    assert message.startswith("fuseml-serving:fuseml.workflow: got nothing; allowed: a workflow name")
    assert "(75 chars), is no label value (at most 63 chars, alphanumeric at both ends)" in message
    assert recorded == []
    # Set explicitly, the same stack plans.
    config = SEED_EXAMPLE | {"fuseml": {"register": False, "workflow": "short"}}
    assert plan(engine_config(config), stack="s" * 60).of_type(MODEL_SERVER)


def test_a_credential_set_in_plain_text_is_refused() -> None:
    # What `pulumi config set` without --secret leaves: the value, not flagged secret.
    config = engine_config({**SEED_EXAMPLE, "aws_secret_access_key": "plaintext-secret"})
    with pytest.raises(ConfigError) as raised:
        plan(config, secret_keys=[])
    assert str(raised.value) == (
        "fuseml-serving:aws_secret_access_key: got '<hidden>'; allowed: a secret: "
        "pulumi config set --secret fuseml-serving:aws_secret_access_key"
    )
