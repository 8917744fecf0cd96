"""`--in-cluster --parallelism N`: each pod's results, as the pinned image's vegeta writes them, checked on
their own schedule and merged into one run.

The logs are real output of vegeta 12.8.4 (the release in bench.incluster.IMAGE) running each pod's own
pipeline against servers on 127.0.0.1 with known answers, recorded one pod after the other so that each has
its own clock origin (bench/tests/record_pods.py says how, and what each server did): pod-0 and pod-1 at
20 req/s for 4 s against a server answering in 5 ms and failing every 10th sequence number with 503;
pod-behind at 20 req/s with one worker against a server taking 200 ms (a pod that cannot hold its rate).
"""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from bench import incluster, stats
from bench.__main__ import main
from bench.tests import record_pods
from bench.vegeta import parse_csv

RECORDED = Path(record_pods.__file__).parent / "recorded" / "vegeta-12.8.4"
RATE = record_pods.RATE
WARMUP_S = 1.0
DURATION_S = record_pods.SECONDS - WARMUP_S
#: Per pod: requests scheduled after the warm-up, and the failing ones among them (seq % 10 == 0).
MEASURED = round(DURATION_S * RATE)
FAILED = len(
    [seq for seq in range(round(WARMUP_S * RATE), round(record_pods.SECONDS * RATE)) if seq % 10 == 0]
)


def _log(name: str) -> str:
    return (RECORDED / f"{name}.csv").read_text(encoding="utf-8")


def _hits(name: str) -> list[stats.Hit]:
    return list(parse_csv(_log(name).splitlines()))


def test_every_line_of_a_12_8_4_log_is_read_with_its_known_answer() -> None:
    for name in ("pod-0", "pod-1"):
        lines = _log(name).splitlines()
        hits = _hits(name)
        assert len(hits) == len(lines) == round(record_pods.SECONDS * RATE)
        assert sorted(h.seq for h in hits) == list(range(len(hits)))
        for hit in hits:
            failing = hit.seq % record_pods.FAIL_EVERY == 0
            assert (hit.code, hit.ok) == ((503, False) if failing else (200, True))
            assert hit.error == ("503 Service Unavailable" if failing else "")
            # The server's fixed delay is the least any answer took.
            assert hit.latency_ns >= record_pods.DELAY_S * 1e9


def test_two_pods_merge_into_one_run_at_their_summed_rate() -> None:
    run = stats.merged([_hits("pod-0"), _hits("pod-1")], RATE, WARMUP_S, DURATION_S)
    assert run["rate_target"] == 2 * RATE
    assert run["requests"] == 2 * MEASURED
    assert run["errors"] == {"503": 2 * FAILED}
    assert run["success_ratio"] == pytest.approx(1 - 2 * FAILED / (2 * MEASURED))
    assert run["generator_behind"] is False
    # Each pod held its 20 req/s, so the two together 40 (the server was not the limit at 5 ms).
    assert run["rate_achieved"] == pytest.approx(2 * RATE, rel=0.02)
    # Latencies from each pod's own schedule: the server's 5 ms and this machine's overhead, never the
    # seconds between the two recordings (pod-1 started about 5 s after pod-0 on the same clock).
    latency = run["latency_ms"]
    assert record_pods.DELAY_S * 1000 <= latency["p50"] <= latency["p99"] <= latency["max"] < 200
    raw = sorted(h.latency_ns / 1e6 for name in ("pod-0", "pod-1") for h in _hits(name) if h.seq >= RATE)
    assert latency["p50"] == pytest.approx(stats.percentile(raw, 0.5), abs=1.0)


def test_pods_clocks_do_not_matter_each_is_measured_on_its_own_schedule() -> None:
    later = [replace(h, sent_ns=h.sent_ns + 3600 * 10**9) for h in _hits("pod-1")]
    assert stats.merged([_hits("pod-0"), later], RATE, WARMUP_S, DURATION_S) == stats.merged(
        [_hits("pod-0"), _hits("pod-1")], RATE, WARMUP_S, DURATION_S
    )


def test_one_pod_that_could_not_hold_its_rate_flags_the_merged_run() -> None:
    behind = _hits("pod-behind")
    alone = stats.summarize(behind, RATE, WARMUP_S, DURATION_S)
    # One worker against 200 ms answers: about 5 of the 20 req/s were sent, each later than scheduled.
    assert alone["generator_behind"] is True and alone["rate_achieved"] < RATE / 2
    run = stats.merged([_hits("pod-0"), behind], RATE, WARMUP_S, DURATION_S)
    assert run["generator_behind"] is True
    assert run["requests"] < 2 * MEASURED
    # Its late sends count from their schedule: seconds, not the server's 200 ms.
    assert run["latency_ms"]["max"] > 1000
    # The pod that kept up is not flagged on its own: the flag is the lagging pod's.
    assert stats.summarize(_hits("pod-0"), RATE, WARMUP_S, DURATION_S)["generator_behind"] is False


def _kubectl(folder: Path, pods: dict[str, str]) -> Path:
    """A kubectl stand-in (the cluster boundary): the Job done, its pods listed, each pod's log a file."""
    cases = "".join(f'  *"logs pod/{pod}"*) cat {RECORDED / log}.csv;;\n' for pod, log in pods.items())
    listing = "\\n".join(f"pod/{pod}" for pod in pods)
    script = (
        '#!/bin/sh\ncase "$*" in\n'
        f'  *"get job"*) printf "{len(pods)}/";;\n'
        f'  *"get pods"*) printf "{listing}\\n";;\n'
        f"{cases}"
        "esac\n"
    )
    path = folder / "kubectl"
    path.write_text(script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_the_command_merges_the_pods_logs_it_reads_from_the_cluster(tmp_path: Path) -> None:
    kubectl = _kubectl(tmp_path, {"bench-a-0": "pod-0", "bench-a-1": "pod-1"})
    payload = tmp_path / "body.json"
    payload.write_text(record_pods.BODY.decode(), encoding="utf-8")
    code = main([
        "--in-cluster", "--namespace", "ns1", "--target", "m=http://m.ns1.svc.cluster.local:8081/v1/models/m:predict",
        "--payload", str(payload), "--rate", str(2 * RATE), "--parallelism", "2", "--warmup", str(WARMUP_S),
        "--duration", str(DURATION_S), "--kubectl", str(kubectl), "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert code == 0
    [target] = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["targets"]
    [run] = target["runs"]
    assert run == stats.merged([_hits("pod-0"), _hits("pod-1")], RATE, WARMUP_S, DURATION_S)
    assert run["requests"] == 2 * MEASURED and run["errors"] == {"503": 2 * FAILED}


def test_a_pod_whose_log_has_no_results_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.csv").write_text("sh: vegeta: not found\n", encoding="utf-8")
    kubectl = _kubectl(tmp_path, {"bench-b-0": "pod-0", "bench-b-1": str(tmp_path / "broken")})
    with pytest.raises(
        incluster.ClusterError, match=r"^ns1/bench-b-1 wrote no results: sh: vegeta: not found$"
    ):
        incluster.run_job(
            incluster.Kubectl(str(kubectl), "ns1"), "ns1",
            incluster.Attack("http://m/v1/models/m:predict", [b"{}"], rate=40, seconds=4, timeout_s=1,
                             parallelism=2),
            wait_s=5, say=lambda line: None,
        )  # fmt: skip
