"""bench against real model servers from PyPI on 127.0.0.1, serving a model trained here.

KServe's Python model server (kserve, as its sklearn runtime serves a joblib model) and MLServer
(mlserver-sklearn, from its own environment .venv-bench-mlserver: the two cannot share one) serve the
same LogisticRegression on iris; KServe's server also serves an OpenVINO IR of that model, compiled by
OpenVINO Runtime (OVMS is not on PyPI). Bodies are built from each server's v2 metadata. The figures are
printed (`pytest -s`); the asserted part is what must hold on any machine: each target measured without
errors at a low rate, a capacity found, and the ranking at that low rate consistent with the
single-request timings measured separately.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MLSERVER = Path(os.environ.get("BENCH_MLSERVER", ROOT / ".venv-bench-mlserver" / "bin" / "mlserver"))
MODEL = "iris"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str, process: subprocess.Popen, log: Path, wait_s: float = 60) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"server not ready at {url}: {log.read_text()[-2000:]}")


def _start(command: list[str], cwd: Path, ready_url: str, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    _ready(ready_url, process, log)
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The trained model as joblib, and as an OpenVINO IR computing the same class scores."""
    import openvino as ov
    import openvino.opset13 as ops

    folder = tmp_path_factory.mktemp("model")
    features, labels = load_iris(return_X_y=True)
    classifier = LogisticRegression(max_iter=500).fit(features, labels)
    joblib.dump(classifier, folder / "model.joblib")
    # The IR: scores = x . coef^T + intercept (argmax of them is LogisticRegression.predict).
    x = ops.parameter([-1, features.shape[1]], np.float32, name="input-0")
    weights = ops.constant(classifier.coef_.T.astype(np.float32))
    scores = ops.add(
        ops.matmul(x, weights, False, False), ops.constant(classifier.intercept_.astype(np.float32))
    )
    ov.save_model(ov.Model([scores], [x], "iris"), folder / "iris.xml")
    return folder / "model.joblib", folder / "iris.xml"


@pytest.fixture(scope="module")
def servers(model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """name -> v2 infer URL of each running server."""
    if not MLSERVER.exists():
        pytest.fail(f"MLServer is not installed at {MLSERVER} (bench/tests/requirements-mlserver.txt)")
    joblib_path, ir_path = model
    work = tmp_path_factory.mktemp("servers")
    started: list[subprocess.Popen] = []
    urls: dict[str, str] = {}
    try:
        for kind, path in (("sklearn", joblib_path), ("openvino", ir_path)):
            port = _port()
            base = f"http://127.0.0.1:{port}"
            started.append(
                _start(
                    [sys.executable, str(HERE / "kserve_server.py"), "--kind", kind, "--path", str(path),
                     "--model_name", MODEL, "--http_port", str(port)],
                    work, f"{base}/v2/models/{MODEL}/ready", work / f"kserve-{kind}.log",
                )
            )  # fmt: skip
            urls[f"kserve-{kind}"] = f"{base}/v2/models/{MODEL}/infer"
        repo = work / "mlserver"
        (repo / MODEL).mkdir(parents=True)
        (repo / MODEL / "model.joblib").write_bytes(joblib_path.read_bytes())
        port = _port()
        # One process like the KServe server (parallel_workers 0: no inference pool), its gRPC and
        # metrics ports out of the way. Settings: mlserver/settings.py (Settings, ModelSettings).
        settings = {"http_port": port, "grpc_port": _port(), "metrics_port": _port(), "parallel_workers": 0}
        (repo / "settings.json").write_text(json.dumps(settings))
        (repo / MODEL / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": MODEL,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib"},
                    "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
                }
            )
        )
        base = f"http://127.0.0.1:{port}"
        started.append(
            _start(
                [str(MLSERVER), "start", str(repo)],
                repo,
                f"{base}/v2/models/{MODEL}/ready",
                work / "mlserver.log",
            )
        )
        urls["mlserver-sklearn"] = f"{base}/v2/models/{MODEL}/infer"
        yield urls
    finally:
        for process in started:
            _stop(process)


def _single_request_ms(url: str, body: bytes, count: int = 150) -> float:
    """Median of one-at-a-time requests (no concurrency): the servers' own service time."""
    timings = []
    for _ in range(count):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        started = time.perf_counter()
        with urllib.request.urlopen(request) as answer:
            answer.read()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings[20:])


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def test_real_servers_are_measured_and_ranked_consistently(servers: dict[str, str], tmp_path: Path) -> None:
    targets = [arg for name, url in servers.items() for arg in ("--target", f"{name}={url}")]
    low = _bench(*targets, "--rate", "30", "--duration", "3", "--warmup", "1", "--out", str(tmp_path / "low"))
    assert low.returncode == 0, low.stderr
    low_results = json.loads((tmp_path / "low" / "results.json").read_text())
    p50 = {t["name"]: t["runs"][0]["latency_ms"]["p50"] for t in low_results["targets"]}
    for target in low_results["targets"]:
        run = target["runs"][0]
        assert run["errors"] == {} and run["requests"] == 90, target
    # The body was built from each server's v2 metadata; one request of it, one at a time, per server.
    single = {}
    for name, url in servers.items():
        body = json.dumps(
            {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0.5] * 4}]}
        ).encode()
        single[name] = _single_request_ms(url, body)
    print(f"\nsingle-request median ms: {single}\nopen-loop p50 ms at 30 req/s: {p50}")
    # Consistent ranking: wherever the single-request medians differ by more than a quarter, the
    # open-loop p50 at a low rate orders the two servers the same way.
    names = sorted(servers)
    for a in names:
        for b in names:
            if single[a] * 1.25 < single[b]:
                assert p50[a] < p50[b], (a, b, single, p50)


@pytest.mark.parametrize("name", ["kserve-sklearn", "kserve-openvino", "mlserver-sklearn"])
def test_each_real_server_is_swept_to_its_capacity_and_priced(
    servers: dict[str, str], name: str, tmp_path: Path
) -> None:
    sweep = _bench(
        "--target", f"{name}={servers[name]}", "--slo-p99-ms", "50", "--max-rate", "800", "--rate", "50",
        "--duration", "2", "--warmup", "0.5", "--out", str(tmp_path),
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    print(sweep.stdout)
    [target] = json.loads((tmp_path / "results.json").read_text())["targets"]
    assert target["capacity_rps"] and target["capacity_rps"] >= 50, target
    assert target["cost_per_million"] > 0
    assert target["node_share"] == 1.0  # by hand: a whole n2-standard-4
    assert target["price_per_hour"] == 0.194236
    print(target["note"])
