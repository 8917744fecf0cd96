"""The step's contract: the example workflow's inputs are the converter's; the command line takes the same."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from convert import inputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mlflow-convert-ovms.yaml"
REFERENCE = ROOT.parent / "shared" / "reference" / "fuseml" / "workflows" / "mlflow-multi-e2e.yaml"


def converter_step(path: Path) -> dict:
    (step,) = [s for s in yaml.safe_load(path.read_text())["steps"] if s["name"] == "converter"]
    return step


def test_every_documented_input_is_read_and_every_read_input_is_documented():
    source = Path(inputs.__file__).read_text()
    read = set(re.findall(r'"FUSEML_([A-Z_]+)"', source)) - {"SERVING_RESULTS_DIR"}
    assert read == {name.upper() for name in inputs.INPUT_NAMES}
    for name in inputs.INPUT_NAMES:
        assert f"`FUSEML_{name.upper()}`" in inputs.__doc__


def test_the_example_uses_only_converter_inputs_and_feeds_the_predictor():
    step = converter_step(EXAMPLE)
    assert step["image"].startswith("ghcr.io/fuseml/fuseml-serving-convert:")
    assert {i["name"] for i in step["inputs"]} <= set(inputs.INPUT_NAMES)
    assert [o["name"] for o in step["outputs"]] == ["ovms-model-url"]
    workflow = yaml.safe_load(EXAMPLE.read_text())
    (predictor,) = [s for s in workflow["steps"] if s["name"] == "ovms-predictor"]
    assert predictor["image"].startswith("ghcr.io/fuseml/fuseml-serving-step:")
    assert {"name": "model", "value": "{{ steps.converter.outputs.ovms-model-url }}"} in predictor["inputs"]


def test_the_original_steps_inputs_are_all_accepted():
    if not REFERENCE.is_file():
        # shared/ sits beside the work tree on developer machines and in CI; say so rather than pass.
        raise AssertionError(
            f"{REFERENCE} is missing: the original ovms-converter contract cannot be checked"
        )
    step = converter_step(REFERENCE)
    assert {i["name"] for i in step["inputs"]} <= set(inputs.INPUT_NAMES)
    assert [o["name"] for o in step["outputs"]] == ["ovms-model-url"]


def test_an_unknown_command_line_flag_is_refused(convert):
    result = convert({}, ["--input_modle", "/tmp/m"])
    assert result.code == 2
    assert "--input_modle: not an input; allowed: input_model, output_model" in result.err


def test_the_image_copies_every_module_the_converter_imports():
    dockerfile = (ROOT / "convert" / "Dockerfile").read_text()
    for module in sorted((ROOT / "convert").glob("*.py")):
        assert f"convert/{module.name}" in dockerfile, module.name
    requirements = (ROOT / "convert" / "requirements.txt").read_text()
    assert "pip install --no-cache-dir --disable-pip-version-check -r convert/requirements.txt" in dockerfile
    assert "pytest" not in requirements and "tensorflow" not in requirements
    for helper in ("COPY kernel /app/kernel", "COPY modelstore /app/modelstore"):
        assert helper in dockerfile
    # The predictor step's package (pulumi and all) stays out: the converter needs only the kernel.
    assert "step/" not in dockerfile


def test_the_converter_loads_only_what_its_image_copies():
    # In a fresh interpreter: which of the repository's packages the converter's entry point and its run
    # module pull in (ir and quantize need openvino and are copied by the glob check above).
    probe = (
        "import sys, convert.__main__, convert.run\n"
        "from pathlib import Path\n"
        f"root = Path({str(ROOT)!r})\n"
        # The virtualenv may live inside the checkout (CI's .venv-convert does): its packages are not ours.
        "env = Path(sys.prefix).resolve()\n"
        "files = {name: getattr(module, '__file__', None) for name, module in list(sys.modules.items())}\n"
        "print(sorted({name.split('.')[0] for name, file in files.items()\n"
        "    if file and Path(file).resolve().is_relative_to(root)\n"
        "    and not Path(file).resolve().is_relative_to(env)}))\n"
        "print('pulumi' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    packages, pulumi_loaded = result.stdout.splitlines()
    assert packages == "['convert', 'kernel', 'modelstore']", result.stdout
    assert pulumi_loaded == "False"
    dockerfile = (ROOT / "convert" / "Dockerfile").read_text()
    for package in ("kernel", "modelstore"):
        assert f"COPY {package} /app/{package}" in dockerfile
