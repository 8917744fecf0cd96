"""The offline review (`python -m policies.review`): verdicts, exit codes, files written, no secret leaks."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.config import ConfigError
from offline.plan import ROOT, plan_stack_file
from policies.review import CREDENTIAL_MASK, SECRET_MASK, main
from tests.fixtures import bad_stack
from tests.stackfiles import CIPHERTEXTS, configured, shipped

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BAD_POLICIES = {policy for policy, _ in bad_stack.EXPECTED_VIOLATIONS}
BACKEND_POLICY = "serving-backend-maintained"
#: The advisory warnings each shipped stack (and the bad stack) is expected to show: every server on a
#: backend its upstream no longer develops (the OpenVINO operator, Seldon Core 1) gets one.
EXPECTED_WARNINGS = {
    "dev": {(BACKEND_POLICY, "cifar10-ovms-server")},
    "local": {(BACKEND_POLICY, "resnet50-ovms-server")},
    "tutorial": {(BACKEND_POLICY, "cifar10-ovms-server"), (BACKEND_POLICY, "cifar10-seldon-server")},
    "bad": {(BACKEND_POLICY, f"{bad_stack.APP}-server")},
}
#: Values a decrypted stack would hold; the review must never show them.
KNOWN_SECRETS = {
    "aws_access_key_id": "AKIAREVIEWKNOWNKEY01",
    "aws_secret_access_key": "known-Secret-Access-Key-Value-0042",
    "gcs_credentials": '{"private_key": "known-gcs-private-key-material"}',
}


@dataclasses.dataclass
class Run:
    """What one review printed, returned and wrote."""

    code: int
    stdout: str
    stderr: str
    out: Path

    def verdicts(self) -> list[dict[str, str]]:
        """The findings the review wrote to verdicts.json."""
        return json.loads((self.out / "verdicts.json").read_text())

    def violations(self) -> set[tuple[str, str]]:
        """(policy, resource) of every blocking or advisory finding (schema notes left out)."""
        return {(v["policy"], v["resource"]) for v in self.verdicts() if v["verdict"] in {"FAIL", "WARN"}}

    def failures(self) -> set[tuple[str, str]]:
        """(policy, resource) of every blocking finding."""
        return {(v["policy"], v["resource"]) for v in self.verdicts() if v["verdict"] == "FAIL"}

    def everything(self) -> str:
        """All text the review produced: streams and every written file."""
        files = (
            [p.read_text() for p in sorted(self.out.rglob("*")) if p.is_file()] if self.out.exists() else []
        )
        return "\n".join([self.stdout, self.stderr, *files])


def review(
    tmp_path: Path, *args: str, program: Callable[[], Mapping[str, Any]] | None = None, out: str = "out"
) -> Run:
    """Run the review in-process with its output folder under tmp_path."""
    stdout, stderr = io.StringIO(), io.StringIO()
    target = tmp_path / out
    code = main([*args, "--out", str(target)], program=program, stdout=stdout, stderr=stderr)
    return Run(code, stdout.getvalue(), stderr.getvalue(), target)


def review_bad(tmp_path: Path, *args: str) -> Run:
    """Review the deliberately bad stack of tests/fixtures."""
    return review(tmp_path, "--stack", "bad", "--root", str(FIXTURES), *args, program=bad_stack.program)


def write_stack(tmp_path: Path, name: str, document: dict[str, Any]) -> Path:
    """A Pulumi.<name>.yaml under tmp_path."""
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def repo_stack(name: str) -> dict[str, Any]:
    """One of the repository's stack files as a document to modify."""
    return yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())


def write_policy_config(tmp_path: Path, config: Any) -> Path:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    return path


# --- the repository's stacks -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", shipped())
def test_every_stack_file_passes_and_writes_its_objects(stack: str, tmp_path: Path) -> None:
    root = configured(stack, tmp_path / "root")
    run = review(tmp_path, "--stack", stack, "--root", str(root))
    assert run.code == 0, run.stdout + run.stderr
    assert "review PASSED" in run.stdout
    planned = plan_stack_file(stack, root)
    objects = [r for r in planned.resources if r.kubernetes_object]
    files = sorted((run.out / "objects").glob("*.yaml"))
    assert len(files) == len(objects) > 0
    parsed = [yaml.safe_load(f.read_text()) for f in files]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in parsed) == sorted(
        (r.inputs["kind"], r.inputs["metadata"]["name"]) for r in objects
    )
    tree = (run.out / "tree.txt").read_text()
    assert all(f"{r.name}  [{r.type}]" in tree for r in planned.resources)
    assert not run.failures()
    assert run.violations() == EXPECTED_WARNINGS[stack]


def test_accepted_backends_silence_the_shipped_stacks_warnings(tmp_path: Path) -> None:
    config = write_policy_config(tmp_path, {BACKEND_POLICY: {"accepted": ["ovms", "seldon"]}})
    root = configured("tutorial", tmp_path / "root")
    run = review(tmp_path, "--stack", "tutorial", "--root", str(root), "--config", str(config))
    assert run.code == 0
    assert run.violations() == set()


def test_stale_object_files_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "out" / "objects" / "modelserver-gone.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("kind: ModelServer\n")
    assert review(tmp_path, "--stack", "local").code == 0
    assert not stale.exists()


# --- the deliberately bad stack --------------------------------------------------------------------------


def test_bad_stack_fails_with_exactly_its_four_violations(tmp_path: Path) -> None:
    run = review_bad(tmp_path)
    assert run.code == 1
    assert run.failures() == bad_stack.EXPECTED_VIOLATIONS
    assert run.violations() == bad_stack.EXPECTED_VIOLATIONS | EXPECTED_WARNINGS["bad"]
    assert (
        {v["policy"] for v in run.verdicts() if v["verdict"] == "FAIL"}
        == BAD_POLICIES
        == {
            "serving-node-pools-intel",
            "images-pinned",
            "no-plaintext-credentials",
            "virtualservice-hosts-unique",
        }
    )
    rows = [line for line in run.stdout.splitlines() if "  FAIL  " in line]
    assert len(rows) == len(bad_stack.EXPECTED_VIOLATIONS)
    assert "review FAILED" in run.stdout.splitlines()[-2]
    tree = (run.out / "tree.txt").read_text()
    assert "gke-pool  [gcp:container/nodePool:NodePool]  <- FAIL serving-node-pools-intel" in tree


@pytest.mark.parametrize(
    ("policy_config", "code", "verdicts"),
    [
        ({"all": "advisory"}, 0, {"WARN"}),
        ({policy: "advisory" for policy in BAD_POLICIES}, 0, {"WARN"}),
        ({"images-pinned": "advisory"}, 1, {"FAIL", "WARN"}),
        ({"all": "advisory", "images-pinned": "remediate"}, 1, {"FAIL", "WARN"}),
        ({"all": "disabled"}, 0, set()),
    ],
)
def test_policy_config_changes_the_verdict(
    tmp_path: Path, policy_config: dict[str, Any], code: int, verdicts: set[str]
) -> None:
    run = review_bad(tmp_path, "--config", str(write_policy_config(tmp_path, policy_config)))
    assert run.code == code
    assert {v["verdict"] for v in run.verdicts()} == verdicts


def test_disabled_policy_is_not_reported(tmp_path: Path) -> None:
    run = review_bad(tmp_path, "--config", str(write_policy_config(tmp_path, {"images-pinned": "disabled"})))
    assert run.code == 1
    assert {policy for policy, _ in run.failures()} == BAD_POLICIES - {"images-pinned"}
    assert "(1 disabled)" in run.stdout


def misspelt_gateway() -> Mapping[str, Any]:
    """A Gateway that no policy minds but its CRD refuses (a misspelt spec key)."""
    k8s.apiextensions.CustomResource(
        "istio-gateway",
        api_version="networking.istio.io/v1beta1",
        kind="Gateway",
        metadata={"name": "ovms", "namespace": "fuseml-workloads"},
        spec={"selector": {"istio": "ingressgateway"}, "server": []},
    )
    return {}


def test_schema_problems_are_informational(tmp_path: Path) -> None:
    run = review(tmp_path, "--stack", "local", program=misspelt_gateway)
    assert run.code == 0
    (note,) = run.verdicts()
    assert (note["policy"], note["level"], note["verdict"], note["resource"]) == (
        "schema",
        "info",
        "NOTE",
        "istio-gateway",
    )
    assert "1 schema note(s)" in run.stdout


# --- the review cannot run: exit 2 -----------------------------------------------------------------------


def test_bad_stack_config_exits_2_and_registers_nothing(tmp_path: Path) -> None:
    document = repo_stack("local")
    document["config"]["fuseml-serving:models"][0]["nireq"] = 0
    write_stack(tmp_path, "broken", document)
    run = review(tmp_path, "--stack", "broken", "--root", str(tmp_path))
    assert run.code == 2
    assert "fuseml-serving:models[0].nireq" in run.stderr
    assert "(0 resource(s) registered)" in run.stderr
    assert run.stdout == ""
    assert not run.out.exists()


def half_registered() -> Mapping[str, Any]:
    """A program that registers one object, then refuses its config."""
    k8s.core.v1.Namespace("namespace", metadata={"name": "half"})
    raise ConfigError("models", [], "a non-empty list of model entries")


def test_config_error_after_registering_says_so_and_writes_nothing(tmp_path: Path) -> None:
    run = review(tmp_path, "--stack", "local", program=half_registered)
    assert run.code == 2
    assert "error: invalid stack config: fuseml-serving:models: got []" in run.stderr
    assert "(1 resource(s) registered)" in run.stderr
    assert not run.out.exists()


def crashing() -> Mapping[str, Any]:
    """A program that fails with a credential in its error message."""
    raise RuntimeError("cannot fetch https://ci:crash-Passw0rd-0001@models.example.com/index")


def test_program_failure_exits_2_without_quoting_credentials(tmp_path: Path) -> None:
    run = review(tmp_path, "--stack", "local", program=crashing)
    assert run.code == 2
    assert "error: the program failed: RuntimeError: cannot fetch" in run.stderr
    assert "crash-Passw0rd-0001" not in run.stderr + run.stdout
    assert not run.out.exists()


@pytest.mark.parametrize(
    ("policy_config", "message"),
    [
        ({"images-pinned": "sometimes"}, "enforcement level 'sometimes'"),
        ({"no-such-policy": "advisory"}, "unknown policies ['no-such-policy']"),
        ({"model-server-nireq-bounded": {"nireq_per_core": "four"}}, "must be of type integer"),
        (["advisory"], "must hold a JSON object"),
    ],
)
def test_invalid_policy_config_exits_2(tmp_path: Path, policy_config: Any, message: str) -> None:
    run = review_bad(tmp_path, "--config", str(write_policy_config(tmp_path, policy_config)))
    assert run.code == 2
    assert message in run.stderr
    assert not run.out.exists()


def test_unreadable_policy_config_exits_2(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    assert review_bad(tmp_path, "--config", str(tmp_path / "broken.json")).code == 2
    missing = review_bad(tmp_path, "--config", str(tmp_path / "missing.json"))
    assert missing.code == 2
    assert "cannot read policy config" in missing.stderr


def test_unknown_stack_and_bad_usage_exit_2(tmp_path: Path) -> None:
    unknown = review(tmp_path, "--stack", "nope")
    assert unknown.code == 2
    assert "no stack file" in unknown.stderr
    assert all(stack in unknown.stderr for stack in shipped())
    assert review(tmp_path, "--stak", "dev").code == 2
    assert not unknown.out.exists()


# --- secrets never reach the output ----------------------------------------------------------------------


PASSWORD = "Endpoint-Passw0rd-Never-Shown"


def program_with_a_password_in_the_endpoint() -> Mapping[str, Any]:
    """The real program with the known secrets and a password in storage.s3_endpoint: the config refuses
    one (fuseml-serving:storage.s3_endpoint), so it is put past the check, as a plain-text credential the
    policy and the review's masking must still catch."""
    from components.config import load
    from components.program import build

    cfg = load()
    endpoint = f"http://minio:{PASSWORD}@mlflow-minio.mlflow:9000"
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"s3_endpoint": endpoint})})
    secrets = {key: pulumi.Output.secret(value) for key, value in KNOWN_SECRETS.items()}
    return build(cfg.with_credentials(secrets))


def test_review_never_prints_or_writes_a_secret(tmp_path: Path) -> None:
    password = PASSWORD
    document = repo_stack("dev")
    config = document["config"]
    config["fuseml-serving:models"].append(
        {"app_name": "resnet50-ovms", "model": "gs://ovms-public-eu/resnet50", "format": "openvino"}
    )
    config["fuseml-serving:aws_access_key_id"] = {"secure": CIPHERTEXTS[0]}
    config["fuseml-serving:aws_secret_access_key"] = {"secure": CIPHERTEXTS[1]}
    config["fuseml-serving:gcs_credentials"] = {"secure": "AAABAReviewCiphertextGcs"}
    write_stack(tmp_path, "leaky", document)
    run = review(
        tmp_path, "--stack", "leaky", "--root", str(tmp_path), program=program_with_a_password_in_the_endpoint
    )
    # The plain-text password is found (so the masking path ran) ...
    assert run.code == 1
    assert run.failures() == {("no-plaintext-credentials", "cifar10-ovms-server")}
    # ... and neither it nor any secret value or ciphertext appears anywhere.
    text = run.everything()
    for value in (password, *KNOWN_SECRETS.values(), *CIPHERTEXTS, "known-gcs-private-key-material"):
        assert value not in text
    server = yaml.safe_load((run.out / "objects" / "modelserver-cifar10-ovms-server.yaml").read_text())
    repository = server["spec"]["models_repository"]
    assert repository["aws_secret_access_key"] == SECRET_MASK
    assert repository["s3_compat_api_endpoint"] == CREDENTIAL_MASK
    secret = yaml.safe_load((run.out / "objects" / "secret-gcs-credentials.yaml").read_text())
    assert secret["stringData"] == SECRET_MASK  # the SDK registers a Secret's payload as a Pulumi secret
    # A masked payload cannot be schema-checked, and is not reported as a problem either.
    assert not [v for v in run.verdicts() if v["policy"] == "schema"]


def leak_bait() -> Mapping[str, Any]:
    """Credentials where the credential rule allows them (Secret payload, inline S3 keys) or another rule
    quotes them."""
    k8s.core.v1.Secret("token", metadata={"name": "token"}, string_data={"token": "bait-token-in-plain-text"})
    k8s.apiextensions.CustomResource(
        "echo-server",
        api_version="intel.com/v1alpha1",
        kind="ModelServer",
        metadata={"name": "ovms-echo", "labels": {"fuseml/app-name": "echo"}},
        spec={
            "image_name": "openvino/model_server:2024.0",
            # Not JSON, so the plugin-config rule quotes it in full in its message.
            "models_settings": {"plugin_config": "https://admin:bait-Passw0rd@example.com/config"},
            # Plain text, not a Pulumi secret: the rule allows it inline (spec is a secret output).
            "models_repository": {"storage_type": "S3", "aws_secret_access_key": "bait-aws-secret-plain"},
        },
        opts=pulumi.ResourceOptions(additional_secret_outputs=["spec"]),
    )
    return {}


def test_credentials_quoted_by_other_rules_or_allowed_in_secrets_are_masked(tmp_path: Path) -> None:
    run = review(tmp_path, "--stack", "local", program=leak_bait)
    assert run.code == 1
    plugin_rows = [v for v in run.verdicts() if v["policy"] == "model-server-plugin-config"]
    assert plugin_rows and "plugin_config to '[redacted credential]'" in plugin_rows[0]["message"]
    text = run.everything()
    assert "bait-Passw0rd" not in text
    assert "bait-token-in-plain-text" not in text
    assert "bait-aws-secret-plain" not in text
    server = yaml.safe_load((run.out / "objects" / "modelserver-echo-server.yaml").read_text())
    assert server["spec"]["models_repository"]["aws_secret_access_key"] == CREDENTIAL_MASK


def test_a_missing_review_dependency_is_one_line_naming_what_to_install(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from policies.review import _require

    with pytest.raises(SystemExit) as raised:
        _require("jsonschema", "no_such_validator_module")
    assert raised.value.code == 2
    assert capsys.readouterr().err == (
        "error: the offline review needs no_such_validator_module, which requirements.txt does not install: "
        "run .venv/bin/pip install -r requirements-dev.txt\n"
    )
