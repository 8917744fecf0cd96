"""The versions of the real-engine toolchain, each stated once.

The Kubernetes provider follows the `pulumi-kubernetes` pin in requirements.txt and the operator the
version the program installs, so the test bed runs what a user's `pulumi up` runs. The CLI is stated here:
it is the nearest release at or above the `pulumi` SDK pin that the Go module proxy serves (a CLI newer
than the SDK is what users run), and a test holds it at or above the SDK within one major version.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The Pulumi CLI and Python language host built for the test bed (and installed by the Dockerfile): the
#: proxy refuses github.com/pulumi/pulumi/pkg/v3 at v3.272.0 and v3.273.0 (checked 2026-12-07), so the
#: nearest CLI at or above the SDK pin is 3.274.0.
PULUMI_CLI = "3.274.0"

#: Kubernetes control plane of the loopback cluster (kube-apiserver, kube-controller-manager, kubectl);
#: its etcd is the version this Kubernetes release's go.mod requires.
KUBERNETES = "1.36.3"

#: `github.com/pulumi/pulumi-kubernetes/provider/v4` has no tags of its own: each provider release is the
#: commit of the repository's root tag `v<X>`, addressed by its pseudo-version (commit time and hash of the
#: tag, read from the repository's tags). A new `pulumi-kubernetes` pin needs its line here.
KUBERNETES_PROVIDER_COMMITS = {
    "4.25.0": "v4.0.0-20260115033456-f47bc2d6f199",
}


def requirement(name: str) -> str:
    """The exact version pinned for `name` in requirements.txt."""
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(name)}==([^\s#;]+)", text, flags=re.MULTILINE | re.IGNORECASE)
    if match is None:
        raise LookupError(f"requirements.txt pins no exact version of {name}")
    return match.group(1)


def pulumi() -> str:
    """Version of the Pulumi CLI and the Python language host."""
    return PULUMI_CLI


def pulumi_sdk() -> str:
    """Version of the Python SDK the program runs on: the `pulumi` pin."""
    return requirement("pulumi")


def pulumi_kubernetes() -> str:
    """Version of `pulumi-resource-kubernetes`: the `pulumi-kubernetes` SDK pin."""
    return requirement("pulumi-kubernetes")


def kubernetes_provider_module() -> str:
    """The provider module's pseudo-version for the pinned release."""
    version = pulumi_kubernetes()
    try:
        return KUBERNETES_PROVIDER_COMMITS[version]
    except KeyError:
        raise LookupError(
            f"pulumi-kubernetes=={version} has no provider commit in testbed/versions.py "
            f"KUBERNETES_PROVIDER_COMMITS (known: {', '.join(sorted(KUBERNETES_PROVIDER_COMMITS))})"
        ) from None


def operator() -> str:
    """The OpenVINO operator release the program installs by default."""
    from components.config import DEFAULTS

    return str(DEFAULTS["operator"]["version"])
