"""INT8 with NNCF: calibrated from the store, accuracy measured before and after, refused past the margin."""

from __future__ import annotations

import json
import uuid

import numpy as np
import openvino as ov
import pytest
import torch

from convert.tests import models


@pytest.fixture(scope="module")
def digits():
    """A CNN trained on scikit-learn's digits (about 97% on its training images), and those images."""
    return models.train_digits()


def put(minio, bucket: str, key: str, array: np.ndarray, tmp_path) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.npy"
    np.save(path, array)
    minio.client().upload_file(str(path), bucket, key)


def test_int8_from_s3_calibration_folder_publishes_with_its_accuracy(tmp_path, minio, convert, digits):
    module, images, labels = digits
    bucket = minio.make_bucket(f"int8-{uuid.uuid4().hex[:8]}")
    src = models.mlflow_onnx(tmp_path / "model", module)
    for path in src.iterdir():
        minio.client().upload_file(str(path), bucket, f"model/{path.name}")
    # A folder of samples: every .npy is a batch of samples, labels.npy their labels.
    put(minio, bucket, "calibration/part-0.npy", images[:200], tmp_path)
    put(minio, bucket, "calibration/part-1.npy", images[200:400], tmp_path)
    put(minio, bucket, "calibration/labels.npy", labels[:400], tmp_path)
    env = {
        **minio.env(),
        "FUSEML_INPUT_MODEL": f"s3://{bucket}/model",
        "FUSEML_PRECISION": "INT8",
        "FUSEML_BATCH": "1",
        "FUSEML_CALIBRATION_DATA": f"s3://{bucket}/calibration",
        "FUSEML_CALIBRATION_SIZE": "100",
    }
    result = convert(env)
    assert result.code == 0, result.err
    assert "INT8: calibrated on 100 samples; accuracy" in result.out
    meta = json.loads(
        minio.client().get_object(Bucket=bucket, Key="model/ovms/1/fuseml-convert.json")["Body"].read()
    )
    fp32, int8 = meta["int8"]["fp32_accuracy"], meta["int8"]["int8_accuracy"]
    assert fp32 > 90 and fp32 - int8 <= 1.0
    xml = minio.client().get_object(Bucket=bucket, Key="model/ovms/1/model.xml")["Body"].read().decode()
    assert "FakeQuantize" in xml
    # The same source and calibration again: nothing written.
    again = convert(env)
    assert again.code == 0 and "nothing written" in again.out


def fragile(tmp_path):
    """A linear classifier whose ten rows differ by 1e-3: its argmax does not survive 8-bit weights."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 10)
    with torch.no_grad():
        base = torch.randn(1, 64)
        layer.weight.copy_(base + 1e-3 * torch.randn(10, 64))
        layer.bias.zero_()
    samples = np.random.default_rng(0).standard_normal((200, 64)).astype(np.float32)
    labels = models.torch_out(layer.eval(), samples).argmax(axis=1)
    src = models.mlflow_onnx(tmp_path / "model", layer.eval(), shape=(1, 64))
    np.save(tmp_path / "samples.npy", samples)
    np.save(tmp_path / "labels.npy", labels)
    return src


def test_an_int8_model_that_loses_more_than_the_margin_is_refused(tmp_path, convert):
    src = fragile(tmp_path)
    env = {
        "FUSEML_INPUT_MODEL": str(src),
        "FUSEML_PRECISION": "INT8",
        "FUSEML_BATCH": "1",
        "FUSEML_CALIBRATION_DATA": str(tmp_path / "samples.npy"),
        "FUSEML_CALIBRATION_LABELS": str(tmp_path / "labels.npy"),
    }
    refused = convert(env)
    assert refused.code == 1
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: INT8 model refused: accuracy 100.00% -> ")
    assert "more than FUSEML_ACCURACY_MARGIN=1; nothing written" in lines[0]
    assert not (src / "ovms").exists()
    # The same model with the gate opened wide is published: the refusal was the gate's.
    allowed = convert({**env, "FUSEML_ACCURACY_MARGIN": "100"})
    assert allowed.code == 0, allowed.err
    assert (src / "ovms" / "1" / "model.xml").is_file()


def test_without_labels_int8_is_published_and_says_accuracy_was_not_checked(tmp_path, convert):
    src = fragile(tmp_path)
    result = convert(
        {
            "FUSEML_INPUT_MODEL": str(src),
            "FUSEML_PRECISION": "INT8",
            "FUSEML_CALIBRATION_DATA": str(tmp_path / "samples.npy"),
        }
    )
    assert result.code == 0, result.err
    assert "no labels, accuracy not checked" in result.out
    compiled = ov.Core().compile_model(str(src / "ovms" / "1" / "model.xml"), "CPU")
    assert compiled({0: np.zeros((3, 64), np.float32)})[0].shape == (3, 10)


def test_calibration_samples_that_do_not_fit_the_input_are_bad_input(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    np.save(tmp_path / "wrong.npy", np.zeros((10, 3, 8, 8), np.float32))
    np.save(tmp_path / "labels.npy", np.zeros(7, np.int64))
    base = {"FUSEML_INPUT_MODEL": str(src), "FUSEML_PRECISION": "INT8", "FUSEML_BATCH": "1"}
    wrong = convert({**base, "FUSEML_CALIBRATION_DATA": str(tmp_path / "wrong.npy")})
    assert wrong.code == 2
    assert (
        "FUSEML_CALIBRATION_DATA: samples of shape [3, 8, 8] do not fit input 'x'; "
        "each sample must be [1,8,8]" in wrong.err
    )
    np.save(tmp_path / "right.npy", np.zeros((10, 1, 8, 8), np.float32))
    count = convert(
        {
            **base,
            "FUSEML_CALIBRATION_DATA": str(tmp_path / "right.npy"),
            "FUSEML_CALIBRATION_LABELS": str(tmp_path / "labels.npy"),
        }
    )
    assert count.code == 2 and "FUSEML_CALIBRATION_LABELS: 7 labels of type int64 for 10 samples" in count.err
    (tmp_path / "junk.npy").write_text("not an array")
    junk = convert({**base, "FUSEML_CALIBRATION_DATA": str(tmp_path / "junk.npy")})
    assert junk.code == 2 and "FUSEML_CALIBRATION_DATA: junk.npy is not a .npy array" in junk.err
    assert not (src / "ovms").exists()
