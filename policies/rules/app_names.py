"""Application name rules: FuseML apps and server app-name labels are explicit, deterministic, unique.

Why one module: the app name keys the FuseML registration, the server's name (ovms-<app>, or <app> for
KServe and Seldon) and the Istio host, so the per-resource and the stack-wide name rules belong together.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel

from kernel.names import DNS_LABEL_MAX, is_dns_label

from .common import (
    APP_NAME_LABEL,
    MODEL_SERVER_NAME_PREFIX,
    RuleSpec,
    StackResource,
    StackViolations,
    _duplicates,
    _get,
    _is_fuseml_application,
    _is_model_server,
    _is_serving_object,
    _known,
    _label,
    _str_list,
    _string_list,
)

# ---------------------------------------------------------------------------------------------------------
# app-names-deterministic: explicit, deterministic application names.
# ---------------------------------------------------------------------------------------------------------
_VOWELS = frozenset("aeiouy")
# The old OVMS step fell back to `head /dev/urandom | tr -dc a-z0-9 | head -c 6` for org and project.
_OLD_STEP_RANDOM_LENGTH = 6


def random_looking_segment(segment: str) -> bool:
    """True when a name segment looks generated rather than chosen.

    Heuristics, each matching a known generator: >=7 hex chars mixing digits and letters (Pulumi
    auto-name suffix, hashes, UUID parts); >=5 letters without a vowel; >=3 letter/digit alternations
    with >=2 digits; the old step's 6-char [a-z0-9] fallback with >=2 digits not all trailing.
    Real names such as "resnet50", "yolov5s", "k8s", "bert4rec" or "mnist2" pass.
    """
    s = segment.lower()
    has_digit, has_alpha = any(c.isdigit() for c in s), any(c.isalpha() for c in s)
    if len(s) >= 7 and re.fullmatch(r"[0-9a-f]+", s) and has_digit and has_alpha:
        return True
    if len(s) >= 5 and s.isalpha() and not (set(s) & _VOWELS):
        return True
    digits = sum(c.isdigit() for c in s)
    alternations = sum(1 for a, b in itertools.pairwise(s) if a.isdigit() != b.isdigit())
    if digits >= 2 and alternations >= 3:
        return True
    if len(s) == _OLD_STEP_RANDOM_LENGTH and s.isalnum() and has_alpha and digits >= 2:
        return bool(re.search(r"\d[a-z]", s))
    return False


def app_name_problem(app_name: Any, allowed_names: Sequence[str] = ()) -> str | None:
    """Why an application name is not explicit and deterministic, or None when it is fine."""
    if not _known(app_name):
        return None
    if not isinstance(app_name, str) or not app_name:
        return "is missing"
    if not is_dns_label(app_name):
        return "is not a DNS label (lower-case letters, digits, '-'; 1-63 chars; alphanumeric at both ends)"
    if app_name in allowed_names:
        return None
    random_parts = [part for part in app_name.split("-") if random_looking_segment(part)]
    if random_parts:
        return (f"has random-looking part(s) {', '.join(random_parts)} (a generated suffix changes on "
                f"every run and orphans the previous app; list deliberate names in allowed_names)")
    return None


def _has_app_label(props: Mapping[str, Any]) -> bool:
    """True when the object carries a `fuseml/app-name` label at all (it is then one app's server)."""
    labels = _get(props, "metadata", "labels")
    return isinstance(labels, Mapping) and APP_NAME_LABEL in labels


def _label_problems(label: str, props: Mapping[str, Any], allowed: Sequence[str]) -> list[str]:
    """What is wrong with a server object's `fuseml/app-name` label."""
    app = _get(props, "metadata", "labels", APP_NAME_LABEL)
    problem = app_name_problem(app, allowed)
    if problem:
        return [f"{label} label {APP_NAME_LABEL}={app!r} {problem}; names must be explicit DNS labels."]
    return []


def check_app_names(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                    *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """FuseML Application `name` and the server objects' `fuseml/app-name` are explicit and deterministic.

    A ModelServer must carry the label and be named `ovms-<app>`; an InferenceService or SeldonDeployment
    carrying it must be named `<app>` (FuseML's kserve and seldon steps name them so, and their URLs show
    the object's name).

    Why: the app name keys the FuseML registry, the `ovms-<app>` Service, the KServe/Seldon URL and the
    Istio host; a missing or generated name creates a new app on every run and leaves the old one orphaned.
    """
    label = _label(resource_type, props, name)
    allowed = _str_list(APP_NAMES_DETERMINISTIC.setting(config, "allowed_names"))
    violations: list[str] = []
    app = _get(props, "metadata", "labels", APP_NAME_LABEL)
    server_name = _get(props, "metadata", "name")
    if _is_fuseml_application(resource_type):
        problem = app_name_problem(props.get("name"), allowed)
        if problem:
            violations.append(f"{label} application name {props.get('name')!r} {problem}; names must be "
                              f"explicit DNS labels.")
    elif _is_model_server(resource_type):
        violations.extend(_label_problems(label, props, allowed))
        if isinstance(app, str) and app and isinstance(server_name, str) \
                and server_name != f"{MODEL_SERVER_NAME_PREFIX}{app}":
            violations.append(f"{label} metadata.name {server_name!r} does not match its app name; "
                              f"expected {MODEL_SERVER_NAME_PREFIX + app!r} so routes and the FuseML app "
                              f"stay in step.")
        if isinstance(server_name, str) and len(server_name) > DNS_LABEL_MAX:
            violations.append(f"{label} metadata.name {server_name!r} has {len(server_name)} characters; the "
                              f"operator's Service name must be at most {DNS_LABEL_MAX}.")
    elif _is_serving_object(resource_type) and _has_app_label(props):
        violations.extend(_label_problems(label, props, allowed))
        if isinstance(app, str) and app and isinstance(server_name, str) and server_name != app:
            violations.append(f"{label} metadata.name {server_name!r} does not match its app name {app!r}; "
                              f"its URL carries the object's name, so the FuseML app would point elsewhere.")
    return violations


APP_NAMES_DETERMINISTIC = RuleSpec(
    "app-names-deterministic",
    "Advisory: FuseML application names and the fuseml/app-name labels of ModelServers, InferenceServices "
    "and SeldonDeployments are explicit DNS labels without random-looking parts, matching the object's "
    "name, because a generated name creates a new app every run.",
    EnforcementLevel.ADVISORY, check_app_names,
    settings={"allowed_names": _string_list([], "Names exempt from the random-suffix heuristic.")})


# ---------------------------------------------------------------------------------------------------------
# app-names-unique: application names are unique across the stack.
# ---------------------------------------------------------------------------------------------------------
def check_unique_app_names(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """Application names are unique across the stack (FuseML apps, and the app-name labels of servers).

    Servers are ModelServers, InferenceServices and SeldonDeployments: one app name served by two of them,
    even on different backends, is still one FuseML app.

    Why: a second server or FuseML app with the same name overwrites the first one's registration and
    `ovms-<app>` Service (or takes the app's URL), silently serving the wrong model.
    """
    apps = [(r.props["name"], r) for r in resources
            if _is_fuseml_application(r.resource_type) and isinstance(r.props.get("name"), str)]
    servers = [(app, r) for r in resources if _is_serving_object(r.resource_type)
               for app in [_get(r.props, "metadata", "labels", APP_NAME_LABEL)] if isinstance(app, str)]
    return _duplicates(apps, "FuseML application name") + _duplicates(servers, f"label {APP_NAME_LABEL}")


APP_NAMES_UNIQUE = RuleSpec(
    "app-names-unique",
    "Mandatory: application names are unique across the stack (FuseML apps, ModelServers, "
    "InferenceServices, SeldonDeployments), because duplicates overwrite each other's FuseML registration "
    "and ovms-<app> Service or URL.",
    EnforcementLevel.MANDATORY, check_unique_app_names, stack=True)


RULES: tuple[RuleSpec, ...] = (APP_NAMES_DETERMINISTIC, APP_NAMES_UNIQUE)
