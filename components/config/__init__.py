"""Stack configuration: one pydantic model of the `fuseml-serving` namespace, validated whole before any
resource is registered.

Why one model: `pulumi up`, the FuseML workflow step and the offline review must accept and refuse the
same values with the same messages, and Pulumi.yaml, the README's reference and the JSON Schema
(`python -m components.reference`) are generated from it, so a default is stated once, on its field.
Model entries accept the raw strings a FuseML step receives (`nireq: "4"`, `""` for unset) as well as
native YAML values: each field's reader turns them into the type the objects want.

The package, one concept a module: errors (how a reader refuses), readers (raw values to types),
quantities (requests and limits), base (the Settings base and defaults), sections (cluster, istio,
storage, fuseml), entries (what every model entry has), stack (the model composed from every backend's
own settings, and parse). This module is the public face.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from components.config.base import Settings, defaults, settings_in
from components.config.entries import FORMATS, ModelBase, Served
from components.config.errors import ConfigError, ConfigErrors, Refusal, printable
from components.config.readers import FALSE_WORDS, TRUE_WORDS, decode_text, gateway_ref
from components.config.sections import MODELS_MOUNT, POOL_LABEL, IstioConfig, StorageConfig
from components.config.stack import StackBase, compose, defaults_of, validate_stack
from kernel.credentials import SECRET_KEYS
from kernel.names import LABEL_VALUE, LABEL_VALUE_MAX, MAX_APP_NAME, NAMESPACE, RESOURCE_PREFIX


@cache
def _composed() -> dict[str, Any]:
    """The names composed from the backends, made on first use: the backends' modules build on this
    package's modules, so the stack model can only be put together once they are all loaded."""
    from components.backends import registry

    schema = compose(registry())
    stack_defaults, model_defaults, required = defaults_of(schema)
    return {
        # The models of this program's backends (components/backends/, found by the registry).
        "SCHEMA": schema,
        "ModelConfig": schema.model,
        "StackConfig": schema.stack,
        # Defaults of the stack-level settings and of a model entry, as a user would write them, and the
        # keys a model entry must have (read from the fields: each default is stated once, on its field).
        "DEFAULTS": stack_defaults,
        "MODEL_DEFAULTS": model_defaults,
        "MODEL_REQUIRED": required,
        # Keys read with `get_object` (sections and lists of entries); the rest are plain strings.
        "OBJECT_KEYS": tuple(
            name for name, field in schema.stack.model_fields.items() if settings_in(field.annotation)
        ),
    }


def __getattr__(name: str) -> Any:
    composed = _composed()
    if name in composed:
        return composed[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse(
    raw: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    gcp: Mapping[str, str | None] | None = None,
) -> Any:
    """Validate raw stack settings (keys without the namespace) into a StackConfig, or raise ConfigError
    (ConfigErrors for several: every mistake of the stack in one pass)."""
    return validate_stack(_composed()["StackConfig"], raw, secrets, gcp)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the namespace's plain settings (what an editor or a CI linter can check)."""
    schema = _composed()["StackConfig"].model_json_schema()
    schema["title"] = f"{NAMESPACE} stack settings"
    return schema


def raw_from_pulumi() -> tuple[dict[str, Any], dict[str, Any], dict[str, str | None]]:
    """(raw settings, plain secret values, GCP provider config) of the running Pulumi program's stack."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config, get_config_env, is_config_secret

    stack_model, object_keys = _composed()["StackConfig"], _composed()["OBJECT_KEYS"]
    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in stack_model.model_fields:
        value = config.get(key)
        if value is not None:
            raw[key] = _json_or_text(value) if key in object_keys else value
    # Every key the stack sets in this namespace, so that a typo (`namepsace`) is refused, not ignored.
    prefix = f"{NAMESPACE}:"
    given = {name[len(prefix) :] for name in {**get_config_env(), **CONFIG.get()} if name.startswith(prefix)}
    for key in sorted(given - {*stack_model.model_fields, *SECRET_KEYS}):
        raw[key] = config.get(key)
    # Pulumi.yaml cannot declare the secret keys (the CLI refuses a plain default for one), so the CLI no
    # longer insists they are encrypted: this does, as `raw` would for any other source.
    for key in SECRET_KEYS:
        if config.get(key) is not None and not is_config_secret(f"{NAMESPACE}:{key}"):
            raw[key] = "<hidden>"
    # The plain values: `format: auto` reads stores with them; `build` hands them to resources only as
    # secret Outputs.
    secrets = {key: get_config(f"{NAMESPACE}:{key}") for key in SECRET_KEYS}
    provider = pulumi.Config("gcp")
    return raw, secrets, {key: provider.get(key) for key in ("project", "region", "zone")}


def _json_or_text(value: str) -> Any:
    """A section's value as `Config.get_object` reads it, but text that is not JSON (or nests too deep to
    read) stays text, so `parse` refuses it naming the key; get_object's ConfigTypeError is a traceback
    that quotes the value (pulumi SDK 3.272.0 pulumi/config.py `_get_object`: json.loads, any exception
    raised as ConfigTypeError)."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def load() -> Any:
    """Read and validate the `fuseml-serving` stack config of the running Pulumi program."""
    return parse(*raw_from_pulumi())


__all__ = [
    "DEFAULTS",
    "FALSE_WORDS",
    "FORMATS",
    "LABEL_VALUE",
    "LABEL_VALUE_MAX",
    "MAX_APP_NAME",
    "MODELS_MOUNT",
    "MODEL_DEFAULTS",
    "MODEL_REQUIRED",
    "NAMESPACE",
    "OBJECT_KEYS",
    "POOL_LABEL",
    "RESOURCE_PREFIX",
    "SCHEMA",
    "SECRET_KEYS",
    "TRUE_WORDS",
    "ConfigError",
    "ConfigErrors",
    "IstioConfig",
    "ModelBase",
    "ModelConfig",
    "Refusal",
    "Served",
    "Settings",
    "StackBase",
    "StackConfig",
    "StorageConfig",
    "decode_text",
    "defaults",
    "gateway_ref",
    "json_schema",
    "load",
    "parse",
    "printable",
    "settings_in",
]
