"""Read a `Pulumi.<stack>.yaml` into the config a program receives, as the Pulumi CLI 3.274.0 does, or refuse.

Why: the offline review must see the values `pulumi up` would hand the program, not what a YAML 1.1 reader
makes of the file. The CLI reads stack files with gopkg.in/yaml.v3 v3.0.1 into Go values (sdk/v3
go/common/encoding/marshal.go yamlMarshaler, workspace/loaders.go LoadProjectStackBytes), namespaces bare
keys with the project's name, writes the document back out and reads it again into a config.Map, whose
values become the strings the program gets (resource/config/object.go unmarshalObject and MarshalString,
map.go Decrypt, plaintext.go marshalText). Its rules, each matched here:

- scalars are typed by yaml.v3's resolver (resolve.go): only `true`/`True`/`TRUE` and the `false` forms are
  booleans (`yes`, `on`, `no` stay text), `~`/`null`/empty are null; integers are Go's ParseInt with base
  prefixes after every `_` is dropped (`1_000` is 1000, `0777` is 511, `0b101` 5, `0o17` 15), then
  ParseUint, then a float; anything else is text. Quoted and block scalars are always text.
- a plain `YYYY-M-D` (or with a time and `Z`, or a space-separated time with no zone) is a timestamp,
  which the program receives as Go's Time.String(), `2024-01-02 00:00:00 +0000 UTC`;
- numbers and booleans reach the program as Go's encoding/json writes them (`1.0` is `1`, `1e20` is
  `100000000000000000000`); objects and lists as JSON with sorted keys; a top-level null as `""` (the CLI
  warns); `!!binary` as its decoded text;
- duplicate mapping keys are an error (decode.go mapping: "mapping key already defined"), as are keys
  other than strings in the document or the config section (project.go SimplifyMarshalledValue), a
  `config:` that is not a mapping, and keys that are not `<namespace>:<name>` (config/key.go ParseKey);
- `{secure: <text>}` anywhere (object.go isSecureValue) is a secret: never decrypted here, it becomes an
  opaque placeholder and its key is a secret key;
- merge keys (`<<`), anchors and aliases as yaml.v3 has them, with its limit on alias expansion.

What this cannot match it refuses in one line naming the key: infinities and NaN (the CLI fails to write
them as JSON), timestamps with a zone offset (their text depends on the CLI machine's time zone),
`!!binary` that is not UTF-8 text, tags other than the core ones, mapping keys that are not text or
aliases, the legacy `<ns>:config:<name>` key form, a key written both bare and namespaced (the CLI keeps
one at random), and an `environment:` (Pulumi ESC environments are opened online).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: The YAML tags the reader takes (yaml.v3's own; others would be kept by the CLI as plain values).
_CORE = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(_CORE + t for t in ("str", "binary", "int", "float", "bool", "null"))
COLLECTION_TAGS = frozenset({_CORE + "map", _CORE + "seq"})
#: Marks a plain scalar with no tag: typed by yaml.v3's resolver (`_resolve`), not PyYAML's.
_PLAIN = "!fuseml-review/plain"
_STR = _CORE + "str"


class StackFileError(ValueError):
    """A stack file the CLI refuses, or that this reader cannot read as the CLI does; one line."""


@dataclass(frozen=True)
class StackConfig:
    """What a program receives from a stack file: engine-form values and which keys are secret."""

    config: dict[str, str]
    secret_keys: list[str]
    placeholders: dict[str, str]
    """Each secret key's placeholder text (what stands in for a value never decrypted)."""
    warnings: list[str]


def placeholder(key: str) -> str:
    """The opaque text that stands in for a secret value the review does not have."""
    return f"[review placeholder for {key}, never decrypted]"


# ---------------------------------------------------------------------------------------------------------
# Scalars: yaml.v3 v3.0.1 resolve.go `resolve`, and decode.go `scalar`.
# ---------------------------------------------------------------------------------------------------------
_RESOLVE_MAP: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
#: resolve.go's hint table: the first character decides what a plain scalar may be.
_HINT = {
    **dict.fromkeys("+-", "S"),
    **dict.fromkeys("0123456789", "D"),
    **dict.fromkeys("yYnNtTfFoO~", "M"),
    ".": ".",
}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
#: Go's ParseFloat on text starting with "." (no underscores without a base prefix, no hex).
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_INT64 = (-(2**63), 2**63 - 1)
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


class _Timestamp(str):
    """A timestamp's text as the program receives it (Go's Time.String())."""


def _go_uint(text: str, base: int) -> int | None:
    """strconv.ParseUint(text, base, 64) (base 0: Go's prefixes), or None on any error."""
    if base == 0:
        base = 10
        if text[:1] == "0" and len(text) > 1:
            prefix = text[1].lower()
            base, text = {"x": (16, text[2:]), "o": (8, text[2:]), "b": (2, text[2:])}.get(
                prefix, (8, text[1:])
            )
    if not text or any(c not in _DIGITS[base] for c in text):
        return None
    value = int(text, base)
    return value if value < 2**64 else None


def _go_int(text: str, base: int) -> int | None:
    """strconv.ParseInt(text, base, 64), or None on any error."""
    sign, digits = (text[0], text[1:]) if text[:1] in "+-" else ("+", text)
    value = _go_uint(digits, base)
    if value is None:
        return None
    value = -value if sign == "-" else value
    return value if _INT64[0] <= value <= _INT64[1] else None


def _go_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64) for text already shaped like a YAML float; None when out of range."""
    value = float(text)
    return None if math.isinf(value) else value


def _resolve(text: str, tag: str = "") -> tuple[str, Any]:
    """(short tag, value) of a scalar, as yaml.v3's `resolve(tag, in)` decides it."""
    hint = _HINT.get(text[:1], "") if text else "N"
    if hint:
        if text in _RESOLVE_MAP:
            value = _RESOLVE_MAP[text]
            kind = "!!null" if value is None else "!!bool" if isinstance(value, bool) else "!!float"
            return kind, value
        if hint == "." and _DOT_FLOAT.fullmatch(text):
            value = _go_float(text)
            if value is not None:
                return "!!float", value
        if hint in "DS":
            if tag in ("", "!!timestamp"):
                stamp = _timestamp(text)
                if stamp is not None:
                    return "!!timestamp", stamp
            plain = text.replace("_", "")
            found = _go_int(plain, 0)
            if found is None:
                found = _go_uint(plain, 0) if plain[:1] not in "+-" else None
            if found is not None:
                return "!!int", found
            if _YAML_FLOAT.fullmatch(plain):
                value = _go_float(plain)
                if value is not None:
                    return "!!float", value
            for prefix, base in (("0b", 2), ("0o", 8)):
                if plain.startswith(prefix):
                    found = _go_int(plain[2:], base)
                    if found is None:
                        found = _go_uint(plain[2:], base)
                    if found is not None:
                        return "!!int", found
                elif plain.startswith("-" + prefix):
                    found = _go_int("-" + plain[3:], base)
                    if found is not None:
                        return "!!int", found
    return "!!str", text


_STAMP = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{1,2}):(?P<s>[0-9]{1,2})"
    r"(?:[.,](?P<frac>[0-9]+))?(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


def _timestamp(text: str) -> _Timestamp | None:
    """The Time.String() of a plain scalar yaml.v3 reads as a timestamp (resolve.go parseTimestamp: Go's
    time.Parse with "2006-1-2T15:4:5.999999999Z07:00", its lower-case-t twin, "2006-1-2 15:4:5.999999999"
    or "2006-1-2"), or None. A zone offset is refused: Go names the zone after the CLI machine's own."""
    found = _STAMP.fullmatch(text)
    if found is None:
        return None
    sep, zone = found["sep"], found["zone"]
    # Which layouts can match: a T/t time needs a zone; a space-separated time must have none.
    if (sep in ("T", "t") and zone is None) or (sep == " " and zone is not None):
        return None
    year, month, day = int(found["y"]), int(found["mo"]), int(found["d"])
    hour, minute, second = (int(found[k]) if found[k] else 0 for k in ("h", "mi", "s"))
    if not (1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
        return None
    try:
        datetime.date(max(year, 1), month, day)  # Go's day range (year 0 is a leap year as year 400)
    except ValueError:
        if not (year == 0 and month == 2 and day == 29):
            return None
    if zone not in (None, "Z"):
        raise StackFileError(
            f"the timestamp {text!r} has a zone offset: the CLI passes it as Go's Time.String(), whose zone "
            "name depends on the machine running the CLI; quote it or write it in UTC with Z"
        )
    nanos = (found["frac"] or "")[:9].ljust(9, "0")
    fraction = f".{nanos}".rstrip("0").rstrip(".")
    return _Timestamp(
        f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}{fraction} +0000 UTC"
    )


# ---------------------------------------------------------------------------------------------------------
# Composing: PyYAML's composer, but aliases kept visible and anchors redefinable, as in yaml.v3's parser.
# ---------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Alias:
    """An alias in the document (`*name`), to the node its anchor named when it was read."""

    name: str
    node: Node


class _Loader(yaml.SafeLoader):
    """PyYAML's scanner and parser (both ports of libyaml, as yaml.v3 is), with no implicit typing."""

    def compose_node(self, parent: Node | None, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event = self.get_event()
            if event.anchor not in self.anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            return _Alias(event.anchor, self.anchors[event.anchor])
        # yaml.v3's parser lets a later anchor of the same name replace an earlier one (parserc.go
        # `p.anchors[n.Anchor] = n`); PyYAML refuses the second, so forget the first.
        anchor = self.peek_event().anchor
        if anchor is not None:
            self.anchors.pop(anchor, None)
        self.descend_resolver(parent, index)
        if self.check_event(ScalarEvent):
            node = self.compose_scalar_node(anchor)
        elif self.check_event(yaml.events.SequenceStartEvent):
            node = self.compose_sequence_node(anchor)
        else:
            node = self.compose_mapping_node(anchor)
        self.ascend_resolver()
        return node

    def compose_scalar_node(self, anchor: str | None) -> ScalarNode:
        event = self.get_event()
        tag = event.tag
        if tag is None:
            tag = _PLAIN if event.style is None else _STR
        elif tag == "!":  # the non-specific tag: yaml.v3 reads it as text (resolvableTag is false)
            tag = _STR
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        return node


# ---------------------------------------------------------------------------------------------------------
# Building Go-like values from nodes (decode.go): dicts, lists, str, int, float, bool, None.
# ---------------------------------------------------------------------------------------------------------
class _Builder:
    """Node graph -> plain values, with yaml.v3's checks."""

    def __init__(self) -> None:
        self.decodes = 0
        self.alias_decodes = 0
        self.alias_depth = 0
        self.open_aliases: set[int] = set()

    def fail(self, node: Any, problem: str) -> StackFileError:
        mark = getattr(node, "start_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        return StackFileError(f"{line}{problem}")

    def count(self) -> None:
        # decode.go unmarshal: the same budget on alias expansion (a billion laughs is refused).
        self.decodes += 1
        if self.alias_depth > 0:
            self.alias_decodes += 1
        if self.alias_decodes > 100 and self.decodes > 1000:
            ratio = 0.99
            if self.decodes >= 4_000_000:
                ratio = 0.10
            elif self.decodes > 400_000:
                ratio = 0.99 - 0.89 * (self.decodes - 400_000) / 3_600_000
            if self.alias_decodes / self.decodes > ratio:
                raise self.fail(None, "the document contains excessive aliasing (the CLI refuses it too)")

    def value(self, node: Any) -> Any:
        self.count()
        if isinstance(node, _Alias):
            if id(node) in self.open_aliases:
                raise self.fail(node.node, f"anchor {node.name!r} value contains itself")
            self.open_aliases.add(id(node))
            self.alias_depth += 1
            try:
                return self.value(node.node)
            finally:
                self.alias_depth -= 1
                self.open_aliases.discard(id(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if node.tag not in COLLECTION_TAGS and node.tag not in ("!", None):
            raise self.fail(
                node,
                f"the YAML tag {node.tag} (the review reads only the core tags !!map, !!seq, "
                "!!str, !!int, !!float, !!bool, !!null and !!binary)",
            )
        if isinstance(node, SequenceNode):
            return [self.value(item) for item in node.value]
        return self.mapping(node)

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _PLAIN:
            return self.resolved(node, "")[1]
        if tag not in SCALAR_TAGS:
            raise self.fail(
                node,
                f"the YAML tag {tag} (the review reads only the core tags !!str, !!int, !!float, "
                "!!bool, !!null, !!binary, !!map and !!seq)",
            )
        short = "!!" + tag[len(_CORE) :]
        if short == "!!binary":
            return self.binary(node)
        kind, value = self.resolved(node, short)
        if kind == short:
            return value
        if short == "!!float" and kind == "!!int":
            return float(value)
        raise self.fail(node, f"cannot decode {kind} `{node.value}` as a {short} (the CLI refuses it too)")

    def resolved(self, node: ScalarNode, tag: str) -> tuple[str, Any]:
        try:
            return _resolve(node.value, tag)
        except StackFileError as error:
            raise self.fail(node, str(error)) from None

    def binary(self, node: ScalarNode) -> str:
        # Go's base64.StdEncoding skips CR and LF; anything else outside the alphabet, or bad padding, fails.
        text = node.value.replace("\r", "").replace("\n", "")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(
                node, "!!binary value contains invalid base64 data (the CLI refuses it too)"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(
                node, "a !!binary value that is not UTF-8 text (the CLI cannot pass it to the program)"
            ) from None

    def key(self, node: Any) -> str:
        if isinstance(node, _Alias):
            raise self.fail(node.node, f"an alias (*{node.name}) as a mapping key: write the key itself")
        if not isinstance(node, ScalarNode) or self.kind(node) != "!!str":
            shown = node.value if isinstance(node, ScalarNode) else "a " + type(node).__name__[:-4].lower()
            raise self.fail(node, f"the mapping key {shown!r} is not text: quote it")
        return node.value

    def kind(self, node: ScalarNode) -> str:
        if node.tag == _STR:
            return "!!str"
        if node.tag == _PLAIN:
            return self.resolved(node, "")[0]
        return "!!" + node.tag[len(_CORE) :] if node.tag.startswith(_CORE) else node.tag

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        pairs = node.value
        seen: dict[str, Any] = {}
        for key_node, _ in pairs:
            # decode.go mapping: keys are compared by their text before anything is decoded.
            text = key_node.value if isinstance(key_node, ScalarNode) else None
            if text is not None and text in seen:
                first = seen[text].start_mark.line + 1
                raise self.fail(
                    key_node,
                    f"mapping key {text!r} already defined at line {first} (the CLI refuses duplicate keys)",
                )
            if text is not None:
                seen[text] = key_node
        found: dict[str, Any] = {}
        merges = []
        for key_node, value_node in pairs:
            if (
                isinstance(key_node, ScalarNode)
                and key_node.value == "<<"
                and key_node.tag in (_PLAIN, _STR, _CORE + "merge")
            ):
                merges.append(value_node)
                continue
            self.count()
            found[self.key(key_node)] = self.value(value_node)
        for merge in merges:
            # decode.go merge: a mapping, or a list of them; keys already set (explicitly, or by an earlier
            # mapping of the list) win.
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                target = source.node if isinstance(source, _Alias) else source
                if not isinstance(target, MappingNode):
                    raise self.fail(target, "map merge requires map or sequence of maps as the value")
                for key, value in self.value(source).items():
                    found.setdefault(key, value)
        return found


# ---------------------------------------------------------------------------------------------------------
# Engine form: what the program receives (config/object.go MarshalString, plaintext.go marshalText).
# ---------------------------------------------------------------------------------------------------------
def go_float(value: float) -> str:
    """A float as Go's encoding/json writes it: the shortest digits that read back, in `f` form from 1e-6 up
    to 1e21 and in `e` form outside (with `e-07` cleaned to `e-7`), so `1.0` is `1`."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{value} has no JSON form")
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    exact = Decimal(repr(value))  # repr: the shortest digits that read back, as Go's -1 precision
    if 1e-6 <= abs(value) < 1e21:
        text = format(exact, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    negative, digits, exponent = exact.as_tuple()
    mantissa = "".join(map(str, digits)).rstrip("0") or "0"
    power = int(exponent) + len(digits) - 1
    body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    shown = f"{abs(power):02d}"
    if power < 0 and shown.startswith("0"):
        shown = shown[1:]
    return f"{'-' if negative else ''}{body}e{'-' if power < 0 else '+'}{shown}"


#: Characters Go's json.Marshal escapes that Python's json.dumps(ensure_ascii=False) does not (HTML-safe).
_GO_ESCAPES = str.maketrans({c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})


def go_json(value: Any) -> str:
    """A plain value as Go's json.Marshal writes it (sorted keys, compact), for a JSON reader to read."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).translate(_GO_ESCAPES)
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    return "{" + ",".join(f"{go_json(k)}:{go_json(value[k])}" for k in sorted(value)) + "}"


def _is_secure(value: Any) -> bool:
    """object.go isSecureValue: a mapping of exactly `secure: <text>` (a Go string: no timestamp)."""
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    text = value.get("secure")
    return isinstance(text, str) and not isinstance(text, _Timestamp)


def _with_placeholders(value: Any, text: str) -> tuple[Any, bool]:
    """The value with every secure value replaced by `text`, and whether there was one."""
    if _is_secure(value):
        return text, True
    if isinstance(value, dict):
        pairs = {k: _with_placeholders(v, text) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_with_placeholders(v, text) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


def engine_value(value: Any) -> tuple[str, bool]:
    """(text the program receives, whether that text is JSON of an object) for one top-level value."""
    if value is None:
        # decode.go prepare: a null node never reaches config.Value's unmarshaler, so the value stays "".
        return "", False
    if isinstance(value, str):
        return str(value), False
    if isinstance(value, (bool, int, float)):
        return go_json(value), False
    # Objects are written as JSON and read back with json.Number (object.go UnmarshalJSON): an integer
    # beyond int64 comes back as a float64.
    return go_json(_int64_or_float(value)), True


def _int64_or_float(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        return float(value)
    if isinstance(value, dict):
        return {k: _int64_or_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_int64_or_float(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------
# Reading files.
# ---------------------------------------------------------------------------------------------------------
def parse_document(text: str) -> Any:
    """The first YAML document of text as yaml.v3 Unmarshal decodes it into an `any` (None when empty)."""
    loader = _Loader(text)
    try:
        # yaml.v3 Unmarshal reads the first document only; check_node drops the stream's start.
        node = loader.get_node() if loader.check_node() else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}" if mark else ""
        # Only the position: YAML errors quote the offending line, which may hold a credential.
        raise StackFileError(f"not valid YAML{where}") from None
    except yaml.YAMLError:
        raise StackFileError("not valid YAML") from None
    finally:
        loader.dispose()
    return None if node is None else _Builder().value(node)


def _text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):  # loaders.go readFileStripUTF8BOM
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StackFileError("not UTF-8 text") from None


def project_settings(path: Path) -> tuple[str, dict[str, Any]]:
    """(name, config declarations) of a Pulumi.yaml, read like a stack file."""
    try:
        document = parse_document(_text(path.read_bytes()))
    except StackFileError as error:
        raise StackFileError(f"{path}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise StackFileError(f"{path}: a project file needs a string `name`")
    declared = document.get("config") or {}
    return document["name"], declared if isinstance(declared, dict) else {}


def read(path: Path, project: str, declared: Mapping[str, Any] | None = None, stack: str = "") -> StackConfig:
    """The config `pulumi up` would hand the program for this stack file, secrets as placeholders.

    `declared` is the project file's `config:`: its defaults fill keys the stack does not set and its types
    are checked, as the CLI does before the program runs (pkg/workspace/config.go mergeConfig,
    validateStackConfigValue).
    """
    try:
        return _read(path, project, declared or {}, stack)
    except StackFileError as error:
        raise StackFileError(f"{path}: {error}") from None


def _read(path: Path, project: str, declared: Mapping[str, Any], stack: str) -> StackConfig:
    document = parse_document(_text(path.read_bytes()))
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError("a stack file holds a mapping (the CLI: expected project to be an object)")
    if document.get("environment") is not None:
        raise StackFileError(
            "environment: Pulumi ESC environments add config only online; the review cannot read them"
        )
    for name in ("secretsprovider", "encryptedkey", "encryptionsalt"):
        if isinstance(document.get(name), (dict, list)):
            raise StackFileError(f"{name}: text (the CLI refuses anything else)")
    section = document.get("config")
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise StackFileError("config: a mapping of keys to values (the CLI refuses anything else)")
    config: dict[str, str] = {}
    objects: set[str] = set()
    secret_keys: list[str] = []
    placeholders: dict[str, str] = {}
    spelled: dict[str, str] = {}
    warnings: list[str] = []
    for raw_key, value in section.items():
        key = _key(raw_key, project)
        if key in spelled:
            raise StackFileError(
                f"config: {spelled[key]!r} and {raw_key!r} are the same key (the CLI keeps one at random)"
            )
        spelled[key] = raw_key
        if value is None:
            warnings.append(f'{key} has no value: the CLI passes "" and warns')
        if _non_finite(value):
            raise StackFileError(f"{key}: infinity or NaN (the CLI cannot write it as JSON and refuses it)")
        text = placeholder(key)
        value, secret = _with_placeholders(value, text)
        if secret:
            secret_keys.append(key)
            placeholders[key] = text
        config[key], is_object = engine_value(value)
        if is_object:
            objects.add(key)
    _apply_project(config, objects, declared, project, stack)
    return StackConfig(config, secret_keys, placeholders, warnings)


def _key(raw: str, project: str) -> str:
    """loaders.go stackConfigNamespacedWithProject, then config/key.go ParseKey."""
    key = raw if ":" in raw else f"{project}:{raw}"
    if key.count(":") != 1:
        raise StackFileError(
            f"config key {raw!r}: a key is <namespace>:<name> with one colon (the legacy "
            "<namespace>:config:<name> form is not read here)"
        )
    return key


def _matches(type_name: Any, items: Any, value: Any) -> bool:
    """project.go ValidateConfigValue."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value) is not None
    if type_name == "boolean":
        return value in ("true", "false") or isinstance(value, bool)
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or not isinstance(items, dict):
        return False
    return all(_matches(items.get("type"), items.get("items"), item) for item in value)


def _type_name(type_name: Any, items: Any) -> str:
    if isinstance(items, dict):
        return f"array<{_type_name(items.get('type'), items.get('items'))}>"
    return str(type_name)


def _apply_project(
    config: dict[str, str], objects: set[str], declared: Mapping[str, Any], project: str, stack: str
) -> None:
    """Check the stack's values against the project's declared types and add its defaults (mergeConfig)."""
    for raw_key, declaration in sorted(declared.items()):
        key = raw_key if ":" in raw_key else f"{project}:{raw_key}"
        if not isinstance(declaration, dict):  # project.go RewriteShorthandConfigValues
            declaration = {"default" if key.startswith(project + ":") else "value": declaration}
        fallback = declaration.get("default")
        if fallback is None:
            fallback = declaration.get("value")
        if key not in config and fallback is None and key.startswith(project + ":"):
            raise StackFileError(f"Stack '{stack}' is missing configuration value '{raw_key}'")
        if key in config:
            type_name = declaration.get("type")
            if type_name is None:
                continue
            content = json.loads(config[key]) if key in objects else config[key]
            if not _matches(type_name, declaration.get("items"), content):
                raise StackFileError(
                    f"Stack '{stack}' with configuration key '{raw_key}' must be of type "
                    f"'{_type_name(type_name, declaration.get('items'))}' (the project file declares it so)"
                )
            continue
        # workspace/config.go createConfigValue: string, int and bool as %v; anything else as JSON.
        if isinstance(fallback, bool):
            config[key] = "true" if fallback else "false"
        elif isinstance(fallback, (str, int)):
            config[key] = str(fallback)
        else:
            config[key] = go_json(fallback)
            objects.add(key)
