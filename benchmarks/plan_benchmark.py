"""Plan 1, 10, 100 and 1000 models under mocks; print wall time, peak memory and the longest chain.

Each measurement runs in a fresh subprocess so that its peak RSS is its own. Figures are printed, never
asserted: targets (1000 models in under 15 s and 400 MB, a chain that does not grow with the model count)
are read off the table, and the ratios compare runs made in this same invocation.

    python benchmarks/plan_benchmark.py [--sizes 1 10 100 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def raw_config(models: int, register: bool) -> dict:
    """A stack like the dev one (GKE, operator, gateway) with `models` S3 models."""
    return {
        "cluster": {"mode": "create", "project": "bench", "location": "europe-central2-a"},
        "istio": {"domain": "bench.nip.io", "create_gateway": True},
        "storage": {"s3_endpoint": "http://minio:9000"},
        "fuseml": {"url": "http://fuseml.bench", "register": register},
        "models": [
            {"app_name": f"model-{i}", "model": f"s3://bucket/models/{i}", "nireq": 2, "batch_size": "auto"}
            for i in range(models)
        ],
        "aws_access_key_id": "bench-id",
        "aws_secret_access_key": "bench-key",
    }


def child(models: int, register: bool) -> None:
    """Run one plan and print its figures as JSON."""
    from offline.plan import engine_config, plan

    config = engine_config(raw_config(models, register))
    secrets = ["fuseml-serving:aws_access_key_id", "fuseml-serving:aws_secret_access_key"]
    start = time.perf_counter()
    result = plan(config, stack="bench", secret_keys=secrets)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "models": models,
                "register": register,
                "resources": len(result.resources),
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(peak_mb, 1),
                "longest_chain": result.longest_chain(),
            }
        )
    )


def measure(models: int, register: bool) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(models), "1" if register else "0"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1] == "1")
        return
    rows = [measure(n, register) for n in args.sizes for register in (False, True)]
    print(f"{'models':>7} {'fuseml':>7} {'resources':>9} {'wall s':>8} {'peak MB':>8} {'chain':>6}")
    for row in rows:
        print(
            f"{row['models']:>7} {'on' if row['register'] else 'off':>7} {row['resources']:>9} "
            f"{row['wall_s']:>8} {row['peak_rss_mb']:>8} {row['longest_chain']:>6}"
        )
    largest = max(args.sizes)
    off = next(r for r in rows if r["models"] == largest and not r["register"])
    on = next(r for r in rows if r["models"] == largest and r["register"])
    print(
        f"registration on/off at {largest} models: time x{on['wall_s'] / max(off['wall_s'], 0.01):.2f}, "
        f"memory x{on['peak_rss_mb'] / off['peak_rss_mb']:.2f}"
    )
    chains = {r["longest_chain"] for r in rows if r["register"]}
    print(f"longest chain with registration, over all sizes: {sorted(chains)} (constant: {len(chains) == 1})")


if __name__ == "__main__":
    main()
