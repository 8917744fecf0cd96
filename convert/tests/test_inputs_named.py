"""The converter's contract without OpenVINO: every error names the FUSEML_* input it is about, the result
file is checked before any work, and no exit says "nothing written" once a version is published."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from convert.__main__ import hand_back
from convert.run import Outcome
from kernel.errors import StepInputError

ONNX_MLMODEL = "flavors:\n  onnx:\n    data: model.onnx\n"


def one_error_line(result) -> str:
    (line,) = result.err.splitlines()
    return line


def onnx_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(ONNX_MLMODEL)
    (folder / "model.onnx").write_bytes(b"not read before the output is checked")
    return folder


def test_an_unreadable_input_store_names_fuseml_input_model(minio, convert):
    env = {**minio.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret-key", "FUSEML_INPUT_MODEL": "s3://m-in/m"}
    result = convert(env)
    assert result.code == 2
    line = one_error_line(result)
    # The store's own words follow (modelstore names the store and the reason: a wrong secret key here).
    assert line.startswith("error: FUSEML_INPUT_MODEL: s3://m-in") and "SignatureDoesNotMatch" in line
    assert "wrong-secret-key" not in result.err


def test_an_empty_local_input_names_fuseml_input_model(tmp_path, convert):
    result = convert({"FUSEML_INPUT_MODEL": str(tmp_path / "nothing-here")})
    assert result.code == 2
    assert one_error_line(result).startswith("error: FUSEML_INPUT_MODEL: ")


def test_an_unreadable_output_store_names_fuseml_output_model(tmp_path, minio, convert):
    bucket = f"no-such-{uuid.uuid4().hex[:8]}"
    env = {
        **minio.env(),
        "FUSEML_INPUT_MODEL": str(onnx_folder(tmp_path)),
        "FUSEML_OUTPUT_MODEL": f"s3://{bucket}/ovms",
    }
    result = convert(env)
    assert result.code == 2
    line = one_error_line(result)
    assert (
        line.startswith(f"error: FUSEML_OUTPUT_MODEL: s3://{bucket}") and "NoSuchBucket" in line
    )


@pytest.mark.parametrize("case", ["a file where the folder should be", "a folder named so"])
def test_a_result_file_that_cannot_be_written_is_refused_before_the_store_is_read(tmp_path, convert, case):
    results = tmp_path / "results"
    if case == "a file where the folder should be":
        results.write_text("not a folder")
    else:
        (results / "ovms-model-url").mkdir(parents=True)
    # The input does not exist: reading it first would report it, not the result file.
    env = {"FUSEML_INPUT_MODEL": str(tmp_path / "absent"), "FUSEML_SERVING_RESULTS_DIR": str(results)}
    result = convert(env)
    assert result.code == 2
    line = one_error_line(result)
    assert line.startswith(("error: TASK_RESULT: the result file", "error: FUSEML_SERVING_RESULTS_DIR: the"))
    assert "FUSEML_INPUT_MODEL" not in line


def test_a_result_that_cannot_be_written_after_publishing_is_exit_1_and_says_what_is_there(tmp_path):
    path = tmp_path / "ovms-model-url"
    path.mkdir()  # taken after the check, as a changed volume would
    published = Outcome("s3://b/m/ovms", 3, written=True)
    with pytest.raises(Exception) as caught:
        hand_back(path, published)
    assert caught.value.exit_code == 1
    assert "after the IR was published at s3://b/m/ovms/3" in str(caught.value)
    # With nothing published (a no-op rerun), "nothing written" is still true: bad input, exit 2.
    with pytest.raises(StepInputError):
        hand_back(path, Outcome("s3://b/m/ovms", 3, written=False))


def test_a_refused_value_is_echoed_as_given_not_folded() -> None:
    """A value is shown as the user wrote it: an upper- or lower-cased echo would be neither what was
    given nor safe to search a log for (and folds a pasted secret past a case-sensitive mask)."""
    from convert import inputs as convert_inputs
    from kernel.errors import StepInputError

    env = {
        "FUSEML_INPUT_MODEL": "s3://bucket/model",
        "FUSEML_PRECISION": "fp8-MiXeD",
        "FUSEML_INPUT_FORMAT": "PiCkLe",
        "FUSEML_OUTPUT_FORMAT": "TorchScript",
    }
    try:
        convert_inputs.read(env)
    except StepInputError as err:
        message = str(err)
    else:
        raise AssertionError("bad inputs were accepted")
    assert "FUSEML_PRECISION: got 'fp8-MiXeD'" in message
    assert "FUSEML_INPUT_FORMAT: got 'PiCkLe'" in message
    assert "FUSEML_OUTPUT_FORMAT: got 'TorchScript'" in message
