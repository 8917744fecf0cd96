"""GKE cluster with an Intel N2 node pool, and a Kubernetes provider bound to it."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml

#: Exec credentials: GKE no longer ships static client credentials, so kubectl and the provider ask the
#: gke-gcloud-auth-plugin (part of the gcloud SDK) for a short-lived token.
AUTH_PLUGIN = "gke-gcloud-auth-plugin"


class Taint(TypedDict):
    """A node taint in GKE's enum form."""

    key: str
    value: str
    effect: str


class GkeClusterArgs(TypedDict, total=False):
    """Inputs of a GkeCluster."""

    name: pulumi.Input[str]
    """The GKE cluster name."""
    project: pulumi.Input[str]
    """The GCP project that owns the cluster (workload identity pool `<project>.svc.id.goog`)."""
    location: pulumi.Input[str]
    """Zone or region."""
    deletion_protection: pulumi.Input[bool]
    """Refuse `pulumi destroy` of the cluster until explicitly lifted."""
    pool_name: pulumi.Input[str]
    """Name of the serving node pool (also its `fuseml-serving/pool` label value)."""
    machine_type: pulumi.Input[str]
    """Intel machine type, e.g. n2-standard-4."""
    min_cpu_platform: pulumi.Input[str]
    """Minimum CPU generation, e.g. Intel Cascade Lake (AVX-512 VNNI for OpenVINO int8)."""
    node_count: pulumi.Input[int | None]
    """Fixed pool size (when not autoscaling)."""
    min_nodes: pulumi.Input[int | None]
    """Autoscaling lower bound per zone."""
    max_nodes: pulumi.Input[int | None]
    """Autoscaling upper bound per zone."""
    disk_size_gb: pulumi.Input[int]
    """Boot disk size of each node."""
    labels: pulumi.Input[dict[str, str]]
    """Node labels; model servers require them through node affinity."""
    taints: pulumi.Input[list[Taint]]
    """Node taints (soft ones: the ModelServer CR cannot carry tolerations)."""


class GkeCluster(pulumi.ComponentResource):
    """A GKE cluster without its default pool, plus a separate Intel N2 pool for model servers.

    The default pool is removed so that every node runs on the pinned Intel CPU platform; a Kubernetes
    provider built from the cluster's outputs targets it, and waits for the pool so that nothing is
    scheduled before nodes exist.
    """

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fuseml-serving:cluster:GkeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=args["name"],
            project=args["project"],
            location=args["location"],
            remove_default_node_pool=True,
            initial_node_count=1,
            deletion_protection=args["deletion_protection"],
            enable_shielded_nodes=True,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={},
            release_channel={"channel": "REGULAR"},
            workload_identity_config={"workload_pool": pulumi.Output.concat(args["project"], ".svc.id.goog")},
            resource_labels={"managed-by": "pulumi", "part-of": "fuseml-serving"},
            opts=child,
        )
        scaling = (
            {"autoscaling": {"min_node_count": args["min_nodes"], "max_node_count": args["max_nodes"]}}
            if args.get("max_nodes") is not None
            else {"node_count": args["node_count"]}
        )
        pool = gcp.container.NodePool(
            f"{name}-pool",
            name=args["pool_name"],
            project=args["project"],
            location=args["location"],
            cluster=cluster.name,
            management={"auto_repair": True, "auto_upgrade": True},
            node_config={
                "machine_type": args["machine_type"],
                "min_cpu_platform": args["min_cpu_platform"],
                "disk_size_gb": args["disk_size_gb"],
                "labels": args["labels"],
                "taints": args["taints"],
                "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                "workload_metadata_config": {"mode": "GKE_METADATA"},
                "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            },
            **scaling,
            opts=child,
        )
        self.cluster_name = cluster.name
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate
            ).apply(lambda parts: kubeconfig(*parts))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Replace the provider (and so every object) only when the cluster itself is replaced,
            # not when a credential rotation changes the kubeconfig text.
            cluster_identifier=cluster.id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pool]),
        )
        self.register_outputs({"cluster_name": self.cluster_name, "kubeconfig": self.kubeconfig})


def kubeconfig(cluster_name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig for the cluster that authenticates through gke-gcloud-auth-plugin."""
    context = f"gke-{cluster_name}"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {
                        "server": f"https://{endpoint}",
                        "certificate-authority-data": ca_certificate,
                    },
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
            "users": [
                {
                    "name": context,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": AUTH_PLUGIN,
                            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install "
                            "gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                        }
                    },
                }
            ],
        },
        sort_keys=False,
    )
