"""What the step hands back and prints: the result file, the prediction URL choice, secret redaction."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from pulumi import automation as auto

from kernel.errors import DeployError
from kernel.redact import MASK, Redactor
from step.runner import Console, prediction_url, write_result

URL = "http://cifar10-ovms.ovms.10.0.0.1.nip.io/v1/models/default:predict"


def test_result_file_has_no_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "results" / "prediction-url"
    write_result(path, URL)
    assert path.read_bytes() == URL.encode()


def test_result_file_is_overwritten_not_appended(tmp_path: Path) -> None:
    path = tmp_path / "prediction-url"
    write_result(path, "http://old")
    write_result(path, URL)
    assert path.read_text() == URL


def test_prediction_url_prefers_the_apps_entry() -> None:
    outputs = {
        "prediction_urls": auto.OutputValue({"other": "http://other", "cifar10-ovms": URL}, False),
        "prediction_url": auto.OutputValue("http://wrong", False),
    }
    assert prediction_url(outputs, "cifar10-ovms") == URL


def test_prediction_url_falls_back_to_the_single_url() -> None:
    assert prediction_url({"prediction_url": auto.OutputValue(URL, False)}, "cifar10-ovms") == URL


def test_missing_prediction_url_is_a_deploy_error() -> None:
    with pytest.raises(DeployError, match="no prediction URL for 'cifar10-ovms'"):
        prediction_url({}, "cifar10-ovms")


def test_redactor_masks_values_and_their_base64() -> None:
    redact = Redactor(["wJalrXUtnFEMIexamplesecret", ""])
    line = 'secret key wJalrXUtnFEMIexamplesecret, data: "d0phbHJYVXRuRkVNSWV4YW1wbGVzZWNyZXQ="'
    assert redact(line) == f'secret key {MASK}, data: "{MASK}"'


def test_redactor_masks_longest_first() -> None:
    redact = Redactor(["abc", "abcdef"])
    assert redact("x abcdef y abc") == f"x {MASK} y {MASK}"


def test_redactor_masks_each_line_of_a_multiline_secret() -> None:
    redact = Redactor(['{\n  "private_key": "-----BEGIN KEY-----MIIEv"\n}'])
    assert "MIIEv" not in redact('  "private_key": "-----BEGIN KEY-----MIIEv"')


def test_redactor_from_env_covers_keys_passphrase_and_tokens() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
        "PULUMI_CONFIG_PASSPHRASE": "correct horse",
        "PULUMI_ACCESS_TOKEN": "pul-123456",
        "HOME": "/home/step",
    }
    redact = Redactor.from_env(env, extra=["file-passphrase"])
    line = "AKIAEXAMPLEKEY s3cr3t-value correct horse pul-123456 file-passphrase /home/step"
    assert redact(line) == f"{MASK} {MASK} {MASK} {MASK} {MASK} /home/step"


def test_console_prints_every_line_through_the_redactor() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(Redactor(["hunter22"]), out, err)
    console.info("+ spec: aws_secret_access_key: hunter22\n  done")
    console.error("error: bad key hunter22")
    assert out.getvalue() == f"+ spec: aws_secret_access_key: {MASK}\n  done\n"
    assert err.getvalue() == f"error: bad key {MASK}\n"


def _unwritable_results(tmp_path: Path, case: str) -> Path:
    """A results folder the step cannot write into, in each way Tekton's could be wrong."""
    if case == "read-only folder":
        folder = tmp_path / "results"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    if case == "a file where the folder should be":
        (tmp_path / "results").write_text("not a folder")
        return tmp_path / "results" / "deeper"
    folder = tmp_path / "results"
    (folder / "prediction-url").mkdir(parents=True)  # the result name is taken by a folder
    return folder


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            "read-only folder",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders"),
        ),
        "a file where the folder should be",
        "a folder named so",
    ],
)
def test_an_unwritable_result_file_is_refused_before_anything_is_deployed(tmp_path: Path, case: str) -> None:
    from step.__main__ import main
    from step.runner import Boundary

    results = _unwritable_results(tmp_path, case)

    def no_deploy(*args: object) -> None:
        raise AssertionError("nothing may be deployed")

    env = {
        "FUSEML_APP_NAME": "cifar10-ovms",
        "FUSEML_MODEL": "s3://mlflow/1/run/artifacts/model",
        "FUSEML_FORMAT": "onnx",
        "FUSEML_SERVING_DOMAIN": "10.0.0.1.nip.io",
        "TASK_RESULT": "prediction-url",
        "FUSEML_SERVING_RESULTS_DIR": str(results),
        "PULUMI_BACKEND_URL": "file:///nonexistent",
        "PULUMI_CONFIG_PASSPHRASE": "a-passphrase-of-this-test",
    }
    out, err = io.StringIO(), io.StringIO()
    code = main(env, tmp_path, Boundary(which=no_deploy, factory=no_deploy), out, err)
    assert code == 2
    (line,) = err.getvalue().splitlines()
    assert line.startswith(("error: TASK_RESULT: the result file", "error: FUSEML_SERVING_RESULTS_DIR: the"))
    assert str(results) in line and out.getvalue() == ""


def test_a_writable_result_file_passes_and_nothing_is_created(tmp_path: Path) -> None:
    from kernel.results import check_result_file

    path = tmp_path / "not-yet" / "results" / "prediction-url"
    check_result_file(path)
    assert not (tmp_path / "not-yet").exists()
    path.parent.mkdir(parents=True)
    path.write_text("old")
    check_result_file(path)
