"""The policy pack reviews a real `pulumi preview --policy-pack`, as the README tells a user to run it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from testbed.engine import ROOT, Engine
from tests.e2e import stacks

pytestmark = pytest.mark.timeout(600)

STACK = "reviewed"


def policy_pack(target: Path) -> Path:
    """policies/ as the CLI runs it, its virtualenv (PulumiPolicy.yaml: venv) being this interpreter's."""
    target.mkdir()
    for path in (ROOT / "policies").iterdir():
        if path.name not in ("venv", "__pycache__"):
            (target / path.name).symlink_to(path)
    (target / "venv").symlink_to(Path(sys.prefix))
    return target


def test_preview_with_the_policy_pack_reports_its_verdicts(
    engine: Engine, namespace: str, tmp_path: Path
) -> None:
    # A prod model with one replica: the advisory prod-model-server-replicas policy must speak up.
    model = {
        "app_name": "lonely",
        "model": "gs://ovms-public-eu/resnet50-binary",
        "format": "openvino",
        "replicas": 1,
    }
    stacks.new_stack(engine, STACK, stacks.settings(namespace, [model], environment="prod"))
    pack = policy_pack(tmp_path / "policies")
    result = engine.run("preview", "--stack", STACK, "--policy-pack", str(pack), check=False, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "fuseml-serving@v0.1.0 (local: " in output, output
    verdict = (
        "[advisory]  prod-model-server-replicas  (kubernetes:intel.com/v1alpha1:ModelServer: lonely-server)"
    )
    assert verdict in output, output
    assert "spec.deployment_parameters.replicas is 1; production needs at least 2" in output
