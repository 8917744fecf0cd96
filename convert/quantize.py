"""INT8 post-training quantization with NNCF, and the accuracy gate that decides whether it is published.

`nncf.quantize(model, nncf.Dataset(items), subset_size=n)` inserts FakeQuantize operations calibrated on
n items (NNCF docs, "Post-training Quantization", basic quantization flow); the OpenVINO CPU plugin runs
them as INT8. With labels, accuracy (top-1 on the first output) is measured on the same labelled samples
before and after: a drop of more than the margin refuses the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov

from kernel.errors import StepError, StepInputError
from modelstore import Store, StoreError

LABELS = "labels.npy"
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


class AccuracyGateError(StepError):
    """The INT8 model lost more accuracy than the margin allows; nothing was published."""

    exit_code = 1


@dataclass(frozen=True)
class Samples:
    """Calibration inputs (first axis: sample) and, when given, their integer labels."""

    data: np.ndarray
    labels: np.ndarray | None
    digest_files: tuple[tuple[str, Path], ...]
    """(url, local file) of everything read, for the source digest."""


@dataclass(frozen=True)
class Report:
    """What quantization measured: samples used, accuracies in percent (None without labels)."""

    calibrated: int
    fp32_accuracy: float | None
    int8_accuracy: float | None

    def line(self, margin: float) -> str:
        if self.fp32_accuracy is None or self.int8_accuracy is None:
            return f"INT8: calibrated on {self.calibrated} samples; no labels, accuracy not checked"
        change = self.int8_accuracy - self.fp32_accuracy
        return (
            f"INT8: calibrated on {self.calibrated} samples; accuracy {self.fp32_accuracy:.2f}% -> "
            f"{self.int8_accuracy:.2f}% ({change:+.2f} points, margin {margin:g})"
        )


def read_samples(
    open_store: Callable[[str], Store], data_url: str, labels_url: str | None, scratch: Path
) -> Samples:
    """Read the samples (.npy file, or a folder of them with labels.npy) and labels into scratch."""
    scratch.mkdir(parents=True, exist_ok=True)
    read: list[tuple[str, Path]] = []

    def fetch(url: str, name: str) -> Path:
        parent, _, base = url.rstrip("/").rpartition("/")
        store = open_store(parent or "/")
        target = scratch / f"{len(read)}-{base}"
        try:
            store.download(base, target)
        except StoreError as err:
            raise StepInputError(f"{name}: {err}") from None
        read.append((url, target))
        return target

    if data_url.endswith(".npy"):
        arrays = [_load(fetch(data_url, "FUSEML_CALIBRATION_DATA"), "FUSEML_CALIBRATION_DATA")]
        labels_file = None
    else:
        folder = open_store(data_url)
        try:
            names = [n for n in folder.list() if n.endswith(".npy")]
        except StoreError as err:
            raise StepInputError(f"FUSEML_CALIBRATION_DATA: {err}") from None
        inputs = [n for n in names if n.rpartition("/")[2] != LABELS]
        if not inputs:
            raise StepInputError(f"FUSEML_CALIBRATION_DATA: no .npy files of samples in {data_url}")
        arrays = [
            _load(fetch(f"{data_url}/{n}", "FUSEML_CALIBRATION_DATA"), "FUSEML_CALIBRATION_DATA")
            for n in inputs
        ]
        labels_file = f"{data_url}/{LABELS}" if LABELS in names else None
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) != 1:
        raise StepInputError(
            f"FUSEML_CALIBRATION_DATA: the .npy files hold samples of different shapes {sorted(shapes)}"
        )
    data = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    labels = None
    source = labels_url or labels_file
    if source:
        labels = _load(fetch(source, "FUSEML_CALIBRATION_LABELS"), "FUSEML_CALIBRATION_LABELS").reshape(-1)
        if labels.shape[0] != data.shape[0] or not np.issubdtype(labels.dtype, np.integer):
            raise StepInputError(
                f"FUSEML_CALIBRATION_LABELS: {labels.shape[0]} labels of type {labels.dtype} for "
                f"{data.shape[0]} samples; allowed: one integer class label per sample"
            )
    return Samples(data, labels, tuple(read))


def _load(path: Path, name: str) -> np.ndarray:
    try:
        # allow_pickle=False: a .npy from the store is data, never code.
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise StepInputError(f"{name}: {path.name.split('-', 1)[1]} is not a .npy array ({err})") from None
    if array.ndim < 1 or array.shape[0] == 0:
        raise StepInputError(f"{name}: {path.name.split('-', 1)[1]} holds no samples (shape {array.shape})")
    return array


def batches(model: ov.Model, samples: np.ndarray) -> list[np.ndarray]:
    """The samples in groups of the model's static batch (1 if dynamic), cast to its input type."""
    if len(model.inputs) != 1:
        names = ", ".join(p.get_any_name() for p in model.inputs)
        raise StepInputError(
            f"FUSEML_PRECISION: INT8 calibration takes one-input models; this one has {names}"
        )
    port = model.input(0)
    ps = port.get_partial_shape()
    if ps.rank.is_dynamic:
        raise StepInputError("FUSEML_SHAPE: INT8 calibration needs an input of known rank; set FUSEML_SHAPE")
    dims = list(ps)
    size = dims[0].get_length() if dims[0].is_static else 1
    wanted = dims[1:]
    fits = len(samples.shape) - 1 == len(wanted) and all(
        d.is_dynamic or d.get_length() == n for d, n in zip(wanted, samples.shape[1:], strict=True)
    )
    if not fits:
        shown = "[" + ",".join(str(d.get_length()) if d.is_static else "?" for d in wanted) + "]"
        raise StepInputError(
            f"FUSEML_CALIBRATION_DATA: samples of shape {list(samples.shape[1:])} do not fit input "
            f"{port.get_any_name()!r}; each sample must be {shown}"
        )
    dtype = port.get_element_type().to_dtype()
    count = samples.shape[0] // size * size
    if count == 0:
        raise StepInputError(
            f"FUSEML_CALIBRATION_DATA: {samples.shape[0]} samples, fewer than the model's batch {size}"
        )
    return [samples[i : i + size].astype(dtype) for i in range(0, count, size)]


def accuracy(
    model: ov.Model, groups: list[np.ndarray], labels: np.ndarray, config: dict | None = None
) -> float:
    """Top-1 accuracy in percent of the model's first output over the grouped samples."""
    compiled = ov.Core().compile_model(model, "CPU", config or {})
    request = compiled.create_infer_request()
    hits, seen = 0, 0
    for group in groups:
        out = request.infer({0: group})[compiled.output(0)]
        predicted = np.asarray(out).reshape(group.shape[0], -1).argmax(axis=1)
        hits += int((predicted == labels[seen : seen + group.shape[0]]).sum())
        seen += group.shape[0]
    return 100.0 * hits / seen


def quantize(model: ov.Model, samples: Samples, size: int, margin: float) -> tuple[ov.Model, Report]:
    """The INT8 model and what was measured; AccuracyGateError if it loses more than `margin` points."""
    import nncf

    groups = batches(model, samples.data)
    calibrate = groups[: max(1, size // groups[0].shape[0])]
    # The reference runs in f32, the source's own arithmetic; the INT8 model runs as OVMS will run it, in
    # the CPU plugin's defaults, which on CPUs with AVX512_BF16 or AMX compute its float parts in bf16
    # (OpenVINO docs, CPU device, "Floating-point precision"). The gate so counts every point lost.
    reference = accuracy(model, groups, samples.labels, F32) if samples.labels is not None else None
    # subset_size counts Dataset items, each one batch here.
    quantized = nncf.quantize(model, nncf.Dataset(calibrate), subset_size=len(calibrate))
    after = accuracy(quantized, groups, samples.labels) if samples.labels is not None else None
    report = Report(sum(g.shape[0] for g in calibrate), reference, after)
    if reference is not None and after is not None and reference - after > margin:
        raise AccuracyGateError(
            f"INT8 model refused: accuracy {reference:.2f}% -> {after:.2f}% loses {reference - after:.2f} "
            f"points, more than FUSEML_ACCURACY_MARGIN={margin:g}; nothing written (use FP16, give more "
            "calibration samples, or raise the margin)"
        )
    return quantized, report
