"""The program the step deploys, planned under Pulumi mocks from exactly the stack config the step sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from step import runner
from step.inputs import read

plan_module = pytest.importorskip(
    "offline.plan", reason="the core's mock planner (offline/plan.py) is not there"
)

MODEL_SERVER = "kubernetes:intel.com/v1alpha1:ModelServer"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1beta1:VirtualService"
APPLICATION = "pulumi-python:dynamic/fuseml:Application"
ACCESS_KEY, SECRET_KEY = "AKIASTEPTESTKEY00001", "step-s3cr3t-Never-Shown"
MODEL_URL = "s3://mlflow-artifacts/0/0123abcd/artifacts/model/ovms"


def step_env(**extra: str) -> dict[str, str]:
    return {
        "FUSEML_MODEL": MODEL_URL,
        "FUSEML_NIREQ": "4",
        "FUSEML_BATCH_SIZE": "auto",
        "FUSEML_RESOURCES": '{"requests": {"cpu": 1}}',
        "FUSEML_ENV_WORKFLOW_NAME": "mlflow-ovms-pulumi",
        "FUSEML_ENV_WORKFLOW_NAMESPACE": "fuseml-workloads",
        "FUSEML_SERVING_DOMAIN": "10.0.0.1.nip.io",
        "S3_ENDPOINT": "http://mlflow-minio.mlflow:9000",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "TASK_RESULT": "prediction-url",
        **extra,
    }


def plan_step(
    env: dict[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, dict[str, Any]]:
    """Plan `runner.program` with the engine-form config the CLI would hand it for this step's stack."""
    inputs = read(env, workdir)
    config = runner.stack_config(inputs.raw, inputs.secrets)
    exported: dict[str, Any] = {}
    # The program exports its outputs; capture them so the planner resolves them like stack outputs.
    monkeypatch.setattr(pulumi, "export", exported.__setitem__)

    def program() -> dict[str, Any]:
        runner.program()
        return exported

    result = plan_module.plan(
        {key: value.value for key, value in config.items()},
        stack=inputs.stack_name,
        secret_keys=[key for key, value in config.items() if value.secret],
        program=program,
    )
    return result, exported


def test_step_program_plans_one_server_route_and_application(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = tmp_path / ".fuseml"
    meta.mkdir()
    (meta / "_org").write_text("acme")
    (meta / "_project").write_text("cifar10")
    result, _ = plan_step(step_env(), tmp_path, monkeypatch)
    app = "acme-cifar10-mlflow-ovms-pulumi"
    url = f"http://{app}.ovms.10.0.0.1.nip.io/v1/models/default:predict"
    assert result.outputs["prediction_urls"] == {app: url} and result.outputs["prediction_url"] == url
    assert result.outputs["inference_urls"] == {
        app: url.replace("/v1/models/default:predict", "/v2/models/default/infer")
    }
    assert runner.prediction_url(result.outputs, app) == url
    (server,) = result.of_type(MODEL_SERVER)
    assert server.inputs["metadata"]["name"] == f"ovms-{app}"
    assert server.inputs["metadata"]["namespace"] == "fuseml-workloads"
    settings = server.inputs["spec"]["models_settings"]
    assert (settings["model_path"], settings["nireq"], settings["batch_size"]) == (MODEL_URL, 4, "auto")
    (route,) = result.of_type(VIRTUAL_SERVICE)
    assert route.inputs["spec"]["hosts"] == [f"{app}.ovms.10.0.0.1.nip.io"]
    (registration,) = result.of_type(APPLICATION)
    assert registration.inputs["workflow"] == "mlflow-ovms-pulumi"


def test_step_program_creates_no_cluster_and_installs_no_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = plan_step(step_env(FUSEML_APP_NAME="cifar10-ovms"), tmp_path, monkeypatch)
    types = {resource.type for resource in result.resources}
    assert "fuseml-serving:ovms:ModelServer" in types
    assert not any(t.startswith("gcp:") for t in types)
    assert "fuseml-serving:cluster:GkeCluster" not in types
    assert "fuseml-serving:operator:OvmsOperator" not in types
    assert "kubernetes:core/v1:Namespace" not in types


def test_step_credentials_stay_secret_in_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = plan_step(step_env(FUSEML_APP_NAME="cifar10-ovms"), tmp_path, monkeypatch)
    (server,) = result.of_type(MODEL_SERVER)
    assert ("spec", "models_repository", "aws_secret_access_key") in server.secret_paths
    for resource in result.resources:
        shown = repr(resource.masked_inputs())
        assert ACCESS_KEY not in shown and SECRET_KEY not in shown


def test_the_prepared_inline_program_plans_what_the_stacks_own_config_plans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step prepares its inputs once and deploys that; a Pulumi command run later on the same stack
    (its config, `runner.program`) must plan exactly the same objects, with the secrets still secret."""
    from step.inputs import prepare

    env = step_env(FUSEML_APP_NAME="resnet")
    by_config, _ = plan_step(env, tmp_path, monkeypatch)
    inputs = read(env, tmp_path)
    inline = runner.InlineProgram(prepare(inputs))
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", exported.__setitem__)

    def program() -> dict[str, Any]:
        inline()
        return exported

    by_prepared = plan_module.plan({}, stack=inputs.stack_name, program=program)
    assert by_prepared.outputs == by_config.outputs

    def shown(result: Any) -> list[tuple[str, str, Any]]:
        return sorted((r.type, r.name, r.masked_inputs()) for r in result.resources)

    assert shown(by_prepared) == shown(by_config)
    (server,) = by_prepared.of_type(MODEL_SERVER)
    repository = server.masked_inputs()["spec"]["models_repository"]
    assert repository["aws_secret_access_key"] == "[secret]"
    assert SECRET_KEY not in str(server.masked_inputs())
