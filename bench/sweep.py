"""Search the highest rate that meets an SLO: double from a start rate, then bisect the last step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.stats import meets

#: Bisection stops when the bracket is within this fraction of the passing rate (or 1 request/s).
PRECISION = 0.05


@dataclass
class Found:
    capacity_rps: float | None
    runs: list[dict]
    note: str


def sweep(
    measure: Callable[[float], dict],
    start: float,
    bound: float,
    slo_p99_ms: float,
    max_error_ratio: float,
) -> Found:
    """`measure(rate)` runs one attack; the highest rate up to `bound` whose run meets the SLO.

    Doubling finds a failing rate (or reaches the bound), bisection narrows the step between the last
    pass and the first failure. A run where the generator fell behind fails too, and the note says so:
    the capacity found is then a lower bound set by the generator.
    """
    runs: list[dict] = []
    passed: float | None = None
    failed: float | None = None
    behind = False
    rate = min(start, bound)
    while True:
        run = measure(rate)
        runs.append(run)
        if meets(run, slo_p99_ms, max_error_ratio):
            passed = rate
            if rate >= bound:
                break
            rate = min(bound, rate * 2)
        else:
            failed = rate
            behind = behind or run["generator_behind"]
            break
    while passed is not None and failed is not None and failed - passed > max(1.0, PRECISION * passed):
        rate = round((passed + failed) / 2)
        if rate in (passed, failed):
            break
        run = measure(rate)
        runs.append(run)
        if meets(run, slo_p99_ms, max_error_ratio):
            passed = rate
        else:
            failed = rate
            behind = behind or run["generator_behind"]
    if passed is None:
        note = f"the SLO is missed already at {start:g} req/s"
    elif failed is None:
        note = f"the SLO holds up to the sweep bound {bound:g} req/s: the capacity is at least that"
    else:
        note = f"the SLO holds at {passed:g} req/s and is missed at {failed:g} req/s"
    if behind:
        note += "; the generator fell behind in a failing run: a lower bound (use --in-cluster --parallelism)"
    return Found(passed, runs, note)
