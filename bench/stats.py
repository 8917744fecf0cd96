"""One run's figures from vegeta's per-request results: latency from the scheduled time, errors, rate.

vegeta's constant pacer schedules hit k at a fixed offset k/rate from the attack's start and stamps each
result with its sequence number and the time it was sent (lib/pacer.go ConstantPacer.Pace, lib/attack.go
hit). Measuring from the send time alone would hide the time a request waited for a late generator
(coordinated omission), so every latency here is counted from the request's scheduled time instead: the
send time plus the response time, minus the schedule. The schedule's origin is the earliest one the sends
allow (no hit is sent before its time), so a generator that keeps up makes the two measures agree.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

#: A run whose sends lag their schedule by more than this at the 99th percentile, or that sent fewer
#: requests than scheduled, fell behind: its figures are still true latencies from the schedule, but the
#: rate was the generator's limit, not the server's, so it is not used as a capacity figure.
BEHIND_LAG_MS = 10.0
BEHIND_SENT_RATIO = 0.99
#: Percentiles reported for every run, by their key in results.json.
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}


@dataclass(frozen=True)
class Hit:
    """One request as vegeta reports it: sequence number, send time and latency (ns), status, error."""

    seq: int
    sent_ns: int
    latency_ns: int
    code: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300 and not self.error


def error_kind(hit: Hit) -> str:
    """The errors key of a failed request: its HTTP status, or `timeout`, or `connection`."""
    if hit.code:
        return str(hit.code)
    # The Go client's words for a request cut by vegeta's -timeout (net/http Client.Timeout).
    text = hit.error.lower()
    if "timeout" in text or "deadline exceeded" in text:
        return "timeout"
    return "connection"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a latency some request had)."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(hits: list[Hit], rate: float, warmup_s: float, duration_s: float) -> dict:
    """The results.json run of one attack of `warmup_s + duration_s` seconds at `rate` requests/s.

    Requests scheduled in the warm-up are left out; the rest are the run. An error (non-2xx, timeout,
    connection) counts at its measured latency in the percentiles and, separately, as an SLO miss
    (`slo_p99_ms` ranks errors above every success).
    """
    return merged([hits], rate, warmup_s, duration_s)


@dataclass
class _Pod:
    latencies: list[float]
    """Per measured request, from its scheduled time (ms); math.inf-free."""
    ok: list[bool]
    errors: Counter
    lag_p99_ms: float
    achieved: float
    short: bool
    """Sent fewer requests than scheduled."""


def _pod(hits: list[Hit], rate: float, warmup_s: float, duration_s: float) -> _Pod | None:
    interval_ns = 1e9 / rate
    first = round(warmup_s * rate)
    scheduled = round((warmup_s + duration_s) * rate)
    if not hits:
        return None
    origin = min(h.sent_ns - h.seq * interval_ns for h in hits)
    measured = [h for h in hits if first <= h.seq < scheduled]
    if not measured:
        return None
    sends = sorted(h.sent_ns for h in measured)
    span = (sends[-1] - sends[0]) / 1e9
    lags = sorted((h.sent_ns - (origin + h.seq * interval_ns)) / 1e6 for h in measured)
    return _Pod(
        latencies=[(h.sent_ns + h.latency_ns - (origin + h.seq * interval_ns)) / 1e6 for h in measured],
        ok=[h.ok for h in measured],
        errors=Counter(error_kind(h) for h in measured if not h.ok),
        lag_p99_ms=percentile(lags, 0.99),
        achieved=(len(sends) - 1) / span if span > 0 else 0.0,
        short=len(measured) < BEHIND_SENT_RATIO * (scheduled - first),
    )


def merged(pods_hits: list[list[Hit]], rate_per_pod: float, warmup_s: float, duration_s: float) -> dict:
    """One run from several generators at `rate_per_pod` each (in-cluster pods): each pod's requests on
    its own schedule and its own rate check, the percentiles over every request of every pod."""
    rate = rate_per_pod * len(pods_hits)
    pods = [_pod(hits, rate_per_pod, warmup_s, duration_s) for hits in pods_hits]
    if not pods or any(pod is None for pod in pods):
        return _empty(rate, duration_s)
    present = [pod for pod in pods if pod is not None]
    latencies = sorted(value for pod in present for value in pod.latencies)
    errors: Counter = sum((pod.errors for pod in present), Counter())
    with_misses = sorted(
        value if ok else math.inf for pod in present for value, ok in zip(pod.latencies, pod.ok, strict=True)
    )
    slo_p99 = percentile(with_misses, 0.99)
    lag_p99 = max(pod.lag_p99_ms for pod in present)
    return {
        "rate_target": rate,
        "rate_achieved": round(sum(pod.achieved for pod in present), 2),
        "duration_s": duration_s,
        "requests": len(latencies),
        "latency_ms": {key: round(percentile(latencies, q), 3) for key, q in PERCENTILES.items()}
        | {"max": round(latencies[-1], 3)},
        "success_ratio": round(1 - sum(errors.values()) / len(latencies), 6),
        "errors": dict(sorted(errors.items())),
        "generator_behind": any(pod.short or pod.lag_p99_ms > BEHIND_LAG_MS for pod in present),
        "send_lag_p99_ms": round(lag_p99, 3),
        # p99 with every error ranked above every success: what the SLO is checked against (None: the
        # 99th percentile request failed).
        "slo_p99_ms": None if math.isinf(slo_p99) else round(slo_p99, 3),
    }


def meets(run: dict, slo_p99_ms: float, max_error_ratio: float) -> bool:
    """Whether a run meets the SLO: p99 (errors as misses) within it, errors within their ratio, and a
    generator that kept up (a run it could not hold says nothing about the server)."""
    return (
        not run["generator_behind"]
        and run["requests"] > 0
        and run["slo_p99_ms"] is not None
        and run["slo_p99_ms"] <= slo_p99_ms
        and 1 - run["success_ratio"] <= max_error_ratio
    )


def _empty(rate: float, duration_s: float) -> dict:
    return {
        "rate_target": rate,
        "rate_achieved": 0.0,
        "duration_s": duration_s,
        "requests": 0,
        "latency_ms": None,
        "success_ratio": 0.0,
        "errors": {},
        "generator_behind": True,
        "send_lag_p99_ms": None,
        "slo_p99_ms": None,
    }
