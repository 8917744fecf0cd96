"""`python -m convert` on real models it builds: converted, run by OpenVINO, equal to the source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import openvino as ov
import pytest
import torch

from convert.run import METADATA
from convert.tests import models

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 1, 8, 8)).astype(np.float32)


def ov_out(xml: Path, x: np.ndarray) -> np.ndarray:
    """Run the IR in f32: on CPUs with AVX512_BF16 or AMX (this one) the CPU plugin computes in bf16 by
    default (OpenVINO docs, CPU device, "Floating-point precision"), which would hide what the IR holds."""
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled({0: x})[compiled.output(0)]


def files(root: Path) -> dict[str, float]:
    """Every file below root with its modification time, to prove a run wrote nothing."""
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("precision", "tolerance"), [("FP32", 1e-5), ("FP16", 1e-2)])
def test_pytorch_exported_to_onnx_converts_to_ir_equal_to_source(tmp_path, convert, precision, tolerance):
    module = models.net()
    src = models.mlflow_onnx(tmp_path / "run" / "model", module)
    result = convert({"FUSEML_INPUT_MODEL": str(src), "FUSEML_PRECISION": precision})
    assert result.code == 0, result.err
    # OVMS layout: <output>/<version>/model.xml + model.bin, output defaulting to <input>/ovms.
    version = src / "ovms" / "1"
    assert sorted(p.name for p in version.iterdir()) == ["fuseml-convert.json", "model.bin", "model.xml"]
    got = ov_out(version / "model.xml", X)
    session = onnxruntime.InferenceSession(str(src / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(got, session.run(None, {"x": X})[0], rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(got, models.torch_out(module, X), rtol=tolerance, atol=tolerance)
    meta = json.loads((version / METADATA).read_text())
    assert meta["precision"] == precision and meta["source_format"] == "onnx"
    assert (tmp_path / "results" / "ovms-model-url").read_text() == str(src / "ovms")


def test_fp16_halves_the_weights_and_fp32_keeps_them(tmp_path, convert):
    sizes = {}
    for precision in ("FP32", "FP16"):
        src = models.mlflow_onnx(tmp_path / precision, models.net())
        assert convert({"FUSEML_INPUT_MODEL": str(src), "FUSEML_PRECISION": precision}).code == 0
        sizes[precision] = (src / "ovms" / "1" / "model.bin").stat().st_size
    assert sizes["FP16"] < 0.6 * sizes["FP32"]


def test_rerun_on_the_same_source_writes_nothing_and_says_so(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    env = {"FUSEML_INPUT_MODEL": str(src), "FUSEML_OUTPUT_MODEL": str(tmp_path / "served")}
    assert convert(env).code == 0
    before = files(tmp_path / "served")
    again = convert(env)
    assert again.code == 0, again.err
    assert "nothing to do" in again.out and "nothing written" in again.out
    assert files(tmp_path / "served") == before
    assert (tmp_path / "results" / "ovms-model-url").read_text() == str(tmp_path / "served")


def test_a_retrained_model_becomes_the_next_version(tmp_path, convert):
    out = tmp_path / "served"
    for seed in (0, 1):
        src = models.mlflow_onnx(tmp_path / f"model{seed}", models.net(seed))
        assert convert({"FUSEML_INPUT_MODEL": str(src), "FUSEML_OUTPUT_MODEL": str(out)}).code == 0
    assert sorted(p.name for p in out.iterdir()) == ["1", "2"]
    np.testing.assert_allclose(
        ov_out(out / "2" / "model.xml", X), models.torch_out(models.net(1), X), atol=1e-2
    )


def test_a_different_precision_of_the_same_source_is_a_new_version(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    for precision in ("FP16", "FP32"):
        assert convert({"FUSEML_INPUT_MODEL": str(src), "FUSEML_PRECISION": precision}).code == 0
    assert sorted(p.name for p in (src / "ovms").iterdir()) == ["1", "2"]


def test_batch_fixes_the_first_dimension(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    assert convert({"FUSEML_INPUT_MODEL": str(src), "FUSEML_BATCH": "4"}).code == 0
    model = ov.Core().read_model(str(src / "ovms" / "1" / "model.xml"))
    assert model.input(0).get_partial_shape() == ov.PartialShape([4, 1, 8, 8])
    np.testing.assert_allclose(
        ov_out(src / "ovms" / "1" / "model.xml", X), models.torch_out(models.net(), X), atol=1e-2
    )


def test_shape_and_layout_are_recorded_in_the_ir(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    result = convert(
        {"FUSEML_INPUT_MODEL": str(src), "FUSEML_SHAPE": '{"x": [2,1,8,8]}', "FUSEML_LAYOUT": "NCHW"}
    )
    assert result.code == 0, result.err
    model = ov.Core().read_model(str(src / "ovms" / "1" / "model.xml"))
    assert model.input(0).get_partial_shape() == ov.PartialShape([2, 1, 8, 8])
    assert model.input(0).get_node().get_layout() == ov.Layout("NCHW")


def test_an_ir_source_is_reshaped_and_republished(tmp_path, convert):
    src = models.mlflow_onnx(tmp_path / "model", models.net())
    assert convert({"FUSEML_INPUT_MODEL": str(src), "FUSEML_OUTPUT_MODEL": str(tmp_path / "ir")}).code == 0
    result = convert(
        {
            "FUSEML_INPUT_MODEL": str(tmp_path / "ir"),
            "FUSEML_OUTPUT_MODEL": str(tmp_path / "b8"),
            "FUSEML_BATCH": "8",
        }
    )
    assert result.code == 0, result.err
    assert "source: openvino (OpenVINO IR 1/model.xml)" in result.out
    model = ov.Core().read_model(str(tmp_path / "b8" / "1" / "model.xml"))
    assert model.input(0).get_partial_shape() == ov.PartialShape([8, 1, 8, 8])


def test_a_bare_onnx_file_folder_is_detected_without_mlmodel(tmp_path, convert):
    models.export_onnx(models.net(), tmp_path / "bare" / "1" / "net.onnx")
    result = convert(
        {"FUSEML_INPUT_MODEL": str(tmp_path / "bare"), "FUSEML_OUTPUT_MODEL": str(tmp_path / "out")}
    )
    assert result.code == 0, result.err
    assert "ONNX file 1/net.onnx" in result.out
    assert (tmp_path / "out" / "1" / "model.xml").is_file()


def test_an_mlflow_pytorch_model_is_traced_from_its_signature(tmp_path, convert):
    """The pytorch flavor: the pickled module (its class in code/), traced with the signature's shape."""
    folder = tmp_path / "model"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "tinynet.py").write_text(
        "import torch\n\n\nclass TinyNet(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.lin = torch.nn.Linear(6, 3)\n\n"
        "    def forward(self, x):\n        return torch.softmax(self.lin(x), dim=1)\n"
    )
    import sys

    sys.path.insert(0, str(folder / "code"))
    try:
        import tinynet

        torch.manual_seed(3)
        module = tinynet.TinyNet().eval()
        (folder / "data").mkdir()
        torch.save(module, folder / "data" / "model.pth")
    finally:
        sys.path.remove(str(folder / "code"))
        sys.modules.pop("tinynet", None)
    signature = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 6]}}])
    (folder / "MLmodel").write_text(
        "flavors:\n  pytorch:\n    code: code\n    model_data: data\n    pytorch_version: 2.13.0\n"
        "  python_function:\n    loader_module: mlflow.pytorch\n    data: data\n"
        f"signature:\n  inputs: '{signature}'\n"
    )
    result = convert({"FUSEML_INPUT_MODEL": str(folder), "FUSEML_PRECISION": "FP32"})
    assert result.code == 0, result.err
    x = RNG.standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_allclose(
        ov_out(folder / "ovms" / "1" / "model.xml", x), models.torch_out(module, x), atol=1e-5
    )
