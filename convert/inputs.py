"""Read and check the converter's inputs, FuseML style (input `x` arrives as `FUSEML_X`), before any work.

The inputs of FuseML's `ovms-converter` step, kept by name so a workflow swaps the image and nothing else:

* `FUSEML_INPUT_MODEL` (required): the MLflow model folder (or IR folder, or `.onnx` file), s3://, gs://,
  az://, azfs:// or an absolute local path.
* `FUSEML_OUTPUT_MODEL`: the OVMS model folder to write `<version>/model.xml` and `model.bin` into;
  default `<input_model>/ovms`, what FuseML's workflows pass. Its URL is the step's output.
* `FUSEML_INPUT_FORMAT`: `auto` (default: read from MLmodel) or one of modelstore.FORMATS.
* `FUSEML_OUTPUT_FORMAT`: `openvino`, the only one (default).
* `FUSEML_BATCH`: a batch size for the first dimension of every input (or the `N` of FUSEML_LAYOUT).
* `FUSEML_SHAPE`: input shapes, `[1,3,224,224]` for a one-input model or `{"input": [1,3,224,224]}`;
  -1 leaves a dimension dynamic. Not together with FUSEML_BATCH.
* `FUSEML_LAYOUT`: input layouts, `NCHW` or `{"input": "NHWC"}`, recorded in the IR for OVMS.
* `FUSEML_PRECISION`: FP32, FP16 (default) or INT8.
* `FUSEML_CALIBRATION_DATA`: INT8 only, required there: a `.npy` file of samples (first axis: sample)
  or a folder of `.npy` files, concatenated, whose `labels.npy` holds the labels.
* `FUSEML_CALIBRATION_LABELS`: a `.npy` file of integer class labels for the samples.
* `FUSEML_CALIBRATION_SIZE`: how many samples calibrate (default 300, NNCF's own `subset_size`).
* `FUSEML_ACCURACY_MARGIN`: the accuracy points an INT8 model may lose (default 1).
* `FUSEML_MODEL_VERSION`: the version folder to write; default the next free one.
* `FUSEML_EXTRA_ARGS`: the Model Optimizer's arguments of the original step; only `--disable_nhwc_to_nchw`
  is accepted, as a no-op: `openvino.convert_model` never transposes inputs.
* `FUSEML_VERBOSE`: print what each stage does.
* `TASK_RESULT`: the result name Tekton gives; the output URL goes to `<results dir>/<TASK_RESULT>`, the
  directory `/tekton/results` unless `FUSEML_SERVING_RESULTS_DIR` says otherwise. Unset: printed only.

Store credentials and endpoint come from the environment as the predictor step reads them
(modelstore.settings_from_env: AWS_*, S3_ENDPOINT or MLFLOW_S3_ENDPOINT_URL, ...).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import StepInputError
from modelstore import FORMATS
from modelstore.errors import StoreError
from modelstore.stores import credentials_from_env, endpoint_from_env, split_url

#: Every step input (FuseML's name, lower case; FUSEML_<NAME> in the environment), as documented above.
INPUT_NAMES = (
    "input_model",
    "output_model",
    "input_format",
    "output_format",
    "batch",
    "shape",
    "layout",
    "precision",
    "calibration_data",
    "calibration_labels",
    "calibration_size",
    "accuracy_margin",
    "model_version",
    "extra_args",
    "verbose",
)
PRECISIONS = ("FP32", "FP16", "INT8")
DEFAULT_PRECISION = "FP16"
#: NNCF's default `subset_size` of nncf.quantize (nncf/quantization/quantize_model.py).
DEFAULT_CALIBRATION_SIZE = 300
DEFAULT_ACCURACY_MARGIN = 1.0
DEFAULT_RESULTS_DIR = "/tekton/results"
OUTPUT_SUFFIX = "ovms"
#: Model Optimizer arguments that mean nothing to convert_model but are harmless to accept: the original
#: workflow passes --disable_nhwc_to_nchw, and convert_model keeps the source layout already.
NOOP_EXTRA_ARGS = ("--disable_nhwc_to_nchw",)

_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off", "")

Shape = list[int]


@dataclass(frozen=True)
class ConvertInputs:
    """Every input of one run, checked."""

    input_model: str
    output_model: str
    input_format: str
    precision: str
    batch: int | None
    shape: dict[str, Shape] | Shape | None
    layout: dict[str, str] | str | None
    calibration_data: str | None
    calibration_labels: str | None
    calibration_size: int
    accuracy_margin: float
    version: int | None
    verbose: bool
    result_file: Path | None


def read(env: Mapping[str, str]) -> ConvertInputs:
    """All inputs, or StepInputError naming every bad one (one line each)."""
    problems: list[str] = []

    def check(fn, *args):
        try:
            return fn(*args)
        except StepInputError as err:
            problems.append(str(err))
            return None

    input_model = check(_url, env, "FUSEML_INPUT_MODEL", True)
    output_model = check(_url, env, "FUSEML_OUTPUT_MODEL", False)
    if output_model is None and input_model and not _get(env, "FUSEML_OUTPUT_MODEL"):
        output_model = f"{input_model.rstrip('/')}/{OUTPUT_SUFFIX}"
    if input_model and output_model and input_model.rstrip("/") == output_model.rstrip("/"):
        problems.append(
            "FUSEML_OUTPUT_MODEL: must differ from FUSEML_INPUT_MODEL (the IR goes beside the source)"
        )
    # Each refusal shows the value as it was given, never a folded form of it.
    given_fmt = _get(env, "FUSEML_INPUT_FORMAT")
    fmt = given_fmt.lower() or "auto"
    if fmt not in ("auto", *FORMATS):
        problems.append(f"FUSEML_INPUT_FORMAT: got {given_fmt!r}; allowed: auto, {', '.join(FORMATS)}")
    given_out = _get(env, "FUSEML_OUTPUT_FORMAT")
    if (given_out.lower() or "openvino") != "openvino":
        problems.append(f"FUSEML_OUTPUT_FORMAT: got {given_out!r}; allowed: openvino (OpenVINO IR)")
    given_precision = _get(env, "FUSEML_PRECISION")
    precision = given_precision.upper() or DEFAULT_PRECISION
    if precision not in PRECISIONS:
        problems.append(f"FUSEML_PRECISION: got {given_precision!r}; allowed: {', '.join(PRECISIONS)}")
    batch = check(_positive_int, env, "FUSEML_BATCH")
    shape = check(_shape, env)
    if batch is not None and shape is not None:
        problems.append(
            "FUSEML_BATCH and FUSEML_SHAPE are both set; allowed: one of them (a shape has its batch)"
        )
    layout = check(_layout, env)
    calibration = check(_url, env, "FUSEML_CALIBRATION_DATA", False)
    labels = check(_url, env, "FUSEML_CALIBRATION_LABELS", False)
    if precision == "INT8" and not calibration and not _get(env, "FUSEML_CALIBRATION_DATA"):
        problems.append(
            "FUSEML_CALIBRATION_DATA: required for FUSEML_PRECISION=INT8; allowed: the URL of a .npy file of "
            "input samples or of a folder of .npy files"
        )
    if precision != "INT8":
        for name in ("FUSEML_CALIBRATION_DATA", "FUSEML_CALIBRATION_LABELS"):
            if _get(env, name):
                problems.append(f"{name}: only used with FUSEML_PRECISION=INT8 (got {precision})")
    size = check(_positive_int, env, "FUSEML_CALIBRATION_SIZE")
    margin = check(_margin, env)
    version = check(_positive_int, env, "FUSEML_MODEL_VERSION")
    check(_extra_args, env)
    check(_store_access, env, endpoint_from_env)
    check(_store_access, env, credentials_from_env)
    verbose = check(_flag, env, "FUSEML_VERBOSE")
    result = check(_result_file, env)
    if problems:
        raise StepInputError("\n".join(problems))
    return ConvertInputs(
        input_model=input_model,
        output_model=output_model,
        input_format=fmt,
        precision=precision,
        batch=batch,
        shape=shape,
        layout=layout,
        calibration_data=calibration,
        calibration_labels=labels,
        calibration_size=size or DEFAULT_CALIBRATION_SIZE,
        accuracy_margin=DEFAULT_ACCURACY_MARGIN if margin is None else margin,
        version=version,
        verbose=bool(verbose),
        result_file=result,
    )


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _url(env: Mapping[str, str], name: str, required: bool) -> str | None:
    text = _get(env, name)
    if not text:
        if required:
            raise StepInputError(
                f"{name}: required; allowed: an s3://, gs://, az://, azfs:// URL or a local path"
            )
        return None
    try:
        split_url(text)
    except StoreError as err:
        raise StepInputError(f"{name}: {err}") from None
    return text.rstrip("/") or "/"


def _store_access(env: Mapping[str, str], read: Callable[[Mapping[str, str]], object]) -> None:
    """A store setting of the environment, checked before any store is opened with modelstore's rule
    (`endpoint_from_env`: S3_ENDPOINT or MLFLOW_S3_ENDPOINT_URL is http[s]://host[:port], no user and
    password; `credentials_from_env`: GOOGLE_APPLICATION_CREDENTIALS names a service-account key file);
    its error names the variable and never quotes a secret."""
    try:
        read(env)
    except StoreError as err:
        raise StepInputError(str(err)) from None


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    text = _get(env, name)
    if not text:
        return None
    # ASCII digits only: str.isdigit also takes other scripts' digits and superscripts, which int() then
    # misreads or refuses; and no more digits than any real count has.
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) < 1:
        raise StepInputError(f"{name}: got {_shown(text)}; allowed: a whole number >= 1")
    return int(text)


def _shown(text: str) -> str:
    """A refused value as shown: as given, cut to 120 characters."""
    return repr(text) if len(text) <= 120 else repr(text[:117]) + "..."


def _margin(env: Mapping[str, str]) -> float | None:
    text = _get(env, "FUSEML_ACCURACY_MARGIN")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise StepInputError(f"FUSEML_ACCURACY_MARGIN: got {text!r}; allowed: accuracy points from 0 to 100")
    return value


def _shape(env: Mapping[str, str]) -> dict[str, Shape] | Shape | None:
    text = _get(env, "FUSEML_SHAPE")
    if not text:
        return None
    allowed = 'allowed: a list of dimensions like [1,3,224,224] or {"input name": [1,3,224,224]}, -1 dynamic'
    try:
        value = json.loads(text.replace("(", "[").replace(")", "]"))
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than any shape has
        raise StepInputError(f"FUSEML_SHAPE: got {_shown(text)}; {allowed}") from None

    def dims(item) -> Shape:
        if not isinstance(item, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1) for d in item
        ):
            raise StepInputError(f"FUSEML_SHAPE: got {text!r}; {allowed}")
        return item

    if isinstance(value, dict):
        if not value:
            raise StepInputError(f"FUSEML_SHAPE: got {text!r}; {allowed}")
        return {str(name): dims(item) for name, item in value.items()}
    return dims(value)


def _layout(env: Mapping[str, str]) -> dict[str, str] | str | None:
    text = _get(env, "FUSEML_LAYOUT")
    if not text:
        return None
    allowed = 'allowed: a layout like NCHW or {"input name": "NHWC"} (letters, ? for any)'

    def one(item) -> str:
        if not isinstance(item, str) or not item or not all(c.isalpha() or c == "?" for c in item):
            raise StepInputError(f"FUSEML_LAYOUT: got {text!r}; {allowed}")
        return item.upper()

    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            raise StepInputError(f"FUSEML_LAYOUT: got {text!r}; {allowed}") from None
        if not isinstance(value, dict) or not value:
            raise StepInputError(f"FUSEML_LAYOUT: got {text!r}; {allowed}")
        return {str(name): one(item) for name, item in value.items()}
    return one(text)


#: Longer than any Model Optimizer command line: shlex.split takes quadratic time past it.
MAX_EXTRA_ARGS = 4096


def _extra_args(env: Mapping[str, str]) -> None:
    text = _get(env, "FUSEML_EXTRA_ARGS")
    if len(text) > MAX_EXTRA_ARGS:
        raise StepInputError(
            f"FUSEML_EXTRA_ARGS: got {len(text)} characters; allowed: at most {MAX_EXTRA_ARGS} (and only "
            f"{', '.join(NOOP_EXTRA_ARGS)}, a no-op)"
        )
    try:
        args = shlex.split(text)
    except ValueError:
        args = [_get(env, "FUSEML_EXTRA_ARGS")]
    unknown = [arg for arg in args if arg not in NOOP_EXTRA_ARGS]
    if unknown:
        raise StepInputError(
            f"FUSEML_EXTRA_ARGS: {unknown[0]!r} is a Model Optimizer argument, and the Model Optimizer is "
            f"retired; allowed: {', '.join(NOOP_EXTRA_ARGS)} (a no-op), or use FUSEML_SHAPE, FUSEML_LAYOUT, "
            "FUSEML_BATCH and FUSEML_PRECISION"
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = _get(env, name).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StepInputError(f"{name}: got {env[name]!r}; allowed: true or false")


def _result_file(env: Mapping[str, str]) -> Path | None:
    name = _get(env, "TASK_RESULT")
    if not name:
        return None
    if "/" in name or name in (".", ".."):
        raise StepInputError(f"TASK_RESULT: got {name!r}; allowed: a result name, not a path")
    return Path(env.get("FUSEML_SERVING_RESULTS_DIR") or DEFAULT_RESULTS_DIR) / name
