"""`python -m bench.step`: the benchmark as a FuseML workflow step, its inputs read from the environment.

FuseML hands a step's inputs to its container as FUSEML_<INPUT NAME> variables (step/inputs.py
model_env does the same for the serving step). The report's path and the winner become the step's
outputs `report` and `winner`: files of those names in Tekton's results folder (/tekton/results, as the
serving step's TASK_RESULT file).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from bench.__main__ import main

#: Step input -> flag; an input left empty is not passed (the command's own default holds).
FLAGS = {
    "rate": "--rate",
    "duration": "--duration",
    "slo_p99_ms": "--slo-p99-ms",
    "max_rate": "--max-rate",
    "price_per_hour": "--price-per-hour",
    "machine_type": "--machine-type",
    "out": "--out",
}


def arguments(env: dict[str, str], payload_file: Path) -> list[str]:
    """The command line of `python -m bench` from a step's environment."""
    args: list[str] = []
    for pair in filter(None, (part.strip() for part in env.get("FUSEML_TARGETS", "").split(","))):
        args += ["--target", pair]
    for name, flag in FLAGS.items():
        value = env.get(f"FUSEML_{name.upper()}", "").strip()
        if value:
            args += [flag, value]
    payload = env.get("FUSEML_PAYLOAD", "").strip()
    if payload:
        payload_file.write_text(payload, encoding="utf-8")
        args += ["--payload", str(payload_file)]
    return args


if __name__ == "__main__":
    os.environ.setdefault("BENCH_OUTPUTS_DIR", "/tekton/results")
    with tempfile.TemporaryDirectory() as folder:
        sys.exit(main(arguments(dict(os.environ), Path(folder) / "payload.json")))
