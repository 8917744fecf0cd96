"""Turn a source model into an OpenVINO `ov.Model`, give it the shapes and layouts asked for, save it as IR.

Conversion is `openvino.convert_model` for every source format it reads (ONNX file, TensorFlow SavedModel
folder, a torch.nn.Module with an example input); an IR is read as it is. The Model Optimizer the original
step ran is retired upstream (OpenVINO 2025.0 release notes: "Model Optimizer ... removed").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from convert.formats import NO_IR
from convert.inputs import Shape
from kernel.errors import StepError, StepInputError

#: File names in the version folder. OVMS loads the `*.xml` + `*.bin` pair it finds in `<model>/<version>/`
#: (model_server docs/models_repository.md); the issue and the OVMS examples name them model.xml/model.bin.
XML, BIN = "model.xml", "model.bin"

#: Why a Keras file (.keras, .h5) cannot be converted where TensorFlow is not installed.
KERAS_NEEDS_TF = (
    "a Keras model file ({name}) needs TensorFlow to load, which this converter image leaves out: log the "
    "model as a SavedModel (Keras model.export, or save_format tf) or as ONNX, or serve it with backend "
    "kserve (TensorFlow Serving)"
)


class ConversionError(StepError):
    """OpenVINO could not read or convert the model; the first line of its message says why."""

    exit_code = 1


def load(
    fmt: str, root: Path, artifact: str, mlmodel: Mapping[str, Any], shape: Any, batch: int | None
) -> ov.Model:
    """The source at root/artifact as an ov.Model (`fmt` from modelstore's vocabulary)."""
    if fmt in NO_IR:
        raise StepInputError(f"FUSEML_INPUT_FORMAT: {NO_IR[fmt]}")
    path = root / artifact if artifact else root
    try:
        if fmt == "openvino":
            return ov.Core().read_model(str(path))
        if fmt in ("onnx", "tensorflow"):
            # convert_model reads a .onnx file and a SavedModel folder itself, no framework needed for
            # either (OpenVINO docs, "Converting an ONNX Model" / "Converting a TensorFlow Model").
            return ov.convert_model(str(path))
        if fmt == "pytorch":
            return _from_torch(root, path, mlmodel, shape, batch)
        if fmt == "keras":
            return _from_keras(path)
    except StepError:
        raise
    except Exception as err:
        raise ConversionError(
            f"OpenVINO could not convert the {fmt} model {artifact or '.'}: {_first(err)}"
        ) from None
    raise StepInputError(f"FUSEML_INPUT_FORMAT: {fmt} cannot be converted to OpenVINO IR")


def _from_torch(
    root: Path, path: Path, mlmodel: Mapping[str, Any], shape: Any, batch: int | None
) -> ov.Model:
    """An MLflow pytorch-flavor model: the pickled module (data/model.pth), traced on zeros of its shape.

    mlflow.pytorch.save_model pickles the whole module with torch.save into `<model_data>/model.pth` and
    copies `code_paths` to `code/` (mlflow/pytorch/__init__.py); the class must be importable to unpickle.
    """
    import torch

    file = path / "model.pth" if path.is_dir() else path
    code = root / "code"
    if code.is_dir():
        sys.path.insert(0, str(code))
    module = torch.load(str(file), map_location="cpu", weights_only=False)
    module.eval()
    shapes = example_shapes(mlmodel, shape)
    if not shapes:
        raise StepInputError(
            "FUSEML_SHAPE: required for a pytorch model whose MLmodel has no tensor signature; allowed: "
            "e.g. [1,3,224,224]"
        )
    # Trace on zeros of a concrete shape (-1 -> the batch, else 1), and keep -1 dynamic in the IR's inputs.
    example = tuple(torch.zeros(*[d if d > 0 else (batch or 1) for d in dims]) for dims in shapes)
    return ov.convert_model(
        module,
        example_input=example[0] if len(example) == 1 else example,
        input=[ov.PartialShape(dims) for dims in shapes],
    )


def _from_keras(path: Path) -> ov.Model:
    """A Keras model: a SavedModel inside it converts without TensorFlow; a .keras/.h5 file needs it.

    MLflow's tensorflow flavor writes a Keras model under `data/`: a SavedModel folder with save_format
    "tf", else a `.keras` (Keras 3) or `.h5` file (mlflow/tensorflow/__init__.py, save_model). Keras 3's
    `Model.export` writes the SavedModel that convert_model reads (OpenVINO docs, "Converting a
    TensorFlow Model": Keras 3 models are exported to SavedModel first).
    """
    if path.is_dir():
        saved = sorted(path.rglob("saved_model.pb"))
        if saved:
            return ov.convert_model(str(saved[0].parent))
        files = sorted(p for p in path.rglob("*") if p.suffix in (".keras", ".h5"))
        if not files:
            raise StepInputError(
                f"FUSEML_INPUT_FORMAT: keras: no SavedModel, .keras or .h5 file in {path.name}"
            )
        path = files[0]
    try:
        import keras
    except ImportError:
        raise StepInputError(f"FUSEML_INPUT_FORMAT: {KERAS_NEEDS_TF.format(name=path.name)}") from None
    import tempfile

    model = keras.models.load_model(str(path), compile=False)
    with tempfile.TemporaryDirectory(prefix="keras-export-") as exported:
        model.export(exported, format="tf_saved_model", verbose=False)
        # share_weights=False: the export folder is deleted on return, its weights must be copied.
        return ov.convert_model(exported, share_weights=False)


def example_shapes(mlmodel: Mapping[str, Any], shape: Any) -> list[Shape]:
    """The input shapes of a module to trace: FUSEML_SHAPE, else the MLmodel tensor signature (-1 dynamic)."""
    if isinstance(shape, dict):
        found = list(shape.values())
    elif shape is not None:
        found = [shape]
    else:
        found = []
        text = (mlmodel.get("signature") or {}).get("inputs") if isinstance(mlmodel, Mapping) else None
        try:
            specs = json.loads(text) if isinstance(text, str) else []
        except ValueError:
            specs = []
        for spec in specs:
            dims = spec.get("tensor-spec", {}).get("shape") if isinstance(spec, dict) else None
            if isinstance(dims, list):
                found.append(dims)
    return [[d if d > 0 else -1 for d in dims] for dims in found]


def shape(model: ov.Model, shape: Any, batch: int | None, layout: Any) -> None:
    """Apply FUSEML_LAYOUT, then FUSEML_SHAPE or FUSEML_BATCH, refusing a shape the model cannot take."""
    names = [port.get_any_name() for port in model.inputs]
    if layout is not None:
        for name, text in _per_input(layout, names, "FUSEML_LAYOUT").items():
            port = model.input(name)
            rank = port.get_partial_shape().rank
            if rank.is_static and len(text) != rank.get_length():
                raise StepInputError(
                    f"FUSEML_LAYOUT: {text} has {len(text)} dimensions, "
                    f"input {name!r} has {rank.get_length()}"
                )
            port.get_node().set_layout(ov.Layout(text))
    wanted: dict[str, ov.PartialShape] = {}
    if shape is not None:
        for name, dims in _per_input(shape, names, "FUSEML_SHAPE").items():
            wanted[name] = ov.PartialShape([ov.Dimension() if d == -1 else ov.Dimension(d) for d in dims])
    elif batch is not None:
        for port in model.inputs:
            current = port.get_partial_shape()
            name = port.get_any_name()
            if current.rank.is_dynamic or current.rank.get_length() == 0:
                raise StepInputError(
                    f"FUSEML_BATCH: input {name!r} has no batch dimension ({current}); use FUSEML_SHAPE"
                )
            index = _batch_index(port)
            dims = [current[i] for i in range(current.rank.get_length())]
            dims[index] = ov.Dimension(batch)
            wanted[name] = ov.PartialShape(dims)
    if not wanted:
        return
    source = "FUSEML_SHAPE" if shape is not None else "FUSEML_BATCH"
    for name, new in wanted.items():
        old = model.input(name).get_partial_shape()
        if old.rank.is_static and old.rank.get_length() != new.rank.get_length():
            raise StepInputError(
                f"{source}: {_dims(new)} does not fit input {name!r} of shape {_dims(old)} (rank)"
            )
    given = ", ".join(f"{name} {_dims(new)}" for name, new in wanted.items())
    first = next(iter(wanted))
    old_batch, new_batch = model.input(first).get_partial_shape(), wanted[first]
    before = [port.get_partial_shape() for port in model.outputs]
    try:
        model.reshape(wanted)
    except Exception as err:
        raise StepInputError(f"{source}: {given} does not fit the model: {_first(err)}") from None
    _check_batch_followed(model, before, old_batch, new_batch, f"{source}: {given}")


def _check_batch_followed(
    model: ov.Model,
    before: list[ov.PartialShape],
    old_in: ov.PartialShape,
    new_in: ov.PartialShape,
    what: str,
) -> None:
    """Refuse a reshape after which an output's batch no longer follows the input's.

    Shape inference can accept a shape and still compute nonsense: torch exports Flatten as a Reshape to
    [-1, features], so a bigger image comes out as more rows. An output whose first dimension equalled the
    input's (both dynamic, or the same number) must still equal it.
    """
    if not (
        old_in.rank.is_static
        and old_in.rank.get_length()
        and new_in.rank.get_length()
        and new_in[0].is_static
    ):
        return
    batch = new_in[0].get_length()
    for port, old in zip(model.outputs, before, strict=True):
        now = port.get_partial_shape()
        if old.rank.is_dynamic or not old.rank.get_length() or now.rank.is_dynamic or now[0].is_dynamic:
            continue
        tied = (old[0].is_dynamic and old_in[0].is_dynamic) or (
            old[0].is_static and old_in[0].is_static and old[0].get_length() == old_in[0].get_length()
        )
        if tied and now[0].get_length() != batch:
            raise StepInputError(
                f"{what} does not fit the model: output {_name(port)} gets {_dims(now)}, a batch of "
                f"{now[0].get_length()} for an input batch of {batch}"
            )


def name_outputs(model: ov.Model) -> None:
    """Name unnamed outputs `output<i>`: OVMS addresses tensors by name, and a traced torch module's
    outputs come without one."""
    for index, port in enumerate(model.outputs):
        if not port.get_names():
            port.get_tensor().set_names({f"output{index}"})


def _batch_index(port: ov.Output) -> int:
    """The N of the input's layout when it has one, else the first dimension (the usual convention)."""
    layout = port.get_node().get_layout()
    if not layout.empty and ov.layout_helpers.has_batch(layout):
        return ov.layout_helpers.batch_idx(layout) % port.get_partial_shape().rank.get_length()
    return 0


def _per_input(value: Any, names: Sequence[str], source: str) -> dict[str, Any]:
    """A per-input setting: a dict by input name, or one value for a one-input model."""
    if isinstance(value, dict):
        unknown = [name for name in value if name not in names]
        if unknown:
            raise StepInputError(
                f"{source}: the model has no input {unknown[0]!r}; its inputs: {', '.join(names)}"
            )
        return dict(value)
    if len(names) != 1:
        raise StepInputError(
            f"{source}: the model has {len(names)} inputs ({', '.join(names)}); "
            "allowed: an object by input name"
        )
    return {names[0]: value}


def save(model: ov.Model, folder: Path, precision: str) -> None:
    """Write model.xml/model.bin; FP16 compresses float weights, FP32 keeps them, INT8 is already quantized.

    save_model's compress_to_fp16 (default True) is "ignored for pre-optimized models" such as NNCF's
    (openvino.save_model docstring), so INT8 passes False to say what it gets.
    """
    folder.mkdir(parents=True, exist_ok=True)
    name_outputs(model)
    ov.save_model(model, str(folder / XML), compress_to_fp16=precision == "FP16")


def smoke(folder: Path) -> list[str]:
    """Load the saved IR on CPU and run it once on zeros (dynamic dimensions as 1); the output names."""
    core = ov.Core()
    model = core.read_model(str(folder / XML))
    compiled = core.compile_model(model, "CPU")
    feed = {}
    for port in compiled.inputs:
        ps = port.get_partial_shape()
        dims = [d.get_length() if d.is_static else 1 for d in ps] if ps.rank.is_static else [1]
        feed[port] = np.zeros(dims, dtype=port.get_element_type().to_dtype())
    compiled(feed)
    return [port.get_any_name() for port in compiled.outputs]


def describe(model: ov.Model) -> str:
    """`name [dims] layout` of every input, for the log."""
    parts = []
    for port in model.inputs:
        layout = port.get_node().get_layout()
        parts.append(
            f"{port.get_any_name()} {_dims(port.get_partial_shape())}"
            + ("" if layout.empty else f" {layout.to_string()}")
        )
    return ", ".join(parts)


def _name(port: ov.Output) -> str:
    names = port.get_names()
    return repr(sorted(names)[0]) if names else "(unnamed)"


def _dims(ps: ov.PartialShape) -> str:
    if ps.rank.is_dynamic:
        return "[...]"
    return "[" + ",".join(str(d.get_length()) if d.is_static else "?" for d in ps) + "]"


def _first(err: Exception) -> str:
    """The first meaningful line of an OpenVINO or framework error (they run to pages)."""
    for line in str(err).splitlines():
        line = line.strip()
        # OpenVINO prefixes the reason with "Exception from src/...cpp:N:" lines: skip them.
        if line and not line.startswith(("Traceback", "File ", "Exception from ")):
            return line[:300]
    return type(err).__name__
