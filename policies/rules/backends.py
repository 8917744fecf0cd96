"""Serving backend rules: warn when a model is served by a backend its upstream no longer develops.

Why its own module: the rule is about the choice of backend (which operator serves the model), not about
how any one server is configured, and its upstream facts are kept here in one table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel

from .common import (
    RuleSpec,
    _is_model_server,
    _is_modelmesh,
    _is_seldon_deployment,
    _label,
    _str_list,
    _string_list,
)


# ---------------------------------------------------------------------------------------------------------
# serving-backend-maintained: the backend serving a model is maintained upstream.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackendStatus:
    """What choosing a backend means upstream, and what to use instead."""

    backend: str
    status: str
    alternative: str


#: The backends whose upstream no longer develops them, by the program's backend names (`backend:`).
UNMAINTAINED_BACKENDS: Mapping[str, BackendStatus] = {
    "ovms": BackendStatus(
        "ovms",
        "the OpenVINO operator is deprecated upstream in favour of KServe: it gets no new features and "
        "cannot run OVMS past 2026.2 (2026.3 refuses --sequence_cleaner_poll_wait_minutes, which the "
        "operator always passes), while OVMS itself stays active",
        "backend kserve with kserve.openvino_runtime: the same OVMS serving the same OpenVINO IR and ONNX "
        "models, through KServe's kserve-openvino ClusterServingRuntime",
    ),
    "modelmesh": BackendStatus(
        "modelmesh",
        "ModelMesh Serving is archived upstream (last release 0.12.0): it gets no fixes, security updates "
        "or support for newer KServe and Kubernetes versions",
        "backend kserve: one InferenceService per model on KServe's maintained runtimes (kserve-openvino "
        "for OpenVINO IR and ONNX)",
    ),
    "seldon": BackendStatus(
        "seldon",
        "Seldon Core 1 is in maintenance (fixes, no features) and since 1.18.0 is under the Business "
        "Source License 1.1: production use needs a commercial licence from Seldon",
        "backend kserve (Apache 2.0, the same TensorFlow, scikit-learn and XGBoost formats); Seldon Core 2 "
        "is a different system, not an upgrade",
    ),
}


def backend_of(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """The program's backend name of a serving object whose upstream is unmaintained, else None."""
    if _is_model_server(resource_type):
        return "ovms"
    if _is_modelmesh(resource_type, props):
        return "modelmesh"
    if _is_seldon_deployment(resource_type):
        return "seldon"
    return None


def check_serving_backend_maintained(resource_type: str, props: Mapping[str, Any],
                                     config: Mapping[str, Any] | None, *, name: str = "",
                                     secret_outputs: Sequence[str] = ()) -> list[str]:
    """A model served by the OpenVINO operator, ModelMesh or Seldon Core 1 gets a warning with the way out.

    Backends listed in `accepted` (the program's names: ovms, modelmesh, seldon) are not reported: a
    team that has weighed the choice (a Seldon licence, a cluster pinned to ModelMesh) silences it there.

    Why: an unmaintained backend receives no fixes for the CVEs and Kubernetes/KServe upgrades that will
    come, and Seldon Core 1's licence changes what production use costs; each is a decision to make
    knowingly, not by default.
    """
    backend = backend_of(resource_type, props)
    accepted = {value.lower() for value in _str_list(SERVING_BACKEND_MAINTAINED.setting(config, "accepted"))}
    if backend is None or backend in accepted:
        return []
    status = UNMAINTAINED_BACKENDS[backend]
    return [f"{_label(resource_type, props, name)} uses backend {backend}: {status.status}. The "
            f"alternative is {status.alternative}; to keep {backend} knowingly, list {backend!r} in this "
            f"policy's `accepted` setting."]


SERVING_BACKEND_MAINTAINED = RuleSpec(
    "serving-backend-maintained",
    "Advisory: models are served by backends their upstream maintains (not the deprecated OpenVINO "
    "operator, archived ModelMesh Serving or Seldon Core 1 under the BSL 1.1), because an unmaintained "
    "backend gets no fixes and Seldon Core 1 needs a licence for production use.",
    EnforcementLevel.ADVISORY, check_serving_backend_maintained,
    settings={"accepted": {**_string_list([], "Backends (ovms, modelmesh, seldon) accepted knowingly: "
                                              "not reported."),
                           "items": {"type": "string", "enum": sorted(UNMAINTAINED_BACKENDS)}}})


RULES: tuple[RuleSpec, ...] = (SERVING_BACKEND_MAINTAINED,)
