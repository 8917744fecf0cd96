"""`python -m bench`: measure every target open-loop, find its capacity at an SLO, price it, report it.

Every flag is checked before any load (a bad one is one line naming it, exit 2); a target that cannot be
measured (unreachable, its body rejected, not in the stack) is one line naming it while the others are
still measured (exit 1 at the end).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

from bench import cost, report, stats, vegeta
from bench.sweep import sweep
from bench.targets import Target, TargetError, prepare, read_payload

#: Pricing when the machine type is not known from a stack (the issue's reference machine).
DEFAULT_MACHINE = "n2-standard-4"


class UsageError(Exception):
    """A flag that is refused before any load."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--stack", help="take every model of this deployed stack (its outputs and Pulumi.<stack>.yaml)"
    )
    p.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="with --stack: only these apps"
    )
    p.add_argument(
        "--target", action="append", default=[], metavar="NAME=URL", help="a target by hand (repeatable)"
    )
    p.add_argument("--payload", type=Path, help="request body: one JSON object or a list used in turn")
    p.add_argument("--rate", type=float, help="requests per second (the fixed rate, or where a sweep starts)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured per run (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each run, not counted")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds before a request counts as a timeout")
    p.add_argument("--slo-p99-ms", type=float, help="sweep to the highest rate whose p99 is within this")
    p.add_argument("--max-error-ratio", type=float, default=0.001, help="errors allowed by the SLO")
    p.add_argument("--max-rate", type=float, help="the sweep's bound (required with --slo-p99-ms)")
    p.add_argument("--price-per-hour", type=float, help="node price, instead of the shipped GCE table")
    p.add_argument(
        "--machine-type", help=f"machine type priced (default: the stack's pool, else {DEFAULT_MACHINE})"
    )
    p.add_argument(
        "--node-share", type=float, help="share of a node a target occupies, instead of its requests"
    )
    p.add_argument(
        "--out", type=Path, default=Path("bench-out"), help="folder of results.json, report.html, PNGs"
    )
    p.add_argument("--in-cluster", action="store_true", help="run the generator as a Job in the cluster")
    p.add_argument("--namespace", help="with --in-cluster: the Job's namespace (default: the stack's)")
    p.add_argument("--parallelism", type=int, default=1, help="with --in-cluster: generator pods")
    p.add_argument("--kubectl", default="kubectl", help="with --in-cluster: the kubectl to run")
    p.add_argument(
        "--job-wait", type=float, help="with --in-cluster: seconds to wait for a Job (default: run+120)"
    )
    return p


def check(args: argparse.Namespace) -> None:
    """Refuse what cannot run, before any load."""
    if not args.stack and not args.target:
        raise UsageError("give --stack S or one or more --target NAME=URL")
    if args.model and not args.stack:
        raise UsageError("--model selects apps of a --stack")
    for text in args.target:
        name, sep, url = text.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise UsageError(f"--target {text!r}: NAME=URL with an http:// or https:// URL")
    positive = {"--duration": args.duration, "--timeout": args.timeout, "--rate": args.rate}
    positive |= {
        "--slo-p99-ms": args.slo_p99_ms,
        "--max-rate": args.max_rate,
        "--price-per-hour": args.price_per_hour,
    }
    positive |= {"--node-share": args.node_share}
    for flag, value in positive.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"{flag} {value:g}: a number above 0")
    if not (math.isfinite(args.warmup) and args.warmup >= 0):
        raise UsageError(f"--warmup {args.warmup:g}: 0 or more seconds")
    if not 0 <= args.max_error_ratio < 1:
        raise UsageError(f"--max-error-ratio {args.max_error_ratio:g}: from 0 up to (not including) 1")
    if args.slo_p99_ms is not None and args.max_rate is None:
        raise UsageError("--slo-p99-ms needs --max-rate, the highest rate the sweep may try")
    if args.max_rate is not None and args.slo_p99_ms is None:
        raise UsageError("--max-rate bounds a sweep: give --slo-p99-ms too")
    if args.slo_p99_ms is None and args.rate is None:
        raise UsageError("give --rate R for a fixed-rate run, or --slo-p99-ms X --max-rate M for a sweep")
    if args.parallelism < 1:
        raise UsageError(f"--parallelism {args.parallelism}: 1 or more pods")
    if args.in_cluster:
        if args.payload is None:
            raise UsageError(
                "--in-cluster needs --payload (the metadata of a cluster-internal URL is not read here)"
            )
        if not args.namespace and not args.stack:
            raise UsageError("--in-cluster needs --namespace (or --stack, whose namespace it takes)")
    known = cost.price_table()["machines"]
    if args.machine_type and args.price_per_hour is None and args.machine_type not in known:
        raise UsageError(
            f"--machine-type {args.machine_type}: not in bench/gce_prices.json; give --price-per-hour"
        )


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM in the cluster mode) ends the run with one line: whatever was started is
        # already stopped (the local vegeta killed, the Job and ConfigMap deleted) on the way out.
        say("bench: interrupted")
        return 130


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    try:
        check(args)
        payload = read_payload(args.payload) if args.payload else None
    except (UsageError, TargetError) as err:
        say(f"bench: {err}")
        return 2
    failures: list[str] = []
    targets: list[Target] = []
    namespace = args.namespace
    if args.stack:
        # Imported here: the stack reader needs the program's packages (pulumi, pydantic), bench alone not.
        from bench.stack import StackError, stack_targets

        try:
            found, missing = stack_targets(args.stack, Path.cwd(), args.model, args.in_cluster)
        except StackError as err:
            say(f"bench: {err}")
            return 2
        targets += found
        failures += missing
        if namespace is None and args.in_cluster:
            from bench.stack import config

            namespace = config(args.stack, Path.cwd()).namespace
    for text in args.target:
        name, _, url = text.partition("=")
        targets.append(Target(name=name, url=url))
    for line in failures:
        say(f"bench: {line}")
    measure = _cluster_measure(args, namespace) if args.in_cluster else _local_measure(args)
    slo = {"p99_ms": args.slo_p99_ms, "max_error_ratio": args.max_error_ratio} if args.slo_p99_ms else None
    table = cost.price_table()
    results: dict = {
        "slo": slo,
        "price_source": f"{table['source']}; {table['date']}"
        if args.price_per_hour is None
        else "--price-per-hour",
        "generator": "in-cluster Job" if args.in_cluster else f"local vegeta {vegeta.VERSION}",
        "targets": [],
    }
    for name in args.model:
        if any(line.startswith(f"--model {name}:") for line in failures):
            results["targets"].append(
                {"name": name, "url": None, "backend": None, "runs": [], "error": "not in stack"}
            )
    for target in targets:
        entry = {"name": target.name, "url": target.url, "backend": target.backend, "runs": []}
        results["targets"].append(entry)
        try:
            if args.in_cluster:
                target.bodies = payload or []
            else:
                prepare(target, payload)
            entry |= _measured(args, target, measure)
        except (TargetError, ProcessingError) as err:
            say(f"bench: {err}")
            entry["error"] = str(err)
            failures.append(str(err))
    print(report.table(results))
    written = report.write(results, args.out)
    best = report.winner(results)
    print(f"report: {written[-1]}" + (f"; winner: {best}" if best else ""))
    _step_outputs(written[-1], best)
    return 1 if failures else 0


class ProcessingError(Exception):
    """A target's run failed midway (the generator or the cluster): one line naming it."""


def _measured(args: argparse.Namespace, target: Target, measure) -> dict:
    """Runs, capacity and cost of one target."""
    fields: dict = {}
    if args.slo_p99_ms is not None:
        start = args.rate if args.rate is not None else max(1.0, round(args.max_rate / 64))
        found = sweep(
            lambda rate: measure(target, rate), start, args.max_rate, args.slo_p99_ms, args.max_error_ratio
        )
        runs, capacity, note = found.runs, found.capacity_rps, found.note
    else:
        runs = [measure(target, args.rate)]
        capacity = None
        note = "fixed rate: no capacity without --slo-p99-ms"
        if runs[0]["generator_behind"]:
            note += "; the generator fell behind this rate (see rate_achieved)"
    machine = args.machine_type or target.machine_type or DEFAULT_MACHINE
    try:
        pricing = cost.pricing(
            machine, target.requests, target.replicas, args.price_per_hour, args.node_share
        )
    except cost.CostError as err:
        raise ProcessingError(f"{target.name}: {err}") from None
    fields.update(
        runs=runs,
        capacity_rps=capacity,
        price_per_hour=pricing.price_per_hour,
        node_share=round(pricing.node_share, 6),
        cost_per_million=_round(cost.cost_per_million(pricing, capacity)),
        pricing=pricing.how,
        note="; ".join([note, *target.notes]),
    )
    return fields


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _progress(target: Target, rate: float):
    def show(hits: list[stats.Hit]) -> None:
        done = [h for h in hits if h.latency_ns]
        if not done:
            return
        latencies = sorted(h.latency_ns / 1e6 for h in done)
        errors = sum(not h.ok for h in done)
        p99 = stats.percentile(latencies, 0.99)
        say(
            f"  {target.name}: {rate:g} req/s, {len(done)} answered, p99 so far {p99:.1f} ms, errors {errors}"
        )

    return show


def _local_measure(args: argparse.Namespace):
    try:
        binary = vegeta.ensure(say)
    except vegeta.ToolchainError as err:
        raise SystemExit(f"bench: {err}") from None

    def measure(target: Target, rate: float) -> dict:
        try:
            hits = vegeta.attack(
                binary,
                target.url,
                target.bodies,
                rate,
                args.warmup + args.duration,
                args.timeout,
                progress=_progress(target, rate) if sys.stderr.isatty() else None,
            )
        except vegeta.ToolchainError as err:
            raise ProcessingError(f"{target.name}: {err}") from None
        run = stats.summarize(hits, rate, args.warmup, args.duration)
        _said(target, run)
        return run

    return measure


def _cluster_measure(args: argparse.Namespace, namespace: str):
    from bench import incluster

    kubectl_path = shutil.which(args.kubectl) or args.kubectl
    kubectl = incluster.Kubectl(kubectl_path, namespace, os.environ.get("KUBECONFIG"))
    wait_s = args.job_wait if args.job_wait is not None else args.warmup + args.duration + args.timeout + 120

    def measure(target: Target, rate: float) -> dict:
        try:
            attack = incluster.Attack(
                target.url, target.bodies, rate, args.warmup + args.duration, args.timeout, args.parallelism
            )
            pods = incluster.run_job(kubectl, namespace, attack, wait_s, say)
        except incluster.ClusterError as err:
            raise ProcessingError(f"{target.name}: {err}") from None
        run = stats.merged(pods, rate / args.parallelism, args.warmup, args.duration)
        _said(target, run)
        return run

    return measure


def _said(target: Target, run: dict) -> None:
    latency = run["latency_ms"] or {}
    errors = sum(run["errors"].values())
    behind = ", generator behind" if run["generator_behind"] else ""
    say(
        f"  {target.name}: {run['rate_target']:g} req/s (achieved {run['rate_achieved']:g}), p50 "
        f"{latency.get('p50', '-')} ms, p99 {latency.get('p99', '-')} ms, errors {errors}{behind}"
    )


def _step_outputs(page: Path, best: str | None) -> None:
    """As a FuseML workflow step: the report's path and the winner as the step's outputs.

    FuseML (Tekton) collects a step's outputs from files in /tekton/results (FuseML's workflow
    reference: outputs of a step are read from the results folder); the folder is named by
    BENCH_OUTPUTS_DIR, so nothing is written outside a step.
    """
    folder = os.environ.get("BENCH_OUTPUTS_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "report").write_text(str(page.resolve()), encoding="utf-8")
    (Path(folder) / "winner").write_text(best or "", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
