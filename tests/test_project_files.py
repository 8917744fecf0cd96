"""Pulumi.yaml, the README and CI agree with the code: config keys, types, and the test command."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from components.config import DEFAULTS, MODEL_DEFAULTS, MODEL_REQUIRED, NAMESPACE, OBJECT_KEYS, SECRET_KEYS
from offline.plan import stack_file, stacks

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
README = (ROOT / "README.md").read_text()
DECLARED = {key.split(":", 1)[1]: spec for key, spec in PROJECT["config"].items()}


def readme_table(first_header: str) -> dict[str, list[str]]:
    """Rows of the README table whose first header cell is `first_header`, keyed by the first cell."""
    rows: dict[str, list[str]] = {}
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_pulumi_yaml_declares_every_plain_key_the_program_reads_with_a_default() -> None:
    # The CLI requires, in every stack, each declared key without a default, and refuses a plain default
    # for a secret key (pulumi pkg/v3 workspace/config.go, mergeConfig and validateStackConfigValue): so
    # every declared key has a default and the secret keys are documented but not declared.
    assert PROJECT["name"] == NAMESPACE and PROJECT["runtime"]["name"] == "python"
    assert set(DECLARED) == {*DEFAULTS, "models"}
    for key, spec in DECLARED.items():
        assert spec.get("description"), key
        expected = "array" if key == "models" else "object" if key in OBJECT_KEYS else "string"
        assert spec["type"] == expected, key
        assert "secret" not in spec, key
        # An empty object or list means "the program's defaults"; a string states the program's own.
        expected_default = [] if key == "models" else {} if key in OBJECT_KEYS else DEFAULTS[key]
        assert spec["default"] == expected_default, key


def test_readme_config_reference_matches_pulumi_yaml() -> None:
    table = readme_table("key")
    assert set(table) == {*DECLARED, *SECRET_KEYS}
    for key, (type_, _default, _meaning) in table.items():
        declared = f"{DECLARED[key]['type']}" if key in DECLARED else "string (secret)"
        assert type_ == declared, key


def test_readme_model_reference_matches_the_model_keys() -> None:
    table = readme_table("key | default")
    assert list(table) == [*MODEL_REQUIRED, *MODEL_DEFAULTS]


def test_stack_files_use_declared_keys_only() -> None:
    for stack in stacks():
        config = yaml.safe_load(stack_file(stack).read_text())["config"]
        ours = [k.split(":", 1)[1] for k in config if k.startswith(f"{NAMESPACE}:")]
        assert set(ours) <= {*DECLARED, *SECRET_KEYS}, stack
        assert all(k.startswith((f"{NAMESPACE}:", "gcp:")) for k in config), stack


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"^    (python3 -m venv .*)$", README, flags=re.MULTILINE)
    deploy, tests = blocks[:2]
    assert "pulumi up --stack local" in deploy
    ci = (ROOT / ".ci" / "run").read_text()
    command = tests.split(" && ", 2)[2]
    assert command in ci and "requirements-dev.txt" in tests and "requirements-dev.txt" in ci
