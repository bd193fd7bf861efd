"""`make demo`: local clusters with simulators, the demo playbooks, a short report.

Scenario 1 installs and verifies the mesh on cluster1 and cluster2. Scenario 2 adds `edge`, a
cluster without a LoadBalancer implementation (as kind without cloud-provider-kind, bare metal, a
NAT'd site): its east-west Service never gets an address, so it is linked through the address its
host variable `eastwest_gateway_address` gives (what peers reach through the NAT).

In each workload cluster upstream istiod (pilot-discovery built by `make istiod`) runs as the pod
of the Gloo Operator's Deployment istiod-gloo once the install creates it (tests/harness/istiod.py
with_deployment): it loads the cacerts the playbook wrote, deploys the east-west gateway and writes
the Gateways' status; only Solo's parts (the operator, the peering status) are simulated. The
report ends with a line per cluster from istiod itself: the network gateways it made of the peer
Gateways the playbooks wrote and of the east-west Services (/debug/networkz).

    python -m tests.harness.demo           # start, run, report, stop everything
    python -m tests.harness.demo --keep    # leave the clusters up for kubectl (make demo-down stops them)
    python -m tests.harness.demo --down    # stop a kept-up demo
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .collection_path import REPO_ROOT
from .controlplane import ControlPlaneError, start_background, stop_background
from .crds import gateway_api_path
from .helm_charts import chart_vars, recorder_env
from .istiod import network_gateways, network_summary
from .playbook_run import run_playbook

# What the demo runs, in order, for each scenario (the inventory grows by one cluster in the second).
PLAYBOOKS = tuple(os.path.join(REPO_ROOT, "playbooks", name) for name in ("install_manual_link.yml", "verify.yml"))
# The cluster of scenario 2: no load balancer.
EDGE = "edge"
STATE_DIR = os.path.join(REPO_ROOT, ".tmp", "demo")
# Not a real license: the simulated Gloo Operator accepts any value.
DEMO_LICENSE = "demo-license-not-a-real-key"
GROUPS = {"workload_clusters": ("cluster1", "cluster2"), "management_cluster": ("mgmt",)}
SCENARIOS = (("1: two clusters with load balancers", ()),
             ("2: add %s, a cluster without a load balancer, through eastwest_gateway_address" % EDGE, (EDGE,)))


def inventory(state: dict, extra_workload=()) -> dict:
    """Hosts are the clusters: connection local, one kube_context per host."""
    def host(name):
        variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "kube_context": name, "cluster_name": name, "kubeconfig": state["kubeconfig"]}
        if name == EDGE:
            # The address peers reach this cluster's gateway at (a NAT address; its Service stays pending).
            variables["eastwest_gateway_address"] = state["lb_addresses"][name]
        return variables

    groups = dict(GROUPS, workload_clusters=GROUPS["workload_clusters"] + tuple(extra_workload))
    return {"all": {"children": {group: {"hosts": {name: host(name) for name in names}}
                                 for group, names in groups.items()}}}


def extra_vars() -> dict:
    """The install's inputs: istioctl is not fetched (no internet here), the Gateway API CRDs come
    from a local file as on an air-gapped site (the upstream bundle as it ships), the Gloo Operator
    chart from our local chart repository (a mirror, as an air-gapped site has)."""
    return {
        "gloomesh_istio_version": "1.25.2",
        "gloomesh_license_key": DEMO_LICENSE,
        "gloomesh_install_istioctl": False,
        "gloomesh_pki_dir": os.path.join(STATE_DIR, "pki"),
        "gloomesh_gateway_api_crds_file": gateway_api_path(),
        **chart_vars(),
    }


def helm_env() -> dict:
    """The real helm (built by `make assets`) behind its recording wrapper, records in the state dir."""
    return recorder_env(os.path.join(STATE_DIR, "helm"), DEMO_LICENSE)


def istiod_lines(state: dict) -> list[str]:
    """What each cluster's istiod itself reports (its /debug/networkz), one line per cluster."""
    lines = []
    for name, istiod in sorted((state.get("istiod") or {}).items()):
        try:
            with open(istiod["http_port_file"], encoding="utf-8") as fh:
                port = int(fh.read())
            lines.append(network_summary(name, network_gateways(port)))
        except OSError as err:
            lines.append(f"istiod {name}: no answer from /debug/networkz ({err}); log {istiod['log']}")
    return lines


def report(state: dict, results: list[tuple[str, str, dict]], seconds: float) -> str:
    lines = ["", "== gloomesh demo =="]
    for name in tuple(n for group in GROUPS.values() for n in group) + (EDGE,):
        mode = state["load_balancers"].get(name, ["ready"])[0]
        lb = "none (linked through eastwest_gateway_address %s)" % state["lb_addresses"][name] \
            if mode == "none" else "LB " + state["lb_addresses"].get(name, "-")
        lines.append(f"  {name:<9} {state['servers'][name]}  east-west {lb}")
    for scenario, playbook, result in results:
        lines.append(f"  scenario {scenario[:1]}, {os.path.relpath(playbook, REPO_ROOT)}: rc={result['rc']}")
        for host, counts in sorted(result["recap"].items()):
            lines.append(f"    {host:<9} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    lines += ["  " + line for line in istiod_lines(state)]
    lines += [f"  took {seconds:.1f}s (clusters ready in {state['startup_seconds']}s)",
              f"  kubeconfig: {state['kubeconfig']}",
              f"  try (with --keep): kubectl --kubeconfig {state['kubeconfig']} --context cluster1 get gateways -A"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.demo", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--keep", action="store_true", help="leave the clusters running (stop with --down)")
    parser.add_argument("--down", action="store_true", help="stop clusters kept up by --keep")
    args = parser.parse_args(argv)
    if args.down:
        print("demo clusters stopped" if stop_background(STATE_DIR) else "no demo clusters running")
        return 0

    began = time.monotonic()
    names = tuple(n for group in GROUPS.values() for n in group) + (EDGE,)
    try:
        state = start_background(STATE_DIR, names, load_balancers={EDGE: "none"},
                                 istiod=GROUPS["workload_clusters"] + (EDGE,))
    except ControlPlaneError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    results = []
    try:
        os.makedirs(helm_env()["GLOOMESH_HELM_RECORDS"], exist_ok=True)
        for scenario, added in SCENARIOS:
            print("\n== scenario %s ==" % scenario)
            for playbook in PLAYBOOKS:
                result = run_playbook(playbook, inventory(state, added), extra_vars(), env=helm_env())
                print(result["stdout"], result["stderr"], sep="", end="")
                results.append((scenario, playbook, result))
                if result["rc"] != 0:
                    break
            if results[-1][2]["rc"] != 0:
                break
        print(report(state, results, time.monotonic() - began))
    finally:
        if args.keep:
            print("  clusters kept up: make demo-down stops them")
        else:
            stop_background(STATE_DIR)
            print("  clusters stopped (use --keep to leave them up)")
    return max(result["rc"] for _scenario, _playbook, result in results)


if __name__ == "__main__":
    sys.exit(main())
