"""Field readers: raw input (YAML values, or the strings a FuseML step receives) to the types the objects
want, each refusing with what is allowed.

Why readers rather than pydantic's own coercion: a FuseML step passes every input as a string (`"4"`,
`'{"requests": {"cpu": 1}}'`, `""` for unset) and a stack file passes native YAML values; both must be
read alike, and each refusal must say what the user may write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from pydantic import BeforeValidator

from components.config.errors import Refusal, raise_refusals
from kernel.credentials import has_userinfo
from kernel.names import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    HELM_RELEASE_NAME_MAX,
    INT32_MAX,
    LABEL_VALUE,
    MAX_APP_NAME,
    RESOURCE_PREFIX,
    is_label_key,
)

#: Model URL schemes and the operator's storage_type for each.
#: OVMS reads az:// (Blob) and azfs:// (Files) for Azure, not azure:// (model_server src/filesystem.cpp).
STORAGE_TYPES = {"s3": "S3", "gs": "google", "az": "azure", "azfs": "azure", "": "cluster"}
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def decode_text(value: Any) -> Any:
    """The value a string stands for: JSON or YAML flow text, also when quoted once more by a shell.

    Every structured input (sections, resources, plugin_config, policies) is read this way, so
    `{PERFORMANCE_HINT: LATENCY}`, `{"PERFORMANCE_HINT": "LATENCY"}` and `'{"PERFORMANCE_HINT": "LATENCY"}'`
    mean the same everywhere. Raises yaml.YAMLError for text that is neither, or that nests deeper than
    the readers can follow (both are recursive: `[[[...]]]` a few thousand deep is a RecursionError).
    """
    if not isinstance(value, str):
        return value
    try:
        try:
            # JSON first: YAML reads some valid JSON differently (tabs, exponents like 1e2 as strings).
            decoded = json.loads(value)
        except ValueError:
            decoded = yaml.safe_load(value)
        if isinstance(decoded, str) and decoded.strip()[:1] in ("{", "[") and decoded != value:
            decoded = yaml.safe_load(decoded)
    except RecursionError:
        raise yaml.YAMLError("nested too deep to read") from None
    return decoded


def _decoded(value: Any, allowed: str) -> Any:
    try:
        return decode_text(value)
    except yaml.YAMLError:
        raise Refusal(value, allowed) from None


def _mapping(value: Any, allowed: str) -> dict[Any, Any]:
    """A mapping, or JSON/YAML flow text of one (FuseML passes step inputs as strings)."""
    decoded = _decoded(value, allowed)
    if not isinstance(decoded, Mapping):
        raise Refusal(value, allowed)
    return dict(decoded)


#: The words every boolean input accepts, stack config and step inputs alike (YAML 1.1's own, and 1/0).
TRUE_WORDS = ("true", "yes", "on", "1")


FALSE_WORDS = ("false", "no", "off", "0")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise Refusal(value, "true or false")


def _integral(value: Any) -> bool:
    """An integral float (numbers can travel as doubles) or a string of digits (FuseML step inputs)."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and bool(re.fullmatch(r"\s*[0-9]+\s*", value))


def _integer(minimum: int) -> BeforeValidator:
    """An integer >= minimum and within int32; integral floats pass because numbers can travel as doubles."""
    allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def read(value: Any) -> int:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif _integral(value):
            number = int(value)
        if number is None or number < minimum:
            raise Refusal(value, allowed)
        if number > INT32_MAX:
            raise Refusal(value, f"{allowed} up to {INT32_MAX} (stored as a 32-bit integer)")
        return number

    return BeforeValidator(read)


def _matching(pattern: re.Pattern[str], allowed: str) -> BeforeValidator:
    def read(value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise Refusal(value, allowed)
        return value

    return BeforeValidator(read)


def _one_of(choices: tuple[str, ...], fold: Callable[[str], str] = str) -> BeforeValidator:
    def read(value: Any) -> str:
        # Surrounding whitespace is read as every other input reads it: not part of the word.
        folded = fold(value.strip()) if isinstance(value, str) else value
        if folded not in choices:
            raise Refusal(value, "one of " + ", ".join(choices))
        return folded

    return BeforeValidator(read)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Refusal(value, "a string")
    return value.strip()


def _labels(value: Any) -> dict[str, str]:
    labels = _mapping(value, "a map of Kubernetes label names to values") if value else {}
    refused = []
    for name, label in labels.items():
        if not isinstance(name, str) or not is_label_key(name):
            refused.append(Refusal(name, "a Kubernetes label name ([prefix/]name, 63 chars)", str(name)))
        elif not isinstance(label, str) or len(label) > 63 or not LABEL_VALUE.fullmatch(label):
            refused.append(Refusal(label, "a Kubernetes label value (63 chars, alphanumeric ends)", name))
    raise_refusals(refused)
    return labels


def _label_name(value: Any) -> str:
    if not isinstance(value, str) or not is_label_key(value):
        raise Refusal(value, "a Kubernetes label name")
    return value


def _list_of(allowed: str, *, empty: bool = True) -> Callable[[Any], list[Any]]:
    """A reader of a list, or of its JSON/YAML text; with empty=False an empty list is refused too."""

    def read(value: Any) -> list[Any]:
        decoded = _decoded(value, allowed)
        if not isinstance(decoded, list) or not (empty or decoded):
            raise Refusal(value, allowed)
        return decoded

    return read


def _domain(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not DNS_SUBDOMAIN.fullmatch(value)
        or not all(DNS_LABEL.fullmatch(part) for part in value.split("."))
    ):
        raise Refusal(value, "the DNS domain of the Istio ingress, e.g. 34.118.93.249.nip.io")
    return value


def _gateway(value: Any) -> str:
    if not isinstance(value, str) or not all(DNS_LABEL.fullmatch(p) for p in value.split("/", 1)):
        raise Refusal(value, "a Gateway name, or <namespace>/<name>")
    return value


def gateway_ref(gateway: str, namespace: str) -> tuple[str, str]:
    """(namespace, name) of a Gateway value: `<namespace>/<name>`, or a bare name in `namespace`."""
    other, _, name = gateway.rpartition("/")
    return other or namespace, name


#: Said of a URL that carries a user and password: they would sit in plain text in the stack's config, its
#: state and (for FuseML) the Application's inputs.
NO_USERINFO = "no user or password in it (credentials belong in secrets, never in a URL)"


def _url(value: Any) -> str:
    text = _text(value)
    if has_userinfo(text):
        raise Refusal(value, f"the FuseML server URL (http[s]://host[:port][/path]), {NO_USERINFO}")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise Refusal(value, "the FuseML server URL (http[s]://host[:port][/path], no query or fragment)")
    return text


#: An S3 region: one token, as it sits in SigV4's credential scope `<date>/<region>/s3/aws4_request` (AWS
#: names such as eu-west-1, or an S3-compatible server's own name); ASCII only, so no look-alike digits.
REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _region(value: Any) -> str:
    text = _text(value)
    if text and not REGION.fullmatch(text):
        raise Refusal(value, "an S3 region such as eu-west-1 (ASCII letters, digits, '-', '_', '.')")
    return text


def _timeout(value: Any) -> float:
    timeout = value
    if isinstance(timeout, str) and re.fullmatch(r"\s*[0-9]+(\.[0-9]*)?\s*", timeout):
        timeout = float(timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise Refusal(value, "a number of seconds in (0, 300]")
    return float(timeout)


def _json_text(allowed: str, check: Callable[[Any], bool]) -> BeforeValidator:
    """An object (or its JSON/YAML text), normalised to compact JSON text: the form the CRD wants."""

    def read(value: Any) -> str:
        parsed = _decoded(value, allowed)
        if not check(parsed):
            raise Refusal(value, allowed)
        return json.dumps(parsed, separators=(",", ":"))

    return BeforeValidator(read, json_schema_input_type=str | dict[str, Any])


def _pinned_tag(tag: Any) -> str:
    """A tag that names one release: not latest, nor latest-<variant>."""
    if not isinstance(tag, str) or not IMAGE_TAG.fullmatch(tag) or tag.lower().startswith("latest"):
        raise Refusal(tag, "a pinned image tag such as 2024.0 (not latest)")
    return tag


def _model_url(value: Any) -> str:
    allowed = "an s3://, gs://, az:// or azfs:// URL with a bucket, or an absolute local path"
    if not isinstance(value, str):
        raise Refusal(value, allowed)
    text = value.strip()
    if text.startswith("/") and "://" not in text:
        return text
    scheme, sep, rest = text.partition("://")
    if has_userinfo(text):
        raise Refusal(value, f"{allowed}, {NO_USERINFO}: the store's keys are the secret config keys")
    if scheme.lower() == "azure":
        raise Refusal(value, f"{allowed}: OVMS reads Azure Blob Storage as az:// (write az://{rest})")
    if (
        not sep
        or not scheme
        or scheme.lower() not in STORAGE_TYPES
        or not re.fullmatch(r"[^/\s]+(/\S*)?", rest)
    ):
        raise Refusal(value, allowed)
    return f"{scheme.lower()}://{rest}"


def _app_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_APP_NAME or not DNS_LABEL.fullmatch(value):
        raise Refusal(
            value,
            f"lowercase letters, digits and '-', starting and ending alphanumeric, at most {MAX_APP_NAME} "
            f"chars (it names the Kubernetes objects {RESOURCE_PREFIX}<app_name>, and the operator's Helm "
            f"release of that name must fit Helm's {HELM_RELEASE_NAME_MAX})",
        )
    return value
