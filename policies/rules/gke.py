"""GKE rules: serving node pools on Intel with a pinned CPU platform, hardened clusters and node pools.

Why one module: both read the gcp provider's Cluster and NodePool props, and a reader asking "what
must the cluster look like" should find every answer here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel

from .common import (
    GKE_CLUSTER,
    GKE_NODE_POOL,
    RuleSpec,
    _get,
    _known,
    _label,
    _str_list,
    _string_list,
)

# ---------------------------------------------------------------------------------------------------------
# serving-node-pools-intel: serving node pools run on Intel CPUs with a pinned minimum CPU platform.
# ---------------------------------------------------------------------------------------------------------
# GCE machine family -> Intel CPU platforms it can run on.  A family with exactly one platform implies
# it, so minCpuPlatform may be omitted there (GCE rejects it on some single-platform families anyway).
INTEL_CPU_FAMILIES: Mapping[str, frozenset[str]] = {
    "n1": frozenset({"Intel Sandy Bridge", "Intel Ivy Bridge", "Intel Haswell", "Intel Broadwell",
                     "Intel Skylake"}),
    "n2": frozenset({"Intel Cascade Lake", "Intel Ice Lake"}),
    "n4": frozenset({"Intel Emerald Rapids"}),
    "c2": frozenset({"Intel Cascade Lake"}),
    "c3": frozenset({"Intel Sapphire Rapids"}),
    "c4": frozenset({"Intel Emerald Rapids", "Intel Granite Rapids"}),
    "m1": frozenset({"Intel Broadwell", "Intel Skylake"}),
    "m2": frozenset({"Intel Cascade Lake"}),
    "m3": frozenset({"Intel Ice Lake"}),
    "m4": frozenset({"Intel Emerald Rapids"}),
    "h3": frozenset({"Intel Sapphire Rapids"}),
    "z3": frozenset({"Intel Sapphire Rapids"}),
}
# Accelerator families have Intel hosts but pay for NVIDIA GPUs that OVMS (CPU target) leaves idle,
# so they are Intel but not allowed unless a policy config lists them in allowed_machine_families.
INTEL_GPU_FAMILIES: Mapping[str, frozenset[str]] = {
    "a2": frozenset({"Intel Cascade Lake"}),
    "a3": frozenset({"Intel Sapphire Rapids"}),
    "g2": frozenset({"Intel Cascade Lake"}),
}
# Families that are never Intel-only, for a precise message: AMD, Arm or vendor-mixed.
NON_INTEL_FAMILIES: Mapping[str, str] = {
    "e2": "Intel or AMD chosen by GCE (no minimum CPU platform possible)",
    "n2d": "AMD EPYC", "t2d": "AMD EPYC", "c2d": "AMD EPYC", "c3d": "AMD EPYC", "c4d": "AMD EPYC",
    "h4d": "AMD EPYC", "t2a": "Arm (Ampere Altra)", "c4a": "Arm (Google Axion)", "n4a": "Arm (Google Axion)",
    "f1": "shared-core", "g1": "shared-core",
}
KNOWN_INTEL_PLATFORMS = frozenset().union(*INTEL_CPU_FAMILIES.values(), *INTEL_GPU_FAMILIES.values(),
                                          {"Intel Xeon E5"})
# GKE's machine type when a node config names none.
GKE_DEFAULT_MACHINE_TYPE = "e2-medium"


def machine_family(machine_type: str) -> str:
    """The GCE family of a machine type: "n2-standard-4" -> "n2", "custom-4-16384" -> "n1" (N1 custom)."""
    family = machine_type.strip().lower().split("-", 1)[0]
    return "n1" if family == "custom" else family


def _check_node_config(subject: str, node_config: Any, config: Mapping[str, Any] | None) -> list[str]:
    """Violations of one node config against the Intel family/platform tables."""
    families = SERVING_NODE_POOLS_INTEL.setting(config, "allowed_machine_families")
    allowed = {f.lower() for f in _str_list(families)}
    tables = {**INTEL_CPU_FAMILIES, **INTEL_GPU_FAMILIES}
    machine_type = _get(node_config, "machineType")
    if not _known(node_config) or not _known(machine_type):
        return []
    shown_allowed = ", ".join(sorted(f for f in allowed if f in tables))
    if not isinstance(machine_type, str) or not machine_type.strip():
        return [f"{subject} names no nodeConfig.machineType, so GKE uses {GKE_DEFAULT_MACHINE_TYPE} "
                f"({NON_INTEL_FAMILIES['e2']}); set an Intel machine type from families: {shown_allowed}."]
    family = machine_family(machine_type)
    if family not in tables or family not in allowed:
        why = NON_INTEL_FAMILIES.get(family) or (
            "an accelerator family not enabled in allowed_machine_families" if family in tables
            else "not a known Intel family")
        return [f"{subject} uses machine type {machine_type!r} (family {family}: {why}); "
                f"allowed Intel families: {shown_allowed}."]
    platforms = tables[family]
    platform = _get(node_config, "minCpuPlatform")
    if not _known(platform):
        return []
    if not isinstance(platform, str) or not platform.strip():
        if len(platforms) == 1:
            return []
        return [f"{subject} ({machine_type}) sets no nodeConfig.minCpuPlatform, so GCE may pick any of "
                f"{', '.join(sorted(platforms))}; pin one so OpenVINO's ISA-specific kernels and benchmarks "
                f"stay reproducible."]
    canonical = {p.lower(): p for p in KNOWN_INTEL_PLATFORMS}
    chosen = canonical.get(platform.strip().lower())
    if chosen is None:
        return [f"{subject} sets minCpuPlatform {platform!r}, which is not an Intel platform; allowed for "
                f"{family}: {', '.join(sorted(platforms))}."]
    if chosen not in platforms:
        return [f"{subject} sets minCpuPlatform {platform!r}, which family {family} does not offer "
                f"(GKE would reject the pool); allowed for {family}: {', '.join(sorted(platforms))}."]
    return []


def check_intel_node_pool(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                          *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """Serving node pools (and a kept default pool) must be Intel with a pinned CPU platform.

    Why: OVMS is tuned for and benchmarked on Intel Xeon (AVX-512/VNNI/AMX); AMD, Arm or mixed-vendor
    nodes silently change throughput and latency.
    """
    label = _label(resource_type, props, name)
    exempt = set(_str_list(SERVING_NODE_POOLS_INTEL.setting(config, "exempt_node_pools")))
    if resource_type == GKE_NODE_POOL:
        if name in exempt or _get(props, "name") in exempt:
            return []
        return _check_node_config(f"{label}", props.get("nodeConfig"), config)
    if resource_type == GKE_CLUSTER:
        remove_default = props.get("removeDefaultNodePool")
        if remove_default is True or not _known(remove_default):
            return []
        return _check_node_config(f"default node pool of {label} (removeDefaultNodePool is not true)",
                                  props.get("nodeConfig"), config)
    return []


SERVING_NODE_POOLS_INTEL = RuleSpec(
    "serving-node-pools-intel",
    "Mandatory: GKE node pools serving OVMS use Intel machine families with a pinned minimum CPU "
    "platform, because OpenVINO is tuned and benchmarked for Intel Xeon ISA (AVX-512/VNNI/AMX).",
    EnforcementLevel.MANDATORY, check_intel_node_pool,
    settings={
        "allowed_machine_families": _string_list(sorted(INTEL_CPU_FAMILIES),
                                                 "Intel families allowed (a2/a3/g2 may be added)."),
        "exempt_node_pools": _string_list([], "Node pool names (props or resource) that do not serve."),
    })


# ---------------------------------------------------------------------------------------------------------
# gke-hardened: workload identity, shielded nodes, auto-repair, GKE metadata server.
# ---------------------------------------------------------------------------------------------------------
def check_gke_hardening(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                        *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """Clusters enable workload identity and shielded nodes; node pools auto-repair and use GKE_METADATA.

    Why: workload identity keeps node credentials away from OVMS pods pulling models, shielded nodes
    resist boot tampering, and auto-repair replaces broken serving nodes without a human.
    """
    label = _label(resource_type, props, name)
    violations: list[str] = []
    if resource_type == GKE_CLUSTER:
        pool = _get(props, "workloadIdentityConfig", "workloadPool")
        if _known(pool) and not (isinstance(pool, str) and pool.endswith(".svc.id.goog")):
            violations.append(f"{label} workloadIdentityConfig.workloadPool is {pool!r}; set it to "
                              f"'<project>.svc.id.goog' to enable workload identity.")
        shielded = props.get("enableShieldedNodes")
        if _known(shielded) and shielded is not True:
            violations.append(f"{label} enableShieldedNodes is {shielded!r}; it must be true.")
    elif resource_type == GKE_NODE_POOL:
        repair = _get(props, "management", "autoRepair")
        if _known(repair) and repair is not True:
            violations.append(f"{label} management.autoRepair is {repair!r}; it must be true.")
        mode = _get(props, "nodeConfig", "workloadMetadataConfig", "mode")
        if _known(mode) and mode != "GKE_METADATA":
            violations.append(f"{label} nodeConfig.workloadMetadataConfig.mode is {mode!r}; it must be "
                              f"'GKE_METADATA' or pods see the node's service account.")
    return violations


GKE_HARDENED = RuleSpec(
    "gke-hardened",
    "Advisory: GKE clusters enable workload identity and shielded nodes, and node pools auto-repair with "
    "GKE_METADATA, because serving pods must not see node credentials and broken nodes must heal.",
    EnforcementLevel.ADVISORY, check_gke_hardening)


RULES: tuple[RuleSpec, ...] = (SERVING_NODE_POOLS_INTEL, GKE_HARDENED)
