"""Tests for the FuseML serving policy pack: every rule passes good props and flags bad ones.

Why through the real policy objects: the Pulumi engine calls `validate` with SDK argument objects, so the
tests build ResourceValidationArgs / StackValidationArgs the same way and collect reported violations.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies import rules

STACK = "urn:pulumi:dev::fuseml-serving"
POLICY_BY_NAME = {policy.name: policy for policy in rules.POLICIES}
AWS_KEY_ID = "AKIA" + "ABCDEFGHIJKLMNOP"  # split so secret scanners do not flag this test file
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


# ---------------------------------------------------------------------------------------------------------
# Builders for SDK arguments and sample resources (engine property names).
# ---------------------------------------------------------------------------------------------------------
def _opts(secret_outputs: Sequence[str] = ()) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        False, [], None, [], PolicyCustomTimeouts(0, 0, 0), list(secret_outputs), None
    )


def _urn(resource_type: str, name: str) -> str:
    return f"{STACK}::{resource_type}::{name}"


def run_resource(
    policy_name: str,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    secret_outputs: Sequence[str] = (),
    name: str = "res",
) -> list[str]:
    """Violations the named resource policy reports through its real validate callback."""
    policy = POLICY_BY_NAME[policy_name]
    assert isinstance(policy, ResourceValidationPolicy)
    args = ResourceValidationArgs(
        resource_type, props, _urn(resource_type, name), name, _opts(secret_outputs), None, config
    )
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def _resource(
    resource_type: str, name: str, props: Mapping[str, Any], secret_outputs: Sequence[str] = ()
) -> PolicyResource:
    return PolicyResource(
        resource_type, props, _urn(resource_type, name), name, _opts(secret_outputs), None, None, [], {}
    )


def run_stack(
    policy_name: str, resources: Sequence[PolicyResource], config: Mapping[str, Any] | None = None
) -> list[tuple[str | None, str]]:
    """(urn, message) pairs the named stack policy reports through its real validate callback."""
    policy = POLICY_BY_NAME[policy_name]
    assert isinstance(policy, StackValidationPolicy)
    found: list[tuple[str | None, str]] = []
    policy.validate(
        StackValidationArgs(list(resources), config), lambda message, urn=None: found.append((urn, message))
    )
    return found


def node_pool(**node_config: Any) -> dict[str, Any]:
    config = {
        "machineType": "n2-standard-4",
        "minCpuPlatform": "Intel Cascade Lake",
        "diskSizeGb": 100.0,
        "labels": {"fuseml-serving/pool": "ovms"},
        "taints": [{"key": "dedicated", "value": "ovms", "effect": "NO_SCHEDULE"}],
        "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
        "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
    }
    config.update(node_config)
    return {
        "name": "ovms-pool",
        "cluster": "fuseml",
        "location": "europe-west4",
        "autoscaling": {"minNodeCount": 1.0, "maxNodeCount": 3.0},
        "management": {"autoRepair": True, "autoUpgrade": True},
        "nodeConfig": config,
    }


def cluster(**overrides: Any) -> dict[str, Any]:
    props = {
        "name": "fuseml",
        "location": "europe-west4",
        "removeDefaultNodePool": True,
        "initialNodeCount": 1.0,
        "deletionProtection": False,
        "workloadIdentityConfig": {"workloadPool": "my-project.svc.id.goog"},
        "enableShieldedNodes": True,
        "releaseChannel": {"channel": "REGULAR"},
        "resourceLabels": {"app": "fuseml-serving"},
    }
    props.update(overrides)
    return props


def model_server(app: str = "mnist", env: str = "dev", **settings: Any) -> dict[str, Any]:
    models_settings = {
        "single_model_mode": True,
        "model_name": app,
        "model_path": f"s3://models/{app}",
        "nireq": 4.0,
        "plugin_config": '{"PERFORMANCE_HINT": "LATENCY"}',
        "batch_size": "1",
        "target_device": "CPU",
    }
    models_settings.update(settings)
    return {
        "apiVersion": "intel.com/v1alpha1",
        "kind": "ModelServer",
        "metadata": {
            "name": f"ovms-{app}",
            "namespace": "fuseml-workloads",
            "labels": {
                "fuseml/app-name": app,
                "fuseml/app-guid": f"org.{app}",
                "fuseml-serving/environment": env,
            },
        },
        "spec": {
            "image_name": "openvino/model_server:2024.5",
            "deployment_parameters": {
                "replicas": 1.0,
                "resources": {
                    "requests": {"cpu": "1", "memory": "1Gi"},
                    "limits": {"cpu": "2", "memory": "2Gi"},
                },
            },
            "service_parameters": {"grpc_port": 8080.0, "rest_port": 8081.0, "service_type": "ClusterIP"},
            "models_settings": models_settings,
            "server_settings": {"log_level": "INFO"},
            "models_repository": {
                "storage_type": "S3",
                "aws_access_key_id": AWS_KEY_ID,
                "aws_secret_access_key": AWS_SECRET,
                "aws_region": "eu-west-1",
                "s3_compat_api_endpoint": "https://minio.example.com",
            },
        },
    }


def virtual_service(
    app: str = "mnist",
    host: str | None = None,
    dest: str | None = None,
    port: float = 8081.0,
    gateway: str = "istio-system/fuseml-gateway",
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": f"ovms-{app}", "namespace": "fuseml-workloads"},
        "spec": {
            "hosts": [host or f"{app}.serving.example.com"],
            "gateways": [gateway],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/"}}],
                    "route": [{"destination": {"host": dest or f"ovms-{app}", "port": {"number": port}}}],
                }
            ],
        },
    }


def gateway(hosts: Sequence[str] = ("*.serving.example.com",)) -> dict[str, Any]:
    return {
        "metadata": {"name": "fuseml-gateway", "namespace": "istio-system"},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [{"port": {"number": 80.0, "name": "http", "protocol": "HTTP"}, "hosts": list(hosts)}],
        },
    }


def deployment(image: str, env: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": "ovms-operator"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "manager", "image": image, "env": list(env)}]}}
        },
    }


def fuseml_app(name: str = "mnist") -> dict[str, Any]:
    return {
        "name": name,
        "url": f"http://{name}.serving.example.com/v1/models/{name}:predict",
        "workflow": "mlflow-ovms",
        "owner": "fuseml",
        "description": "OVMS",
        "k8s_namespace": "fuseml-workloads",
        "k8s_resources": [],
        "server_url": "http://fuseml-core.fuseml-core",
        "adopt": False,
        "timeout_s": 30.0,
    }


def serving_stack(*apps: str) -> list[PolicyResource]:
    """A consistent stack: gateway, plus a ModelServer, VirtualService and FuseML app per app name."""
    resources = [_resource(rules.ISTIO_GATEWAY, "gateway", gateway())]
    for app in apps:
        resources += [
            _resource(rules.MODEL_SERVER, f"ms-{app}", model_server(app), ["spec"]),
            _resource(rules.VIRTUAL_SERVICE, f"vs-{app}", virtual_service(app)),
            _resource(rules.FUSEML_APPLICATION, f"app-{app}", fuseml_app(app)),
        ]
    return resources


# ---------------------------------------------------------------------------------------------------------
# Catalogue and policy pack wiring.
# ---------------------------------------------------------------------------------------------------------
def test_catalogue_levels_and_schemas_are_consistent() -> None:
    assert [p.name for p in rules.POLICIES] == list(rules.POLICY_LEVELS)
    assert rules.POLICY_LEVELS["no-plaintext-credentials"] == "mandatory"
    assert rules.POLICY_LEVELS["serving-node-pools-intel"] == "mandatory"
    assert rules.POLICY_LEVELS["images-pinned"] == "mandatory"
    assert rules.POLICY_LEVELS["app-names-unique"] == "mandatory"
    assert rules.POLICY_LEVELS["virtualservice-hosts-unique"] == "mandatory"
    assert rules.POLICY_LEVELS["virtualservice-routes-to-server"] == "mandatory"
    assert rules.POLICY_LEVELS["gke-hardened"] == "advisory"
    assert rules.POLICY_LEVELS["prod-model-server-replicas"] == "advisory"
    for policy in rules.POLICIES:
        assert policy.enforcement_level == EnforcementLevel(rules.POLICY_LEVELS[policy.name])
        assert "because" in policy.description, policy.name
        if policy.config_schema is not None:
            schema = {"type": "object", "properties": policy.config_schema.properties}
            jsonschema.Draft7Validator.check_schema(schema)
            defaults = {k: v["default"] for k, v in policy.config_schema.properties.items()}
            jsonschema.validate(defaults, schema)


def test_policy_pack_main_serves_policies() -> None:
    """Run __main__.py the way the CLI does (runpy on the directory): it prints its gRPC port and blocks."""
    policies_dir = Path(rules.__file__).parent
    process = subprocess.Popen(
        [sys.executable, "-c", "import runpy; runpy.run_path('.', run_name='__main__')"],
        cwd=policies_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline() if process.stdout else ""
        assert first_line.strip().isdigit(), (
            process.stderr.read() if process.poll() is not None else first_line
        )
        assert process.poll() is None  # still serving
    finally:
        process.kill()
        process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------------
# Rule 1: Intel node pools.
# ---------------------------------------------------------------------------------------------------------
def test_intel_node_pool_passes() -> None:
    assert run_resource("serving-node-pools-intel", rules.GKE_NODE_POOL, node_pool()) == []
    assert (
        run_resource(
            "serving-node-pools-intel",
            rules.GKE_NODE_POOL,
            node_pool(machineType="c3-standard-8", minCpuPlatform=None),
        )
        == []
    )
    assert run_resource("serving-node-pools-intel", rules.GKE_CLUSTER, cluster()) == []


@pytest.mark.parametrize(
    ("node_config", "expected"),
    [
        ({"machineType": "n2d-standard-4", "minCpuPlatform": "AMD Milan"}, "AMD EPYC"),
        ({"machineType": "e2-standard-4"}, "Intel or AMD"),
        ({"machineType": "t2a-standard-4"}, "Arm"),
        ({"machineType": "a2-highgpu-1g"}, "accelerator family"),
        ({"machineType": "zz9-standard-4"}, "not a known Intel family"),
        ({"minCpuPlatform": None}, "sets no nodeConfig.minCpuPlatform"),
        ({"minCpuPlatform": "AMD Rome"}, "not an Intel platform"),
        ({"minCpuPlatform": "Intel Skylake"}, "does not offer"),
        ({"machineType": None}, "e2-medium"),
    ],
)
def test_intel_node_pool_violations(node_config: dict[str, Any], expected: str) -> None:
    found = run_resource(
        "serving-node-pools-intel", rules.GKE_NODE_POOL, node_pool(**node_config), name="pool"
    )
    assert len(found) == 1 and expected in found[0] and 'NodePool "pool"' in found[0], found


def test_intel_node_pool_config_allows_gpu_family_and_exemptions() -> None:
    props = node_pool(machineType="a2-highgpu-1g", minCpuPlatform=None)
    assert (
        run_resource(
            "serving-node-pools-intel",
            rules.GKE_NODE_POOL,
            props,
            config={"allowed_machine_families": ["n2", "a2"]},
        )
        == []
    )
    amd = node_pool(machineType="n2d-standard-4", minCpuPlatform=None)
    assert (
        run_resource(
            "serving-node-pools-intel", rules.GKE_NODE_POOL, amd, config={"exempt_node_pools": ["ovms-pool"]}
        )
        == []
    )
    assert run_resource(
        "serving-node-pools-intel", rules.GKE_NODE_POOL, amd, config={"exempt_node_pools": ["other"]}
    )


def test_cluster_keeping_default_pool_must_be_intel() -> None:
    found = run_resource("serving-node-pools-intel", rules.GKE_CLUSTER, cluster(removeDefaultNodePool=False))
    assert len(found) == 1 and "default node pool" in found[0] and "e2-medium" in found[0]


# ---------------------------------------------------------------------------------------------------------
# Rule 2: requests and limits.
# ---------------------------------------------------------------------------------------------------------
def test_model_server_resources_pass() -> None:
    assert run_resource("model-server-resources", rules.MODEL_SERVER, model_server()) == []


def test_model_server_resources_missing_and_invalid() -> None:
    props = model_server()
    props["spec"]["deployment_parameters"]["resources"] = {
        "requests": {"cpu": "500m"},
        "limits": {"cpu": "lots", "memory": "512m"},
    }
    found = run_resource("model-server-resources", rules.MODEL_SERVER, props)
    text = "\n".join(found)
    assert len(found) == 3, found
    assert "requests.memory is not set" in text or "requests.memory" in text
    assert "'lots', which is not a positive Kubernetes quantity" in text
    assert "'512m'" in text and 'did you mean "Mi"' in text


def test_model_server_request_above_limit() -> None:
    props = model_server()
    props["spec"]["deployment_parameters"]["resources"]["requests"]["cpu"] = "3"
    found = run_resource("model-server-resources", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "more cpu ('3') than its limit ('2')" in found[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        (1.5, 1.5),
        ("1Gi", 2.0**30),
        ("1e3", 1000.0),
        ("1.5k", 1500.0),
        ("x", None),
        (True, None),
    ],
)
def test_parse_quantity(value: Any, expected: float | None) -> None:
    assert rules.parse_quantity(value) == expected


# ---------------------------------------------------------------------------------------------------------
# Rule 3: nireq and plugin_config.
# ---------------------------------------------------------------------------------------------------------
def test_nireq_within_bounds_passes() -> None:
    # 2 cores x 4 per core = 8.
    assert run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, model_server(nireq=8.0)) == []
    assert run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, model_server(nireq=None)) == []


def test_nireq_too_high_for_cpu_limit() -> None:
    props = model_server(nireq=9.0)
    found = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "nireq to 9" in found[0] and "1..8" in found[0]
    assert (
        run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props, config={"nireq_per_core": 5})
        == []
    )


def test_nireq_rounds_fractional_cpu_up_and_rejects_zero() -> None:
    props = model_server(nireq=5.0)
    props["spec"]["deployment_parameters"]["resources"]["limits"]["cpu"] = "500m"
    found = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "0.5 CPU core(s)" in found[0] and "1..4" in found[0]
    zero = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, model_server(nireq=0.0))
    assert len(zero) == 1 and "integer >= 1" in zero[0]


def test_performance_hint_num_requests_bounded_too() -> None:
    props = model_server(plugin_config='{"PERFORMANCE_HINT_NUM_REQUESTS": "64"}')
    found = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "PERFORMANCE_HINT_NUM_REQUESTS to 64" in found[0]


def test_plugin_config_known_keys_pass() -> None:
    config = json.dumps(
        {
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": "AUTO",
            "CPU_BIND_THREAD": "NUMA",
            "ENABLE_CPU_PINNING": True,
            "INFERENCE_PRECISION_HINT": "BF16",
            "CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO",
            "INFERENCE_NUM_THREADS": 4,
        }
    )
    assert (
        run_resource("model-server-plugin-config", rules.MODEL_SERVER, model_server(plugin_config=config))
        == []
    )


def test_plugin_config_unknown_key_bad_value_and_bad_json() -> None:
    config = json.dumps({"CPU_BIND_THREADS": "YES", "PERFORMANCE_HINT": "FAST"})
    found = run_resource("model-server-plugin-config", rules.MODEL_SERVER, model_server(plugin_config=config))
    text = "\n".join(found)
    assert len(found) == 2, found
    assert "unknown OpenVINO property 'CPU_BIND_THREADS'" in text and "CPU_BIND_THREAD," in text
    assert "PERFORMANCE_HINT to 'FAST'" in text and "LATENCY" in text
    bad = run_resource("model-server-plugin-config", rules.MODEL_SERVER, model_server(plugin_config="{oops"))
    assert len(bad) == 1 and "not valid JSON" in bad[0]


def test_plugin_config_extra_keys_from_config() -> None:
    props = model_server(plugin_config='{"MY_PLUGIN_KEY": "1"}')
    assert run_resource("model-server-plugin-config", rules.MODEL_SERVER, props)
    assert (
        run_resource(
            "model-server-plugin-config",
            rules.MODEL_SERVER,
            props,
            config={"extra_plugin_config_keys": ["MY_PLUGIN_KEY"]},
        )
        == []
    )


# ---------------------------------------------------------------------------------------------------------
# Rule 4: credentials.
# ---------------------------------------------------------------------------------------------------------
def test_model_server_inline_credentials_allowed_only_with_secret_spec() -> None:
    assert (
        run_resource("no-plaintext-credentials", rules.MODEL_SERVER, model_server(), secret_outputs=["spec"])
        == []
    )
    found = run_resource("no-plaintext-credentials", rules.MODEL_SERVER, model_server(), name="ms")
    assert len(found) == 2, found
    assert all("additionalSecretOutputs" in f and 'ModelServer "ms"' in f for f in found)
    assert AWS_SECRET not in "\n".join(found)  # messages never echo the credential


def test_model_server_credentials_elsewhere_still_flagged_with_secret_spec() -> None:
    props = model_server(model_path=f"s3://{AWS_KEY_ID}:{AWS_SECRET}@models/mnist")
    found = run_resource("no-plaintext-credentials", rules.MODEL_SERVER, props, secret_outputs=["spec"])
    assert len(found) == 1 and "spec.models_settings.model_path" in found[0]


def test_reference_fields_are_not_credentials() -> None:
    props = model_server()
    props["spec"]["models_repository"] = {"storage_type": "google", "gcp_creds_secret_name": "gcp-creds"}
    env = [
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "secret"}}},
        {"name": "LOG_LEVEL", "value": "INFO"},
    ]
    pod = deployment("quay.io/op:1.0", env)
    pod["spec"]["template"]["spec"]["volumes"] = [{"name": "creds", "secret": {"secretName": "gcp-creds"}}]
    pod["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    assert run_resource("no-plaintext-credentials", rules.MODEL_SERVER, props) == []
    assert run_resource("no-plaintext-credentials", "kubernetes:apps/v1:Deployment", pod) == []


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (deployment("x:1", [{"name": "AWS_SECRET_ACCESS_KEY", "value": "hunter2hunter2"}]), "use valueFrom"),
        ({"metadata": {"name": "cm", "annotations": {"example.com/api-token": "abc123"}}}, "annotations"),
        ({"data": {"DB_PASSWORD": "hunter2"}}, "data.DB_PASSWORD"),
        ({"data": {"config": f"key: {AWS_KEY_ID}"}}, "AWS access key id"),
        ({"data": {"tls": "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."}}, "PEM private key"),
        ({"data": {"url": "postgres://admin:s3cret@db:5432/app"}}, "user:password"),
        ({"data": {"curl": "curl -H 'X: Bearer abcdefghijklmnopqrstuvwxyz'"}}, "bearer token"),
        (
            {"spec": {"headers": {"request": {"set": {"Authorization": "Basic dXNlcjpwYXNz"}}}}},
            "Authorization",
        ),
        (
            {"data": {"azure": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abcd=="}},
            "Azure storage",
        ),
    ],
)
def test_plaintext_credentials_flagged(props: dict[str, Any], expected: str) -> None:
    found = run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", props, name="leaky")
    assert len(found) == 1 and expected in found[0] and 'ConfigMap "leaky"' in found[0], found


def test_kubernetes_secret_payload_is_allowed() -> None:
    props = {
        "metadata": {"name": "s3"},
        "stringData": {"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_ACCESS_KEY_ID": AWS_KEY_ID},
    }
    assert run_resource("no-plaintext-credentials", rules.K8S_SECRET, props) == []
    assert run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", props)


def test_credentials_check_tolerates_unknown_preview_values() -> None:
    props = unknown_checking_proxy(
        {
            "metadata": {"name": UNKNOWN_STRING_VALUE},
            "data": {"password": UNKNOWN_STRING_VALUE, "token": "abc123abc"},
        }
    )
    found = run_resource("no-plaintext-credentials", "kubernetes:core/v1:ConfigMap", props)
    assert len(found) == 1 and "data.token" in found[0]


def test_extra_reference_fields_config() -> None:
    props = {"spec": {"vaultToken": "path/in/vault"}}
    assert run_resource("no-plaintext-credentials", "kubernetes:example.com/v1:Thing", props)
    assert (
        run_resource(
            "no-plaintext-credentials",
            "kubernetes:example.com/v1:Thing",
            props,
            config={"extra_reference_fields": ["vaultToken"]},
        )
        == []
    )


@pytest.mark.parametrize(
    ("key", "credential"),
    [
        ("aws_secret_access_key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("azure_storage_connection_string", True),
        ("apiKey", True),
        ("privateKey", True),
        ("password", True),
        ("gcp_creds_secret_name", False),
        ("secretName", False),
        ("secretKeyRef", False),
        ("valueFrom", False),
        ("existingSecret", False),
        ("model_path", False),
        ("tokenUrl", False),
    ],
)
def test_is_credential_name(key: str, credential: bool) -> None:
    assert rules.is_credential_name(key) is credential


# ---------------------------------------------------------------------------------------------------------
# Rule 5: pinned images.
# ---------------------------------------------------------------------------------------------------------
def test_pinned_images_pass() -> None:
    assert run_resource("images-pinned", rules.MODEL_SERVER, model_server()) == []
    digest = "quay.io/op@sha256:" + "a" * 64
    assert run_resource("images-pinned", "kubernetes:apps/v1:Deployment", deployment(digest)) == []
    assert (
        run_resource("images-pinned", "kubernetes:apps/v1:Deployment", deployment("localhost:5000/op:1.2"))
        == []
    )


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("openvino/model_server:latest", "floating tag 'latest'"),
        ("openvino/model_server", "has no tag"),
        ("localhost:5000/model_server", "has no tag"),
        ("openvino/model_server:latest-gpu", "floating tag"),
        ("openvino/model_server@sha256:abc", "malformed digest"),
    ],
)
def test_unpinned_images_flagged(image: str, expected: str) -> None:
    props = model_server()
    props["spec"]["image_name"] = image
    found = run_resource("images-pinned", rules.MODEL_SERVER, props)
    assert len(found) == 1 and expected in found[0] and "spec.image_name" in found[0], found
    pod = run_resource("images-pinned", "kubernetes:apps/v1:Deployment", deployment(image))
    assert len(pod) == 1 and "spec.template.spec.containers[0].image" in pod[0]


def test_require_digest_config() -> None:
    assert run_resource("images-pinned", rules.MODEL_SERVER, model_server(), config={"require_digest": True})


# ---------------------------------------------------------------------------------------------------------
# Rule 6: application names.
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mnist", "resnet50", "iris-classifier", "k8s-demo", "yolov5s", "bert4rec"])
def test_deterministic_names_pass(name: str) -> None:
    assert run_resource("app-names-deterministic", rules.FUSEML_APPLICATION, fuseml_app(name)) == []
    assert run_resource("app-names-deterministic", rules.MODEL_SERVER, model_server(name)) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "is missing"),
        ("MNIST_App", "not a DNS label"),
        ("x7k2pq-ab12cd-mlflow", "random-looking part(s) x7k2pq, ab12cd"),
        ("mnist-3f2a1b9", "random-looking part(s) 3f2a1b9"),
        ("qzkvw-serving", "random-looking part(s) qzkvw"),
    ],
)
def test_bad_app_names_flagged(name: str, expected: str) -> None:
    found = run_resource("app-names-deterministic", rules.FUSEML_APPLICATION, fuseml_app(name))
    assert len(found) == 1 and expected in found[0], found


def test_model_server_name_must_follow_app_label() -> None:
    props = model_server("mnist")
    props["metadata"]["name"] = "ovms-other"
    found = run_resource("app-names-deterministic", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "expected 'ovms-mnist'" in found[0]
    del props["metadata"]["labels"]["fuseml/app-name"]
    missing = run_resource("app-names-deterministic", rules.MODEL_SERVER, props)
    assert len(missing) == 1 and "fuseml/app-name=None is missing" in missing[0]


def test_allowed_names_override_heuristic() -> None:
    assert (
        run_resource(
            "app-names-deterministic",
            rules.FUSEML_APPLICATION,
            fuseml_app("a1b2c3"),
            config={"allowed_names": ["a1b2c3"]},
        )
        == []
    )


def test_unique_app_names() -> None:
    assert run_stack("app-names-unique", serving_stack("mnist", "iris")) == []
    duplicate = [
        *serving_stack("mnist"),
        _resource(rules.FUSEML_APPLICATION, "app-mnist-2", fuseml_app("mnist")),
    ]
    found = run_stack("app-names-unique", duplicate)
    assert len(found) == 2 and all("'mnist'" in message for _, message in found)
    assert {urn for urn, _ in found} == {
        _urn(rules.FUSEML_APPLICATION, "app-mnist"),
        _urn(rules.FUSEML_APPLICATION, "app-mnist-2"),
    }


def test_unique_virtualservice_hosts() -> None:
    assert run_stack("virtualservice-hosts-unique", serving_stack("mnist", "iris")) == []
    clash = [
        *serving_stack("mnist"),
        _resource(
            rules.VIRTUAL_SERVICE, "vs-copy", virtual_service("iris", host="MNIST.serving.example.com")
        ),
    ]
    found = run_stack("virtualservice-hosts-unique", clash)
    assert len(found) == 2 and all("'mnist.serving.example.com'" in message for _, message in found)


# ---------------------------------------------------------------------------------------------------------
# Rule 7: hosts in the domain, routes to a server.
# ---------------------------------------------------------------------------------------------------------
def test_hosts_in_gateway_domain_pass() -> None:
    assert run_stack("virtualservice-hosts-in-domain", serving_stack("mnist")) == []
    assert (
        run_stack("virtualservice-hosts-in-domain", serving_stack("mnist"), config={"domain": "example.com"})
        == []
    )


def test_host_outside_gateway_hosts_flagged() -> None:
    stack = [*serving_stack(), _resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="mnist.evil.org"))]
    found = run_stack("virtualservice-hosts-in-domain", stack)
    assert (
        len(found) == 1 and "'mnist.evil.org' matches none of the hosts *.serving.example.com" in found[0][1]
    )


def test_host_outside_configured_domain_flagged() -> None:
    stack = [_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="mnist.serving.other.com"))]
    found = run_stack("virtualservice-hosts-in-domain", stack, config={"domain": "example.com"})
    assert len(found) == 1 and "not under the configured domain 'example.com'" in found[0][1]
    assert found[0][0] == _urn(rules.VIRTUAL_SERVICE, "vs")


def test_host_rules_without_known_domain() -> None:
    """Neither a domain nor a managed Gateway: only concrete fully-qualified hosts pass."""
    external = "fuseml-system/shared-gateway"
    ok = [_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(gateway=external))]
    assert run_stack("virtualservice-hosts-in-domain", ok) == []
    short = [_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="mnist", gateway=external))]
    assert "not a fully-qualified DNS name" in run_stack("virtualservice-hosts-in-domain", short)[0][1]
    wild = [_resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(host="*.example.com", gateway=external))]
    assert "wildcard host" in run_stack("virtualservice-hosts-in-domain", wild)[0][1]


def test_routes_to_existing_server_pass() -> None:
    assert run_stack("virtualservice-routes-to-server", serving_stack("mnist")) == []
    fqdn = [
        *serving_stack(),
        _resource(rules.MODEL_SERVER, "ms", model_server("mnist")),
        _resource(
            rules.VIRTUAL_SERVICE, "vs", virtual_service(dest="ovms-mnist.fuseml-workloads.svc.cluster.local")
        ),
    ]
    assert run_stack("virtualservice-routes-to-server", fqdn) == []


def test_route_to_missing_server_or_wrong_port_flagged() -> None:
    stack = [
        _resource(rules.MODEL_SERVER, "ms", model_server("mnist")),
        _resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(dest="ovms-mnsit")),
    ]
    found = run_stack("virtualservice-routes-to-server", stack)
    assert len(found) == 1 and "'ovms-mnsit', which is no ModelServer" in found[0][1]
    assert "known servers: ovms-mnist.fuseml-workloads" in found[0][1]
    wrong_ns = [
        stack[0],
        _resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(dest="ovms-mnist.other.svc")),
    ]
    assert len(run_stack("virtualservice-routes-to-server", wrong_ns)) == 1
    wrong_port = [stack[0], _resource(rules.VIRTUAL_SERVICE, "vs", virtual_service(port=9000.0))]
    found = run_stack("virtualservice-routes-to-server", wrong_port)
    assert len(found) == 1 and "port 9000" in found[0][1] and "8080, 8081" in found[0][1]


# ---------------------------------------------------------------------------------------------------------
# Rule 8: GKE hardening.
# ---------------------------------------------------------------------------------------------------------
def test_gke_hardening_pass() -> None:
    assert run_resource("gke-hardened", rules.GKE_CLUSTER, cluster()) == []
    assert run_resource("gke-hardened", rules.GKE_NODE_POOL, node_pool()) == []


def test_gke_hardening_violations() -> None:
    found = run_resource(
        "gke-hardened",
        rules.GKE_CLUSTER,
        cluster(workloadIdentityConfig=None, enableShieldedNodes=False),
        name="gke",
    )
    assert (
        len(found) == 2 and "workloadPool is None" in found[0] and "enableShieldedNodes is False" in found[1]
    )
    pool = node_pool(workloadMetadataConfig={"mode": "GCE_METADATA"})
    pool["management"] = {"autoRepair": False}
    found = run_resource("gke-hardened", rules.GKE_NODE_POOL, pool)
    assert len(found) == 2 and "autoRepair is False" in found[0] and "'GCE_METADATA'" in found[1]


# ---------------------------------------------------------------------------------------------------------
# Rule 9: production replicas.
# ---------------------------------------------------------------------------------------------------------
def test_prod_replicas() -> None:
    assert run_resource("prod-model-server-replicas", rules.MODEL_SERVER, model_server(env="dev")) == []
    prod = model_server(env="prod")
    found = run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod)
    assert len(found) == 1 and "replicas is 1" in found[0] and "at least 2" in found[0]
    prod["spec"]["deployment_parameters"]["replicas"] = 2.0
    assert run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod) == []
    assert run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod, config={"min_replicas": 3})
    del prod["spec"]["deployment_parameters"]["replicas"]
    assert "unset (1)" in run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod)[0]


# ---------------------------------------------------------------------------------------------------------
# Config merge and offline evaluation.
# ---------------------------------------------------------------------------------------------------------
def test_merge_policy_config(tmp_path: Path) -> None:
    path = tmp_path / "policy-config.json"
    path.write_text(
        json.dumps(
            {
                "all": "advisory",
                "images-pinned": "disabled",
                "model-server-nireq-bounded": {"enforcementLevel": "mandatory", "nireq_per_core": 2},
                "virtualservice-hosts-in-domain": {"domain": "serving.example.com"},
            }
        )
    )
    levels, settings = rules.merge_policy_config(path)
    assert levels["images-pinned"] == "disabled"
    assert levels["model-server-nireq-bounded"] == "mandatory"
    assert levels["no-plaintext-credentials"] == "advisory"  # from "all"
    assert settings["model-server-nireq-bounded"] == {"nireq_per_core": 2}
    assert settings["virtualservice-hosts-in-domain"] == {"domain": "serving.example.com"}
    assert settings["prod-model-server-replicas"]["min_replicas"] == 2  # default kept


def test_merge_policy_config_defaults_without_file() -> None:
    levels, settings = rules.merge_policy_config(None)
    assert levels == dict(rules.POLICY_LEVELS)
    assert settings["images-pinned"]["floating_tags"][0] == "latest"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"no-such-policy": "advisory"}, "unknown policies"),
        ({"images-pinned": "sometimes"}, "enforcement level"),
        ({"images-pinned": {"require_digests": True}}, "unknown setting"),
        ({"model-server-nireq-bounded": {"nireq_per_core": "4"}}, "type integer"),
        ({"model-server-nireq-bounded": {"nireq_per_core": 0}}, ">= 1"),
    ],
)
def test_merge_policy_config_rejects_mistakes(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        rules.merge_policy_config(raw)


def test_evaluate_resource_without_grpc() -> None:
    found = rules.evaluate_resource(
        "no-plaintext-credentials", rules.MODEL_SERVER, model_server(), (), None, "ms"
    )
    assert len(found) == 2
    assert (
        rules.evaluate_resource("no-plaintext-credentials", rules.MODEL_SERVER, model_server(), ["spec"])
        == []
    )
    with pytest.raises(ValueError, match="stack policy"):
        rules.evaluate_resource("app-names-unique", rules.MODEL_SERVER, model_server())


def test_evaluate_stack_from_export_like_dicts() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}
    server = model_server("mnist", env="prod")
    server["spec"]["models_repository"]["aws_secret_access_key"] = secret
    server["spec"]["models_repository"]["aws_access_key_id"] = secret
    resources = [
        {"urn": _urn(rules.ISTIO_GATEWAY, "gw"), "type": rules.ISTIO_GATEWAY, "inputs": gateway()},
        {"urn": _urn(rules.MODEL_SERVER, "ms"), "type": rules.MODEL_SERVER, "inputs": server},
        {
            "urn": f"{STACK}::parent$" + rules.VIRTUAL_SERVICE + "::vs",
            "inputs": virtual_service(dest="ovms-x"),
        },
    ]
    results = rules.evaluate_stack(resources, {"images-pinned": "disabled"})
    assert "images-pinned" not in results
    assert results["no-plaintext-credentials"] == []  # ciphertext secrets are not plain text
    assert [ref for ref, _ in results["virtualservice-routes-to-server"]] == [resources[2]["urn"]]
    assert [ref for ref, _ in results["prod-model-server-replicas"]] == [_urn(rules.MODEL_SERVER, "ms")]
    assert results["serving-node-pools-intel"] == []


def test_to_plain_normalises_numbers_unknowns_and_secrets() -> None:
    plain = rules.to_plain(
        unknown_checking_proxy({"a": 2.0, "b": [1.5, UNKNOWN_STRING_VALUE], "c": "[secret]"})
    )
    assert plain == {"a": 2, "b": [1.5, rules.UNKNOWN], "c": rules.SECRET}
    assert isinstance(plain["a"], int)


def test_unknown_values_do_not_raise_or_report() -> None:
    props = unknown_checking_proxy(copy.deepcopy(model_server()) | {"spec": UNKNOWN_STRING_VALUE})
    for policy in (
        "model-server-resources",
        "model-server-nireq-bounded",
        "model-server-plugin-config",
        "images-pinned",
        "prod-model-server-replicas",
    ):
        assert run_resource(policy, rules.MODEL_SERVER, props) == [], policy
    pool = unknown_checking_proxy(node_pool(machineType=UNKNOWN_STRING_VALUE))
    assert run_resource("serving-node-pools-intel", rules.GKE_NODE_POOL, pool) == []
