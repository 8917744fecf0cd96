"""The rule catalogue: every rule in the pack's order, their levels and settings, and policy config files.

Why apart from the subject modules: the order, the level table and the config merge span all subjects,
and each subject module stays free of the others; this is the one place to add a new rule module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel

from . import app_names, backends, credentials, gke, images, istio, model_server
from .common import RuleSpec

#: The subject modules, each with its own RULES; together they hold every rule exactly once.
SUBJECTS = (gke, model_server, credentials, images, app_names, istio, backends)

#: Every rule, in the order the pack has always listed them (Pulumi prints policies in this order).
RULES: tuple[RuleSpec, ...] = (
    gke.SERVING_NODE_POOLS_INTEL,
    model_server.MODEL_SERVER_RESOURCES,
    model_server.MODEL_SERVER_NIREQ_BOUNDED,
    model_server.MODEL_SERVER_PLUGIN_CONFIG,
    credentials.NO_PLAINTEXT_CREDENTIALS,
    images.IMAGES_PINNED,
    app_names.APP_NAMES_DETERMINISTIC,
    app_names.APP_NAMES_UNIQUE,
    istio.VIRTUALSERVICE_HOSTS_UNIQUE,
    istio.VIRTUALSERVICE_HOSTS_IN_DOMAIN,
    istio.VIRTUALSERVICE_ROUTES_TO_SERVER,
    gke.GKE_HARDENED,
    model_server.PROD_MODEL_SERVER_REPLICAS,
    backends.SERVING_BACKEND_MAINTAINED,
)

RULES_BY_NAME: Mapping[str, RuleSpec] = {rule.name: rule for rule in RULES}
POLICY_LEVELS: Mapping[str, str] = {rule.name: rule.level.value for rule in RULES}
SETTING_DEFAULTS: dict[str, Any] = {key: schema["default"] for rule in RULES
                                    for key, schema in (rule.settings or {}).items()}
_LEVELS = frozenset(level.value for level in EnforcementLevel)


def policy_settings(policy_name: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One policy's settings: its schema defaults overlaid with `config` (enforcementLevel dropped)."""
    rule = RULES_BY_NAME[policy_name]
    settings = {key: schema["default"] for key, schema in (rule.settings or {}).items()}
    settings.update({k: v for k, v in (config or {}).items() if k != "enforcementLevel" and v is not None})
    return settings


# ---------------------------------------------------------------------------------------------------------
# Policy config files: Pulumi's policy config format merged into levels and settings.
# ---------------------------------------------------------------------------------------------------------
_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
}


def _check_setting(policy: str, key: str, value: Any, schema: Mapping[str, Any]) -> None:
    """Raise ValueError when a setting does not fit its (small) JSON schema."""
    expected = _JSON_TYPES[schema["type"]]
    if isinstance(value, float) and value.is_integer() and schema["type"] == "integer":
        value = int(value)
    bad_bool = isinstance(value, bool) and schema["type"] != "boolean"
    if bad_bool or not isinstance(value, expected):
        raise ValueError(f"policy config {policy}.{key}={value!r} must be of type {schema['type']}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ValueError(f"policy config {policy}.{key}={value!r} must be >= {schema['minimum']}")
    if schema["type"] == "array" and not all(isinstance(item, str) for item in value):
        raise ValueError(f"policy config {policy}.{key} must be a list of strings, got {value!r}")
    choices = schema.get("items", {}).get("enum")
    if schema["type"] == "array" and choices and not set(value) <= set(choices):
        raise ValueError(f"policy config {policy}.{key} names {sorted(set(value) - set(choices))}, not one "
                         f"of {choices}")


def _parse_level(policy: str, level: Any) -> str:
    if not isinstance(level, str) or level not in _LEVELS:
        raise ValueError(f"policy config {policy}: enforcement level {level!r} is not one of "
                         f"{sorted(_LEVELS)}")
    return level


def load_policy_config(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """A policy config as a dict: from a JSON file path, a mapping, or None (empty)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"policy config {source} must hold a JSON object, got {type(data).__name__}")
    return data


def merge_policy_config(source: str | Path | Mapping[str, Any] | None) \
        -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Merge a Pulumi policy config (file or mapping) into (levels, settings) for every policy.

    Accepts Pulumi's format: ``{"all": "advisory", "policy": "disabled", "other": {"enforcementLevel":
    "mandatory", "setting": value}}``; "all" applies first, named entries override it.  Unknown policies,
    settings, levels or badly typed settings raise ValueError, because a typo would silently weaken a rule.
    """
    raw = load_policy_config(source)
    levels = dict(POLICY_LEVELS)
    settings = {rule.name: policy_settings(rule.name) for rule in RULES}
    unknown = sorted(set(raw) - set(RULES_BY_NAME) - {"all"})
    if unknown:
        raise ValueError(f"policy config names unknown policies {unknown}; known: {sorted(RULES_BY_NAME)}")
    if "all" in raw:
        entry = raw["all"]
        level = _parse_level("all", entry.get("enforcementLevel") if isinstance(entry, Mapping) else entry)
        levels = dict.fromkeys(levels, level)
    for policy, entry in raw.items():
        if policy == "all":
            continue
        if not isinstance(entry, Mapping):
            levels[policy] = _parse_level(policy, entry)
            continue
        if "enforcementLevel" in entry:
            levels[policy] = _parse_level(policy, entry["enforcementLevel"])
        schema = RULES_BY_NAME[policy].settings or {}
        for key, value in entry.items():
            if key == "enforcementLevel":
                continue
            if key not in schema:
                raise ValueError(f"policy config {policy} has unknown setting {key!r}; known: "
                                 f"{sorted(schema)}")
            _check_setting(policy, key, value, schema[key])
            settings[policy][key] = value
    return levels, settings
