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
    (`slo_p99_ms` in the SLO check ranks errors above every success).
    """
    interval_ns = 1e9 / rate
    if not hits:
        return _empty(rate, duration_s)
    origin = min(h.sent_ns - h.seq * interval_ns for h in hits)
    first = round(warmup_s * rate)
    scheduled = round((warmup_s + duration_s) * rate)
    measured = [h for h in hits if first <= h.seq < scheduled]
    if not measured:
        return _empty(rate, duration_s)
    latencies = sorted((h.sent_ns + h.latency_ns - (origin + h.seq * interval_ns)) / 1e6 for h in measured)
    lags = sorted((h.sent_ns - (origin + h.seq * interval_ns)) / 1e6 for h in measured)
    sends = sorted(h.sent_ns for h in measured)
    span = (sends[-1] - sends[0]) / 1e9
    achieved = (len(sends) - 1) / span if span > 0 else 0.0
    errors = Counter(error_kind(h) for h in measured if not h.ok)
    expected = scheduled - first
    lag_p99 = percentile(lags, 0.99)
    behind = len(measured) < BEHIND_SENT_RATIO * expected or lag_p99 > BEHIND_LAG_MS
    return {
        "rate_target": rate,
        "rate_achieved": round(achieved, 2),
        "duration_s": duration_s,
        "requests": len(measured),
        "latency_ms": {key: round(percentile(latencies, q), 3) for key, q in PERCENTILES.items()}
        | {"max": round(latencies[-1], 3)},
        "success_ratio": round(1 - sum(errors.values()) / len(measured), 6),
        "errors": dict(sorted(errors.items())),
        "generator_behind": behind,
        "send_lag_p99_ms": round(lag_p99, 3),
        "slo_p99_ms": _p99_errors_missed(measured, origin, interval_ns),
    }


def _p99_errors_missed(hits: list[Hit], origin: float, interval_ns: float) -> float | None:
    """p99 with every error ranked above every success: what the SLO is checked against (None: the
    99th percentile request failed)."""
    values = sorted(
        (h.sent_ns + h.latency_ns - (origin + h.seq * interval_ns)) / 1e6 if h.ok else math.inf for h in hits
    )
    found = percentile(values, 0.99)
    return None if math.isinf(found) else round(found, 3)


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
