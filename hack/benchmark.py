"""Benchmarks of the collection, each against a baseline measured in the same process (docs/benchmarks.md).

    .venv/bin/python hack/benchmark.py [--only NAME] [--repeat N] [--json PATH]

Every benchmark starts its own local control plane (tests/harness) and stops it before the next one
starts, so one control plane runs at a time and nothing is left behind.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time

from kubernetes import client as k8s

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from tests.harness.collection_path import install_collection_finder  # noqa: E402
from tests.harness.controlplane import LocalControlPlane, start_environment  # noqa: E402
from tests.harness.playbook_run import Run, failures  # noqa: E402

install_collection_finder()

from ansible_collections.gloomesh.multicluster.plugins.module_utils import k8s_apply  # noqa: E402
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_client import get_k8s_client  # noqa: E402
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_wait import condition_true, wait_for  # noqa: E402

NAMESPACE = "bench"
READY = condition_true("Available")
POLL_INTERVALS = (5.0, 1.0)  # `sleep 5` as copied from the procedure's page, and an eager 1 s loop
CALLS_PER_SAMPLE = 20
INSTALL_CLUSTERS = ("cluster1", "cluster2", "cluster3")


def row(variant, samples, unit="s", baselines=(), writes=None):
    """One table line: ``samples`` of one variant, compared by median with the ``baselines`` rows."""
    return {"variant": variant, "unit": unit, "samples": samples, "median": statistics.median(samples),
            "min": min(samples), "baselines": list(baselines), "writes": writes}


def deployment(name):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}}}


def one_cluster():
    """A started single-cluster control plane (no CRDs, no simulators) and an admin client of ours."""
    cp = LocalControlPlane(("bench",)).start()
    client = get_k8s_client(kubeconfig=cp.kubeconfig_path, context="bench")
    k8s_apply.ensure_namespace(client, NAMESPACE, check_mode=False)
    return cp, client


def poll(client, name, interval):
    """The manual procedure's loop: `sleep N`, then GET and check, until ready."""
    while True:
        time.sleep(interval)
        if READY(k8s_apply.get_object(client, "apps/v1", "Deployment", name, NAMESPACE))[0]:
            return


def watch(client, name):
    wait_for(client, "apps/v1", "Deployment", name, NAMESPACE, READY, 60, "Deployment %s" % name)


def ready_latency(cp, client, name, waiter):
    """Seconds from setting the status ready (as the simulator user, 0.2-2 s after the wait began) to ``waiter(name)`` returning."""
    k8s_apply.apply_object(client, deployment(name), check_mode=False)
    returned = []

    def timed_wait():
        waiter(name)
        returned.append(time.monotonic())

    thread = threading.Thread(target=timed_wait, daemon=True)
    thread.start()
    time.sleep(random.uniform(0.2, 2.0))
    status = {"status": {"conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}}
    with cp.api_client("bench", simulator=True) as api:
        ready_at = time.monotonic()
        k8s.AppsV1Api(api).patch_namespaced_deployment_status(name, NAMESPACE, status)
    thread.join(60)
    if not returned:
        raise RuntimeError("the wait for Deployment %s did not return within 60s" % name)
    return returned[0] - ready_at


def bench_wait(repeat):
    """k8s_wait.wait_for (watch) vs polling every 5 s and every 1 s."""
    cp, client = one_cluster()
    try:
        waiters = {"poll %gs" % i: (lambda name, i=i: poll(client, name, i)) for i in POLL_INTERVALS}
        waiters["wait_for (watch, ours)"] = lambda name: watch(client, name)
        samples = {variant: [] for variant in waiters}
        for n in range(repeat):
            for index, (variant, waiter) in enumerate(waiters.items()):
                name = "wait-%d-%d" % (n, index)
                samples[variant].append(ready_latency(cp, client, name, waiter))
    finally:
        cp.stop()
    baselines = [v for v in samples if v.startswith("poll")]
    return [row(v, s, baselines=[] if v in baselines else baselines) for v, s in samples.items()]


def timed_calls(cp, call):
    """(seconds per call, write requests per call) over CALLS_PER_SAMPLE calls."""
    mark = cp.audit_mark()
    began = time.monotonic()
    for _call in range(CALLS_PER_SAMPLE):
        call()
    seconds = (time.monotonic() - began) / CALLS_PER_SAMPLE
    return seconds, len(cp.writes_since(mark)) / CALLS_PER_SAMPLE


def bench_rerun_requests(repeat):
    """apply_object on an up-to-date object (one GET) vs server-side applying it every run."""
    cp, client = one_cluster()
    desired = deployment("rerun")
    resource = k8s_apply.resource_for(client, "apps/v1", "Deployment")

    def always_apply():  # what `kubectl apply --server-side` sends on every run: a no-op SSA PATCH
        client.client.server_side_apply(resource, body=desired, name="rerun", namespace=NAMESPACE,
                                        field_manager=k8s_apply.FIELD_MANAGER)

    def ours():
        if k8s_apply.apply_object(client, desired, check_mode=False).changed:
            raise RuntimeError("apply_object changed an up-to-date Deployment")

    calls = {"server-side apply every run": always_apply, "apply_object (ours)": ours}
    seconds, writes = {variant: [] for variant in calls}, {variant: [] for variant in calls}
    try:
        k8s_apply.apply_object(client, desired, check_mode=False)
        for _sample in range(repeat):
            for variant, call in calls.items():
                per_call, writes_per_call = timed_calls(cp, call)
                seconds[variant].append(per_call)
                writes[variant].append(writes_per_call)
    finally:
        cp.stop()
    baseline = "server-side apply every run"
    return [row(v, seconds[v], unit="s/call", baselines=[] if v == baseline else [baseline],
                writes=statistics.median(writes[v])) for v in calls]


class ForksRun(Run):
    """The playbook test's set-up (stand-in helm, inventory of clusters, audit), with ANSIBLE_FORKS set."""

    def __init__(self, cp, tmp_path, workload, forks):
        super().__init__(cp, tmp_path, workload)
        self.forks = forks

    def env(self):
        return {**super().env(), "ANSIBLE_FORKS": str(self.forks)}


def install_run(forks, rerun):
    """[(seconds, writes)] of install_manual_link on 3 fresh clusters with ``forks``, then of its re-run with ``rerun``."""
    tmp = tempfile.mkdtemp(prefix="gloomesh-bench-")
    cp = start_environment(INSTALL_CLUSTERS, simulators=True, install_operator=False)
    try:
        run = ForksRun(cp, pathlib.Path(tmp), INSTALL_CLUSTERS, forks)
        results = []
        for _run in range(2 if rerun else 1):
            result = run.play("install_manual_link")
            if result["rc"] != 0:
                raise RuntimeError("install_manual_link failed (forks=%d, rc=%d); the install benchmark could not be "
                                   "measured:\n%s" % (forks, result["rc"], failures(result)[-4000:]))
            results.append((result["seconds"], len(result["writes"])))
        return results
    finally:
        cp.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_install(repeat):
    """install_manual_link on 3 fresh clusters: forks=3 vs forks=1, and the no-op re-run vs the first install."""
    serial, parallel, rerun, rerun_writes = [], [], [], []
    for _sample in range(repeat):
        serial.append(install_run(1, rerun=False)[0][0])
        (first, _first_writes), (again, writes) = install_run(3, rerun=True)
        parallel.append(first)
        rerun.append(again)
        rerun_writes.append(writes)
    return [row("forks=1 (cluster by cluster)", serial),
            row("forks=3 (parallel)", parallel, baselines=["forks=1 (cluster by cluster)"]),
            row("no-op re-run, forks=3", rerun, baselines=["forks=3 (parallel)"], writes=max(rerun_writes))]


BENCHMARKS = {"wait": bench_wait, "rerun_requests": bench_rerun_requests, "install": bench_install}


def with_ratios(rows):
    medians = {r["variant"]: r["median"] for r in rows}
    for r in rows:
        r["ratios"] = {b: r["median"] / medians[b] for b in r["baselines"]}
    return rows


def table(name, rows):
    lines = []
    for r in rows:
        ratios = ", ".join("%.3gx %s" % (x, b) for b, x in r["ratios"].items()) or "baseline"
        writes = "-" if r["writes"] is None else "%g" % r["writes"]
        lines.append("%-15s %-30s %10.4f %10.4f %-7s %3d %7s  %s" % (
            name, r["variant"], r["median"], r["min"], r["unit"], len(r["samples"]), writes, ratios))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="samples per variant (default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    # SIGTERM unwinds like Ctrl-C, so every control plane is stopped by its `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    header = ("benchmark", "variant", "median", "min", "unit", "n", "writes", "median vs baseline")
    print("%-15s %-30s %10s %10s %-7s %3s %7s  %s" % header)
    report = {}
    for name in args.only or BENCHMARKS:
        load = os.getloadavg()
        rows = with_ratios(BENCHMARKS[name](args.repeat))
        report[name] = {"loadavg_at_start": load, "loadavg_at_end": os.getloadavg(), "rows": rows}
        print(table(name, rows))
        print("%-15s load average %.2f %.2f %.2f at start, %.2f %.2f %.2f at end" % ((name,) + load + os.getloadavg()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
