"""Plan 1, 10, 100 and 1000 models under mocks; print wall time, peak memory and the longest chain, and
the SDK floor: the same number of bare registrations (one custom resource each, the same nesting under
component resources, inputs of the same size) with no program logic around them.

Each measurement runs in a fresh subprocess so that its peak RSS is its own. Figures are printed, never
asserted: targets (1000 models in under 15 s and 400 MB, at or under the floor's time, a chain that does
not grow with the model count) are read off the table, and the ratios compare runs made in this same
invocation.

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
    # One model first, untimed: the figures compare registration, not the first import of the program's
    # modules (the floor runs after a real plan too).
    plan(engine_config(raw_config(1, register)), stack="bench", secret_keys=secrets)
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


def floor_child(models: int, register: bool) -> None:
    """Register as many resources as the real plan of `models` did, bare, and print the time as JSON.

    The real plan is run first (untimed) to learn each resource's type, parent and inputs; the floor then
    registers one plain resource per custom resource and one plain component per component, with the
    same inputs and parents, so it pays what the SDK and the mocks cost per registration and nothing else.
    """
    import pulumi

    from offline.plan import engine_config, plan

    config = engine_config(raw_config(models, register))
    secrets = ["fuseml-serving:aws_access_key_id", "fuseml-serving:aws_secret_access_key"]
    real = plan(config, stack="bench", secret_keys=secrets)

    class Bare(pulumi.CustomResource):
        def __init__(self, type_: str, name: str, props: dict, opts: pulumi.ResourceOptions) -> None:
            super().__init__(type_, name, props, opts)

    class Group(pulumi.ComponentResource):
        def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions) -> None:
            super().__init__(type_, name, None, opts)
            self.register_outputs({})

    def program() -> dict:
        made: dict[str, pulumi.Resource] = {}
        for planned in real.resources:
            opts = pulumi.ResourceOptions(parent=made.get(planned.parent))
            if planned.custom:
                made[planned.urn] = Bare(planned.type, planned.name, dict(planned.inputs), opts)
            else:
                made[planned.urn] = Group(planned.type, planned.name, opts)
        return {}

    # The same planner (mocks, recording monitor, GC settings) as the real plan, so only the program
    # differs.
    start = time.perf_counter()
    floor = plan({}, stack="floor", program=program)
    wall = time.perf_counter() - start
    assert len(floor.resources) == len(real.resources), (len(floor.resources), len(real.resources))
    print(json.dumps({"models": models, "register": register, "floor_s": round(wall, 2)}))


def measure(models: int, register: bool, floor: bool = False) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--floor-child" if floor else "--child", str(models), str(int(register))],
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
    parser.add_argument("--floor-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1] == "1")
        return
    if args.floor_child:
        floor_child(int(args.floor_child[0]), args.floor_child[1] == "1")
        return
    rows = [
        {**measure(n, register), **measure(n, register, floor=True)}
        for n in args.sizes
        for register in (False, True)
    ]
    print(
        f"{'models':>7} {'fuseml':>7} {'resources':>9} {'wall s':>8} {'floor s':>8} {'x floor':>8} "
        f"{'peak MB':>8} {'chain':>6}"
    )
    for row in rows:
        print(
            f"{row['models']:>7} {'on' if row['register'] else 'off':>7} {row['resources']:>9} "
            f"{row['wall_s']:>8} {row['floor_s']:>8} {row['wall_s'] / max(row['floor_s'], 0.01):>8.2f} "
            f"{row['peak_rss_mb']:>8} {row['longest_chain']:>6}"
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
