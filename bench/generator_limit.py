"""Print the highest rate one local vegeta holds on this machine: `python -m bench.generator_limit`.

The target is a Go HTTP server that answers at once (built here from the standard library), so the
limit found is the generator's (and the machine's), not a model server's: a rate counts as held when the
run is not `generator_behind` (bench.stats: sends on schedule, every scheduled request sent).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import stats, vegeta

SINK = """package main

import (
\t"net/http"
\t"os"
)

func main() {
\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
\t\tw.Header().Set("Content-Type", "application/json")
\t\tw.Write([]byte(`{"outputs": [1]}`))
\t})
\thttp.ListenAndServe("127.0.0.1:"+os.Args[1], nil)
}
"""


def main() -> None:
    binary = vegeta.ensure()
    with tempfile.TemporaryDirectory() as folder:
        src = Path(folder)
        (src / "main.go").write_text(SINK)
        subprocess.run(["go", "mod", "init", "sink"], cwd=src, check=True, capture_output=True)
        subprocess.run(["go", "build", "-o", "sink", "."], cwd=src, check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        sink = subprocess.Popen([str(src / "sink"), str(port)])
        time.sleep(0.5)
        try:
            held = None
            for rate in (1000, 2000, 4000, 6000, 8000, 12000, 16000):
                hits = vegeta.attack(binary, f"http://127.0.0.1:{port}/", [b"{}"], rate, 6, 5)
                run = stats.summarize(hits, rate, 1, 5)
                print(
                    f"{rate} req/s: achieved {run['rate_achieved']}, behind {run['generator_behind']}, lag "
                    f"{run['send_lag_p99_ms']} ms, p99 {run['latency_ms']['p99']} ms, errors {run['errors']}",
                    flush=True,
                )
                if run["generator_behind"] or run["errors"]:
                    break
                held = rate
            print(f"highest rate held by one generator here: {held} req/s")
        finally:
            sink.terminate()
            sink.wait()


if __name__ == "__main__":
    sys.exit(main())
