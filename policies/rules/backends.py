"""Serving backend rules: warn when a model is served by a backend its upstream no longer develops.

Why its own module: the rule is about the choice of backend (which operator serves the model), not about
how any one server is configured; where each backend stands upstream is the kernel's (kernel/backends.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel

from kernel.backends import UPSTREAM, Upstream

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
#: The backends whose upstream no longer develops them, by the program's backend names (`backend:`), with
#: where each stands and what to use instead: the kernel's one statement of it.
UNMAINTAINED_BACKENDS: Mapping[str, Upstream] = {
    backend: upstream for backend, upstream in UPSTREAM.items() if not upstream.maintained
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
    # A backend the kernel says is maintained (kserve; any that comes back to life) is not reported.
    if backend is None or backend in accepted or backend not in UNMAINTAINED_BACKENDS:
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
