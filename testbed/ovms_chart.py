"""What the OpenVINO operator v1.2.0 installs for one ModelServer: its `ovms` Helm chart, rendered here.

Why: the operator's controller cannot be built here (the module proxy refuses its module), so the test
bed's operator stand-in (`testbed.standins`) renders each ModelServer into the same objects, for a
readiness check or a test to see what a real cluster would hold. Written from the chart's rules, not its
text; each rule names the upstream file it comes from (github.com/openvinotoolkit/operator at tag v1.2.0):

- helm-charts/ovms/values.yaml: the defaults a CR's spec is merged over (the operator passes `spec` as
  the release's values, pkg/helm/release/manager_factory.go NewManager; Helm coalesces chart defaults
  under them, a user's null deleting a default);
- helm-charts/ovms/templates/_helpers.tpl: the names (`ovms.fullname`, `ovms.chart`);
- helm-charts/ovms/templates/deployment.yaml, service.yaml, aws_secret.yaml, azure_secret.yaml;
- pkg/helm/release/manager_factory.go getReleaseName: the release is named after the CR;
- pkg/helm/client/client.go: every object gets the CR as its controller owner (ownerRefInjectingClient)
  and the label `helm.sdk.operatorframework.io/chart: ovms` (labelInjectingClient);
- Helm v3.14.2 (the operator's go.mod) pkg/action/validate.go setMetadataVisitor, run by install and
  upgrade: label `app.kubernetes.io/managed-by: Helm`, annotations `meta.helm.sh/release-name` and
  `meta.helm.sh/release-namespace`; `.Release.Service` is "Helm".

Go-template truthiness is kept where the chart tests a value (`{{ if x }}`: false, 0, "" and null are
false) and strict equality where it compares (`eq x true`).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import yaml

#: helm-charts/ovms/Chart.yaml at v1.2.0.
CHART_NAME = "ovms"
CHART_VERSION = "4.0.0"
#: `.Release.Service` in Helm 3.
RELEASE_SERVICE = "Helm"
GRPC_CONTAINER_PORT = 8080
REST_CONTAINER_PORT = 8081
#: helm-charts/ovms/values.yaml at v1.2.0 (the defaults the chart renders with).
VALUES: dict[str, Any] = {
    "image_name": "openvino/model_server:latest",
    "deployment_parameters": {
        "replicas": 1,
        "openshift_service_mesh": False,
        "extra_envs_secret": "",
        "extra_envs_configmap": "",
    },
    "service_parameters": {"grpc_port": 8080, "rest_port": 8081, "service_type": "ClusterIP"},
    "models_settings": {
        "single_model_mode": True,
        "config_configmap_name": "",
        "config_path": "",
        "model_name": "resnet",
        "model_path": "gs://<bucket_name>/<model_dir>",
        "nireq": 0,
        "plugin_config": '{"PERFORMANCE_HINT":"LATENCY"}',
        "batch_size": "",
        "shape": "",
        "model_version_policy": '{"latest": { "num_versions":1 }}',
        "layout": "",
        "target_device": "CPU",
        "is_stateful": False,
        "idle_sequence_cleanup": False,
        "low_latency_transformation": True,
        "max_sequence_number": 0,
    },
    "server_settings": {
        "file_system_poll_wait_seconds": 1,
        "sequence_cleaner_poll_wait_minutes": 0,
        "log_level": "INFO",
        "grpc_workers": 1,
        "rest_workers": 0,
    },
    "models_repository": {
        "https_proxy": "",
        "http_proxy": "",
        "storage_type": "google",
        "models_host_path": "",
        "models_volume_claim": "",
        "aws_secret_access_key": "",
        "aws_access_key_id": "",
        "aws_region": "",
        "s3_compat_api_endpoint": "",
        "gcp_creds_secret_name": "",
        "azure_storage_connection_string": "",
    },
    "monitoring": {"metrics_enable": False, "metrics_list": ""},
}
#: pkg/helm/client/client.go labelInjectingClient (the chart's name, set by manager_factory.go).
OPERATOR_CHART_LABEL = "helm.sdk.operatorframework.io/chart"
#: pkg/helm/controller/reconcile.go: the finalizer the operator adds once the release is installed.
UNINSTALL_FINALIZER = "helm.sdk.operatorframework.io/uninstall-release"


def values(spec: dict[str, Any] | None) -> dict[str, Any]:
    """The release's values: the chart's defaults with the CR's spec merged over them (Helm's coalesce)."""
    return _coalesce(copy.deepcopy(spec or {}), VALUES)


def _coalesce(user: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    for key, default in defaults.items():
        if key not in user:
            user[key] = copy.deepcopy(default)
        elif user[key] is None:
            del user[key]  # Helm: a null in the user's values deletes the chart's default
        elif isinstance(user[key], dict) and isinstance(default, dict):
            _coalesce(user[key], default)
    return user


def _trunc(name: str) -> str:
    return name[:63].rstrip("-")


def fullname(release: str, vals: dict[str, Any]) -> str:
    """_helpers.tpl `ovms.fullname`: the release name when it contains the chart's name (ovms-<app>)."""
    if vals.get("fullnameOverride"):
        return _trunc(str(vals["fullnameOverride"]))
    name = vals.get("nameOverride") or CHART_NAME
    return _trunc(release) if name in release else _trunc(f"{release}-{name}")


def chart_label() -> str:
    """_helpers.tpl `ovms.chart`."""
    return _trunc(f"{CHART_NAME}-{CHART_VERSION}".replace("+", "_"))


def _text(value: Any) -> str:
    """A value as Go's template prints it into a quoted argument."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render(cr: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects the operator installs for this ModelServer: Deployment, Service and credential Secrets.

    Each carries what Helm and the operator add (owner reference to the CR, Helm's release metadata), so
    the API server's garbage collector removes them with the CR as it would on a real cluster.
    """
    meta = cr["metadata"]
    release, namespace = meta["name"], meta["namespace"]
    vals = values(cr.get("spec"))
    name = fullname(release, vals)
    labels = {"heritage": RELEASE_SERVICE, "release": release, "chart": chart_label(), "app": name}
    objects = [_deployment(vals, name, release, labels), _service(vals, name, labels)]
    repository = vals["models_repository"]
    # aws_secret.yaml, azure_secret.yaml: a Secret only when the credential is given (no labels of its own).
    if repository.get("aws_secret_access_key"):
        objects.append(
            _secret(f"{name}-aws-secret", "secret_access_key", repository["aws_secret_access_key"])
        )
    if repository.get("azure_storage_connection_string"):
        objects.append(
            _secret(
                f"{name}-azure-secret", "connection_string", repository["azure_storage_connection_string"]
            )
        )
    owner = {
        "apiVersion": cr["apiVersion"],
        "kind": cr["kind"],
        "name": release,
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
        obj["metadata"].setdefault("labels", {}).update(
            {OPERATOR_CHART_LABEL: CHART_NAME, "app.kubernetes.io/managed-by": RELEASE_SERVICE}
        )
        obj["metadata"]["annotations"] = {
            "meta.helm.sh/release-name": release,
            "meta.helm.sh/release-namespace": namespace,
        }
        obj["metadata"]["ownerReferences"] = [owner]
    return objects


def _secret(name: str, key: str, value: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {key: base64.b64encode(str(value).encode()).decode()},
    }


def _service(vals: dict[str, Any], name: str, labels: dict[str, str]) -> dict[str, Any]:
    """service.yaml: grpc and rest on the service_parameters ports, selecting the pods by `app` only."""
    params = vals["service_parameters"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "ports": [
                {
                    "port": params["grpc_port"],
                    "protocol": "TCP",
                    "targetPort": GRPC_CONTAINER_PORT,
                    "name": "grpc",
                },
                {
                    "port": params["rest_port"],
                    "protocol": "TCP",
                    "targetPort": REST_CONTAINER_PORT,
                    "name": "rest",
                },
            ],
            "selector": {"app": name},
            "type": params["service_type"],
        },
    }


def _deployment(vals: dict[str, Any], name: str, release: str, labels: dict[str, str]) -> dict[str, Any]:
    """deployment.yaml."""
    params = vals["deployment_parameters"]
    repository = vals["models_repository"]
    settings = vals["models_settings"]
    container: dict[str, Any] = {
        "name": "ovms",
        "image": vals["image_name"],
        "ports": [
            {"containerPort": GRPC_CONTAINER_PORT, "name": "grpc"},
            {"containerPort": REST_CONTAINER_PORT, "name": "rest"},
        ],
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "rest"}},
        "readinessProbe": {
            "initialDelaySeconds": 5,
            "periodSeconds": 5,
            "httpGet": {"path": "/v2/health/ready", "port": "rest"},
        },
    }
    env = _env(repository, name)
    if env:
        container["env"] = env
    env_from = []
    if params.get("extra_envs_secret"):
        env_from.append({"secretRef": {"name": params["extra_envs_secret"]}})
    if params.get("extra_envs_configmap"):
        env_from.append({"configMapRef": {"name": params["extra_envs_configmap"]}})
    if env_from:
        container["envFrom"] = env_from
    container["args"] = _args(vals)
    mounts = []
    if repository.get("gcp_creds_secret_name"):
        mounts.append({"name": "gcpcreds", "mountPath": "/secret", "readOnly": True})
    if settings.get("config_configmap_name"):
        mounts.append({"name": "config", "mountPath": "/config", "readOnly": True})
    if repository.get("models_host_path") or repository.get("models_volume_claim"):
        mounts.append({"name": "models", "mountPath": "/models", "readOnly": True})
    if mounts:
        container["volumeMounts"] = mounts
    security = {key: repository[key] for key in ("runAsUser", "runAsGroup") if repository.get(key)}
    if security:
        container["securityContext"] = security
    container["resources"] = _resources(params.get("resources") or {})
    pod: dict[str, Any] = {}
    affinity = {
        field: params[key]
        for key, field in (
            ("node_affinity", "nodeAffinity"),
            ("pod_affinity", "podAffinity"),
            ("pod_antiaffinity", "podAntiAffinity"),
        )
        if params.get(key)
    }
    if affinity:
        pod["affinity"] = affinity
    pod["containers"] = [container]
    volumes = _volumes(repository, settings)
    if volumes:
        pod["volumes"] = volumes
    template_meta: dict[str, Any] = {"labels": dict(labels)}
    if params.get("openshift_service_mesh") is True:
        template_meta["annotations"] = {"sidecar.istio.io/inject": "true"}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"release": release, "app": name}},
        "replicas": params["replicas"],
    }
    if params.get("update_strategy"):
        spec["strategy"] = params["update_strategy"]
    spec["template"] = {"metadata": template_meta, "spec": pod}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": spec,
    }


def _env(repository: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The container's env, in the chart's order; the secret keys come from the chart's own Secrets."""
    env: list[dict[str, Any]] = []
    for key in ("http_proxy", "https_proxy", "no_proxy"):
        if repository.get(key):
            env.append({"name": key, "value": repository[key]})
    if repository.get("gcp_creds_secret_name"):
        # The chart mounts the Secret named `gcpcreds` whatever gcp_creds_secret_name says (see _volumes).
        env.append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/secret/gcp-creds.json"})
    if repository.get("aws_access_key_id"):
        env.append({"name": "AWS_ACCESS_KEY_ID", "value": repository["aws_access_key_id"]})
    if repository.get("aws_secret_access_key"):
        ref = {"name": f"{name}-aws-secret", "key": "secret_access_key"}
        env.append({"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": ref}})
    if repository.get("aws_region"):
        env.append({"name": "AWS_REGION", "value": repository["aws_region"]})
    if repository.get("s3_compat_api_endpoint"):
        env.append({"name": "S3_ENDPOINT", "value": repository["s3_compat_api_endpoint"]})
    if repository.get("azure_storage_connection_string"):
        ref = {"name": f"{name}-azure-secret", "key": "connection_string"}
        env.append({"name": "AZURE_STORAGE_CONNECTION_STRING", "valueFrom": {"secretKeyRef": ref}})
    return env


def _args(vals: dict[str, Any]) -> list[str]:
    """OVMS's command line: config.json mode (`--config_path`) or one model, then the server settings."""
    settings, server, monitoring = vals["models_settings"], vals["server_settings"], vals["monitoring"]
    args: list[str] = []
    if settings.get("single_model_mode") is False:
        args += ["--config_path", _text(settings.get("config_path") or "/config/config.json")]
    else:
        args += [
            "--model_path",
            _text(settings.get("model_path")),
            "--model_name",
            _text(settings.get("model_name")),
            "--target_device",
            _text(settings.get("target_device")),
        ]
        for key in ("nireq", "plugin_config", "batch_size", "layout", "shape", "model_version_policy"):
            if settings.get(key):
                args += [f"--{key}", _text(settings[key])]
        if settings.get("is_stateful") is True:
            args.append("--stateful")
            if settings.get("idle_sequence_cleanup") is False:
                args.append("--idle_sequence_cleanup=false")
            if settings.get("low_latency_transformation") is True:
                args.append("--low_latency_transformation")
            if settings.get("max_sequence_number"):
                args += ["--max_sequence_number", _text(settings["max_sequence_number"])]
    if monitoring.get("metrics_enable") is True:
        args.append("--metrics_enable")
    if monitoring.get("metrics_list"):
        args += ["--metrics_list", _text(monitoring["metrics_list"])]
    args += [
        "--log_level",
        _text(server.get("log_level")),
        "--file_system_poll_wait_seconds",
        _text(server.get("file_system_poll_wait_seconds")),
    ]
    for key in ("grpc_workers", "rest_workers"):
        if server.get(key):
            args += [f"--{key}", _text(server[key])]
    args += [
        "--sequence_cleaner_poll_wait_minutes",
        _text(server.get("sequence_cleaner_poll_wait_minutes")),
        "--port",
        str(GRPC_CONTAINER_PORT),
        "--rest_port",
        str(REST_CONTAINER_PORT),
    ]
    return args


def _resources(resources: dict[str, Any]) -> dict[str, Any]:
    """cpu, memory and one extended device (`xpu_device: <resource name>`, `xpu_device_quantity`)."""
    found: dict[str, Any] = {}
    for kind in ("limits", "requests"):
        given = resources.get(kind) or {}
        quantities = {key: _text(given[key]) for key in ("cpu", "memory") if given.get(key)}
        if given.get("xpu_device"):
            quantities[str(given["xpu_device"])] = _text(given.get("xpu_device_quantity"))
        if quantities:
            found[kind] = quantities
    return found


def _volumes(repository: dict[str, Any], settings: dict[str, Any]) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = []
    if repository.get("gcp_creds_secret_name"):
        volumes.append({"name": "gcpcreds", "secret": {"secretName": "gcpcreds"}})
    if settings.get("config_configmap_name"):
        volumes.append({"name": "config", "configMap": {"name": settings["config_configmap_name"]}})
    if repository.get("models_host_path"):
        volumes.append(
            {"name": "models", "hostPath": {"path": repository["models_host_path"], "type": "Directory"}}
        )
    elif repository.get("models_volume_claim"):
        volumes.append(
            {"name": "models", "persistentVolumeClaim": {"claimName": repository["models_volume_claim"]}}
        )
    return volumes


def status(cr: dict[str, Any], objects: list[dict[str, Any]], available_replicas: int) -> dict[str, Any]:
    """The status the operator writes after installing the release (pkg/helm/controller/reconcile.go,
    pkg/helm/internal/types/types.go): Initialized and Deployed conditions, the deployed release's name and
    manifest, and for ModelServers the scale fields (replicas = the Deployment's available replicas,
    labelSelector `release=<name>`, reconcile.go getReplicasStatus)."""
    release = cr["metadata"]["name"]
    manifest = "".join(f"---\n{yaml.safe_dump(obj, sort_keys=False)}" for obj in objects)
    found: dict[str, Any] = {
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Deployed", "status": "True", "reason": "InstallSuccessful"},
        ],
        "deployedRelease": {"name": release, "manifest": manifest},
        "labelSelector": f"release={release}",
    }
    if available_replicas:  # `replicas` is omitempty in types.go
        found["replicas"] = available_replicas
    return found
