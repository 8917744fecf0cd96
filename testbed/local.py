"""The shipped `local` stack, deployed into a test-bed cluster with the real CLI.

Two things stand in for what a FuseML installation would already hold: the servers' namespace (the
FuseML installer creates `fuseml-workloads`) and the operator's release manifests. Those are the
operator's kustomize base at its release tag, fetched from its git repository, which no machine here can
reach, and whose Go module the module proxy refuses. So the test bed writes a manifests folder of the same
shape: the upstream ModelServer CRD (from the shared reference folder), the namespace, RBAC and the
controller Deployment under the base's names, with the base's placeholder image and its withdrawn
`kube-rbac-proxy` sidecar and metrics Service, so the program's install path (kustomize, the namespace and
image pinning, removing the sidecar, ordering before every ModelServer) runs for real against it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from components.backends.ovms.operator import AUTH_PROXY
from offline.plan import stack_file
from testbed.cluster import Cluster, shared_dir
from testbed.engine import Engine

STACK = "local"
#: Where try-local keeps its engine (state, PULUMI_HOME, project folder) under the test-bed folder.
ENGINE_DIR = "engine"
MARKER = "local-stack.json"


def operator_manifests(target: Path) -> Path:
    """Write the stand-in for the operator's config/default kustomize folder and return it."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_dir() / "reference" / "crds" / "intel.com_model_servers.yaml", target / "crd.yaml")
    labels = {"control-plane": "controller-manager"}
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "system", "labels": labels}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "manager-role"},
            "rules": [{"apiGroups": ["intel.com"], "resources": ["modelservers"], "verbs": ["*"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "manager-rolebinding"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "manager-role",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "system"}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "controller-manager-metrics-service",
                "namespace": "system",
                "labels": labels,
            },
            "spec": {"ports": [{"name": "https", "port": 8443, "targetPort": "https"}], "selector": labels},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "controller-manager", "namespace": "system", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": AUTH_PROXY,
                                "image": "gcr.io/kubebuilder/kube-rbac-proxy:v0.5.0",
                                "ports": [{"containerPort": 8443, "name": "https"}],
                            },
                            {
                                "name": "manager",
                                "image": "controller:latest",
                                "args": ["--enable-leader-election"],
                            },
                        ],
                        "terminationGracePeriodSeconds": 10,
                    },
                },
            },
        },
    ]
    (target / "objects.yaml").write_text(yaml.safe_dump_all(objects), encoding="utf-8")
    kustomization = {
        "namespace": "ovms-operator-system",
        "namePrefix": "ovms-operator-",
        "resources": ["crd.yaml", "objects.yaml"],
    }
    (target / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    return target


def local_stack_file(target: Path, manifests: Path) -> Path:
    """The shipped Pulumi.local.yaml with the operator installed from the test bed's manifests folder."""
    settings = yaml.safe_load(stack_file(STACK).read_text(encoding="utf-8"))
    settings["config"]["fuseml-serving:operator"]["manifests"] = str(manifests)
    target.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return target


def prepare_namespace(cluster: Cluster, name: str) -> None:
    """Create the servers' namespace, as the FuseML installer does on a real cluster."""
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))


def deploy(cluster: Cluster, root: Path) -> dict[str, Any]:
    """`pulumi up` the local stack into the cluster; returns the stack outputs."""
    engine = Engine(bin_dir=cluster.bin_dir, work=root / ENGINE_DIR, kubeconfig=cluster.kubeconfig)
    manifests = operator_manifests(root / "operator-manifests")
    settings = local_stack_file(root / "Pulumi.local.yaml", manifests)
    config = yaml.safe_load(settings.read_text(encoding="utf-8"))["config"]
    prepare_namespace(cluster, config["fuseml-serving:namespace"])
    engine.init_stack(STACK, settings)
    (root / MARKER).write_text(json.dumps({"stack": STACK}), encoding="utf-8")
    engine.run("up", "--stack", STACK, "--yes", "--skip-preview", timeout=900)
    return json.loads(engine.run("stack", "output", "--stack", STACK, "--json").stdout)


def deployed(root: Path) -> bool:
    """Whether try-local deployed a stack under root that is not destroyed yet."""
    return (root.resolve() / MARKER).exists()


def destroy(root: Path, bin_dir: Path) -> None:
    """Destroy and remove the local stack (the operator must still run: ModelServers carry its finalizer)."""
    root = root.resolve()
    engine = Engine(bin_dir=bin_dir, work=root / ENGINE_DIR, kubeconfig=root / "kubeconfig")
    engine.run("destroy", "--stack", STACK, "--yes", "--skip-preview", timeout=900)
    engine.run("stack", "rm", STACK, "--yes")
    (root / MARKER).unlink()
