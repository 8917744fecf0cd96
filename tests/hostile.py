"""Hostile inputs for the property of tests/test_hostile_inputs.py: every key and input, and what may leak.

Why apart from the test: the keys come from the artefacts the project already states (the stack schema the
program generates, the step's and the converter's documented inputs), so the property follows them as
they grow; and a found case (tests/hostile-examples/*.json) is rebuilt from JSON by the same code.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from convert import inputs as convert_inputs
from kernel.credentials import CREDENTIAL_ENV, GCS_CREDENTIALS_ENV, SECRET_KEYS
from kernel.names import NAMESPACE
from step import inputs as step_inputs

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema" / "Pulumi.stack.schema.json"
CASES = Path(__file__).resolve().parent / "hostile-examples"

# ---------------------------------------------------------------------------------------------------------
# Planted secrets: recognisable, long enough that finding one in an output is never a coincidence.
# ---------------------------------------------------------------------------------------------------------
#: Under the keys and variables the project knows as secret.
ACCESS_KEY = "AKIAHOSTILEPLANTED01"
SECRET_KEY = "hStL-s3cr3t-Pl4nted-Key-7Xq9"
CONNECTION = f"DefaultEndpointsProtocol=https;AccountName=hostile;AccountKey={SECRET_KEY}"
PASSPHRASE = "pAss-Phr4se-Pl4nted-9Lm3"
#: Written under a wrong key (`aws_secret_acess_key`, `password`, ...): still a secret.
WRONG_KEY = "wR0ng-K3y-Pl4nted-Val-K8m2"
#: The password of a URL's user info (`s3://user:<this>@...`).
USERINFO = "uS3r-Inf0-Pl4nted-Pw-Zq1v"
#: Credential-shaped text inside a value (`token=<this>`, `Authorization: Bearer <this>`).
TOKEN = "t0K3n-In-V4lue-Pl4nted-Hx7c"

PLANTED = (ACCESS_KEY, SECRET_KEY, PASSPHRASE, WRONG_KEY, USERINFO, TOKEN)
#: What must never be found in any planned resource input outside a secret path: the values the project
#: holds as secrets, and a URL's password (refused, or moved to a Secret). A token in a value the user
#: chose to put into, say, a model name is the user's text, not a credential the program handles.
IN_STATE = (ACCESS_KEY, SECRET_KEY, PASSPHRASE, WRONG_KEY, USERINFO)


def _forms(secret: str) -> set[str]:
    variants = {secret, secret.upper(), secret.lower()}
    return {*variants, *(base64.b64encode(v.encode()).decode() for v in variants)}


_LEAK = {secret: re.compile("|".join(map(re.escape, _forms(secret))), re.IGNORECASE) for secret in PLANTED}


def leaks(text: str, secrets: tuple[str, ...] = PLANTED) -> list[str]:
    """The planted secrets found in text, in any case or base64 (of any case)."""
    return [secret for secret in secrets if _LEAK[secret].search(text)]


# ---------------------------------------------------------------------------------------------------------
# Hostile values. Deep and Tagged stand for what JSON values cannot say; each entry point renders them.
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deep:
    """A list or object nested `depth` times, as text (a Python structure that deep breaks json.dumps)."""

    depth: int
    kind: str = "list"

    def text(self) -> str:
        if self.kind == "list":
            return "[" * self.depth + "]" * self.depth
        return '{"a": ' * self.depth + "1" + "}" * self.depth


@dataclass(frozen=True)
class Tagged:
    """A YAML fragment with a tag, anchor or alias, written as is into a stack file; elsewhere its text."""

    yaml: str


MB = 1 << 20
STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\t\n ",
    "\u00a0",
    "\u2028",
    "\x00",
    "\x1c",
    "a\nb",
    "\ufeffx",
    "\u0663",
    "\u0661\u0662",
    "\uff13",
    "\u00b2",
    "\U0001d7d9\U0001d7da",
    "\u216b",
    "\uff4d\uff4f\uff44\uff45\uff4c",
    "\uff23\uff30\uff35",
    "\u0130nfo",
    "\u00df",
    "\u212a",  # KELVIN SIGN: lower-cases to an ASCII k
    "caf\u00e9",
    "\ufb01le",
    "a" * 64,
    "a" * 254,
    "-",
    ".",
    "..",
    "*",
    "%s%n{0}",
    "${HOME}",
    "$(id)",
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    "None",
    "true",
    "NaN",
    "-Infinity",
    "2024-01-01",
    "0x1F",
    "0o17",
    "1_000",
    "1e3",
    "+1",
    "-0",
    "1.0",
    "99999999999999999999999",
    "{}",
    "[]",
    "{a: 1}",
    "[1, [2]]",
    '{"requests": {"cpu": "\u0661"}}',
    '{"cpu": 1e999}',
    "(1,3,224,224)",
    "(\u0661,\u0663)",
    "auto",
    "AUTO",
    "ovms",
    "kserve",
    "openvino",
    "triton",
    "create",
    "existing",
    "v2",
    "gs://",
    "s3://",
    "s3:///m",
    "s3://b",
    "gs://b/m",
    "az://c/m",
    "azfs://s/m",
    "azure://c/m",
    "file:///etc/passwd",
    "/models/m",
    "models/m",
    "../../etc",
    "minio:9000",
    "http://[::1",
    "http://host:99999",
    "HTTP://HOST.EXAMPLE",
    "http://xn--caf-dma.example",
    "http://caf\u00e9.example",
    "//host/x",
    "ns/gw/extra",
    "a/b",
    "a" * MB,
    "9" * MB,
    "\u0663" * (MB // 2),
    "x." * (MB // 2),
)

#: Credential shapes inside a value; `token=`, `password:` and bearer values are what the kernel's
#: redactor recognises.
SECRET_VALUES: tuple[str, ...] = (
    f"password={TOKEN}",
    f"Authorization: Bearer {TOKEN}",
    f'{{"token": "{TOKEN}"}}',
    f"x?access_token={TOKEN}&a=1",
)

YAML_FRAGMENTS: tuple[str, ...] = (
    "!!binary aGVsbG8=",
    "!!binary //79",
    "!!str 1",
    "!!int 0x10",
    "!!float .nan",
    "!!float .inf",
    "!!bool yes",
    "!!null ''",
    "!!timestamp 2024-01-01",
    "!!python/object/apply:os.system ['true']",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!secure x",
    "!custom-tag v",
    "&anchor value",
    "*undefined-alias",
    "{<<: {a: 1}}",
    "{? [a, b] : c}",
    "{a: 1, a: 2}",
    "2024-01-02T03:04:05+02:00",
    "{secure: v1:AAAA}",
    "[{secure: x}]",
    ".inf",
    "-.nan",
    "0b101",
    "0777",
    "1e400",
    "|\n      block\n      text",
)

NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    1,
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    1.5,
    -0.0,
    1e308,
    float("inf"),
    float("nan"),
    True,
    False,
    None,
)


def urls() -> st.SearchStrategy[str]:
    """URLs with user info, query and fragment, on every scheme the config takes and some it does not."""
    return st.builds(
        lambda scheme, info, host, path, query, fragment: f"{scheme}{info}{host}{path}{query}{fragment}",
        st.sampled_from(
            ["s3://", "gs://", "az://", "azfs://", "http://", "https://", "HTTPS://", "ftp://", ""]
        ),
        st.sampled_from(["", f"user:{USERINFO}@", f"{ACCESS_KEY}:{USERINFO}@", f":{USERINFO}@", "user@"]),
        st.sampled_from(
            ["bucket", "minio:9000", "10.0.0.1", "[::1]:9000", "ho st", "xn--caf-dma", "\u0663.example"]
        ),
        st.sampled_from(["", "/", "/m", "/a/b/", "/%2e%2e/x", "/m?", "/m#"]),
        st.sampled_from(["", "?x=1", f"?token={TOKEN}", f"?X-Amz-Signature={TOKEN}&X-Amz-Credential=a"]),
        st.sampled_from(["", "#", "#frag", f"#access_token={TOKEN}"]),
    )


def json_values(depth: int = 2) -> st.SearchStrategy[Any]:
    """Small JSON-like values: wrong types for any key."""
    scalars = st.one_of(st.sampled_from(NUMBERS), st.text(max_size=8), st.sampled_from(STRINGS[:40]))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=6,
    )


def values(*, yaml_tags: bool = False) -> st.SearchStrategy[Any]:
    """One hostile value for any key."""
    options = [
        st.sampled_from(STRINGS),
        st.sampled_from(SECRET_VALUES),
        st.sampled_from(NUMBERS),
        st.text(max_size=24),
        urls(),
        json_values(),
        st.builds(Deep, st.sampled_from([32, 200, 1200, 5000]), st.sampled_from(["list", "dict"])),
    ]
    if yaml_tags:
        options.append(st.builds(Tagged, st.sampled_from(YAML_FRAGMENTS)))
    return st.one_of(*options)


def text_values() -> st.SearchStrategy[str]:
    """One hostile value for an environment variable (always text)."""
    return st.one_of(
        st.sampled_from(STRINGS),
        st.sampled_from(SECRET_VALUES),
        st.text(max_size=24),
        urls(),
        st.builds(lambda v: Deep(*v).text(), st.tuples(st.sampled_from([32, 5000]), st.just("list"))),
        st.sampled_from(NUMBERS).map(lambda n: json.dumps(n) if not isinstance(n, str) else n),
        json_values().map(json.dumps),
    )


# ---------------------------------------------------------------------------------------------------------
# Keys: every key path of the stack schema, every input of the step and the converter.
# ---------------------------------------------------------------------------------------------------------
#: Stands for a free key of a mapping (labels, shape names, resources): a hostile name is drawn for it.
ANY_KEY = "*"
#: Free keys drawn where the schema allows any (label names, shape and layout inputs, resource names).
FREE_KEYS = (
    "in1",
    "cpu",
    "",
    " ",
    "\u2028",
    "\u0663",
    "a" * 300,
    "fuseml-serving/pool",
    "\uff21",
    "password",
)


def schema_key_paths(schema: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Every key path the stack schema describes, containers included; list items are index 0 and free
    keys ANY_KEY. The first segment is the config key without its namespace."""
    schema = schema or json.loads(SCHEMA_FILE.read_text())
    defs = schema.get("$defs", {})
    found: list[tuple[Any, ...]] = []

    def walk(node: Mapping[str, Any], path: tuple[Any, ...], seen: tuple[str, ...]) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(defs[name], path, (*seen, name))
            return
        if path and path not in found:
            found.append(path)
        for option in (*node.get("anyOf", ()), *node.get("oneOf", ())):
            walk(option, path, seen)
        for key, sub in node.get("properties", {}).items():
            walk(sub, (*path, key), seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*path, 0), seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], (*path, ANY_KEY), seen)

    for key, sub in schema["properties"]["config"]["properties"].items():
        assert key.startswith(f"{NAMESPACE}:"), key
        walk(sub, (key[len(NAMESPACE) + 1 :],), ())
    return found


#: Keys whose value is a URL or store location (their hostile values are URLs half the time).
URL_KEYS = ("model", "url", "s3_endpoint", "manifests", "models_volume_claim", "domain")

#: Top-level secret keys: their hostile values are set as secrets, and carry the planted secret.
SECRET_CONFIG_KEYS = tuple(SECRET_KEYS)


def step_input_names() -> tuple[str, ...]:
    """Every environment variable the step reads, from step.inputs' own tables and its documented inputs."""
    names = [step_inputs.model_env(key) for key in step_inputs.MODEL_KEYS]
    for env_names in step_inputs.SETTING_ENV.values():
        names += env_names
    names += [*CREDENTIAL_ENV.values(), GCS_CREDENTIALS_ENV]
    names += [
        "FUSEML_APP_NAME",
        "FUSEML_PREDICTOR",
        "FUSEML_VERBOSE",
        "FUSEML_SERVING_LOCK_TIMEOUT_S",
        "FUSEML_SERVING_RESULTS_DIR",
        "TASK_RESULT",
        "PULUMI_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE",
        "PULUMI_CONFIG_PASSPHRASE_FILE",
    ]
    return tuple(dict.fromkeys(names))


def documented_fuseml_names(module: Any) -> set[str]:
    """The FUSEML_* names a module's docstring documents (the property must cover each)."""
    return set(re.findall(r"\bFUSEML_[A-Z0-9_]*[A-Z0-9]\b", module.__doc__ or "")) - {"FUSEML_X"}


def convert_input_names() -> tuple[str, ...]:
    """Every environment variable the converter reads: its inputs, the result file's and the store's."""
    names = [f"FUSEML_{name.upper()}" for name in convert_inputs.INPUT_NAMES]
    names += [
        "TASK_RESULT",
        "FUSEML_SERVING_RESULTS_DIR",
        "S3_ENDPOINT",
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_REGION",
    ]
    names += [*CREDENTIAL_ENV.values(), GCS_CREDENTIALS_ENV]
    return tuple(dict.fromkeys(names))


#: Secret-looking names to plant WRONG_KEY under: typos of the real keys, and generic credential names.
WRONG_SECRET_KEYS = (
    "aws_secret_acess_key",
    "aws_secret_access_keys",
    "AWS_SECRET_ACCESS_KEY",
    "secret_key",
    "password",
    "db_passwd",
    "api_key",
    "token",
    "gcs_credential",
    "connection_string",
    "private_key",
    "Authorization",
)
#: Where a wrong-key secret is planted: top level, or inside a section or entry.
WRONG_SECRET_PLACES: tuple[tuple[Any, ...], ...] = (
    (),
    ("storage",),
    ("fuseml",),
    ("istio",),
    ("cluster",),
    ("models", 0),
    ("servers", 0),
    ("models", 0, "resources"),
)


# ---------------------------------------------------------------------------------------------------------
# A stack: a valid base and the hostile settings put into it.
# ---------------------------------------------------------------------------------------------------------
def base_stack(backend: str, mode: str) -> dict[str, Any]:
    """A stack that plans offline: every model names its format (no store is read), one shared server."""
    # Seldon Core 1 serves no OpenVINO IR (components/backends/seldon.py): its model is an sklearn one.
    fmt = "sklearn" if backend == "seldon" else "openvino"
    first: dict[str, Any] = {"app_name": "m1", "model": "s3://bucket/m1", "format": fmt}
    if backend != "auto":
        first["backend"] = backend
    cluster: dict[str, Any] = {"mode": mode}
    if mode == "create":
        cluster.update(project="fuseml", location="europe-central2-a")
    return {
        "namespace": "fuseml-workloads",
        "cluster": cluster,
        "istio": {"domain": "example.nip.io"},
        "fuseml": {"url": "http://fuseml-core.example.nip.io", "workflow": "wf"},
        "storage": {"s3_endpoint": "http://minio.example:9000", "aws_region": "us-east-1"},
        "kserve": {"openvino_runtime": True},
        "servers": [{"name": "shared"}],
        "models": [
            first,
            {"app_name": "m2", "model": "s3://bucket/m2", "format": "openvino", "server": "shared"},
        ],
    }


BASE_SECRETS = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}


def put(target: Any, path: tuple[Any, ...], value: Any, free_key: str = "in1") -> bool:
    """Set value at path, creating the sections on the way; False where an earlier value is in the way."""
    for i, step in enumerate(path):
        last = i == len(path) - 1
        step = free_key if step == ANY_KEY else step
        nxt = None if last else path[i + 1]
        if isinstance(step, int):
            if not isinstance(target, list):
                return False
            while len(target) <= step:
                target.append({})
        elif not isinstance(target, dict):
            return False
        if last:
            target[step] = value
            return True
        if (isinstance(target, dict) and step not in target) or (
            isinstance(target, list) and target[step] is None
        ):
            target[step] = [] if isinstance(nxt, int) else {}
        target = target[step]
    return False


@dataclass
class Stack:
    """A hostile stack: plain settings, secret settings (set as secrets), and what was mutated."""

    raw: dict[str, Any]
    secrets: dict[str, Any]
    plain_secrets: dict[str, Any]
    """Secret keys written without being a secret (what `pulumi config set` without --secret leaves)."""
    mutated: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "raw": _encode(self.raw),
            "secrets": _encode(self.secrets),
            "plain_secrets": _encode(self.plain_secrets),
            "mutated": self.mutated,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stack:
        return cls(
            _decode(data["raw"]),
            _decode(data["secrets"]),
            _decode(data["plain_secrets"]),
            list(data["mutated"]),
        )


@st.composite
def stacks(draw: st.DrawFn, *, yaml_tags: bool = False) -> Stack:
    """A valid base with 1-3 schema keys set to hostile values, maybe a secret under a wrong key."""
    raw = base_stack(
        draw(st.sampled_from(["ovms", "kserve", "seldon", "modelmesh", "auto"])),
        draw(st.sampled_from(["existing", "create"])),
    )
    secrets: dict[str, Any] = dict(BASE_SECRETS)
    plain_secrets: dict[str, Any] = {}
    mutated: list[str] = []
    if draw(st.integers(0, 3)) == 0:
        # format auto: the store is read (through the test's refusing network), with the hostile storage.
        del raw["models"][0]["format"]
    paths = schema_key_paths()
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(paths))
        if path[-1] in URL_KEYS and draw(st.booleans()):
            # A URL a key takes, with user info, query or fragment: what may reach a resource's inputs.
            value = draw(urls())
        else:
            value = draw(values(yaml_tags=yaml_tags))
        if path[0] in SECRET_CONFIG_KEYS:
            # A secret key's value is a secret however hostile: it carries the planted one.
            value = draw(
                st.sampled_from(
                    [
                        f" {SECRET_KEY} ",
                        f"{SECRET_KEY}\u2028x",
                        {"k": SECRET_KEY},
                        [SECRET_KEY],
                        SECRET_KEY * 4,
                    ]
                )
            )
            if draw(st.booleans()):
                plain_secrets[path[0]] = value
            else:
                secrets[path[0]] = value
            mutated.append(path[0])
            continue
        if path[:2] == ("cluster", "node_pool"):
            # The node pool is read in create mode only.
            put(raw, ("cluster", "mode"), "create")
        free = draw(st.sampled_from(FREE_KEYS))
        if put(raw, path, value, free):
            mutated.append(".".join(free if p == ANY_KEY else str(p) for p in path))
    if draw(st.booleans()):
        place = draw(st.sampled_from(WRONG_SECRET_PLACES))
        key = draw(st.sampled_from(WRONG_SECRET_KEYS))
        if put(raw, (*place, key), WRONG_KEY):
            mutated.append(".".join(map(str, (*place, key))))
    return Stack(raw, secrets, plain_secrets, mutated)


def _encode(value: Any) -> Any:
    """JSON-safe form of a hostile value (Deep, Tagged, NaN and infinities kept)."""
    if isinstance(value, Deep):
        return {"$deep": [value.depth, value.kind]}
    if isinstance(value, Tagged):
        return {"$yaml": value.yaml}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return {"$float": repr(value)}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    """A hostile value from its JSON form; `{"$repeat": [text, n]}` keeps a 1 MB case file small."""
    if isinstance(value, dict):
        if set(value) == {"$repeat"}:
            text, times = value["$repeat"]
            return text * times
        if set(value) == {"$deep"}:
            return Deep(*value["$deep"])
        if set(value) == {"$yaml"}:
            return Tagged(value["$yaml"])
        if set(value) == {"$float"}:
            return float(value["$float"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------
# Rendering: engine config (what `pulumi up`'s program receives) and a stack file (what the review reads).
# ---------------------------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """The value with Deep and Tagged replaced by text markers (filled in by the renderers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def engine_value(value: Any) -> str:
    """A value as the engine hands it to the program: text as is, anything else JSON (Deep as its text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Deep):
        return value.text()
    if isinstance(value, Tagged):
        return value.yaml
    markers: dict[str, str] = {}
    text = json.dumps(_marked(value, markers))
    for marker, fragment in markers.items():
        text = text.replace(
            json.dumps(marker), fragment if fragment.startswith(("[", "{")) else json.dumps(fragment)
        )
    return text


def _marked(value: Any, markers: dict[str, str]) -> Any:
    if isinstance(value, Deep | Tagged):
        marker = f"HOSTILEMARKER{len(markers):04d}"
        markers[marker] = value.text() if isinstance(value, Deep) else value.yaml
        return marker
    if isinstance(value, dict):
        return {k: _marked(v, markers) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v, markers) for v in value]
    return value


def engine_config(stack: Stack) -> tuple[dict[str, str], list[str]]:
    """(engine-form config, secret keys) of a stack, namespaced."""
    config = {f"{NAMESPACE}:{k}": engine_value(v) for k, v in stack.raw.items()}
    config.update({f"{NAMESPACE}:{k}": engine_value(v) for k, v in stack.plain_secrets.items()})
    config.update({f"{NAMESPACE}:{k}": engine_value(v) for k, v in stack.secrets.items()})
    return config, [f"{NAMESPACE}:{k}" for k in stack.secrets]


def stack_file_text(stack: Stack) -> str:
    """The stack as a Pulumi.<stack>.yaml: secrets as `secure:` values (the review never decrypts them),
    plain secrets as plain text, Deep and Tagged values written as their YAML text."""
    markers: dict[str, str] = {}
    config: dict[str, Any] = {f"{NAMESPACE}:{k}": _marked(v, markers) for k, v in stack.raw.items()}
    config.update({f"{NAMESPACE}:{k}": _marked(v, markers) for k, v in stack.plain_secrets.items()})
    # The real encrypted form is opaque to the review: a ciphertext of the CLI's shape stands in.
    config.update({f"{NAMESPACE}:{k}": {"secure": "v1:AAAAAAAAAAAAAAAA:ZmFrZQ=="} for k in stack.secrets})
    text = yaml.dump(
        {"encryptionsalt": "v1:c2FsdA==:v1:AAAA:AAAA", "config": config},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,
    )
    for marker, fragment in markers.items():
        text = text.replace(marker, fragment)
    return text


class _Dumper(yaml.SafeDumper):
    """Writes NaN and infinities as YAML's .nan and .inf (the review must refuse them, naming the key)."""


def env_case(changes: Mapping[str, Any]) -> dict[str, str | None]:
    """A step or converter case's changes: values decoded, a Deep one as its text."""
    decoded = {name: _decode(value) for name, value in changes.items()}
    return {name: value.text() if isinstance(value, Deep) else value for name, value in decoded.items()}


def iter_cases(entry: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The committed found cases of one entry point: (file name, case)."""
    for path in sorted(CASES.glob(f"{entry}-*.json")):
        yield path.name, json.loads(path.read_text())
