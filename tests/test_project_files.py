"""Pulumi.yaml, the README, the stack-file schema and CI agree with the code."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from components import reference
from components.config import DEFAULTS, NAMESPACE, SECRET_KEYS, ModelConfig, StackConfig
from offline.plan import stack_file
from tests.stackfiles import shipped

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
README = (ROOT / "README.md").read_text()
DECLARED = {key.split(":", 1)[1]: spec for key, spec in PROJECT["config"].items()}
SCHEMA = reference.stack_schema()


def test_generated_files_are_current() -> None:
    for path, text in reference.generated().items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m components.reference"
    assert reference.main(["--check"]) == 0


def test_pulumi_yaml_declares_every_plain_key_with_a_default() -> None:
    # The CLI requires, in every stack, each declared key without a default, and refuses a plain default
    # for a secret key (pulumi pkg/v3 workspace/config.go, mergeConfig and validateStackConfigValue): so
    # every declared key has a default and the secret keys are documented but not declared.
    assert PROJECT["name"] == NAMESPACE and PROJECT["runtime"]["name"] == "python"
    assert list(DECLARED) == list(StackConfig.model_fields)
    assert not set(DECLARED) & set(SECRET_KEYS)
    schema = StackConfig.model_json_schema()["properties"]
    for key, spec in DECLARED.items():
        assert spec["description"] and "default" in spec, key
        # The CLI refuses a default of another type than the declared one (pkg/workspace/config.go):
        # each declaration must agree with the model's own type of the key and with its default.
        expected = {"array": list, "object": dict, "string": str}[spec["type"]]
        assert isinstance(spec["default"], expected), key
        assert spec["type"] == schema[key].get("type", "object"), key
    assert (DECLARED["namespace"]["default"], DECLARED["cluster"]["default"]) == (DEFAULTS["namespace"], {})


def test_every_shipped_stack_file_fits_the_stack_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for stack in shipped():
        document = yaml.safe_load(stack_file(stack).read_text())
        jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"fuseml-serving:namepsace": "x"}, "config"),
        ({"fuseml-serving:models": [{"app_name": "a", "model": "gs://b/m", "nirq": 4}]}, "nirq"),
        ({"fuseml-serving:models": [{"model": "gs://b/m"}]}, "app_name"),
        ({"fuseml-serving:istio": {"domain": "d.io", "create_gateway": "maybe"}}, "create_gateway"),
        ({"fuseml-serving:aws_secret_access_key": "plain"}, "aws_secret_access_key"),
    ],
)
def test_the_stack_schema_flags_what_the_program_refuses(config: dict, path: str) -> None:
    with pytest.raises(jsonschema.ValidationError) as raised:
        jsonschema.validate({"config": config}, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert path in str(raised.value)


#: Headers of the README tables that are references, one row per name: keys, settings, inputs, policies and
#: the backends. Other tables are matrices (a backend on several rows of the step's layouts, a runtime on
#: several rows of the figures), where a name recurs by design.
REFERENCE_HEADERS = ("| key |", "| setting |", "| input |", "| policy |", "| backend | serves ")


def readme_tables(text: str, headers: tuple[str, ...] = REFERENCE_HEADERS) -> list[list[str]]:
    """Each Markdown reference table of a text (one whose header starts with one of `headers`; header
    and separator rows left out) as the backticked names in the first cell of each row; a row may name
    several (`app-names-deterministic`, `app-names-unique`)."""
    tables: list[list[str]] = []
    rows: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            rows = None
            continue
        if rows is None:
            if not line.startswith(headers):
                continue
            rows = []
            tables.append(rows)
        first = line.split("|")[1]
        if set(first.strip()) <= {"-", " "} or "`" not in first:
            continue  # the separator, or a header row
        rows.extend(re.findall(r"`([^`]+)`", first))
    return tables


def nested_settings(defaults: dict, prefix: str = "") -> list[str]:
    """The dotted leaf settings of a defaults section (a nested object counts by its leaves, an empty one
    such as `labels: {}` is a setting of its own)."""
    found = []
    for key, value in defaults.items():
        if isinstance(value, dict) and value:
            found += nested_settings(value, f"{prefix}{key}.")
        else:
            found.append(f"{prefix}{key}")
    return found


def test_the_readme_names_every_key_once() -> None:
    """The rule: within each README reference table (REFERENCE_HEADERS), a name is one row; the
    configuration reference's three tables
    name every stack key (then the secret keys), every setting inside an object and every key of a model
    entry, each exactly once. A name may recur across tables (`kserve` is a backend and a stack key,
    `shape` a model key and a converter input)."""
    tables = readme_tables(README)
    assert len(tables) >= 3
    for names in tables:
        assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    start, end = README.index(reference.BEGIN), README.index(reference.END)
    stack_keys, settings, model_keys = readme_tables(README[start:end])
    assert stack_keys == [*StackConfig.model_fields, *SECRET_KEYS]
    assert model_keys == list(ModelConfig.model_fields)
    objects = [key for key, value in DEFAULTS.items() if isinstance(value, dict)]
    assert {setting.split(".")[0] for setting in settings} == set(objects)
    leaves = nested_settings({key: DEFAULTS[key] for key in objects})
    assert [setting for setting in leaves if setting not in settings] == []
    # A required setting has no default to find it by: named here.
    assert {"istio.domain", "cluster.node_pool.machine_type"} <= set(settings)


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"^    (python3 -m venv .*)$", README, flags=re.MULTILINE)
    deploy, tests = blocks[:2]
    assert "pulumi up --stack local" in deploy
    ci = (ROOT / ".ci" / "run").read_text()
    command = tests.split(" && ", 2)[2]
    assert command in ci and "requirements-dev.txt" in tests and "requirements-dev.txt" in ci
