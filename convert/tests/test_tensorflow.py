"""TensorFlow SavedModel and Keras models, built with tensorflow-cpu, converted and compared with TF's output.

TensorFlow never loads in the test process: with torch and NNCF already there it crashes the interpreter
(both bring their own oneDNN/OpenMP), so every TensorFlow step runs in a subprocess of its own. That is
also how the converter image is: it has no TensorFlow, and a SavedModel must convert without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import openvino as ov

ROOT = Path(__file__).resolve().parents[2]
#: Makes `import tensorflow` and `import keras` fail, as in the converter image.
NO_TF = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"

TF_MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.tensorflow
  tensorflow:
    meta_graph_tags: [serve]
    model_type: tf2-module
    saved_model_dir: tfmodel
    saved_model_dir_v2: true
"""

KERAS_MLMODEL = """artifact_path: model
flavors:
  python_function:
    data: data
    loader_module: mlflow.tensorflow
  tensorflow:
    data: data
    keras_version: 3.15.1
    model_type: keras
    save_format: keras
"""


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=55
    )


def build_keras(folder: Path, how: str) -> np.ndarray:
    """Build a small Keras CNN in a subprocess, save it `how` ("export": SavedModel, "keras": .keras file)
    under folder, and return its output on the inputs saved beside it (folder/x.npy)."""
    target = folder / ("tfmodel" if how == "export" else "data/model.keras")
    run = python(f"""
        import numpy as np, keras
        keras.utils.set_random_seed(2)
        model = keras.Sequential([
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ])
        x = np.random.default_rng(5).standard_normal((3, 8, 8, 1)).astype(np.float32)
        np.save({str(folder / "x.npy")!r}, x)
        np.save({str(folder / "y.npy")!r}, model(x).numpy())
        target = {str(target)!r}
        if {how!r} == "export":
            model.export(target, format="tf_saved_model", verbose=False)
        else:
            import os; os.makedirs(os.path.dirname(target), exist_ok=True)
            model.save(target)
    """)
    assert run.returncode == 0, run.stderr[-2000:]
    return np.load(folder / "y.npy")


def ov_out(xml: Path, x: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled({0: x})[compiled.output(0)]


def convert_in_subprocess(folder: Path, *args: str, tensorflow: bool) -> subprocess.CompletedProcess:
    return python(
        (NO_TF if not tensorflow else "import sys\n")
        + "from convert.__main__ import main\n"
        + f"sys.exit(main({['--input_model', str(folder), *args]!r}, {{}}))\n"
    )


def test_a_saved_model_converts_without_tensorflow_and_matches_it(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    expected = build_keras(folder, "export")
    (folder / "MLmodel").write_text(TF_MLMODEL)
    run = convert_in_subprocess(folder, "--precision", "FP32", tensorflow=False)
    assert run.returncode == 0, run.stderr
    assert "source: tensorflow (MLmodel flavor tensorflow (saved_model_dir: tfmodel))" in run.stdout
    x = np.load(folder / "x.npy")
    np.testing.assert_allclose(ov_out(folder / "ovms" / "1" / "model.xml", x), expected, rtol=1e-5, atol=1e-5)


def test_a_keras_file_converts_where_tensorflow_is_installed(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    expected = build_keras(folder, "keras")
    (folder / "MLmodel").write_text(KERAS_MLMODEL)
    run = convert_in_subprocess(folder, "--precision", "FP32", "--batch", "3", tensorflow=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "source: keras" in run.stdout
    xml = folder / "ovms" / "1" / "model.xml"
    assert ov.Core().read_model(str(xml)).input(0).get_partial_shape() == ov.PartialShape([3, 8, 8, 1])
    np.testing.assert_allclose(ov_out(xml, np.load(folder / "x.npy")), expected, rtol=1e-5, atol=1e-5)
    assert json.loads((folder / "ovms" / "1" / "fuseml-convert.json").read_text())["source_format"] == "keras"


def test_a_keras_file_without_tensorflow_is_one_line_naming_the_way_out(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    build_keras(folder, "keras")
    (folder / "MLmodel").write_text(KERAS_MLMODEL)
    run = convert_in_subprocess(folder, tensorflow=False)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: FUSEML_INPUT_FORMAT: a Keras model file (model.keras) needs TensorFlow")
    assert "kserve" in line and not (folder / "ovms").exists()
