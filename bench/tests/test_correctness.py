"""bench against servers whose behaviour is known (bench/tests/known.py): its figures must be the truth.

Each attack is short (a few seconds at 100 req/s); the expected numbers follow from the server's rule
and the schedule, not from a previous run.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import stats, vegeta
from bench.sweep import sweep
from bench.tests.known import Behaviour, serving

ROOT = Path(__file__).resolve().parents[2]
RATE = 100


def _run(binary: Path, behaviour: Behaviour, warmup: float, duration: float) -> tuple[dict, list[stats.Hit]]:
    with serving(behaviour) as url:
        hits = vegeta.attack(binary, f"{url}/v1/models/m:predict", [b"{}"], RATE, warmup + duration, 5.0)
    return stats.summarize(hits, RATE, warmup, duration), hits


def test_a_fixed_delay_is_every_percentile(vegeta_binary: Path) -> None:
    run, _ = _run(vegeta_binary, Behaviour(delay_s=0.020), warmup=1, duration=4)
    assert run["requests"] == 400
    assert run["errors"] == {} and run["success_ratio"] == 1.0
    assert abs(run["rate_achieved"] - RATE) < 1
    latency = run["latency_ms"]
    # Never below the server's 20 ms; loopback and a Python server add a millisecond or two at the
    # median, a busy shared machine some more at the tail (counted: latency runs from the schedule).
    assert 20 <= latency["p50"] <= 24
    assert 20 <= latency["p99"] <= 60
    assert latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p999"] <= latency["max"]


def test_a_known_failure_fraction_is_counted_exactly(vegeta_binary: Path) -> None:
    run, _ = _run(vegeta_binary, Behaviour(delay_s=0.002, fail_every=20), warmup=1, duration=4)
    # Measured: sequence numbers 100..499 (after one second of warm-up); multiples of 20 fail.
    assert run["errors"] == {"503": len(range(100, 500, 20))}
    assert run["success_ratio"] == pytest.approx(0.95)
    # 5% errors: the 99th percentile request failed, so the SLO's p99 is a miss.
    assert run["slo_p99_ms"] is None
    assert not stats.meets(run, slo_p99_ms=1000, max_error_ratio=0.001)


def test_a_one_second_stall_shows_in_p99_and_max_open_loop(vegeta_binary: Path) -> None:
    run, hits = _run(
        vegeta_binary, Behaviour(delay_s=0.002, stall_at_seq=300, stall_s=1.0), warmup=1, duration=8
    )
    latency = run["latency_ms"]
    # Open loop: the ~100 requests scheduled during the stall all wait for its end, the first one about
    # a second, the last one about nothing: p99 (the 8th-slowest of 800) near 0.9 s, max near 1 s.
    assert 980 <= latency["max"] <= 1100
    assert 850 <= latency["p99"] <= 1000
    assert latency["p50"] < 10
    # The requests scheduled inside the stall: about 100 of them, not the ~10 a closed loop of 10
    # workers would have had in flight.
    slow = sum(1 for h in hits if h.latency_ns > 100e6)
    assert 80 <= slow <= 110


def test_the_schedule_counts_a_late_generator_against_the_latency() -> None:
    # Ten hits scheduled 10 ms apart; the generator sends the last five 200 ms late, each answered in
    # 1 ms: from the send they look fast, from their schedule they waited.
    hits = [stats.Hit(seq=i, sent_ns=i * 10_000_000, latency_ns=1_000_000, code=200) for i in range(5)]
    hits += [
        stats.Hit(seq=i, sent_ns=i * 10_000_000 + 200_000_000, latency_ns=1_000_000, code=200)
        for i in range(5, 10)
    ]
    run = stats.summarize(hits, rate=100, warmup_s=0, duration_s=0.1)
    assert run["latency_ms"]["p50"] == pytest.approx(1.0)
    assert run["latency_ms"]["max"] == pytest.approx(201.0)
    assert run["generator_behind"]


def test_the_sweep_doubles_then_bisects_to_the_capacity() -> None:
    # A server whose p99 is 5 ms up to 300 req/s and 500 ms above.
    def measure(rate: float) -> dict:
        p99 = 5.0 if rate <= 300 else 500.0
        return {
            "rate_target": rate,
            "requests": 100,
            "generator_behind": False,
            "slo_p99_ms": p99,
            "success_ratio": 1.0,
        }

    found = sweep(measure, start=10, bound=1000, slo_p99_ms=50, max_error_ratio=0.001)
    assert [run["rate_target"] for run in found.runs[:7]] == [10, 20, 40, 80, 160, 320, 240]
    assert 300 - 0.05 * 300 <= found.capacity_rps <= 300
    bounded = sweep(measure, start=10, bound=200, slo_p99_ms=50, max_error_ratio=0.001)
    assert bounded.capacity_rps == 200 and "at least" in bounded.note


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate 0: a number above 0"),
        (["--rate", "10", "--duration", "-5"], "--duration -5: a number above 0"),
        (["--slo-p99-ms", "50"], "--slo-p99-ms needs --max-rate"),
    ],
)
def test_bad_flags_are_refused_before_any_load(args: list[str], message: str) -> None:
    with serving(Behaviour()) as url:
        done = _cli("--target", f"m={url}/v1/models/m:predict", *args)
        # The server saw nothing: not even the one-request check.
        served = _requests_seen(url)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"bench: {done.stderr.strip()[len('bench: ') :]}"]
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert served == 0


def _requests_seen(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{url}/count") as answer:
        return json.loads(answer.read())["count"] - 1  # this very request counts too


def test_bad_targets_are_one_line_each_and_the_others_are_measured(tmp_path: Path) -> None:
    payload = tmp_path / "body.json"
    payload.write_text(json.dumps({"instances": [[1, 2, 3, 4]]}))
    out = tmp_path / "out"
    with serving(Behaviour(delay_s=0.002)) as good, serving(Behaviour(status_for_body=400)) as bad:
        done = _cli(
            "--target", f"good={good}/v1/models/m:predict",
            "--target", f"bad={bad}/v1/models/m:predict",
            "--target", "gone=http://127.0.0.1:9/v1/models/m:predict",
            "--payload", str(payload), "--rate", "50", "--duration", "2", "--warmup", "0.5",
            "--out", str(out),
        )  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("bench: ")]
    assert len(lines) == 2
    assert (
        "bad:" in lines[0]
        and "answered 400 to the request body" in lines[0]
        and "input shape mismatch" in lines[0]
    )
    assert "gone:" in lines[1] and "unreachable" in lines[1]
    results = json.loads((out / "results.json").read_text())
    by_name = {t["name"]: t for t in results["targets"]}
    good_run = by_name["good"]["runs"][0]
    assert good_run["requests"] == 100 and good_run["errors"] == {}
    assert set(good_run["latency_ms"]) == {"p50", "p90", "p99", "p999", "max"}
    assert by_name["good"]["capacity_rps"] is None and by_name["good"]["cost_per_million"] is None
    assert by_name["bad"]["runs"] == [] and "400" in by_name["bad"]["error"]
    page = (out / "report.html").read_text()
    # Self-contained: the charts are inside, nothing is fetched.
    assert page.count("data:image/png;base64,") == 2
    assert 'src="http' not in page and "<script" not in page
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"
    assert math.isfinite(good_run["latency_ms"]["max"])
