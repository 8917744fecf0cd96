"""Time the workflow step's own work on a 100-model stack: validating and planning its inputs, then its
inline program under Pulumi's mocks. Run against this checkout and, with --before, against another one
(an older commit in a git worktree), each in a fresh subprocess, and print both and their ratio.

Why: the step used to parse the stack config up to three times and plan it twice (validate, plan, validate
again after the layout, then load and plan again inside its program, through a round trip of config
text); it now prepares once and hands the result to its program. The figures are printed, never asserted.

    python benchmarks/step_benchmark.py [--models 100] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def raw_config(models: int) -> dict:
    """What the step's inputs map to, with `models` OVMS models whose format needs no store read."""
    return {
        "namespace": "fuseml-workloads",
        "istio": {"domain": "10.0.0.1.nip.io", "gateway": "ovms-gateway"},
        "storage": {"s3_endpoint": "http://mlflow-minio.mlflow:9000"},
        "fuseml": {"url": "http://fuseml-core.fuseml-core.svc.cluster.local", "workflow": "bench"},
        "cluster": {"mode": "existing"},
        "operator": {"install": False},
        "models": [
            {"app_name": f"model-{i}", "model": f"s3://bucket/models/{i}", "nireq": "2", "backend": "ovms"}
            for i in range(models)
        ],
    }


def child(models: int) -> None:
    """Run the step's path in this checkout (whichever API it has) and print the figures as JSON."""
    sys.path.insert(0, str(Path.cwd()))
    import pulumi

    from offline.plan import plan
    from step import inputs as step_inputs
    from step import runner

    secrets = {"aws_access_key_id": "AKIABENCH", "aws_secret_access_key": "bench-secret"}
    inputs = step_inputs.StepInputs(
        app_name="model-0",
        stack_name="model-0",
        raw=raw_config(models),
        secrets=secrets,
        verbose=False,
        workflow="bench",
        result_file=Path("/dev/null"),
        lock_timeout_s=1.0,
    )
    exported: dict = {}
    pulumi.export = exported.__setitem__  # type: ignore[assignment]
    start = time.perf_counter()
    # The layout copy is left out on both sides: it is for one model, and these models need none.
    if hasattr(step_inputs, "prepare"):
        program = runner.InlineProgram(step_inputs.prepare(inputs))
        config: dict = {}
        secret_keys: list[str] = []
    else:
        from components.backends import registry
        from components.serving import plans, store_detector

        cfg = step_inputs.validate(inputs)
        plans(cfg, registry(), store_detector(cfg.storage, secrets))
        values = runner.stack_config(inputs.raw, inputs.secrets)
        config = {key: value.value for key, value in values.items()}
        secret_keys = [key for key, value in values.items() if value.secret]
        program = runner.program
    checked = time.perf_counter()

    def run() -> dict:
        program()
        return exported

    result = plan(config, stack=inputs.stack_name, secret_keys=secret_keys, program=run)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "models": models,
                "inputs_s": round(checked - start, 3),
                "program_s": round(done - checked, 3),
                "total_s": round(done - start, 3),
                "resources": len(result.resources),
            }
        )
    )


def measure(root: Path, models: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(models)],
        cwd=root, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{root}: the step's path failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--before", type=Path, help="another checkout to compare with (a git worktree)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    rows = [("this checkout", measure(ROOT, args.models))]
    if args.before:
        rows.insert(0, ("before", measure(args.before.resolve(), args.models)))
    header = ("checkout", "models", "inputs s", "program s", "total s", "resources")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (14, 7, 9, 10, 8, 10), strict=True)))
    for name, row in rows:
        print(
            f"{name:>14} {row['models']:>7} {row['inputs_s']:>9} {row['program_s']:>10} {row['total_s']:>8} "
            f"{row['resources']:>10}"
        )
    if len(rows) == 2:
        before, after = rows[0][1], rows[1][1]
        print(
            f"this checkout / before: inputs x{after['inputs_s'] / max(before['inputs_s'], 1e-3):.2f}, "
            f"total x{after['total_s'] / max(before['total_s'], 1e-3):.2f}"
        )


if __name__ == "__main__":
    main()
