"""The real engine against the loopback cluster: 100 models by `pulumi up` and by `kubectl apply`.

In one run, on one test-bed cluster: `pulumi up` creating N models (a ModelServer and a VirtualService
each, and the stack's Gateway), `kubectl apply --server-side` of exactly the objects the offline plan of the
same stack holds, into a namespace of their own, and a no-op `pulumi up` of the N models. Printed: the
times, the ratios to kubectl, and the writes the API server's audit log saw from the user during the no-op
run (target 0). FuseML registration is off, so both sides create the same Kubernetes objects.

    python benchmarks/engine_benchmark.py [--models 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def stack_config(namespace: str, models: int) -> dict:
    return {
        "cluster": {"mode": "existing"},
        "namespace": namespace,
        "operator": {"install": False},
        "istio": {"gateway": "ovms", "create_gateway": True, "domain": "bench.test"},
        "fuseml": {"register": False},
        "models": [
            # No readiness gate: this compares creating the objects with `kubectl apply`, which waits for
            # nothing (benchmarks/readiness_benchmark.py measures the gates).
            {"app_name": f"model-{i}", "model": f"gs://bench/models/{i}", "nireq": 2, "ready_timeout_s": 0}
            for i in range(models)
        ],
    }


def main() -> int:
    from offline.plan import engine_config, plan
    from testbed import cluster as testbed_cluster
    from testbed import toolchain
    from testbed.engine import Engine
    from testbed.local import prepare_namespace
    from tests.e2e import stacks

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100)
    args = parser.parse_args()
    bin_dir = toolchain.ensure()
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as scratch:
        work = Path(scratch)
        with testbed_cluster.running(work / "cluster", bin_dir) as cluster:
            for namespace in ("bench-pulumi", "bench-kubectl"):
                prepare_namespace(cluster, namespace)
            engine = Engine(bin_dir=bin_dir, work=work / "engine", kubeconfig=cluster.kubeconfig)
            config = stack_config("bench-pulumi", args.models)
            stacks.new_stack(engine, "bench", config)

            started = time.perf_counter()
            stacks.up(engine, "bench")
            pulumi_create = time.perf_counter() - started

            planned = plan(engine_config(stack_config("bench-kubectl", args.models)), stack="bench")
            objects = [r.inputs for r in planned.resources if r.kubernetes_object]
            manifest = work / "objects.json"
            manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
            started = time.perf_counter()
            cluster.kubectl("apply", "--server-side", f"--filename={manifest}")
            kubectl_create = time.perf_counter() - started

            writes_before = len(cluster.writes())
            started = time.perf_counter()
            stacks.up(engine, "bench", "--expect-no-changes")
            pulumi_noop = time.perf_counter() - started
            noop_writes = len(cluster.writes()) - writes_before

            created = len(stacks.model_servers(cluster, "bench-pulumi"))
            applied = len(stacks.model_servers(cluster, "bench-kubectl"))
    print(f"models: {args.models} (pulumi created {created} ModelServers, kubectl applied {applied})")
    print(f"objects per side: {len(objects)} (ModelServer + VirtualService per model, one Gateway)")
    print(f"pulumi up, create:          {pulumi_create:7.2f} s")
    print(f"kubectl apply --server-side:{kubectl_create:7.2f} s")
    print(f"pulumi up, no-op:           {pulumi_noop:7.2f} s")
    print(f"ratio create / kubectl:     {pulumi_create / kubectl_create:7.2f}")
    print(f"ratio no-op / kubectl:      {pulumi_noop / kubectl_create:7.2f}")
    print(f"API writes during the no-op up: {noop_writes} (target 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
