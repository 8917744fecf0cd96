"""Application name rules: FuseML apps and ModelServer app-name labels are explicit, deterministic, unique.

Why one module: the app name keys the FuseML registration, the ovms-<app> Service and the Istio host, so
the per-resource and the stack-wide name rules belong together.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel

from .common import (
    _DNS_LABEL_RE,
    APP_NAME_LABEL,
    MODEL_SERVER_NAME_PREFIX,
    RuleSpec,
    StackResource,
    StackViolations,
    _duplicates,
    _get,
    _is_fuseml_application,
    _is_model_server,
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
    if len(app_name) > 63 or not _DNS_LABEL_RE.match(app_name):
        return "is not a DNS label (lower-case letters, digits, '-'; 1-63 chars; alphanumeric at both ends)"
    if app_name in allowed_names:
        return None
    random_parts = [part for part in app_name.split("-") if random_looking_segment(part)]
    if random_parts:
        return (f"has random-looking part(s) {', '.join(random_parts)} (a generated suffix changes on "
                f"every run and orphans the previous app; list deliberate names in allowed_names)")
    return None


def check_app_names(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                    *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """FuseML Application `name` and ModelServer `fuseml/app-name` are explicit, valid and deterministic.

    Why: the app name keys the FuseML registry, the `ovms-<app>` Service and the Istio host; a missing or
    generated name creates a new app on every run and leaves the old one orphaned.
    """
    label = _label(resource_type, props, name)
    allowed = _str_list(APP_NAMES_DETERMINISTIC.setting(config, "allowed_names"))
    violations: list[str] = []
    if _is_fuseml_application(resource_type):
        app = props.get("name")
        problem = app_name_problem(app, allowed)
        if problem:
            violations.append(f"{label} application name {app!r} {problem}; names must be explicit DNS "
                              f"labels.")
    elif _is_model_server(resource_type):
        app = _get(props, "metadata", "labels", APP_NAME_LABEL)
        problem = app_name_problem(app, allowed)
        if problem:
            violations.append(f"{label} label {APP_NAME_LABEL}={app!r} {problem}; names must be explicit DNS "
                              f"labels.")
        server_name = _get(props, "metadata", "name")
        if isinstance(app, str) and app and isinstance(server_name, str) \
                and server_name != f"{MODEL_SERVER_NAME_PREFIX}{app}":
            violations.append(f"{label} metadata.name {server_name!r} does not match its app name; "
                              f"expected {MODEL_SERVER_NAME_PREFIX + app!r} so routes and the FuseML app "
                              f"stay in step.")
        if isinstance(server_name, str) and len(server_name) > 63:
            violations.append(f"{label} metadata.name {server_name!r} has {len(server_name)} characters; the "
                              f"operator's Service name must be at most 63.")
    return violations


APP_NAMES_DETERMINISTIC = RuleSpec(
    "app-names-deterministic",
    "Advisory: FuseML application names and ModelServer fuseml/app-name labels are explicit DNS labels "
    "without random-looking parts, because a generated name creates a new app every run.",
    EnforcementLevel.ADVISORY, check_app_names,
    settings={"allowed_names": _string_list([], "Names exempt from the random-suffix heuristic.")})


# ---------------------------------------------------------------------------------------------------------
# app-names-unique: application names are unique across the stack.
# ---------------------------------------------------------------------------------------------------------
def check_unique_app_names(resources: Sequence[StackResource], config: Mapping[str, Any] | None) \
        -> StackViolations:
    """Application names are unique across the stack (FuseML apps and ModelServer app-name labels).

    Why: a second server or FuseML app with the same name overwrites the first one's registration and
    `ovms-<app>` Service, silently serving the wrong model.
    """
    apps = [(r.props["name"], r) for r in resources
            if _is_fuseml_application(r.resource_type) and isinstance(r.props.get("name"), str)]
    servers = [(app, r) for r in resources if _is_model_server(r.resource_type)
               for app in [_get(r.props, "metadata", "labels", APP_NAME_LABEL)] if isinstance(app, str)]
    return _duplicates(apps, "FuseML application name") + _duplicates(servers, f"label {APP_NAME_LABEL}")


APP_NAMES_UNIQUE = RuleSpec(
    "app-names-unique",
    "Mandatory: application names are unique across the stack, because duplicates overwrite each other's "
    "FuseML registration and ovms-<app> Service.",
    EnforcementLevel.MANDATORY, check_unique_app_names, stack=True)


RULES: tuple[RuleSpec, ...] = (APP_NAMES_DETERMINISTIC, APP_NAMES_UNIQUE)
