"""The converter on a real S3 server (MinIO on 127.0.0.1), and each bad input: one line, exit 2, no writes."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
import torch

from convert.tests import models


def upload(minio, bucket: str, prefix: str, folder: Path) -> None:
    client = minio.client()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def keys(minio, bucket: str) -> list[str]:
    pages = minio.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


@pytest.fixture
def bucket(minio) -> str:
    return minio.make_bucket(f"mlflow-{uuid.uuid4().hex[:8]}")


def test_s3_source_to_s3_output_in_the_ovms_layout_then_a_noop_rerun(tmp_path, minio, bucket, convert):
    module = models.net()
    upload(minio, bucket, "0/run/artifacts/model", models.mlflow_onnx(tmp_path / "model", module))
    env = {
        **minio.env(),
        "FUSEML_INPUT_MODEL": f"s3://{bucket}/0/run/artifacts/model",
        "FUSEML_PRECISION": "FP32",
    }
    result = convert(env)
    assert result.code == 0, result.err
    ovms = "0/run/artifacts/model/ovms"
    # No staging prefix is left behind, only the version folder OVMS loads.
    assert [k for k in keys(minio, bucket) if k.startswith(ovms)] == [
        f"{ovms}/1/fuseml-convert.json",
        f"{ovms}/1/model.bin",
        f"{ovms}/1/model.xml",
    ]
    assert (tmp_path / "results" / "ovms-model-url").read_text() == f"s3://{bucket}/{ovms}"
    target = tmp_path / "check"
    target.mkdir()
    for name in ("model.xml", "model.bin"):
        minio.client().download_file(bucket, f"{ovms}/1/{name}", str(target / name))
    x = np.ones((2, 1, 8, 8), np.float32)
    compiled = ov.Core().compile_model(str(target / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(compiled({0: x})[0], models.torch_out(module, x), atol=1e-5)
    before = {o["Key"]: o["LastModified"] for o in minio.client().list_objects_v2(Bucket=bucket)["Contents"]}
    again = convert(env)
    assert again.code == 0 and "nothing written" in again.out
    after = {o["Key"]: o["LastModified"] for o in minio.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert after == before
    # Credentials never reach the log.
    assert minio.secret_key not in result.out + result.err + again.out + again.err


def one_error_line(result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_an_unreadable_store_is_one_line_exit_2(minio, bucket, convert):
    env = {
        **minio.env(),
        "AWS_SECRET_ACCESS_KEY": "wrong-secret-key",
        "FUSEML_INPUT_MODEL": f"s3://{bucket}/m",
    }
    result = convert(env)
    assert result.code == 2
    line = one_error_line(result)
    assert "SignatureDoesNotMatch" in line and "AWS_SECRET_ACCESS_KEY" in line
    assert "wrong-secret-key" not in result.err
    missing = convert({**minio.env(), "FUSEML_INPUT_MODEL": "s3://no-such-bucket/m"})
    assert missing.code == 2 and "NoSuchBucket" in one_error_line(missing)
    unreachable = convert(
        {**minio.env(), "S3_ENDPOINT": "http://127.0.0.1:1", "FUSEML_INPUT_MODEL": "s3://b0/m"}
    )
    assert unreachable.code == 2 and "cannot be reached" in one_error_line(unreachable)
    assert keys(minio, bucket) == []


def test_sklearn_has_no_ir_and_the_error_names_the_backend(tmp_path, convert):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"\x80\x04N.")
    (folder / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.pkl\n    sklearn_version: 1.9.1\n"
        "  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n"
    )
    result = convert({"FUSEML_INPUT_MODEL": str(folder)})
    assert result.code == 2
    line = one_error_line(result)
    assert "scikit-learn models have no OpenVINO IR" in line and "kserve" in line
    assert not (folder / "ovms").exists()


def test_a_shape_that_does_not_fit_is_one_line_and_nothing_is_written(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    fixed = models.mlflow_onnx(tmp_path / "fixed", models.net(), dynamic=False)
    linear = models.mlflow_onnx(tmp_path / "linear", torch.nn.Linear(64, 10), shape=(1, 64), dynamic=False)
    cases = (
        # Shape inference passes, but a 16x16 image would come out as four rows (Flatten is a Reshape
        # to [-1, 512]), for a dynamic and for a static batch.
        (src, "[1,1,16,16]", "does not fit the model: output 'y' gets [4,10], a batch of 4"),
        (fixed, "[1,1,16,16]", "does not fit the model: output 'y' gets [4,10], a batch of 4"),
        # 32 features into a 64-feature MatMul: shape inference itself refuses.
        (linear, "[1,32]", "does not fit the model:"),
        (src, "[1,8,8]", "(rank)"),
    )
    for folder, shape, expected in cases:
        result = convert({"FUSEML_INPUT_MODEL": str(folder), "FUSEML_SHAPE": shape})
        assert result.code == 2
        line = one_error_line(result)
        assert line.startswith("error: FUSEML_SHAPE:") and expected in line
    assert not (fixed / "ovms").exists() and not (linear / "ovms").exists()
    named = convert({"FUSEML_INPUT_MODEL": str(src), "FUSEML_SHAPE": '{"image": [1,1,8,8]}'})
    assert named.code == 2 and "no input 'image'; its inputs: x" in one_error_line(named)
    assert not (src / "ovms").exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "FUSEML_INPUT_MODEL: required"),
        ({"FUSEML_INPUT_MODEL": "azure://c/m"}, "FUSEML_INPUT_MODEL: 'azure://c/m' is not a model store URL"),
        ({"FUSEML_PRECISION": "INT4"}, "FUSEML_PRECISION: got 'INT4'; allowed: FP32, FP16, INT8"),
        ({"FUSEML_PRECISION": "INT8"}, "FUSEML_CALIBRATION_DATA: required for FUSEML_PRECISION=INT8"),
        ({"FUSEML_INPUT_FORMAT": "caffe"}, "FUSEML_INPUT_FORMAT: got 'caffe'; allowed: auto, openvino"),
        ({"FUSEML_OUTPUT_FORMAT": "onnx"}, "FUSEML_OUTPUT_FORMAT: got 'onnx'; allowed: openvino"),
        ({"FUSEML_BATCH": "0"}, "FUSEML_BATCH: got '0'; allowed: a whole number >= 1"),
        ({"FUSEML_BATCH": "2", "FUSEML_SHAPE": "[2,1,8,8]"}, "FUSEML_BATCH and FUSEML_SHAPE are both set"),
        ({"FUSEML_SHAPE": "[1,x]"}, "FUSEML_SHAPE: got '[1,x]'"),
        ({"FUSEML_LAYOUT": "NC-HW"}, "FUSEML_LAYOUT: got 'NC-HW'"),
        ({"FUSEML_EXTRA_ARGS": "--data_type FP16"}, "FUSEML_EXTRA_ARGS: '--data_type' is a Model Optimizer"),
        ({"FUSEML_ACCURACY_MARGIN": "-1"}, "FUSEML_ACCURACY_MARGIN: got '-1'"),
        ({"FUSEML_VERBOSE": "maybe"}, "FUSEML_VERBOSE: got 'maybe'; allowed: true or false"),
        ({"TASK_RESULT": "../x"}, "TASK_RESULT: got '../x'; allowed: a result name"),
    ],
)
def test_each_bad_input_is_refused_in_one_line_naming_it(tmp_path, convert, env, expected):
    src = tmp_path / "model"
    full = {"FUSEML_INPUT_MODEL": str(src), **env} if env else {}
    result = convert(full)
    assert result.code == 2
    assert expected in one_error_line(result)
    assert not src.exists()


def test_the_original_steps_extra_args_are_accepted(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    result = convert(
        {
            "FUSEML_INPUT_MODEL": str(src),
            "FUSEML_EXTRA_ARGS": "--disable_nhwc_to_nchw",
            "FUSEML_BATCH": "1",
            "FUSEML_INPUT_FORMAT": "auto",
            "FUSEML_OUTPUT_FORMAT": "openvino",
        }
    )
    assert result.code == 0, result.err


def test_the_command_line_sets_the_same_inputs(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    result = convert(
        {}, ["--input_model", str(src), "--output-model", str(tmp_path / "o"), "--precision=FP32"]
    )
    assert result.code == 0, result.err
    assert (tmp_path / "o" / "1" / "model.xml").is_file()
    assert convert({}, ["--precision"]).code == 2
