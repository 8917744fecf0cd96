"""Build (or reuse) the vegeta binary from its Go module, and run one open-loop attack with it.

vegeta is the tutorial's generator (seed 004) and an open-loop one: its pacer schedules hit k of a
constant-rate attack at a fixed time whatever the server does, and it starts another worker when every
worker is blocked (github.com/tsenart/vegeta/v12 lib/attack.go Attack, lib/pacer.go ConstantPacer.Pace).
It is built like the test bed's toolchain (testbed.toolchain's Builder, cache and go environment), into
the same cache, keyed by its version and this module's build recipe.
"""

from __future__ import annotations

import base64
import csv
import fcntl
import hashlib
import inspect
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from bench.stats import Hit
from testbed.toolchain import Builder, Piece, ToolchainError, build_piece, cache_root

MODULE = "github.com/tsenart/vegeta/v12"
#: The newest release the Go module proxy serves (`go list -m -versions github.com/tsenart/vegeta/v12`).
VERSION = "v12.13.0"


def _build(out: Path, builder: Builder, scratch: Path) -> None:
    src = builder.writable_copy(builder.download(MODULE, VERSION), scratch)
    # The release build's version ldflags (the module's Makefile: -X main.Version/Commit/Date).
    ldflags = f"-s -w -X main.Version={VERSION} -X main.Commit=module-proxy -X main.Date=unknown"
    builder.build(src, ".", out / "vegeta", ldflags)


def _key() -> str:
    return f"vegeta-{VERSION}-{hashlib.sha256(inspect.getsource(_build).encode()).hexdigest()[:12]}"


def ensure(say: Callable[[str], None] = print) -> Path:
    """The path of a built vegeta, building it once per cache (about a minute, then instant).

    BENCH_VEGETA names a vegeta already there instead (the step image builds one in its own stage).
    """
    given = os.environ.get("BENCH_VEGETA")
    if given:
        return Path(given)
    if shutil.which("go") is None:
        raise ToolchainError("no Go toolchain on PATH: bench builds vegeta from its Go module with Go")
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    # Its own lock, not the toolchain's: a long toolchain build elsewhere must not hold up a benchmark.
    with (root / ".lock-vegeta").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_piece(Piece("vegeta", _key(), _build, ("vegeta",)), root, say) / "vegeta"


def rate_flag(rate: float) -> str:
    """vegeta's -rate for a rate in requests/s: `R/1s`, or per 1000 s for a fractional rate (its pacer
    takes a whole number of hits per period, lib/pacer.go ConstantPacer)."""
    if float(rate).is_integer():
        return f"{int(rate)}/1s"
    return f"{round(rate * 1000)}/1000s"


def targets_lines(url: str, bodies: list[bytes]) -> str:
    """vegeta's JSON targets (`-format=json`, lib/targets.go): one POST per body, used in turn."""
    return "".join(
        json.dumps(
            {
                "method": "POST",
                "url": url,
                "body": base64.b64encode(body).decode(),
                "header": {"Content-Type": ["application/json"]},
            }
        )
        + "\n"
        for body in bodies
    )


def attack_command(vegeta: str, targets: str, rate: float, seconds: float, timeout_s: float) -> str:
    """The shell pipeline of one attack, writing one CSV line per request (lib/results.go CSV encoder:
    timestamp ns, code, latency ns, bytes out, bytes in, error, body, attack, seq, ...)."""
    return (
        f"{vegeta} attack -format=json -targets={targets} -rate={rate_flag(rate)} -duration={seconds:g}s"
        f" -timeout={timeout_s:g}s | {vegeta} encode --to=csv"
    )


def parse_csv(lines: Iterable[str]) -> Iterator[Hit]:
    """Hits from `vegeta encode --to=csv` lines; a line that is not a result (a message a pod's log mixes
    in) is passed over.

    The columns read (0 timestamp ns, 1 code, 2 latency ns, 5 error, 8 seq) are the same in the release
    built here and in the in-cluster image's 12.8.4: lib/results.go NewCSVEncoder is identical in
    github.com/tsenart/vegeta/v12 v12.8.4 and v12.13.0, as are the JSON targets reader (lib/targets.go
    NewJSONTargeter), the -rate flag (flags.go rateFlag.Set), the pacer (lib/pacer.go ConstantPacer.Pace)
    and how a result's timestamp and seq are taken together (lib/attack.go hit); read in both modules'
    sources from the Go module proxy. bench/tests/recorded/vegeta-12.8.4 holds real 12.8.4 output.
    """
    for row in csv.reader(lines):
        if len(row) < 9:
            continue
        try:
            yield Hit(
                seq=int(row[8]), sent_ns=int(row[0]), latency_ns=int(row[2]), code=int(row[1]), error=row[5]
            )
        except ValueError:
            continue


def attack(
    binary: Path,
    url: str,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    timeout_s: float,
    progress: Callable[[list[Hit]], None] | None = None,
) -> list[Hit]:
    """Run one attack of `seconds` at `rate` on this machine; every request's hit, in arrival order.

    `progress(hits so far)` is called about once a second from this thread. The attack is stopped (and
    its processes reaped) if this thread is interrupted.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        targets = Path(folder) / "targets.json"
        targets.write_text(targets_lines(url, bodies), encoding="utf-8")
        command = attack_command(
            shlex.quote(str(binary)), shlex.quote(str(targets)), rate, seconds, timeout_s
        )
        process = subprocess.Popen(
            ["sh", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        hits: list[Hit] = []

        # The reader appends as vegeta writes; the list is only read here (a snapshot per second).
        hits_reader = threading.Thread(target=_read_into, args=(process, hits), daemon=True)
        hits_reader.start()
        try:
            while hits_reader.is_alive():
                hits_reader.join(timeout=1.0)
                if progress is not None and hits_reader.is_alive():
                    progress(list(hits))
            process.wait()
        except BaseException:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
            raise
        stderr = process.stderr.read() if process.stderr else ""
        if process.returncode != 0:
            raise ToolchainError(f"vegeta exited {process.returncode}: {stderr.strip().splitlines()[-1:]}")
        return hits


def _read_into(process: subprocess.Popen, hits: list[Hit]) -> None:
    assert process.stdout is not None
    for hit in parse_csv(process.stdout):
        hits.append(hit)
