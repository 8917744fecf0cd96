"""The offline review contacts no host, plans what it can without a store, and treats missing secrets as
present; the README's review command passes on every shipped stack."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.sections import StorageConfig
from components.planning import store_detector
from kernel.credentials import SECRET_KEYS
from kernel.names import NAMESPACE
from offline.plan import ROOT, stacks
from offline.stackfile import placeholder
from policies.review import SECRET_MASK, main

#: Every placeholder the review may plan with; none may be shown as a value.
PLACEHOLDERS = [placeholder(f"{NAMESPACE}:{key}") for key in SECRET_KEYS]
PLACEHOLDER_MARK = "review placeholder"


@pytest.fixture
def contacts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every attempt to reach a host (connect or name lookup), refused and recorded."""
    attempts: list[Any] = []

    def refuse(*args: Any, **_: Any) -> Any:
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("the test refuses network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts


def write(root: Path, stack: str, document: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def review(root: Path, stack: str, out: Path) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["--stack", stack, "--root", str(root), "--out", str(out)], stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def stack_with(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "config": {
            f"{NAMESPACE}:storage": {"s3_endpoint": "http://store.example.com:9000"},
            f"{NAMESPACE}:istio": {"domain": "example.com"},
            f"{NAMESPACE}:fuseml": {"register": False},
            f"{NAMESPACE}:models": models,
        }
    }


AUTO_ON_KSERVE = {"app_name": "auto-kserve", "model": "s3://models/a", "backend": "kserve"}
FIXED = {"app_name": "fixed", "model": "s3://models/b", "backend": "kserve", "format": "onnx"}
#: OVMS reads the folder itself: `format: auto` needs no store read to plan it (components/planning.py).
AUTO_ON_OVMS = {"app_name": "auto-ovms", "model": "s3://models/c", "backend": "ovms"}


def test_the_contact_guard_sees_a_store_read(contacts: list[Any]) -> None:
    """The guard below is real: the program's own detector, given this stack's store, tries to reach it."""
    detect = store_detector(
        StorageConfig.model_validate({"s3_endpoint": "http://store.example.com:9000"}),
        {"aws_access_key_id": "id", "aws_secret_access_key": "key"},
    )
    with pytest.raises(Exception):  # noqa: B017 (whatever the store client makes of the refusal)
        detect("s3://models/a")
    assert contacts


def test_format_auto_is_left_out_and_listed_and_no_host_is_contacted(
    tmp_path: Path, contacts: list[Any]
) -> None:
    write(tmp_path / "root", "s", stack_with([AUTO_ON_KSERVE, FIXED, AUTO_ON_OVMS]))
    code, out, err = review(tmp_path / "root", "s", tmp_path / "out")
    assert code == 0, out + err
    assert contacts == []
    assert (
        f"not planned offline: {NAMESPACE}:models[0] (app 'auto-kserve', s3://models/a): format auto is read "
        "from its store at deploy time; set `format` to review it"
    ) in out
    objects = [yaml.safe_load(p.read_text()) for p in (tmp_path / "out" / "objects").glob("*.yaml")]
    names = {o["metadata"]["name"] for o in objects}
    # The two other models are planned: KServe's InferenceService `fixed` and OVMS's `ovms-auto-ovms`.
    assert {"fixed", "ovms-auto-ovms"} <= names
    assert not any("auto-kserve" in name for name in names)
    verdicts = json.loads((tmp_path / "out" / "verdicts.json").read_text())
    notes = [v["message"] for v in verdicts if v["policy"] == "offline-review"]
    assert any("auto-kserve" in note for note in notes)
    assert not any("auto-ovms" in note or "'fixed'" in note for note in notes)


def test_a_mistake_beside_an_auto_model_is_reported_and_the_auto_model_named(
    tmp_path: Path, contacts: list[Any]
) -> None:
    # A planning mistake (planning is where `format: auto` is read): a format OVMS does not serve.
    wrong = {"app_name": "wrong", "model": "s3://models/d", "backend": "ovms", "format": "sklearn"}
    write(tmp_path / "root", "s", stack_with([AUTO_ON_KSERVE, wrong]))
    code, _, err = review(tmp_path / "root", "s", tmp_path / "out")
    assert code == 2
    assert "models[1].format" in err
    assert "1 model(s) with format auto are not planned offline" in err
    assert "models[0]" not in err  # the model left out is no mistake of the stack
    assert contacts == []


def test_missing_secrets_are_assumed_and_never_shown(tmp_path: Path, contacts: list[Any]) -> None:
    write(tmp_path / "root", "s", stack_with([FIXED]))
    code, out, err = review(tmp_path / "root", "s", tmp_path / "out")
    assert code == 0, out + err
    assert (
        f"assumed set: {NAMESPACE}:aws_access_key_id, {NAMESPACE}:aws_secret_access_key (secrets the stack "
        "file does not hold" in out
    )
    assert_no_placeholder(out + err, tmp_path / "out")


def test_secrets_the_stack_holds_are_not_assumed(tmp_path: Path, contacts: list[Any]) -> None:
    document = stack_with([FIXED])
    for key in ("aws_access_key_id", "aws_secret_access_key"):
        document["config"][f"{NAMESPACE}:{key}"] = {"secure": f"AAABAciphertextOf{key}"}
    write(tmp_path / "root", "s", document)
    code, out, err = review(tmp_path / "root", "s", tmp_path / "out")
    assert code == 0, out + err
    assert "assumed set" not in out
    assert_no_placeholder(out + err, tmp_path / "out")
    assert "AAABAciphertext" not in out + everything(tmp_path / "out")


def everything(out: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(out.rglob("*")) if p.is_file())


def assert_no_placeholder(streams: str, out: Path) -> None:
    text = streams + everything(out)
    assert PLACEHOLDER_MARK not in text
    assert not [p for p in PLACEHOLDERS if p in text]


# --- the README's command on the shipped stacks -------------------------------------------------------------
SHIPPED = list(stacks(ROOT))


def test_there_are_shipped_stacks() -> None:
    assert {"dev", "tutorial"} <= set(SHIPPED)


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_readmes_review_command_passes_on_a_shipped_stack(stack: str, tmp_path: Path) -> None:
    """`.venv/bin/python -m policies.review --stack <stack>` (README, "Reviewing changes"), as a process."""
    out = tmp_path / "review-out"
    result = subprocess.run(
        [sys.executable, "-m", "policies.review", "--stack", stack, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=55,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"review PASSED: stack {stack}" in result.stdout
    assert_no_placeholder(result.stdout + result.stderr, out)
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    if "--secret fuseml-serving:aws_access_key_id" in text:
        # The S3 keys the stack's comment asks for were planned as present: their places show the mask.
        assert "assumed set: fuseml-serving:aws_access_key_id" in result.stdout
        objects = "\n".join(p.read_text() for p in (out / "objects").glob("*.yaml"))
        assert f"'{SECRET_MASK}'" in objects
