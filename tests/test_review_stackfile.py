"""The review reads stack files as the Pulumi CLI 3.274.0 does (offline/stackfile.py), or refuses in one line.

Each case states what the CLI does and where in its source (gopkg.in/yaml.v3 v3.0.1, the YAML library
of github.com/pulumi/pulumi/sdk/v3 v3.274.0: `go mod download -json gopkg.in/yaml.v3@v3.0.1`). The last
tests run the real CLI (the test bed's toolchain) on the same files: the config a program receives from
`pulumi preview` must equal, key by key and byte for byte, what the review plans with.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.names import NAMESPACE
from offline.plan import ROOT, read_stack_file
from offline.stackfile import StackFileError, go_float, placeholder
from testbed import toolchain
from testbed.engine import Engine

KEY = f"{NAMESPACE}:v"

#: (YAML value, what the program receives, what the CLI's source says). One stack file holds them all.
VALUES: list[tuple[str, str, str]] = [
    ("yes", "yes", "resolve.go resolveMap: only true/True/TRUE and false/False/FALSE are booleans"),
    ("on", "on", "resolve.go resolveMap: `on` is no boolean in yaml.v3"),
    ("No", "No", "resolve.go resolveMap: `No` is no boolean in yaml.v3"),
    ("True", "true", "resolve.go resolveMap; object.go MarshalString writes a bool as JSON"),
    ("tRUE", "tRUE", "resolve.go resolveMap holds three spellings only"),
    ("~", "", 'decode.go prepare: a null node never reaches config.Value, which stays ""'),
    ("", "", "decode.go prepare (the CLI warns: loaders.go checkForEmptyConfig)"),
    (
        "2024-01-02",
        "2024-01-02 00:00:00 +0000 UTC",
        "resolve.go parseTimestamp; object.go time.Time String()",
    ),
    ("2001-12-14t21:59:43.10Z", "2001-12-14 21:59:43.1 +0000 UTC", "resolve.go allowedTimestampFormats"),
    ("2001-12-14 21:59:43.123456789123", "2001-12-14 21:59:43.123456789 +0000 UTC", "Go time.Parse"),
    ("2001-1-4T1:2:3Z", "2001-01-04 01:02:03 +0000 UTC", "layout 2006-1-2T15:4:5: one-digit fields"),
    ("2001-02-30", "2001-02-30", "time.Parse refuses the day: no timestamp, so text"),
    ("2001-12-14T21:59:43", "2001-12-14T21:59:43", "a T time needs a zone in every layout: text"),
    ("1_000", "1000", "resolve.go: every `_` is dropped before strconv.ParseInt"),
    ("1__", "1", "resolve.go: `1__` loses its underscores and is the integer 1"),
    ("0777", "511", "resolve.go: YAML 1.1 octal kept by ParseInt's base 0"),
    ("0o17", "15", "resolve.go: YAML 1.2 octal"),
    ("0b101", "5", "resolve.go: ParseInt base 0 reads 0b"),
    ("+0x1F", "31", "resolve.go: ParseInt base 0 reads a sign and 0x"),
    ("1.0", "1", "encoding/json writes float64 1 as `1`"),
    ("1e20", "100000000000000000000", "encoding/json: `f` form below 1e21"),
    ("1e21", "1e+21", "encoding/json: `e` form from 1e21"),
    ("1.5e-7", "1.5e-7", "encoding/json: `e` form below 1e-6, e-07 cleaned to e-7"),
    ("-.5", "-0.5", "resolve.go yamlStyleFloat; encoding/json"),
    ("1e400", "1e400", "ParseFloat is out of range: resolve.go falls through to text"),
    ("12345678.9", "12345678.9", "encoding/json shortest digits"),
    ("18446744073709551615", "18446744073709551615", "resolve.go: ParseUint after ParseInt fails"),
    ("+9223372036854775808", "9223372036854776000", "ParseInt overflows, ParseUint refuses a sign: float"),
    ("!!binary aGVsbG8=", "hello", "decode.go scalar: !!binary is base64-decoded to text"),
    ("! 12", "12", "resolve.go resolvableTag: the non-specific tag keeps text"),
    ('!!int "12"', "12", "resolve.go: an explicit tag types a quoted scalar"),
    ("!!float 3", "3", "resolve.go: !!float accepts an integer; encoding/json writes 3"),
    ('"12"', "12", "yaml.go indicatedString: a quoted scalar is text"),
    ("|\n    text", "text\n", "a block scalar is text"),
]

#: An object value: a program receives it as Go's json.Marshal writes it (sorted keys, HTML-safe), after
#: the CLI has read it back with json.Number (object.go UnmarshalJSON: an integer beyond int64 is a float).
OBJECT = """
    d: 2024-01-02
    f: 1.0
    g: 1e21
    n: null
    y: yes
    u: 18446744073709551615
    big: 99999999999999999999
    anchor: &A {x: 1, y: [2, 3]}
    alias: *A
    merged:
      <<: *A
      x: 5
    merged2:
      <<: [{a: 1}, {a: 2, b: 3}]
    html: "<a&b>"
"""
OBJECT_JSON = (
    '{"alias":{"x":1,"y":[2,3]},"anchor":{"x":1,"y":[2,3]},"big":100000000000000000000,'
    '"d":"2024-01-02 00:00:00 +0000 UTC","f":1,"g":1e+21,"html":"\\u003ca\\u0026b\\u003e",'
    '"merged":{"x":5,"y":[2,3]},"merged2":{"a":1,"b":3},"n":null,"u":18446744073709552000,"y":"yes"}'
)

#: Files the CLI refuses too: (name, stack file text, what the review's line says). Sources: decode.go
#: mapping (duplicates), object.go MarshalString (JSON of Inf/NaN), config/key.go ParseKey, resolve.go.
REFUSED_BY_BOTH: list[tuple[str, str, str]] = [
    ("duplicate", "config:\n  fuseml-serving:a: 1\n  fuseml-serving:a: 2\n", "already defined at line 2"),
    ("duplicate-quoted", 'config:\n  a: 1\n  "a": 2\n', "mapping key 'a' already defined"),
    ("duplicate-nested", "config:\n  fuseml-serving:o:\n    k: 1\n    k: 2\n", "mapping key 'k' already"),
    ("infinity", "config:\n  fuseml-serving:a: .inf\n", "infinity or NaN"),
    ("nan-nested", "config:\n  fuseml-serving:a: {x: .nan}\n", "infinity or NaN"),
    ("int-key", "config:\n  1: x\n", "the mapping key '1' is not text"),
    ("bad-base64", 'config:\n  fuseml-serving:a: !!binary "not base64!"\n', "invalid base64"),
    ("bool-tag", "config:\n  fuseml-serving:a: !!bool yes\n", "cannot decode !!str `yes` as a !!bool"),
    ("int-tag", "config:\n  fuseml-serving:a: !!int 1.5\n", "cannot decode !!float `1.5` as a !!int"),
    ("config-list", "config:\n  - a\n", "config: a mapping"),
    ("two-colons", "config:\n  a:b:c: 1\n", "a key is <namespace>:<name> with one colon"),
    ("recursive", "config:\n  fuseml-serving:a: &x [*x]\n", "anchor 'x' value contains itself"),
    ("syntax", "config:\n  fuseml-serving:a: [\n", "not valid YAML at line"),
    ("bad-merge", "config:\n  fuseml-serving:o:\n    <<: 5\n", "map merge requires map"),
    ("secretsprovider", "secretsprovider: [1]\n", "secretsprovider: text"),
    (
        "billion-laughs",
        "config:\n  fuseml-serving:a:\n"
        + "".join(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 9)}]\n" for i in range(6)),
        "excessive aliasing",
    ),
]
#: Refused before the program runs (pkg/workspace/config.go validateStackConfigValue, on preview and up):
#: Pulumi.yaml declares these keys' types.
REFUSED_BY_PREVIEW: list[tuple[str, str, str]] = [
    (
        "type-object",
        "config:\n  fuseml-serving:cluster: abc\n",
        "'fuseml-serving:cluster' must be of type 'object'",
    ),
    ("type-string", "config:\n  namespace: {a: 1}\n", "'fuseml-serving:namespace' must be of type 'string'"),
    ("type-array", "config:\n  fuseml-serving:models: [1]\n", "must be of type 'array<object>'"),
]
#: What the CLI reads but the review refuses, with why: it cannot read them as the CLI does, offline.
REFUSED_BY_THE_REVIEW_ONLY: list[tuple[str, str, str]] = [
    # The CLI's Go map keeps one of the two at random (loaders.go stackConfigNamespacedWithProject).
    ("bare-and-namespaced", "config:\n  a: 1\n  fuseml-serving:a: 2\n", "are the same key"),
    # The text of a time with an offset names the zone after the CLI machine's own (Go time.Parse).
    ("zone-offset", "config:\n  fuseml-serving:a: 2001-12-14T21:59:43+01:00\n", "has a zone offset"),
    # The CLI renames nested non-text keys with Go's %v (object.go unmarshalObject): not guessed here.
    ("nested-int-key", "config:\n  fuseml-serving:o: {1: a}\n", "the mapping key '1' is not text"),
    # The CLI reads it, then fails to send it to the program (gRPC: string field contains invalid UTF-8).
    ("binary-not-utf8", 'config:\n  fuseml-serving:a: !!binary "/w=="\n', "not UTF-8 text"),
    # Tags outside the core ones: yaml.v3 keeps the scalar's text; the review reads core tags only.
    ("custom-tag", "config:\n  fuseml-serving:a: !foo bar\n", "the YAML tag !foo"),
    ("legacy-key", "config:\n  fuseml-serving:config:a: 1\n", "legacy <namespace>:config:<name>"),
]


def values_file() -> str:
    lines = [f"  {NAMESPACE}:v{i}: {text}" for i, (text, _, _) in enumerate(VALUES)]
    return "config:\n" + "\n".join(lines) + f"\n  {NAMESPACE}:obj:" + OBJECT


def read_text(tmp_path: Path, text: str, name: str = "t") -> tuple[dict[str, str], list[str]]:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(text)
    found = read_stack_file(path, ROOT / "Pulumi.yaml", stack=name)
    return found.config, found.secret_keys


@pytest.mark.parametrize(("text", "expected", "why"), VALUES, ids=[v[0] or "empty" for v in VALUES])
def test_a_value_reaches_the_program_as_the_cli_passes_it(
    tmp_path: Path, text: str, expected: str, why: str
) -> None:
    config, _ = read_text(tmp_path, f"config:\n  {KEY}: {text}\n")
    assert config[KEY] == expected, why


def test_an_object_reaches_the_program_as_the_cli_writes_it(tmp_path: Path) -> None:
    config, _ = read_text(tmp_path, f"config:\n  {NAMESPACE}:obj:" + OBJECT)
    assert config[f"{NAMESPACE}:obj"] == OBJECT_JSON


def test_project_defaults_fill_what_the_stack_does_not_set(tmp_path: Path) -> None:
    """pkg/workspace/config.go mergeConfig + createConfigValue: Pulumi.yaml defaults, strings as %v."""
    config, _ = read_text(tmp_path, "config:\n  namespace: ns\n")
    assert config[f"{NAMESPACE}:namespace"] == "ns"  # bare keys take the project's name
    assert config[f"{NAMESPACE}:environment"] == "dev"
    assert config[f"{NAMESPACE}:models"] == "[]"
    assert config[f"{NAMESPACE}:cluster"] == "{}"


def test_secure_values_anywhere_are_secrets_never_decrypted(tmp_path: Path) -> None:
    """object.go isSecureValue: exactly `secure: <text>`, at the top or nested; `secure: 5` is a plain map."""
    text = (
        "config:\n"
        f"  {NAMESPACE}:aws_access_key_id:\n    secure: AAABAciphertext\n"
        f"  {NAMESPACE}:storage:\n    s3_endpoint: {{secure: AAABAother}}\n"
        f"  {NAMESPACE}:n:\n    secure: 5\n"
    )
    config, secret_keys = read_text(tmp_path, text)
    key_id, storage = f"{NAMESPACE}:aws_access_key_id", f"{NAMESPACE}:storage"
    assert secret_keys == [key_id, storage]
    assert config[key_id] == placeholder(key_id)
    assert json.loads(config[storage]) == {"s3_endpoint": placeholder(storage)}
    assert json.loads(config[f"{NAMESPACE}:n"]) == {"secure": 5}
    assert "AAABA" not in json.dumps(config)


@pytest.mark.parametrize(
    ("name", "text", "line"),
    REFUSED_BY_BOTH + REFUSED_BY_PREVIEW + REFUSED_BY_THE_REVIEW_ONLY,
    ids=[c[0] for c in REFUSED_BY_BOTH + REFUSED_BY_PREVIEW + REFUSED_BY_THE_REVIEW_ONLY],
)
def test_a_file_the_review_cannot_read_as_the_cli_is_refused_in_one_line(
    tmp_path: Path, name: str, text: str, line: str
) -> None:
    with pytest.raises(StackFileError) as caught:
        read_text(tmp_path, text)
    message = str(caught.value)
    assert line in message
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "Pulumi.t.yaml"))


def test_esc_environments_are_refused_offline(tmp_path: Path) -> None:
    """An `environment:` adds config from Pulumi ESC, online (pkg/cmd/pulumi/config: openStackEnv)."""
    with pytest.raises(StackFileError, match="Pulumi ESC environments"):
        read_text(tmp_path, "environment:\n  - prod\nconfig: {}\n")


def test_go_float_is_encoding_json() -> None:
    """encoding/json floatEncoder: `f` in [1e-6, 1e21), else `e` with e-07 cleaned to e-7."""
    assert [go_float(v) for v in (0.1, 1e-6, 1e-7, 1.5e300, -2.5e-10, 123.0, 1e21, -0.0)] == [
        "0.1",
        "0.000001",
        "1e-7",
        "1.5e+300",
        "-2.5e-10",
        "123",
        "1e+21",
        "-0",
    ]


# ---------------------------------------------------------------------------------------------------------
# The real CLI on the same files.
# ---------------------------------------------------------------------------------------------------------
#: The program of the CLI's project: it writes down the config the Python host hands it (PULUMI_CONFIG).
DUMP = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ['DUMP_TO']).write_text(os.environ.get('PULUMI_CONFIG', ''))\n"
)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The real CLI with a project whose program only writes down the config it receives."""
    try:
        bin_dir = toolchain.ensure()
    except toolchain.ToolchainError as err:
        pytest.fail(f"the real-engine toolchain is not available: {err}", pytrace=False)
    work = tmp_path_factory.mktemp("cli")
    engine = Engine(bin_dir=bin_dir, work=work, extra_env={"DUMP_TO": str(work / "received.json")})
    main = engine.project / "__main__.py"
    main.unlink()
    main.write_text(DUMP)
    engine.init_stack("t")
    return engine


def write_stack(cli: Engine, text: str) -> Path:
    """Pulumi.t.yaml holding text, with the encryption salt `stack init` wrote kept."""
    path = cli.project / "Pulumi.t.yaml"
    salt = next(line for line in path.read_text().splitlines() if line.startswith("encryptionsalt:"))
    path.write_text(f"{salt}\n{text}")
    return path


def test_the_program_receives_what_the_review_plans_with(cli: Engine) -> None:
    path = write_stack(cli, values_file())
    cli.run("preview", "--stack", "t")
    received = json.loads((cli.work / "received.json").read_text())
    ours = read_stack_file(path, cli.project / "Pulumi.yaml", stack="t").config
    assert received == ours
    assert len(ours) > len(VALUES)


@pytest.mark.parametrize(("name", "text", "line"), REFUSED_BY_BOTH, ids=[c[0] for c in REFUSED_BY_BOTH])
def test_the_cli_refuses_these_files_too(cli: Engine, name: str, text: str, line: str) -> None:
    write_stack(cli, text)
    assert cli.run("config", "--json", "--stack", "t", check=False).returncode != 0


@pytest.mark.parametrize(("name", "text", "line"), REFUSED_BY_PREVIEW, ids=[c[0] for c in REFUSED_BY_PREVIEW])
def test_the_cli_refuses_these_types_before_the_program(cli: Engine, name: str, text: str, line: str) -> None:
    write_stack(cli, text)
    result = cli.run("preview", "--stack", "t", check=False)
    assert result.returncode != 0
    assert line.split("'")[1] in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [c for c in REFUSED_BY_THE_REVIEW_ONLY if c[0] != "binary-not-utf8"],
    ids=[c[0] for c in REFUSED_BY_THE_REVIEW_ONLY if c[0] != "binary-not-utf8"],
)
def test_the_cli_reads_what_only_the_review_refuses(cli: Engine, name: str, text: str, line: str) -> None:
    """These refusals are the review's own (the CLI reads the file): each says what it cannot match."""
    write_stack(cli, text)
    assert cli.run("config", "--json", "--stack", "t", check=False).returncode == 0


def test_the_cli_cannot_send_binary_that_is_not_utf8(cli: Engine) -> None:
    write_stack(cli, 'config:\n  fuseml-serving:a: !!binary "/w=="\n')
    result = cli.run("preview", "--stack", "t", check=False)
    assert result.returncode != 0
    assert "invalid UTF-8" in result.stdout + result.stderr
