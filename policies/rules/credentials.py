"""Credential rules: no credential in plain text in any resource input.

Why its own module: the rule is the largest (name heuristics, value patterns, the ModelServer's inline
S3/Azure exception) and the offline review reuses its tables to mask what it writes.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel

from .common import (
    K8S_SECRET,
    RuleSpec,
    _get,
    _is_inference_service,
    _is_model_server,
    _is_seldon_deployment,
    _label,
    _path_text,
    _redact,
    _str_list,
    _string_list,
)

# ---------------------------------------------------------------------------------------------------------
# no-plaintext-credentials: no credential in plain text in any resource input.
# ---------------------------------------------------------------------------------------------------------
# Single name tokens and adjacent token pairs that make a field or env var name credential-bearing.
CREDENTIAL_WORDS = frozenset({
    "secret", "secrets", "password", "passwords", "passwd", "passphrase", "token", "tokens", "credential",
    "credentials", "creds", "apikey", "privatekey", "accesskey", "secretkey", "connectionstring",
    "authorization",
})
CREDENTIAL_WORD_PAIRS = frozenset({
    ("access", "key"), ("api", "key"), ("private", "key"), ("secret", "key"), ("account", "key"),
    ("connection", "string"), ("client", "secret"), ("auth", "key"), ("signing", "key"),
})
# Last name tokens that mark a field as a *reference* to a credential stored elsewhere
# (gcp_creds_secret_name, secretName, secretKeyRef, valueFrom, passwordFile, tokenPath, secretArn, ...).
# Also metadata about a credential (tokenUrl, passwordPolicy, tokenTtl): a URL carrying one is still
# caught by the value patterns below.
REFERENCE_SUFFIXES = frozenset({
    "name", "names", "ref", "refs", "reference", "from", "namespace", "path", "file", "arn", "selector",
    "class", "type", "mount", "url", "uri", "endpoint", "host", "audience", "issuer", "scope", "scopes",
    "policy", "mode", "format", "header", "prefix", "version", "location", "enabled", "ttl", "seconds",
    "expiration", "length",
})
# Whole field names that are references although their last token looks like a credential.
REFERENCE_FIELDS = frozenset({
    "existingSecret", "existing_secret", "useExistingSecret", "secretProviderClass",
})
# Values that cannot be a credential (flags written as strings).
NON_CREDENTIAL_VALUES = frozenset({"true", "false", "yes", "no", "none", "null", "enabled", "disabled"})
# What a credential looks like wherever it hides, whatever the field is called.
CREDENTIAL_VALUE_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a PEM private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    "a URL with an embedded user:password": re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
    "an Azure storage account key": re.compile(r"(?i)\bAccountKey=[^;\s]+"),
    "an Azure shared access signature": re.compile(
        r"(?i)\bSharedAccessSignature=[^;\s]+|[?&]sig=[^&\s]{16,}"),
    "a Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "a bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
}
# The only inline credential fields allowed: the OVMS operator's CR cannot reference a Secret for S3
# or Azure, so the program passes them as Pulumi secrets and registers additionalSecretOutputs=["spec"].
MODEL_SERVER_INLINE_CREDENTIALS = (
    ("spec", "models_repository", "aws_access_key_id"),
    ("spec", "models_repository", "aws_secret_access_key"),
    ("spec", "models_repository", "azure_storage_connection_string"),
)
# Paths whose values are meant to hold credentials (a Kubernetes Secret's payload).
SECRET_PAYLOAD_FIELDS = (("data",), ("stringData",))
# Keys never scanned: a dynamic provider's serialized code is not an input value.
UNSCANNED_KEYS = frozenset({"__provider"})

_TOKEN_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def name_tokens(key: str) -> list[str]:
    """Lower-case words of a field name: "gcp_creds_secret_name" / "secretKeyRef" / "AWS_SECRET_KEY"."""
    return [t.lower() for t in _TOKEN_RE.findall(key)]


def is_credential_name(key: str, extra_reference_fields: frozenset[str] = frozenset()) -> bool:
    """True when a field / variable name says it carries a credential (and is not a reference to one)."""
    if key in REFERENCE_FIELDS or key in extra_reference_fields:
        return False
    tokens = name_tokens(key)
    if not tokens or tokens[-1] in REFERENCE_SUFFIXES:
        return False
    if any(t in CREDENTIAL_WORDS for t in tokens):
        return True
    return any(pair in CREDENTIAL_WORD_PAIRS for pair in itertools.pairwise(tokens))


def _plain_credential(value: Any) -> bool:
    """True when a value is literal text that could be a credential (not empty, a flag, unknown or secret)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return bool(text) and text.lower() not in NON_CREDENTIAL_VALUES

def _embedded_json(text: str) -> Any:
    """A JSON object or array held as text (storage-config entries, plugin_config), else None."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def _env_hint(resource_type: str) -> str:
    """Where a serving kind takes credential variables from instead of plain env values."""
    if _is_seldon_deployment(resource_type):
        return " or the graph's envSecretRefName (a Secret of RCLONE_CONFIG_* variables)"
    if _is_inference_service(resource_type):
        return " or a Secret on the predictor's serviceAccountName (KServe's S3 annotations)"
    return ""


def _walk_credentials(label: str, value: Any, path: tuple[str | int, ...], exempt: set[tuple[str, ...]],
                      extra_refs: frozenset[str], env_hint: str = "") -> Iterator[str]:
    """Yield one violation per leaf holding a plain-text credential, skipping exempt subtrees.

    Exempt paths list field names only (list indexes are ignored), e.g. ("data",) for a Secret.  JSON
    text is walked as the structure it holds (a ModelMesh storage-config entry in a ConfigMap or an
    annotation carries its keys as JSON fields).
    """
    if isinstance(value, Mapping):
        skip = set(UNSCANNED_KEYS)
        env_name = value.get("name")
        if isinstance(env_name, str) and "value" in value and _plain_credential(value.get("value")) \
                and is_credential_name(env_name, extra_refs):
            # A {name, value} pair (container env, headers) named like a credential.
            skip.add("value")
            yield (f"{label} sets {_path_text(path) or 'an entry'} {env_name}={_redact(value['value'])} in "
                   f"plain text; credential variables must use valueFrom.secretKeyRef (a Kubernetes "
                   f"Secret){env_hint}.")
        for key, item in value.items():
            if key in skip:
                continue
            child = (*path, key)
            if tuple(p for p in child if isinstance(p, str)) in exempt:
                continue
            if isinstance(item, str) and _plain_credential(item) and is_credential_name(key, extra_refs):
                yield (f"{label} sets {_path_text(child)} to a literal credential {_redact(item)}; store it "
                       f"in a Kubernetes Secret / Pulumi secret and reference it (secretKeyRef, "
                       f"*_secret_name).")
                continue
            yield from _walk_credentials(label, item, child, exempt, extra_refs, env_hint)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk_credentials(label, item, (*path, index), exempt, extra_refs, env_hint)
    elif isinstance(value, str) and _embedded_json(value) is not None:
        yield from _walk_credentials(label, _embedded_json(value), path, exempt, extra_refs, env_hint)
    elif isinstance(value, str):
        for what, pattern in CREDENTIAL_VALUE_PATTERNS.items():
            match = pattern.search(value)
            if match:
                yield (f"{label} has {what} in plain text at {_path_text(path)} ({_redact(match.group(0))}); "
                       f"credentials belong in a Kubernetes Secret or a Pulumi secret, never in inputs.")
                break


def _covers(secret_outputs: Sequence[str], path: tuple[str, ...]) -> bool:
    """True when additionalSecretOutputs names the path's top-level property (how the engine marks it)."""
    return any(output == ".".join(path[: len(output.split("."))]) for output in secret_outputs)


def check_no_plaintext_credentials(resource_type: str, props: Mapping[str, Any],
                                   config: Mapping[str, Any] | None, *, name: str = "",
                                   secret_outputs: Sequence[str] = ()) -> list[str]:
    """No resource input holds a credential in plain text.

    Why: resource inputs land unencrypted in Pulumi state, previews, logs and `kubectl get -o yaml`;
    credentials must live in Kubernetes Secrets (referenced) or Pulumi secrets.  The one exception is the
    ModelServer's inline S3/Azure fields, allowed only when additionalSecretOutputs covers `spec`.
    Every kind is walked the same way, so the serving backends' places are covered too: env of Seldon
    componentSpecs and InferenceService containers, Seldon graph parameters ({name, value} pairs),
    storage URIs with a user:password, and storage-config JSON outside a Secret's payload.  Pulumi secrets
    reach policies as opaque values and are never reported.
    """
    if resource_type.startswith("pulumi:providers:"):
        # Provider configuration (kubeconfig, credentials) is where cluster access belongs and the
        # providers mark those inputs secret themselves.
        return []
    label = _label(resource_type, props, name)
    extra_refs = frozenset(_str_list(NO_PLAINTEXT_CREDENTIALS.setting(config, "extra_reference_fields")))
    exempt: set[tuple[str, ...]] = set()
    violations: list[str] = []
    if resource_type == K8S_SECRET:
        exempt.update(SECRET_PAYLOAD_FIELDS)
    if _is_model_server(resource_type):
        exempt.update(MODEL_SERVER_INLINE_CREDENTIALS)
        for path in MODEL_SERVER_INLINE_CREDENTIALS:
            value = _get(props, *path)
            if _plain_credential(value) and not _covers(secret_outputs, path):
                violations.append(
                    f"{label} sets {'.'.join(path)} ({_redact(value)}) without additionalSecretOutputs "
                    f"covering 'spec' (got {list(secret_outputs)}); pass it as a Pulumi secret and register "
                    f"the CR with additionalSecretOutputs=['spec'].")
    violations.extend(_walk_credentials(label, props, (), exempt, extra_refs, _env_hint(resource_type)))
    return violations


NO_PLAINTEXT_CREDENTIALS = RuleSpec(
    "no-plaintext-credentials",
    "Mandatory: no resource input holds a credential in plain text, env values of KServe and Seldon "
    "containers and storage-config JSON included (only Secret data and the ModelServer's inline S3/Azure "
    "fields under additionalSecretOutputs=['spec']), because inputs land in state, previews and logs.",
    EnforcementLevel.MANDATORY, check_no_plaintext_credentials,
    settings={"extra_reference_fields": _string_list([], "Field names that reference secrets.")})


RULES: tuple[RuleSpec, ...] = (NO_PLAINTEXT_CREDENTIALS,)
