"""Record the per-pod logs the merge tests read: the pinned image's vegeta (12.8.4) against known servers.

Why: `--in-cluster` reads each generator pod's log, written by the vegeta of the pinned image
(bench.incluster.IMAGE, vegeta 12.8.4), not by the 12.13.0 bench builds locally. Pods cannot run here (no
kubelet, no Docker), so the same release is built from its Go module and run with each pod's exact
pipeline (bench.incluster.manifests' command) against servers on 127.0.0.1 whose answers are known:

    GOPATH=/tmp/v go mod download -json github.com/tsenart/vegeta/v12@v12.8.4   # prints its Dir
    (cd DIR && go build -o /tmp/vegeta-12.8.4 .)
    python -m bench.tests.record_pods /tmp/vegeta-12.8.4

Each file is one pod's log, recorded one after the other (each pod has its own clock origin, as pods
on different nodes do): pod-0 and pod-1 at RATE req/s against a server that answers in DELAY_S and fails
every FAIL_EVERY-th request (by vegeta's sequence number) with 503; pod-behind at the same rate against a
server taking SLOW_S per request, with one worker only, so it cannot hold its rate (a starved pod).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.tests.known import Behaviour, serving
from bench.vegeta import attack_command, targets_lines

FOLDER = Path(__file__).parent / "recorded" / "vegeta-12.8.4"
RATE = 20.0
SECONDS = 4.0
TIMEOUT_S = 5.0
DELAY_S = 0.005
FAIL_EVERY = 10
SLOW_S = 0.2
BODY = b'{"instances": [[1.0, 2.0, 3.0, 4.0]]}'


def record(vegeta: str, behaviour: Behaviour, out: Path, extra: str = "") -> None:
    with serving(behaviour) as base:
        targets = out.with_suffix(".targets")
        targets.write_text(targets_lines(f"{base}/v1/models/m:predict", [BODY]), encoding="utf-8")
        command = attack_command(vegeta, str(targets), RATE, SECONDS, TIMEOUT_S)
        # Only the starved pod gets a worker cap; the pipeline and encoder are the pod's own.
        command = command.replace(" attack ", f" attack {extra} ", 1) if extra else command
        log = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
        targets.unlink()
    out.write_text(log, encoding="utf-8")
    print(f"{out}: {len(log.splitlines())} lines")


def main(vegeta: str) -> None:
    version = subprocess.run([vegeta, "-version"], capture_output=True, text=True, check=True).stdout
    FOLDER.mkdir(parents=True, exist_ok=True)
    for pod in ("pod-0", "pod-1"):
        record(vegeta, Behaviour(delay_s=DELAY_S, fail_every=FAIL_EVERY), FOLDER / f"{pod}.csv")
    record(vegeta, Behaviour(delay_s=SLOW_S), FOLDER / "pod-behind.csv", "-workers=1 -max-workers=1")
    print(version.strip())


if __name__ == "__main__":
    main(sys.argv[1])
