"""The step image and the example workflow, checked by reading them (no Docker engine or FuseML here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from step import inputs

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()
EXAMPLE = REPO / "examples" / "mlflow-ovms-pulumi.yaml"
EXTENSION = REPO / "examples" / "fuseml-serving-extension.yaml"
STEP_IMAGE = "ghcr.io/fuseml/fuseml-serving-step"
#: Pulumi SDK packages whose version pins a baked-in plugin: package -> (Dockerfile ARG, plugin name).
PLUGINS = {
    "pulumi-kubernetes": ("PULUMI_KUBERNETES_VERSION", "kubernetes"),
    "pulumi-gcp": ("PULUMI_GCP_VERSION", "gcp"),
}


def pins() -> dict[str, str]:
    path = REPO / "requirements.txt"
    if not path.exists():
        pytest.skip("requirements.txt is not there yet")
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", path.read_text(), re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in found}


def arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match, f"Dockerfile has no pinned ARG {name}"
    return match.group(1)


def test_cli_is_the_test_beds_and_at_or_above_the_pulumi_sdk_pin() -> None:
    from testbed import versions

    def release(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("."))

    cli, sdk = release(arg("PULUMI_VERSION")), release(pins()["pulumi"])
    assert arg("PULUMI_VERSION") == versions.pulumi()
    assert cli >= sdk and cli[0] == sdk[0]


def test_every_provider_sdk_has_its_plugin_baked_in_at_the_same_version() -> None:
    pinned = pins()
    providers = {name for name in pinned if name.startswith("pulumi-") and name != "pulumi-policy"}
    assert providers <= set(PLUGINS), f"no plugin pin for {sorted(providers - set(PLUGINS))}"
    for package, (arg_name, plugin) in PLUGINS.items():
        assert arg(arg_name) == pinned[package], package
        assert f'plugin install resource {plugin} "v${{{arg_name}}}"' in DOCKERFILE


def test_cli_download_is_checksum_verified() -> None:
    assert "pulumi-${PULUMI_VERSION}-checksums.txt" in DOCKERFILE
    assert "sha256sum -c -" in DOCKERFILE


def test_image_runs_the_step_as_a_non_root_user() -> None:
    assert DOCKERFILE.rstrip().endswith('ENTRYPOINT ["python", "-m", "step"]')
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert "pip install --no-cache-dir --disable-pip-version-check -r requirements.txt" in DOCKERFILE
    assert "PYTHONSAFEPATH=1" in DOCKERFILE and "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true" in DOCKERFILE


def test_dockerignore_keeps_the_program_and_drops_local_stacks() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip()[:1] not in ("", "#")
    ]
    assert "Pulumi.*.yaml" in patterns
    for needed in ("step", "components", "fuseml", "requirements.txt", "__main__.py", "Pulumi.yaml"):
        assert needed not in patterns


def example_step() -> dict[str, Any]:
    workflow = yaml.safe_load(EXAMPLE.read_text())
    (step,) = [s for s in workflow["steps"] if s["image"].startswith(STEP_IMAGE)]
    return step


def test_example_uses_the_step_image_in_place_of_ovms_predictor() -> None:
    workflow = yaml.safe_load(EXAMPLE.read_text())
    images = [s["image"] for s in workflow["steps"]]
    assert not any("ovms-predictor" in image for image in images)
    step = example_step()
    assert [o["name"] for o in step["outputs"]] == [o["name"] for o in workflow["outputs"]]
    extensions = {e["name"] for e in step["extensions"]}
    assert {"mlflow-store", "fuseml-serving"} <= extensions


def test_example_inputs_are_step_inputs_and_validate(tmp_path: Path) -> None:
    """Build the environment FuseML would give the example step, and run the step's own input checks on it."""
    step = example_step()
    known = {"app_name", "verbose", *inputs.MODEL_KEYS}
    env = {}
    for item in step["inputs"]:
        assert item["name"] in known, item["name"]
        value = str(item["value"]).lower() if isinstance(item["value"], bool) else str(item["value"])
        env[f"FUSEML_{item['name'].upper()}"] = value
    env["FUSEML_MODEL"] = "s3://mlflow-artifacts/0/0123abcd/artifacts/model/ovms"
    extension = yaml.safe_load(EXTENSION.read_text())
    (service,) = extension["services"]
    env.update(service["endpoints"][0]["configuration"])
    env.update(service["credentials"][0]["configuration"])
    env.update(
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
        MLFLOW_S3_ENDPOINT_URL="http://mlflow-minio.mlflow:9000",
        FUSEML_ENV_WORKFLOW_NAME=yaml.safe_load(EXAMPLE.read_text())["name"],
        FUSEML_ENV_WORKFLOW_NAMESPACE="fuseml-workloads",
        TASK_RESULT=step["outputs"][0]["name"],
    )
    env.update({e["name"]: str(e["value"]) for e in step.get("env", []) if "{{" not in str(e["value"])})
    assert {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "FUSEML_SERVING_DOMAIN"} <= set(env)
    cfg = inputs.validate(inputs.read(env, tmp_path))
    (model,) = cfg.models
    assert (model.app_name, model.batch_size) == ("cifar10-ovms", "auto")
    assert model.requests["cpu"] == "1"
