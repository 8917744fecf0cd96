"""GKE rules (policies/rules/gke.py): Intel serving node pools and hardened clusters and node pools."""

from __future__ import annotations

from typing import Any

import pytest

from policies import rules
from tests.policies.builders import (
    cluster,
    node_pool,
    run_resource,
)


# ---------------------------------------------------------------------------------------------------------
# serving-node-pools-intel.
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
# gke-hardened.
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
