"""What converting to OpenVINO IR buys on this CPU: ONNX Runtime against the IR in FP32, FP16 and INT8.

In one run, on two models built here:

* `digits`: a small CNN trained (torch, CPU) on scikit-learn's `digits` images, upsampled to 64x64, so
  accuracy is measured on real labelled data (the 450 held-out images); INT8 is calibrated on 300
  training images, whose labels also feed the converter's accuracy gate.
* `resnet`: a ResNet-18-shaped network (random weights) at 1x3x224x224, the size of the issue's figures;
  INT8 is calibrated on 30 random images, so only its speed and output difference mean something.

Each model is exported to ONNX, then converted by the converter step itself (`convert.__main__.main`, so
the IR measured is the IR published). Printed, for batch 1 and 8: p50 and p99 latency of synchronous
requests, throughput, the largest output difference from ONNX Runtime, and top-1 accuracy; then the IR
under OpenVINO's LATENCY and THROUGHPUT hints with nireq from 1 to the core count (asynchronous queue).
ONNX Runtime is what KServe's and Seldon's Triton and MLServer runtimes execute for an ONNX model.

    .venv-convert/bin/python benchmarks/convert_benchmark.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown").strip()
    flags = fields.get("Flags", "").split()
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags]
    return f"{name}, {os.cpu_count()} cores, {' '.join(isa)}"


# --- models --------------------------------------------------------------------------------------------
def digits_model():
    import torch
    from sklearn.datasets import load_digits

    class DigitsCNN(torch.nn.Module):
        """Four 3x3 conv layers (32-64-128-128 channels) over 64x64 images, about 48 M multiply-adds."""

        def __init__(self) -> None:
            super().__init__()
            widths = (1, 32, 64, 128, 128)
            self.convs = torch.nn.ModuleList(
                torch.nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(widths)
            )
            self.fc = torch.nn.Linear(128 * 4 * 4, 10)

        def forward(self, x):
            for conv in self.convs:
                x = torch.nn.functional.max_pool2d(torch.relu(conv(x)), 2)
            return self.fc(torch.flatten(x, 1))

    digits = load_digits()
    # The 8x8 images upsampled to 64x64, so the network does enough work per image for the runtimes'
    # own per-call overhead (tens of microseconds) not to be what is measured.
    small = torch.from_numpy((digits.images / 16.0).astype(np.float32)[:, None])
    images = torch.nn.functional.interpolate(small, size=(64, 64), mode="bilinear").numpy()
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1347], order[1347:]
    torch.manual_seed(0)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(images[train]), torch.from_numpy(labels[train])
    for _ in range(8):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    return model, (1, 64, 64), images[train][:300], labels[train][:300], images[test], labels[test]


def resnet_model():
    import torch

    class Block(torch.nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(cout)
            self.b = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = torch.nn.BatchNorm2d(cout)
            self.skip = (
                torch.nn.Sequential(
                    torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout)
                )
                if stride != 1 or cin != cout
                else torch.nn.Identity()
            )

        def forward(self, x):
            out = torch.relu(self.bn1(self.a(x)))
            return torch.relu(self.bn2(self.b(out)) + self.skip(x))

    class ResNet18(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Sequential(
                torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False),
                torch.nn.BatchNorm2d(64),
                torch.nn.ReLU(),
                torch.nn.MaxPool2d(3, 2, 1),
            )
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = torch.nn.Sequential(*layers)
            self.fc = torch.nn.Linear(512, 1000)

        def forward(self, x):
            x = self.layers(self.stem(x))
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))

    torch.manual_seed(0)
    model = ResNet18().eval()
    calib = np.random.default_rng(1).standard_normal((30, 3, 224, 224)).astype(np.float32)
    return model, (3, 224, 224), calib, None, calib[:8], None


# --- conversion through the step ---------------------------------------------------------------------
def export(model, sample_shape, path: Path) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, *sample_shape),),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
            dynamo=False,
        )


def convert(src: Path, out: Path, precision: str, calib: np.ndarray, labels, work: Path) -> Path:
    from convert.__main__ import main

    env = {"FUSEML_INPUT_MODEL": str(src), "FUSEML_OUTPUT_MODEL": str(out), "FUSEML_PRECISION": precision}
    if precision == "INT8":
        np.save(work / f"{out.name}-calib.npy", calib)
        env.update(FUSEML_CALIBRATION_DATA=str(work / f"{out.name}-calib.npy"))
        if labels is not None:
            np.save(work / f"{out.name}-labels.npy", labels)
            env.update(FUSEML_CALIBRATION_LABELS=str(work / f"{out.name}-labels.npy"))
    log, err = io.StringIO(), io.StringIO()
    code = main([], env, log, err)
    if code != 0:
        raise SystemExit(f"conversion {precision} failed ({code}): {err.getvalue().strip()}")
    for line in log.getvalue().splitlines():
        if line.startswith("INT8:"):
            print(f"    {line}")
    return out / "1" / "model.xml"


# --- measurement ---------------------------------------------------------------------------------------
def timed(run, x: np.ndarray, seconds: float) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, samples/s) of synchronous calls on x, for about `seconds` after a warm-up."""
    for _ in range(5):
        run(x)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 20:
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return (
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        x.shape[0] * len(ms) / (ms.sum() / 1000),
    )


def predict(run, data: np.ndarray, batch: int) -> np.ndarray:
    outs = [run(data[i : i + batch]) for i in range(0, len(data) - len(data) % batch, batch)]
    return np.concatenate(outs)


def bench_model(name: str, built, seconds: float, work: Path) -> dict:
    import onnxruntime
    import openvino as ov

    model, sample_shape, calib, calib_labels, test, test_labels = built
    src = work / name / "source"
    src.mkdir(parents=True)
    export(model, sample_shape, src / "model.onnx")
    core = ov.Core()
    sess = onnxruntime.InferenceSession(str(src / "model.onnx"), providers=["CPUExecutionProvider"])

    def ort(x):
        return sess.run(None, {"x": x})[0]

    runners = {"ONNX Runtime (source)": ort}
    xmls = {}
    for precision in ("FP32", "FP16", "INT8"):
        xmls[precision] = convert(src, work / name / precision.lower(), precision, calib, calib_labels, work)
    for label, precision, config in (
        ("OpenVINO FP32 IR", "FP32", {}),
        ("OpenVINO FP32 IR, f32 hint", "FP32", F32),
        ("OpenVINO FP16 IR", "FP16", {}),
        ("OpenVINO INT8 IR", "INT8", {}),
    ):
        compiled = core.compile_model(str(xmls[precision]), "CPU", {"PERFORMANCE_HINT": "LATENCY", **config})
        request, port = compiled.create_infer_request(), compiled.output(0)

        def run(x, request=request, port=port):
            return request.infer({0: x})[port].copy()

        runners[label] = run
    reference = predict(ort, test, 1)
    rows = []
    for label, run in runners.items():
        outputs = predict(run, test, 1)
        diff = float(np.abs(outputs - reference).max())
        acc = None if test_labels is None else 100.0 * float((outputs.argmax(1) == test_labels).mean())
        for batch in (1, 8):
            x = np.ascontiguousarray(np.resize(test, (batch, *test.shape[1:])))
            p50, p99, tput = timed(run, x, seconds)
            rows.append((label, batch, p50, p99, tput, diff, acc))
    return {"rows": rows, "xmls": xmls}


def hints(xml: Path, sample_shape, seconds: float) -> list[tuple[str, int, float, float]]:
    """(hint, nireq, samples/s, mean ms per request) with an AsyncInferQueue of nireq jobs at batch 1."""
    import openvino as ov

    core = ov.Core()
    x = np.random.default_rng(2).standard_normal((1, *sample_shape)).astype(np.float32)
    found = []
    for hint in ("LATENCY", "THROUGHPUT"):
        compiled = core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": hint})
        optimal = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        for nireq in range(1, (os.cpu_count() or 1) + 1):
            queue = ov.AsyncInferQueue(compiled, nireq)
            for _ in range(nireq * 3):
                queue.start_async({0: x})
            queue.wait_all()
            done = 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                for _ in range(nireq * 4):
                    queue.start_async({0: x})
                queue.wait_all()
                done += nireq * 4
            elapsed = time.perf_counter() - start
            found.append(
                (f"{hint} (optimal nireq {optimal})", nireq, done / elapsed, 1000 * elapsed * nireq / done)
            )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    import onnxruntime
    import openvino as ov
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print(f"CPU: {cpu_name()}")
    print(f"openvino {ov.get_version()}, onnxruntime {onnxruntime.__version__}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="convert-bench-") as scratch:
        work = Path(scratch)
        results = {}
        for name, build in (("digits", digits_model), ("resnet", resnet_model)):
            print(
                f"\n== {name}: building, exporting to ONNX, converting FP32/FP16/INT8 with python -m convert"
            )
            built = build()
            results[name] = bench_model(name, built, args.seconds, work)
            head = f"{'runtime':30} {'batch':>5} {'p50 ms':>8} {'p99 ms':>8} {'samples/s':>10}"
            print(f"{head} {'max diff':>9} {'top-1':>7}")
            base = {b: p50 for label, b, p50, *_ in results[name]["rows"] if label.startswith("ONNX")}
            for label, batch, p50, p99, tput, diff, acc in results[name]["rows"]:
                accuracy = "-" if acc is None else f"{acc:.2f}%"
                ratio = f"  ({p50 / base[batch]:.2f}x ORT)" if not label.startswith("ONNX") else ""
                times = f"{label:30} {batch:>5} {p50:8.3f} {p99:8.3f} {tput:10.1f}"
                print(f"{times} {diff:9.2e} {accuracy:>7}{ratio}")
            print(f"\n{name}: hints and nireq at batch 1 (asynchronous queue)")
            print(f"{'IR':5} {'hint':32} {'nireq':>5} {'samples/s':>10} {'ms/request':>10}")
            for precision in ("FP32", "INT8"):
                for hint, nireq, tput, ms in hints(results[name]["xmls"][precision], built[1], args.seconds):
                    print(f"{precision:5} {hint:32} {nireq:>5} {tput:10.1f} {ms:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
