"""Local clusters in the background, for molecule (create/destroy) and `make demo-down`.

    python -m tests.harness up --state-dir DIR [--clusters cluster1,cluster2,mgmt] [--no-simulators]
    python -m tests.harness down --state-dir DIR

`up` returns once the clusters, CRDs, simulators and the simulated gloo-operator are ready; it
writes DIR/state.json and DIR/kubeconfig and prints the kubeconfig path. `down` stops the
background process by PID and waits until every process it started is gone.
"""
from __future__ import annotations

import argparse
import sys

from .controlplane import DEFAULT_NAMES, ControlPlaneError, serve, start_background, stop_background


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "start local clusters in a background process"),
                       ("serve", "run the clusters in this process (what `up` starts in the background)")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--state-dir", required=True)
        cmd.add_argument("--clusters", default=",".join(DEFAULT_NAMES),
                         help="comma-separated cluster (context) names, default %(default)s")
        cmd.add_argument("--no-simulators", action="store_true",
                         help="no controller simulators and no simulated gloo-operator")
    sub.add_parser("down", help="stop what `up` started").add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)

    if args.command == "down":
        if not stop_background(args.state_dir):
            print(f"nothing running in {args.state_dir}", file=sys.stderr)
        return 0
    names = tuple(n.strip() for n in args.clusters.split(",") if n.strip())
    if args.command == "serve":
        serve(args.state_dir, names, simulators=not args.no_simulators)
        return 0
    try:
        state = start_background(args.state_dir, names, simulators=not args.no_simulators)
    except ControlPlaneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(state["kubeconfig"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
