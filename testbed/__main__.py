"""`python -m testbed`: build the real engine, run a cluster on loopback, try the `local` stack in it.

    python -m testbed toolchain              build or reuse the toolchain; prints its bin folder last
    python -m testbed up --dir D             start a cluster, write D/kubeconfig
                         [--stand-ins]       with stand-ins for the serving systems' controllers
    python -m testbed try-local --dir D      start a cluster and `pulumi up` the local stack into it
    python -m testbed down --dir D           destroy what try-local deployed, stop the cluster

Failures are one line on stderr (which component, where its log is) and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testbed import cluster, toolchain
from testbed.engine import PulumiError

#: What try-local changes in the shipped local stack: the operator comes from the test bed's manifests
#: folder instead of the upstream release, which cannot be fetched here.
LOCAL_STACK = "local"


def _toolchain(args: argparse.Namespace) -> int:
    print(toolchain.ensure(with_operator=args.with_operator))
    return 0


def _up(args: argparse.Namespace) -> int:
    bin_dir = toolchain.ensure(with_operator=args.with_operator)
    if args.with_operator:
        raise cluster.TestbedError("--with-operator: the operator could not be built (see above)")
    found = cluster.up(Path(args.dir), bin_dir, stand_ins=args.stand_ins)
    print(f"cluster at {found.server}; export KUBECONFIG={found.kubeconfig}")
    return 0


def _try_local(args: argparse.Namespace) -> int:
    from testbed import local

    bin_dir = toolchain.ensure()
    root = Path(args.dir).resolve()
    # The stand-ins make the ModelServers of the local stack Deployments that become available, so
    # `pulumi up` deploys the stack as on a cluster with the operator.
    found = cluster.up(root, bin_dir, stand_ins=True)
    print(f"cluster at {found.server}; export KUBECONFIG={found.kubeconfig}", flush=True)
    outputs = local.deploy(found, root)
    for name, url in sorted(outputs.get("prediction_urls", {}).items()):
        print(f"{name}: {url}")
    print(f"take it down with: python -m testbed down --dir {root}")
    return 0


def _down(args: argparse.Namespace) -> int:
    from testbed import local

    root = Path(args.dir).resolve()
    try:
        if local.deployed(root):
            local.destroy(root, toolchain.ensure())
    finally:
        # Stopped even when the destroy fails: nothing the test bed started outlives `down`.
        stopped = cluster.down(root)
        print(f"stopped {', '.join(stopped)}" if stopped else f"nothing was running under {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("toolchain", help="build or reuse the toolchain, print its bin folder")
    build.add_argument("--with-operator", action="store_true", help="also build the OpenVINO operator")
    build.set_defaults(run=_toolchain)
    start = commands.add_parser("up", help="start a cluster on loopback")
    start.add_argument("--dir", required=True, help="folder for the cluster's data, logs and kubeconfig")
    start.add_argument("--with-operator", action="store_true", help="run the operator's controller too")
    start.add_argument(
        "--stand-ins",
        action="store_true",
        help="run stand-ins for the operator, KServe, ModelMesh and Seldon controllers (testbed/standins.py)",
    )
    start.set_defaults(run=_up)
    trial = commands.add_parser("try-local", help="start a cluster and deploy the local stack into it")
    trial.add_argument("--dir", required=True, help="folder for the cluster, the stack state and logs")
    trial.set_defaults(run=_try_local)
    stop = commands.add_parser("down", help="destroy what try-local deployed and stop the cluster")
    stop.add_argument("--dir", required=True, help="the folder given to up or try-local")
    stop.set_defaults(run=_down)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (toolchain.ToolchainError, cluster.TestbedError) as err:
        print(f"testbed: {err}", file=sys.stderr)
        return 1
    except PulumiError as err:
        print(f"testbed: {err.summary()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
