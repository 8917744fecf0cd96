"""The readiness gates on the real engine: how soon `pulumi up` notices a ready model, and what the gates
cost a no-op `up`.

On one test-bed cluster with the controller stand-ins (`python -m testbed up --stand-ins`'s):

- notice: a model's Pod held in ImagePullBackOff by the kubelet's fault switch while `pulumi up` waits on
  its gate; the fault is cleared, and the time from the Pod reported Ready to `pulumi up` returning is
  printed (an upper bound of the gate's noticing: it includes the end of the update). Target: under 5 s.
- no-op: N models deployed with `ready_timeout_s: 0` (no wait) and with the default (waited for), each
  with FuseML registration on (a FuseML stand-in; the models' Applications wait) and off (the stack's
  gate waits), then no-op `pulumi up`s of the four stacks in turn, timed (best of the rounds), with the
  API writes the user made during them (target 0). Target: waiting adds at most 10% to a no-op `up`.

    python benchmarks/readiness_benchmark.py [--models 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def stack_config(namespace: str, models: int, ready_timeout_s: int | None, fuseml: str | None = None) -> dict:
    extra = {} if ready_timeout_s is None else {"ready_timeout_s": ready_timeout_s}
    return {
        "cluster": {"mode": "existing"},
        "namespace": namespace,
        "operator": {"install": False},
        "istio": {"gateway": "ovms", "create_gateway": True, "domain": "bench.test"},
        "fuseml": {"register": True, "url": fuseml} if fuseml else {"register": False},
        "models": [
            # Named after the namespace: FuseML's application names are global.
            {"app_name": f"{namespace}-{i}", "model": f"gs://bench/models/{i}", "format": "openvino", **extra}
            for i in range(models)
        ],
    }


def pod_ready_at(cluster, namespace: str, app: str, deadline: float) -> float:
    """The moment the model's Pod is first seen Ready (polled every 50 ms)."""
    while time.monotonic() < deadline:
        pods = (cluster.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3D{app}") or {})["items"]
        for pod in pods:
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"{app}: its Pod never became Ready")


def notice(cluster, engine, rounds: int) -> list[float]:
    from testbed import kubelet
    from testbed.local import prepare_namespace
    from tests.e2e import stacks

    found = []
    for index in range(rounds):
        namespace = f"notice-{index}"
        prepare_namespace(cluster, namespace)
        app = f"ovms-model-{index}"
        kubelet.set_faults(
            cluster.dir, [{"namespace": namespace, "labels": {"app": app}, "fail": "ImagePullBackOff"}]
        )
        config = stack_config(namespace, 0, None)
        config["models"] = [{"app_name": f"model-{index}", "model": "gs://bench/m", "format": "openvino"}]
        stacks.new_stack(engine, f"notice-{index}", config)
        up = subprocess.Popen(
            [str(engine.bin_dir / "pulumi"), "up", "--stack", f"notice-{index}", "--yes", "--skip-preview"],
            cwd=engine.project, env=engine.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Let the gate see the failing Pod for a while, then fix it.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not cluster.get(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{app}"
        ):
            time.sleep(0.2)
        time.sleep(3)
        kubelet.set_faults(cluster.dir, [])
        ready = pod_ready_at(cluster, namespace, app, time.monotonic() + 60)
        if up.wait(timeout=120) != 0:
            raise SystemExit(f"pulumi up of notice-{index} failed")
        found.append(time.monotonic() - ready)
    return found


def noops(cluster, engine, names: list[str], rounds: int) -> dict[str, tuple[float, int]]:
    """Best no-op `up` time and most API writes per stack; the stacks take turns, so drift hits all."""
    from tests.e2e import stacks

    best, writes = dict.fromkeys(names, float("inf")), dict.fromkeys(names, 0)
    for _ in range(rounds):
        for name in names:
            before = len(cluster.writes())
            started = time.perf_counter()
            stacks.up(engine, name, "--expect-no-changes")
            best[name] = min(best[name], time.perf_counter() - started)
            writes[name] = max(writes[name], len(cluster.writes()) - before)
    return {name: (best[name], writes[name]) for name in names}


def main() -> int:
    from testbed import cluster as testbed_cluster
    from testbed import toolchain
    from testbed.engine import Engine
    from testbed.local import prepare_namespace
    from tests.e2e import stacks
    from tests.fuseml_server import running_server

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bin_dir = toolchain.ensure()
    with tempfile.TemporaryDirectory(prefix="readiness-bench-") as scratch:
        work = Path(scratch)
        with (
            testbed_cluster.running(work / "cluster", bin_dir, stand_ins=True) as cluster,
            running_server() as fuseml,
        ):
            engine = Engine(bin_dir=bin_dir, work=work / "engine", kubeconfig=cluster.kubeconfig)
            noticed = notice(cluster, engine, args.rounds)
            created = {}
            for registered in ("registered", "unregistered"):
                url = fuseml.url if registered == "registered" else None
                for waits, timeout in (("no-wait", 0), ("waits", None)):
                    name = f"{waits}-{registered}"
                    prepare_namespace(cluster, f"bench-{name}")
                    stacks.new_stack(engine, name, stack_config(f"bench-{name}", args.models, timeout, url))
                    started = time.perf_counter()
                    stacks.up(engine, name)
                    created[name] = time.perf_counter() - started
            times = noops(cluster, engine, list(created), args.rounds)
    print("pod Ready -> pulumi up returned, s: " + ", ".join(f"{s:.2f}" for s in noticed) + " (target < 5)")
    for name, (best, writes) in times.items():
        print(
            f"{name}: create {created[name]:.1f} s; no-op up {best:.2f} s (best of {args.rounds}), "
            f"{writes} API writes"
        )
    for registered in ("registered", "unregistered"):
        overhead = times[f"waits-{registered}"][0] / times[f"no-wait-{registered}"][0] - 1
        print(
            f"no-op overhead of waiting for {args.models} models ({registered} with FuseML): "
            f"{overhead:+.1%} (target < 10%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
