"""The OpenVINO operator (ModelServer CRD and controller) at a pinned release."""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

#: The operator's kustomize base at the release tag. pulumi-kubernetes fetches a non-local directory with
#: the Pulumi SDK's git helper, which reads the ref from the `/tree/<ref>/` segment of the URL
#: (sdk/go/common/util/gitutil/git.go, GetGitReferenceNameOrHashAndSubDirectory), not from `?ref=`.
UPSTREAM_MANIFESTS = "https://github.com/openvinotoolkit/operator/tree/v{version}/config/default"
#: The controller image published for each release (the kustomize base names a placeholder image).
CONTROLLER_IMAGE = "quay.io/openvino/ovms-operator:{version}"
#: The sidecar config/default adds in front of the metrics endpoint. Its images (gcr.io/kubebuilder) were
#: withdrawn in 2025, so a Deployment that keeps it never becomes ready; the release's own Kubernetes
#: bundle is what this install follows instead.
AUTH_PROXY = "kube-rbac-proxy"
#: The controller's arguments and probes in the release's Kubernetes bundle
#: (bundle_k8s/manifests/openvino-operator.clusterserviceversion.yaml at v1.2.0): the Kubernetes watches
#: file (config/manager's defaults name flags the 1.2 controller no longer has), health probes on 8081,
#: metrics on loopback only, since nothing fronts them once the proxy is gone.
HEALTH_PORT = 8081
MANAGER_ARGS = [
    f"--health-probe-bind-address=:{HEALTH_PORT}",
    "--metrics-bind-address=127.0.0.1:8080",
    "--leader-elect",
    "--leader-election-id=ovms-operator",
    "--watches-file=watches_k8s.yaml",
]

_CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
}


class OvmsOperatorArgs(TypedDict):
    """Inputs of an OvmsOperator."""

    version: str
    """Operator release, e.g. 1.2.0 (the ModelServer CRD this program targets)."""
    namespace: str
    """Namespace of the controller."""
    manifests: str | None
    """Kustomize folder to install from (local folder or git URL); None for the upstream release."""


class OvmsOperator(pulumi.ComponentResource):
    """Installs the operator from its release manifests, made runnable and pinned to the release image.

    `ready` resolves to every object of the install, so model servers can depend on it and are never
    created before the ModelServer CRD exists and the controller's Deployment is available.
    """

    ready: pulumi.Output[list[pulumi.Resource]]

    def __init__(self, name: str, args: OvmsOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fuseml-serving:operator:OvmsOperator", name, None, opts)
        version, namespace = args["version"], args["namespace"]
        manifests = k8s.kustomize.Directory(
            f"{name}-manifests",
            directory=args["manifests"] or UPSTREAM_MANIFESTS.format(version=version),
            transformations=[lambda obj, _opts: pin(obj, version, namespace)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready = manifests.resources.apply(lambda resources: list(resources.values()))
        self.register_outputs({})


def pin(obj: dict[str, Any], version: str, namespace: str) -> None:
    """Make one object of the install runnable: its namespace, the release image, no withdrawn sidecar."""
    kind = obj.get("kind")
    metadata = obj.setdefault("metadata", {})
    if kind == "Service" and any(
        p.get("targetPort") == "https" for p in obj.get("spec", {}).get("ports", [])
    ):
        # The proxy's Service fronts a port nothing listens on once the proxy is gone; an empty List is
        # how a kustomize transformation drops an object.
        obj.clear()
        obj.update(apiVersion="v1", kind="List", items=[])
        return
    if kind == "Namespace":
        metadata["name"] = namespace
    elif kind not in _CLUSTER_SCOPED:
        metadata["namespace"] = namespace
    for subject in obj.get("subjects") or []:
        if subject.get("kind") == "ServiceAccount":
            subject["namespace"] = namespace
    if kind == "Deployment":
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        pod["containers"] = [c for c in pod.get("containers", []) if c.get("name") != AUTH_PROXY]
        for container in pod["containers"]:
            if container.get("name") == "manager" or "operator" in container.get("image", ""):
                container["image"] = CONTROLLER_IMAGE.format(version=version)
                container["args"] = list(MANAGER_ARGS)
                container["livenessProbe"] = _probe("/healthz", initial_delay_s=15, period_s=20)
                container["readinessProbe"] = _probe("/readyz", initial_delay_s=5, period_s=10)


def _probe(path: str, initial_delay_s: int, period_s: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": HEALTH_PORT},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": period_s,
    }
