"""What a benchmark leaves: the table on the terminal, results.json, PNG charts and report.html.

report.html is one self-contained file (the charts embedded as data: URIs), to open in a browser without
a server. Charts are drawn with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

PERCENTILE_LABELS = {"p50": "p50", "p90": "p90", "p99": "p99", "p999": "p99.9", "max": "max"}


def at_capacity(target: dict) -> dict | None:
    """The run at the target's capacity (a sweep), or its one run (a fixed rate)."""
    runs = target["runs"]
    if target.get("capacity_rps") is not None:
        for run in runs:
            if run["rate_target"] == target["capacity_rps"]:
                return run
    return runs[-1] if len(runs) == 1 else None


def winner(results: dict) -> str | None:
    """The target with the lowest cost per million, else the highest capacity, else the lowest p99."""
    scored = [t for t in results["targets"] if t.get("cost_per_million") is not None]
    if scored:
        return min(scored, key=lambda t: t["cost_per_million"])["name"]
    measured = [(t, at_capacity(t)) for t in results["targets"] if t.get("error") is None]
    with_p99 = [(t, run) for t, run in measured if run and run["latency_ms"]]
    if with_p99:
        return min(with_p99, key=lambda pair: pair[1]["latency_ms"]["p99"])[0]["name"]
    return None


def table(results: dict) -> str:
    """The end-of-run table: target, backend, capacity at the SLO, p50/p99 at that rate, errors, cost."""
    header = ("target", "backend", "capacity rps", "rate", "p50 ms", "p99 ms", "errors", "$/million")
    rows = [header]
    for target in results["targets"]:
        if target.get("error"):
            rows.append((target["name"], target.get("backend") or "-", "failed", "-", "-", "-", "-", "-"))
            continue
        run = at_capacity(target)
        latency = (run or {}).get("latency_ms") or {}
        errors = sum((run or {}).get("errors", {}).values())
        cost = target.get("cost_per_million")
        rows.append(
            (
                target["name"],
                target.get("backend") or "-",
                _num(target.get("capacity_rps")),
                _num(run["rate_achieved"]) if run else "-",
                _num(latency.get("p50")),
                _num(latency.get("p99")),
                str(errors) if run else "-",
                f"{cost:.4f}" if cost is not None else "-",
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def write(results: dict, out: Path) -> list[Path]:
    """results.json, the PNG charts and report.html in `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json"]
    written[0].write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    charts = [
        _latency_chart(results, out / "latency.png"),
        _capacity_cost_chart(results, out / "capacity-cost.png"),
    ]
    written += charts
    page = out / "report.html"
    page.write_text(_html(results, charts), encoding="utf-8")
    written.append(page)
    return written


def _measured(results: dict) -> list[dict]:
    return [t for t in results["targets"] if t.get("runs")]


def _pyplot():
    """matplotlib's pyplot on the Agg backend, loaded only when a chart is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _latency_chart(results: dict, path: Path) -> Path:
    """Latency percentiles against the achieved rate, one panel per target."""
    plt = _pyplot()
    targets = _measured(results) or [{"name": "no target measured", "runs": []}]
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 4), squeeze=False)
    for axis, target in zip(axes[0], targets, strict=True):
        runs = sorted((r for r in target["runs"] if r["latency_ms"]), key=lambda r: r["rate_target"])
        for key, label in PERCENTILE_LABELS.items():
            axis.plot(
                [r["rate_achieved"] for r in runs], [r["latency_ms"][key] for r in runs], "o-", label=label
            )
        slo = (results.get("slo") or {}).get("p99_ms")
        if slo:
            axis.axhline(slo, color="red", linestyle="--", linewidth=1, label=f"SLO p99 {slo:g} ms")
        if target.get("capacity_rps"):
            axis.axvline(target["capacity_rps"], color="grey", linestyle=":", linewidth=1, label="capacity")
        axis.set_title(target["name"])
        axis.set_xlabel("achieved rate (req/s)")
        axis.set_ylabel("latency from scheduled time (ms)")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _capacity_cost_chart(results: dict, path: Path) -> Path:
    """Capacity at the SLO and cost per million predictions, side by side per target."""
    plt = _pyplot()
    targets = _measured(results)
    names = [t["name"] for t in targets]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(names, [t.get("capacity_rps") or 0 for t in targets], color="tab:blue")
    left.set_title("capacity at the SLO (req/s)")
    right.bar(names, [t.get("cost_per_million") or 0 for t in targets], color="tab:orange")
    right.set_title("cost per million predictions (USD)")
    for axis in (left, right):
        axis.tick_params(axis="x", rotation=20)
        axis.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _html(results: dict, charts: list[Path]) -> str:
    slo = results.get("slo") or {}
    best = winner(results)
    rows = []
    for target in results["targets"]:
        if target.get("error"):
            rows.append(f"<tr><td>{_e(target['name'])}</td><td colspan=9>{_e(target['error'])}</td></tr>")
            continue
        for run in target["runs"]:
            latency = run["latency_ms"] or {}
            cells = [
                target["name"],
                target.get("backend") or "-",
                f"{run['rate_target']:g}",
                f"{run['rate_achieved']:g}",
                *(_num(latency.get(key)) for key in PERCENTILE_LABELS),
                ", ".join(f"{k}: {v}" for k, v in run["errors"].items()) or "0",
                "yes" if run["generator_behind"] else "no",
            ]
            rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    summary = []
    for target in results["targets"]:
        if target.get("error"):
            continue
        cost = target.get("cost_per_million")
        summary.append(
            f"<li><b>{_e(target['name'])}</b> ({_e(target['url'])}): capacity "
            f"{_e(_num(target.get('capacity_rps')))} req/s; cost per million "
            f"{'-' if cost is None else f'${cost:.4f}'}. {_e(target.get('note', ''))} "
            f"Price and share: {_e(target.get('pricing', ''))}</li>"
        )
    images = "".join(
        f'<p><img alt="{_e(path.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode()}"></p>'
        for path in charts
    )
    slo_text = (
        f"p99 &le; {slo['p99_ms']:g} ms, error ratio &le; {slo['max_error_ratio']:g}"
        if slo.get("p99_ms")
        else "none (fixed rate)"
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "target",
            "backend",
            "rate",
            "achieved",
            *PERCENTILE_LABELS.values(),
            "errors",
            "generator behind",
        )
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fuseml-serving benchmark</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>fuseml-serving benchmark</h1>
<p>Open-loop load (vegeta, constant rate); latency measured from each request's scheduled time; warm-up
excluded. SLO: {slo_text}. Winner (lowest cost per million, else lowest p99):
<b>{_e(best or "-")}</b>.</p>
<p>Prices: {_e(results.get("price_source", ""))}</p>
<ul>{"".join(summary)}</ul>
{images}
<h2>Every run</h2>
<table><tr>{head}</tr>{"".join(rows)}</table>
</body></html>
"""


def _e(text: object) -> str:
    return html.escape(str(text))
