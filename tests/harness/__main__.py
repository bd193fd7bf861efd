"""Local clusters in the background, for molecule (create/destroy) and `make demo-down`.

    python -m tests.harness up --state-dir DIR [--clusters cluster1,cluster2,mgmt] [--no-simulators]
                               [--load-balancer CONTEXT=MODE[:DELAY]]... [--mesh-configmap CONTEXT=MODE]...
                               [--istiod CONTEXT,...]
    python -m tests.harness down --state-dir DIR

`up` returns once the clusters, CRDs and simulators are ready (the playbooks install the gloo-operator
chart with helm); it
writes DIR/state.json and DIR/kubeconfig and prints the kubeconfig path. `down` stops the
background process by PID and waits until every process it started is gone.
--load-balancer sets a cluster's load balancer to ready, slow (address after DELAY seconds,
default 5) or none; --mesh-configmap makes the simulated operator write the mesh ConfigMap
(full) or not (absent). --istiod makes upstream istiod those clusters' istiod (the pod of the
operator's Deployment istiod-gloo: tests/harness/istiod.py with_deployment).
"""
from __future__ import annotations

import argparse
import sys

from .controlplane import DEFAULT_NAMES, ControlPlaneError, serve, start_background, stop_background
from .simulators import LB_MODES, MESH_CONFIGMAP_MODES


def _setting(modes):
    """argparse type for CONTEXT=MODE (and MODE:DELAY for load balancers)."""
    def parse(text):
        context, sep, value = text.partition("=")
        mode, colon, delay = value.partition(":")
        if not (sep and context and mode in modes) or (colon and modes is MESH_CONFIGMAP_MODES):
            raise argparse.ArgumentTypeError(f"{text!r}: expected CONTEXT=MODE with MODE one of {', '.join(modes)}")
        if not colon:
            return context, mode
        try:
            return context, (mode, float(delay))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: DELAY must be a number of seconds") from None
    return parse


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
                         help="no controller simulators")
        cmd.add_argument("--load-balancer", action="append", default=[], type=_setting(LB_MODES),
                         metavar="CONTEXT=MODE[:DELAY]", help=f"load balancer of a cluster: {', '.join(LB_MODES)}")
        cmd.add_argument("--mesh-configmap", action="append", default=[], type=_setting(MESH_CONFIGMAP_MODES),
                         metavar="CONTEXT=MODE", help=f"mesh ConfigMap written: {', '.join(MESH_CONFIGMAP_MODES)}")
        cmd.add_argument("--istiod", default="", metavar="CONTEXT,...",
                         help="clusters that get an upstream istiod which only reads (comma-separated)")
    sub.add_parser("down", help="stop what `up` started").add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)

    if args.command == "down":
        if not stop_background(args.state_dir):
            print(f"nothing running in {args.state_dir}", file=sys.stderr)
        return 0
    names = tuple(n.strip() for n in args.clusters.split(",") if n.strip())
    istiod = tuple(n.strip() for n in args.istiod.split(",") if n.strip())
    unknown = sorted(({c for c, _mode in args.load_balancer + args.mesh_configmap} | set(istiod)) - set(names))
    if unknown:
        parser.error(f"no cluster {', '.join(unknown)} in --clusters {','.join(names)}")
    settings = {"simulators": not args.no_simulators, "load_balancers": dict(args.load_balancer),
                "mesh_configmaps": dict(args.mesh_configmap), "istiod": istiod}
    if args.command == "serve":
        serve(args.state_dir, names, **settings)
        return 0
    try:
        state = start_background(args.state_dir, names, **settings)
    except ControlPlaneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(state["kubeconfig"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
