"""The OpenVINO operator (ModelServer CRD and controller) at a pinned release."""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

#: The operator's kustomize base, fetched at the release tag so an install is reproducible.
KUSTOMIZE_URL = "https://github.com/openvinotoolkit/operator/config/default?ref=v{version}"
#: The controller image published for each release (the kustomize base names a placeholder image).
CONTROLLER_IMAGE = "quay.io/openvino/ovms-operator:{version}"

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


class OvmsOperator(pulumi.ComponentResource):
    """Installs the operator from its release manifests, pinning the controller image and namespace.

    `ready` resolves to every object of the install, so model servers can depend on it and are never
    created before the ModelServer CRD exists.
    """

    ready: pulumi.Output[list[pulumi.Resource]]

    def __init__(self, name: str, args: OvmsOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fuseml-serving:operator:OvmsOperator", name, None, opts)
        version, namespace = args["version"], args["namespace"]
        manifests = k8s.kustomize.Directory(
            f"{name}-manifests",
            directory=KUSTOMIZE_URL.format(version=version),
            transformations=[lambda obj, _opts: pin(obj, version, namespace)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready = manifests.resources.apply(lambda resources: list(resources.values()))
        self.register_outputs({})


def pin(obj: dict[str, Any], version: str, namespace: str) -> None:
    """Point every namespaced object at the configured namespace and the controller at its release image."""
    kind = obj.get("kind")
    metadata = obj.setdefault("metadata", {})
    if kind == "Namespace":
        metadata["name"] = namespace
    elif kind not in _CLUSTER_SCOPED:
        metadata["namespace"] = namespace
    for subject in obj.get("subjects") or []:
        if subject.get("kind") == "ServiceAccount":
            subject["namespace"] = namespace
    if kind == "Deployment":
        for container in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            if container.get("name") == "manager" or "operator" in container.get("image", ""):
                container["image"] = CONTROLLER_IMAGE.format(version=version)
