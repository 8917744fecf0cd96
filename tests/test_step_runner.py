"""The Automation API boundary: what the step asks of Pulumi, lock waiting, and every failure's exit code.

Stack operations need the Pulumi CLI, which this machine does not have; they are checked through a
recording stack factory injected at the boundary. The recorder never reports a successful update: its
`up` fails like the CLI does, so no test here passes on a deploy that did not happen.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from kernel.errors import DeployError, StepSetupError
from kernel.redact import MASK
from step import runner
from step.__main__ import main
from step.runner import Boundary

REPO = Path(__file__).resolve().parents[1]
MODEL_URL = "s3://mlflow-artifacts/0/0123abcd/artifacts/model/ovms"
ACCESS_KEY, SECRET_KEY, PASSPHRASE = "AKIAEXAMPLEKEY", "wJalrXUtnFEMIexamplesecret", "correct horse battery"
BACKEND = (
    "s3://mlflow-artifacts/pulumi?endpoint=mlflow-minio.mlflow:9000&s3ForcePathStyle=true&region=us-east-1"
)
LOCK_STDERR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or "
    "delete the lock file with `pulumi cancel`.\n"
    "  s3://mlflow-artifacts/pulumi/.pulumi/locks/organization/fuseml-serving/cifar10-ovms/4b1e.json: "
    "created by step@ovms-run-1 (pid 12) at 2024-05-01T10:00:00Z"
)


def step_env(results: Path, **extra: str) -> dict[str, str]:
    env = {
        "FUSEML_APP_NAME": "cifar10-ovms",
        "FUSEML_MODEL": MODEL_URL,
        "FUSEML_NIREQ": "4",
        "FUSEML_ENV_WORKFLOW_NAME": "mlflow-ovms-pulumi",
        "FUSEML_ENV_WORKFLOW_NAMESPACE": "fuseml-workloads",
        "FUSEML_SERVING_DOMAIN": "10.0.0.1.nip.io",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "TASK_RESULT": "prediction-url",
        "FUSEML_SERVING_RESULTS_DIR": str(results),
        "PULUMI_BACKEND_URL": BACKEND,
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
    }
    env.update(extra)
    return env


def cli_error(stderr: str, cls: type[auto.CommandError] = auto.CommandError) -> auto.CommandError:
    return cls(auto.CommandResult(stdout="", stderr=stderr, code=255))


class RecordingStack:
    """Records what the step gives the stack; `up` raises the queued CLI errors, then a plain CLI failure."""

    def __init__(self, name: str, up_errors: list[Exception]) -> None:
        self.name = name
        self.config: dict[str, auto.ConfigValue] = {}
        self.up_calls: list[dict[str, Any]] = []
        self._errors = up_errors

    def set_all_config(self, config: dict[str, auto.ConfigValue], *, path: bool = False) -> None:
        self.config.update(config)

    def up(self, **kwargs: Any) -> Any:
        self.up_calls.append(kwargs)
        if self._errors:
            raise self._errors.pop(0)
        raise cli_error("error: update failed: the recording stack deploys nothing")


class Recorder:
    """A stack factory plus a fake clock: records opens, sleeps advance time instead of waiting."""

    def __init__(self, up_errors: list[Exception] | None = None) -> None:
        self.opened: list[tuple[str, Callable[[], None], auto.LocalWorkspaceOptions]] = []
        self.stacks: list[RecordingStack] = []
        self.sleeps: list[float] = []
        self.now = 0.0
        self._up_errors = up_errors or []

    def factory(self, name: str, fn: Callable[[], None], opts: auto.LocalWorkspaceOptions) -> RecordingStack:
        self.opened.append((name, fn, opts))
        self.stacks.append(RecordingStack(name, self._up_errors))
        return self.stacks[-1]

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def boundary(self, cli: bool = True) -> Boundary:
        return Boundary(
            which=lambda _: "/opt/pulumi/pulumi" if cli else None,
            factory=self.factory,
            sleep=self.sleep,
            clock=lambda: self.now,
        )


def run(env: dict[str, str], recorder: Recorder, workdir: Path, cli: bool = True) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(env, workdir, recorder.boundary(cli), out, err)
    return code, out.getvalue(), err.getvalue()


def test_stack_is_opened_per_app_with_the_inline_core_program(tmp_path: Path) -> None:
    recorder = Recorder()
    code, _, err = run(step_env(tmp_path), recorder, tmp_path)
    assert code == 1
    assert err.strip() == (
        "error: pulumi up failed for stack 'cifar10-ovms': update failed: the recording stack deploys nothing"
    )
    ((name, fn, opts),) = recorder.opened
    assert name == "cifar10-ovms"
    # The inline program is the core's, run on the stack the step prepared once from its inputs.
    assert isinstance(fn, runner.InlineProgram)
    assert [m.app_name for m in fn.prepared.cfg.models] == ["cifar10-ovms"]
    assert fn.prepared.owner == "fuseml-serving/cifar10-ovms"
    assert opts.secrets_provider == "passphrase"
    assert opts.env_vars == {
        "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    assert not (tmp_path / "prediction-url").exists()


def test_stack_config_is_the_mapped_raw_config_with_secrets_flagged(tmp_path: Path) -> None:
    recorder = Recorder()
    run(step_env(tmp_path), recorder, tmp_path)
    config = recorder.stacks[0].config
    plain = {k: v.value for k, v in config.items() if not v.secret}
    secret = {k: v.value for k, v in config.items() if v.secret}
    assert secret == {
        "fuseml-serving:aws_access_key_id": ACCESS_KEY,
        "fuseml-serving:aws_secret_access_key": SECRET_KEY,
    }
    assert json.loads(plain["fuseml-serving:models"]) == [
        {"app_name": "cifar10-ovms", "model": MODEL_URL, "nireq": "4"}
    ]
    assert json.loads(plain["fuseml-serving:cluster"]) == {"mode": "existing"}
    assert json.loads(plain["fuseml-serving:operator"]) == {"install": False}
    assert plain["fuseml-serving:namespace"] == "fuseml-workloads"
    assert not any(s in v for v in plain.values() for s in (ACCESS_KEY, SECRET_KEY))


def test_up_is_uncoloured_and_records_history(tmp_path: Path) -> None:
    recorder = Recorder()
    run(step_env(tmp_path), recorder, tmp_path)
    (kwargs,) = recorder.stacks[0].up_calls
    assert kwargs["color"] == "never"
    assert kwargs["show_secrets"] is False
    assert kwargs["message"] == "FuseML workflow mlflow-ovms-pulumi: application cifar10-ovms"
    assert "diff" not in kwargs and "log_verbosity" not in kwargs


def test_engine_lines_are_printed_redacted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    code = main(step_env(tmp_path), tmp_path, recorder.boundary())
    kwargs = recorder.stacks[0].up_calls[0]
    kwargs["on_output"](f"+ aws_secret_access_key: {SECRET_KEY}; passphrase {PASSPHRASE}")
    kwargs["on_error"](f"warning: key {ACCESS_KEY}")
    captured = capsys.readouterr()
    assert code == 1
    assert f"+ aws_secret_access_key: {MASK}; passphrase {MASK}" in captured.out
    assert f"warning: key {MASK}" in captured.err
    assert not any(s in captured.out + captured.err for s in (ACCESS_KEY, SECRET_KEY, PASSPHRASE))


def test_verbose_adds_diff_and_engine_logs_but_no_secret(tmp_path: Path) -> None:
    recorder = Recorder()
    _, out, _ = run(step_env(tmp_path, FUSEML_VERBOSE="true"), recorder, tmp_path)
    kwargs = recorder.stacks[0].up_calls[0]
    assert (kwargs["diff"], kwargs["log_verbosity"], kwargs["log_to_std_err"]) == (True, 3, True)
    assert "stack cifar10-ovms in s3://mlflow-artifacts/pulumi" in out
    assert ACCESS_KEY not in out and SECRET_KEY not in out


def test_a_locked_stack_is_retried_with_backoff(tmp_path: Path) -> None:
    locked = [cli_error(LOCK_STDERR, auto.ConcurrentUpdateError) for _ in range(3)]
    recorder = Recorder(locked)
    code, out, err = run(step_env(tmp_path), recorder, tmp_path)
    assert len(recorder.stacks[0].up_calls) == 4
    assert recorder.sleeps == [2, 4, 8]
    assert out.count("stack cifar10-ovms is locked by another update; retrying in") == 3
    assert code == 1 and "update failed" in err


def test_a_lock_held_past_the_timeout_is_reported_with_how_to_clear_it(tmp_path: Path) -> None:
    locked = [cli_error(LOCK_STDERR, auto.ConcurrentUpdateError) for _ in range(100)]
    recorder = Recorder(locked)
    code, _, err = run(step_env(tmp_path, FUSEML_SERVING_LOCK_TIMEOUT_S="60"), recorder, tmp_path)
    assert code == 1
    assert sum(recorder.sleeps) == 60
    assert max(recorder.sleeps) <= runner.MAX_BACKOFF_S
    assert err.count("\n") == 1
    assert err.startswith("error: stack 'cifar10-ovms' is still locked after 60s")
    assert "created by step@ovms-run-1 (pid 12)" in err
    assert "pulumi cancel --stack cifar10-ovms" in err
    assert ".pulumi/locks/organization/fuseml-serving/cifar10-ovms/" in err


def test_zero_lock_timeout_fails_at_once(tmp_path: Path) -> None:
    recorder = Recorder([cli_error(LOCK_STDERR, auto.ConcurrentUpdateError)])
    code, _, err = run(step_env(tmp_path, FUSEML_SERVING_LOCK_TIMEOUT_S="0"), recorder, tmp_path)
    assert (code, recorder.sleeps) == (1, [])
    assert "still locked after 0s" in err


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("PULUMI_BACKEND_URL", "error: PULUMI_BACKEND_URL is not set"),
        (
            "PULUMI_CONFIG_PASSPHRASE",
            "error: PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is not set",
        ),
    ],
)
def test_missing_backend_or_passphrase_is_a_setup_error(tmp_path: Path, unset: str, message: str) -> None:
    env = step_env(tmp_path)
    del env[unset]
    recorder = Recorder()
    code, _, err = run(env, recorder, tmp_path)
    assert (code, recorder.opened) == (2, [])
    assert err.startswith(message) and err.count("\n") == 1


def test_passphrase_file_is_accepted_and_masked(tmp_path: Path) -> None:
    secret_file = tmp_path / "passphrase"
    secret_file.write_text("from-a-file-passphrase\n")
    env = step_env(tmp_path, PULUMI_CONFIG_PASSPHRASE_FILE=str(secret_file))
    del env["PULUMI_CONFIG_PASSPHRASE"]
    recorder = Recorder()
    out, err = io.StringIO(), io.StringIO()
    assert main(env, tmp_path, recorder.boundary(), out, err) == 1
    assert recorder.opened[0][2].secrets_provider == "passphrase"
    recorder.stacks[0].up_calls[0]["on_error"]("decrypting with from-a-file-passphrase")
    assert err.getvalue().endswith(f"decrypting with {MASK}\n")


def test_unreadable_passphrase_file_is_a_setup_error(tmp_path: Path) -> None:
    env = step_env(tmp_path, PULUMI_CONFIG_PASSPHRASE_FILE=str(tmp_path / "missing"))
    del env["PULUMI_CONFIG_PASSPHRASE"]
    code, _, err = run(env, Recorder(), tmp_path)
    assert code == 2 and "PULUMI_CONFIG_PASSPHRASE_FILE=" in err


def test_a_service_backend_needs_no_passphrase(tmp_path: Path) -> None:
    env = step_env(tmp_path, PULUMI_BACKEND_URL="https://api.pulumi.com")
    del env["PULUMI_CONFIG_PASSPHRASE"]
    recorder = Recorder()
    run(env, recorder, tmp_path)
    assert recorder.opened[0][2].secrets_provider is None


def test_missing_cli_is_one_line_and_exit_2(tmp_path: Path) -> None:
    recorder = Recorder()
    code, out, err = run(step_env(tmp_path), recorder, tmp_path, cli=False)
    assert (code, recorder.opened, out) == (2, [], "")
    assert err == (
        "error: the Pulumi CLI is not installed or not on PATH: run this step in its image, which bakes in a "
        "pinned CLI and provider plugins\n"
    )


def test_bad_input_is_reported_before_the_missing_cli(tmp_path: Path) -> None:
    code, _, err = run(step_env(tmp_path, FUSEML_NIREQ="four"), Recorder(), tmp_path, cli=False)
    assert code == 2
    assert err.startswith("error: fuseml-serving:models[0].nireq (app 'cifar10-ovms'): got 'four'")
    assert "Pulumi CLI" not in err


def test_bad_step_input_exits_2_without_opening_a_stack(tmp_path: Path) -> None:
    recorder = Recorder()
    code, _, err = run(step_env(tmp_path, FUSEML_VERBOSE="sometimes"), recorder, tmp_path)
    assert (code, recorder.opened) == (2, [])
    assert err == "error: FUSEML_VERBOSE: got 'sometimes'; allowed: true or false\n"


def test_real_automation_api_without_cli_is_a_setup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StepSetupError, match="the Pulumi CLI cannot be run"):
        runner.open_stack(_inputs(tmp_path), runner.Backend(BACKEND, PASSPHRASE), runner.default_factory)


def test_python_m_step_without_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {**step_env(tmp_path), "PATH": str(empty_bin), "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "step"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: the Pulumi CLI is not installed or not on PATH")
    assert not (tmp_path / "prediction-url").exists()


@pytest.mark.parametrize(
    ("stderr", "kind", "text"),
    [
        (
            "error: could not load plugin for kubernetes provider 'default': no resource plugin "
            "'pulumi-resource-kubernetes' found in the workspace at version v4.34.2",
            StepSetupError,
            "a Pulumi provider plugin is missing: could not load plugin",
        ),
        (
            "error: getting secrets manager: incorrect passphrase",
            StepSetupError,
            "ctx: getting secrets manager",
        ),
        (
            "error: 1 error occurred:\n  * the Kubernetes API server refused",
            DeployError,
            "ctx: 1 error occurred:",
        ),
    ],
)
def test_cli_failures_are_classified(stderr: str, kind: type[Exception], text: str) -> None:
    err = runner.classify(cli_error(stderr), "ctx")
    assert type(err) is kind
    assert str(err).startswith(text)
    assert "\n" not in str(err)


def _inputs(tmp_path: Path) -> Any:
    from step.inputs import read

    return read(step_env(tmp_path), tmp_path)


@pytest.mark.parametrize(
    ("error", "stderr"),
    [
        (auto.StackAlreadyExistsError, "error: stack 'organization/fuseml-serving/app' already exists"),
        (
            auto.ConcurrentUpdateError,
            "error: could not create stack: the stack is currently locked by 1 lock(s).",
        ),
    ],
)
def test_a_first_run_racing_its_twin_selects_the_stack_the_twin_created(
    monkeypatch: pytest.MonkeyPatch, error: type[auto.CommandError], stderr: str
) -> None:
    # The SDK's create-or-select selects, finds nothing, then creates: the twin created it in between.
    def create_or_select(**_kwargs: Any) -> Any:
        raise cli_error(stderr, error)

    selected: list[str] = []
    monkeypatch.setattr(auto, "create_or_select_stack", create_or_select)
    monkeypatch.setattr(
        auto, "select_stack", lambda **kwargs: selected.append(kwargs["stack_name"]) or "stack"
    )
    assert runner.default_factory("app", lambda: None, auto.LocalWorkspaceOptions()) == "stack"
    assert selected == ["app"]
