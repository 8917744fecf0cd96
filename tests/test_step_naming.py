"""Application naming of the workflow step: explicit name, codeset name, refusal, DNS-label normalisation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.config import MAX_APP_NAME
from kernel.errors import StepInputError
from step import naming

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def codeset(root: Path, org: str = "Acme", project: str = "Cifar10") -> Path:
    meta = root / ".fuseml"
    meta.mkdir()
    (meta / "_org").write_text(org + "\n")
    (meta / "_project").write_text(project + "\n")
    return root


def test_explicit_app_name_wins_over_codeset(tmp_path: Path) -> None:
    env = {"FUSEML_APP_NAME": "cifar10-ovms", "FUSEML_ENV_WORKFLOW_NAME": "wf"}
    assert naming.app_name(env, codeset(tmp_path)) == "cifar10-ovms"


def test_codeset_name_is_org_project_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(codeset(tmp_path))
    env = {"FUSEML_ENV_WORKFLOW_NAME": "mlflow-ovms-e2e"}
    assert naming.app_name(env, Path.cwd()) == "acme-cifar10-mlflow-ovms-e2e"


def test_no_codeset_and_no_app_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StepInputError, match="FUSEML_APP_NAME: no application name: set the step input"):
        naming.app_name({"FUSEML_ENV_WORKFLOW_NAME": "wf"}, Path.cwd())


def test_blank_app_name_counts_as_unset(tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match="no application name"):
        naming.app_name({"FUSEML_APP_NAME": "  "}, tmp_path)


def test_codeset_without_workflow_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match="FUSEML_ENV_WORKFLOW_NAME is not set"):
        naming.app_name({}, codeset(tmp_path))


def test_empty_codeset_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match=r"codeset metadata .* is empty"):
        naming.app_name({"FUSEML_ENV_WORKFLOW_NAME": "wf"}, codeset(tmp_path, org=""))


def test_codeset_metadata_that_is_not_utf8_is_refused_not_a_crash(tmp_path: Path) -> None:
    root = codeset(tmp_path)
    (root / ".fuseml" / "_org").write_bytes(b"Acme\xff\xfe")
    with pytest.raises(StepInputError, match=r"codeset metadata in .* is unreadable \(UnicodeDecodeError\)"):
        naming.app_name({"FUSEML_ENV_WORKFLOW_NAME": "wf"}, root)


def test_name_without_letters_or_digits_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StepInputError, match="FUSEML_APP_NAME '__' has no letters or digits"):
        naming.app_name({"FUSEML_APP_NAME": "__"}, tmp_path)


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("cifar10-ovms", "cifar10-ovms"),
        ("Cifar10_OVMS", "cifar10-ovms"),
        ("my.org--Proj  x", "my-org-proj-x"),
        ("-edge-", "edge"),
    ],
)
def test_normalise_makes_lowercase_dns_labels(given_name: str, expected: str) -> None:
    assert naming.normalise(given_name) == expected


def test_long_name_is_cut_to_48_with_a_stable_hash() -> None:
    long = "org-" + "p" * 80 + "-workflow"
    name = naming.normalise(long)
    assert len(name) == MAX_APP_NAME == 48
    assert len("ovms-" + name) == 53
    assert re.fullmatch(r"org-p+-[0-9a-f]{8}", name)
    assert naming.normalise(long) == name


def test_long_names_with_a_common_prefix_stay_distinct() -> None:
    prefix = "a" * 70
    assert naming.normalise(prefix + "-one") != naming.normalise(prefix + "-two")


def test_stack_name_is_the_app_name() -> None:
    assert naming.stack_name("cifar10-ovms") == "cifar10-ovms"


@given(st.text(min_size=1, max_size=200).filter(lambda s: any(c.isascii() and c.isalnum() for c in s)))
def test_normalised_names_are_valid_idempotent_labels(text: str) -> None:
    name = naming.normalise(text)
    assert DNS_LABEL.fullmatch(name)
    assert len(name) <= MAX_APP_NAME
    assert naming.normalise(name) == name


@pytest.mark.parametrize(("given", "suggested"), [("My_App", "my-app"), ("cifar10 ovms", "cifar10-ovms")])
def test_an_explicit_app_name_is_refused_not_rewritten(tmp_path: Path, given: str, suggested: str) -> None:
    with pytest.raises(StepInputError) as raised:
        naming.app_name({"FUSEML_APP_NAME": given}, tmp_path)
    assert str(raised.value) == (
        f"FUSEML_APP_NAME: got {given!r}; allowed: lowercase letters, digits and '-', starting and ending "
        f"alphanumeric, at most 48 chars (e.g. {suggested!r})"
    )
