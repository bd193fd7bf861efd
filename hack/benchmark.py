"""Benchmarks of the collection, each against a baseline measured in the same process (docs/benchmarks.md).

    .venv/bin/python hack/benchmark.py [--only NAME] [--repeat N] [--clusters N,N] [--tree PATH] [--json PATH]
    .venv/bin/python hack/benchmark.py --only scale --sizes 3,10,20 --json .tmp/scale.json
    .venv/bin/python hack/benchmark.py --only upgrade --upgrade-sizes 3,6

Every benchmark starts its own local control planes (tests/harness of the measured tree) and stops
each before the next one starts, so one control plane runs at a time and nothing is left behind.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import ctypes
import importlib
import json
import os
import pathlib
import random
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time

from kubernetes import client as k8s

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO_ROOT, "hack", "bench")
MODULE_PYTHON = os.path.join(BENCH_DIR, "module-python")
OCI_MIRROR = os.path.join(BENCH_DIR, "oci-mirror")  # its helm serves the baseline's OCI chart locally
# The shared performance peer next to the repository (issue 11), used unmodified.
BASELINE_PLAYBOOK = os.path.join(os.path.dirname(REPO_ROOT), "shared", "baselines", "install_k8s_core.yml")
NAMESPACE = "bench"
POLL_INTERVALS = (5.0, 1.0)  # `sleep 5` as copied from the procedure's page, and an eager 1 s loop
CALLS_PER_SAMPLE = 20
INSTALL_CLUSTERS = ("cluster1", "cluster2", "cluster3")
BASELINE_SIZES = (3, 5)
ADD_CLUSTER_SIZES = (3, 6, 10)
PLAY_TIMEOUT = 3600.0
START_ATTEMPTS = 3
ORPHAN_GRACE = 30.0  # for processes the run daemonized (e.g. ansible-connection) to finish after it
TOP_TASKS = 10
FAILURE_LINES = 6
PR_SET_CHILD_SUBREAPER = 36
MEMORY_SAMPLE_SECONDS = 0.5


class BenchmarkError(RuntimeError):
    """A benchmark could not be measured; the message says which run failed and why."""


class Tree:
    """The checkout being measured: its playbooks, and its tests/harness and module_utils, imported from it."""

    def __init__(self, root):
        self.root = root
        sys.path.insert(0, root)
        importlib.import_module("tests.harness.collection_path").install_collection_finder()
        self.controlplane = importlib.import_module("tests.harness.controlplane")
        self.playbook_run = importlib.import_module("tests.harness.playbook_run")
        # run_playbook lives beside Run since the harness restructure; older trees had it in module_runner.
        self.run_playbook = getattr(self.playbook_run, "run_playbook", None) or importlib.import_module(
            "tests.harness.module_runner").run_playbook

    def playbook(self, name):
        return os.path.join(self.root, "playbooks", name + ".yml")

    @staticmethod
    def k8s_utils():
        """The apply, client and wait module_utils: k8s/*.py in the layout of issue 13, k8s_*.py before it."""
        base = "ansible_collections.gloomesh.multicluster.plugins.module_utils."
        try:
            return tuple(importlib.import_module(base + "k8s." + name) for name in ("apply", "client", "wait"))
        except ModuleNotFoundError:
            return tuple(importlib.import_module(base + "k8s_" + name) for name in ("apply", "client", "wait"))


# -- process accounting ------------------------------------------------------------------------------
def children_cpu():
    """User + system CPU seconds of every terminated and waited-for descendant of this process."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def become_subreaper():
    # Processes an ansible run daemonizes are re-parented to us instead of init: their CPU time is
    # counted when we wait for them, and none can outlive the benchmark.
    if ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def parents():
    """{pid: parent pid} of every process (/proc/<pid>/stat: the field after the state)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                    found[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
    return found


def child_pids(exclude):
    """PIDs of this process's children (zombies included), except ``exclude`` (the control plane's servers)."""
    me = os.getpid()
    return [pid for pid, parent in parents().items() if parent == me and pid not in exclude]


def reap_orphans(exclude, grace):
    """Wait for what a playbook run left running, killing it after ``grace`` seconds; returns how many were killed."""
    deadline, killed = time.monotonic() + grace, set()
    while pids := child_pids(exclude):
        for pid in pids:
            if time.monotonic() >= deadline and pid not in killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return len(killed)


def loadavg():
    return list(os.getloadavg())


def rss_kib(pid):
    """VmRSS of ``pid`` in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def descendants(exclude):
    """PIDs of every descendant of this process, except ``exclude`` and theirs (the control plane)."""
    children = collections.defaultdict(list)
    for pid, parent in parents().items():
        children[parent].append(pid)
    found, todo = [], [os.getpid()]
    while todo:
        for pid in children.get(todo.pop(), ()):
            if pid not in exclude:
                found.append(pid)
                todo.append(pid)
    return found


class PeakMemory:
    """Samples the RSS of the playbook's process tree every MEMORY_SAMPLE_SECONDS while a run lasts:
    the peak of its sum (the controller with its forks, module processes, helm) and of one process.
    RUSAGE_CHILDREN's ru_maxrss gives only the largest single descendant since the benchmark began."""

    def __init__(self, exclude):
        self.exclude, self.peak_tree, self.peak_process = set(exclude), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(MEMORY_SAMPLE_SECONDS):
            sizes = [rss_kib(pid) for pid in descendants(self.exclude)]
            self.peak_tree = max(self.peak_tree, sum(sizes))
            self.peak_process = max([self.peak_process] + sizes)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def progress(message):
    """A line on stderr while a long benchmark runs (its table is printed at its end)."""
    print("%s (load average %.2f %.2f %.2f)" % (message, *os.getloadavg()), file=sys.stderr, flush=True)


def module_runs(path):
    """(module processes, their CPU seconds) from the lines hack/bench/module-python appended to ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return len(lines), sum(int(ticks) for line in lines for ticks in line.split()) / os.sysconf("SC_CLK_TCK")


# -- fresh clusters and measured playbook runs -----------------------------------------------------
def cluster_names(count):
    return tuple(f"cluster{index}" for index in range(1, count + 1))


class Session:
    """Measured playbook runs against one fresh environment, set up as the playbook tests do (Run)."""

    def __init__(self, tree, cp, work, names, forks, management=(), linking="manual", module_python=None):
        self.tree, self.cp, self.names, self.forks, self.linking = tree, cp, list(names), forks, linking
        self.module_python = module_python
        self.run = tree.playbook_run.Run(cp, work, names, management=management)
        self.modules = work / "modules"
        self.extra_inventory_vars, self.extra_env = {}, {}

    def inventory(self, hosts):
        # The collection runs with the controller's Python (Run.host), as docs/awx.md sets it: its modules
        # then run in process (plugin_utils/in_process.py), which another interpreter, even this
        # wrapper, would turn into module processes. The baseline's modules run under the wrapper.
        interpreter = {"ansible_python_interpreter": self.module_python or sys.executable}
        inventory = self.run.inventory(workload=hosts, host_vars={host: interpreter for host in hosts},
                                       linking=self.linking)
        inventory["all"]["vars"].update(self.extra_inventory_vars)
        # Tasks delegated to the controller run as localhost: counted with the same interpreter.
        inventory["all"]["hosts"] = {"localhost": {"ansible_connection": "local", **interpreter}}
        return inventory

    def play(self, playbook, what, hosts=None, limit=None, profile=None, must_pass=True):
        """Run ``playbook`` on ``hosts`` (default: every cluster); returns (metrics, ansible result).

        ``what`` names the run in the error raised when it fails and ``must_pass``; ``profile`` is a
        path where the bench_profile callback writes its task timings.
        """
        env = {**self.run.env(), "ANSIBLE_FORKS": str(self.forks),
               "GLOOMESH_BENCH_MODULE_STARTS": str(self.modules), "GLOOMESH_BENCH_PYTHON": sys.executable,
               **self.extra_env}
        if profile:
            env.update({"ANSIBLE_CALLBACK_PLUGINS": BENCH_DIR, "ANSIBLE_CALLBACKS_ENABLED": "bench_profile",
                        "GLOOMESH_BENCH_PROFILE": profile})
        inventory = self.inventory(self.names if hosts is None else hosts)
        self.modules.write_text("", encoding="utf-8")
        mark, load = self.cp.audit_mark(), loadavg()
        cpu, began = children_cpu(), time.monotonic()
        try:
            with PeakMemory(self.cp.pids()) as memory:
                result = self.tree.run_playbook(playbook, inventory, self.run.extra, env=env, limit=limit,
                                                timeout=PLAY_TIMEOUT)
        except BaseException:
            reap_orphans(self.cp.pids(), grace=0)
            raise
        wall = time.monotonic() - began
        killed = reap_orphans(self.cp.pids(), ORPHAN_GRACE)
        if must_pass and result["rc"] != 0:
            raise BenchmarkError("%s failed (rc=%d), so it could not be measured:\n%s"
                                 % (what, result["rc"], self.tree.playbook_run.failures(result)[-4000:]))
        cpu = children_cpu() - cpu
        writes = self.cp.writes_since(mark)
        reads = [e for e in self.cp.events_since(mark)
                 if e.get("user", {}).get("username") == self.tree.controlplane.ADMIN_USER
                 and e.get("verb") not in self.tree.controlplane.MUTATING_VERBS]
        module_starts, module_cpu = module_runs(self.modules)
        metrics = {
            "cpu": cpu, "wall": wall, "writes": len(writes), "reads": len(reads),
            "module_starts": module_starts, "module_cpu": module_cpu,
            "changed": sum(host.get("changed", 0) for host in result["recap"].values()),
            "rc": result["rc"], "killed_after_run": killed, "loadavg": load, "loadavg_after": loadavg(),
            "peak_tree_rss_mb": memory.peak_tree / 1024, "peak_process_rss_mb": memory.peak_process / 1024,
            "writes_by_cluster": per_cluster(writes), "reads_by_cluster": per_cluster(reads),
            "peer_writes": sum(1 for e in writes if is_peer_gateway(e)),
        }
        return metrics, {**result, "reads": reads}

    def replay(self, reads):
        """(seconds, replayed, watches skipped): ``reads`` sent again in order from this one process,
        one client per cluster: what the same reads cost without any module start (the API floor)."""
        plain = [e for e in reads if e["verb"] != "watch"]
        with contextlib.ExitStack() as stack:
            clients = {name: stack.enter_context(self.cp.api_client(name)) for name in {e["context"] for e in plain}}
            began = time.monotonic()
            for event in plain:
                api = clients[event["context"]]
                method, url, headers, _body, _form = api.param_serialize("GET", event["requestURI"],
                                                                         auth_settings=["BearerToken"])
                # Any status: a read that failed for the playbook (e.g. a 404 for an absent object) fails here too.
                api.call_api(method, url, header_params=headers).read()
            return time.monotonic() - began, len(plain), len(reads) - len(plain)


def per_cluster(events):
    return dict(collections.Counter(event["context"] for event in events))


def is_peer_gateway(event):
    ref = event.get("objectRef") or {}
    return ref.get("resource") == "gateways" and (ref.get("name") or "").startswith("istio-remote-peer-")


def start_environment(tree, names):
    """The tree's start_environment, tried again when it fails: on a loaded machine the harness's own
    deadlines (e.g. CRDs Established within 60 s) can pass, and a start is not part of any measurement."""
    attempt = 1
    while True:
        try:
            return tree.controlplane.start_environment(names, simulators=True, install_operator=False)
        except (TimeoutError, tree.controlplane.ControlPlaneError) as err:
            if attempt == START_ATTEMPTS:
                raise BenchmarkError("clusters %s did not start in %d attempts: %s"
                                     % (", ".join(names), START_ATTEMPTS, err)) from err
            print("starting clusters %s failed (%s); trying again" % (", ".join(names), err), file=sys.stderr)
            attempt += 1


@contextlib.contextmanager
def session(tree, names, forks, management=(), linking="manual", module_python=None):
    """A Session on fresh clusters ``names`` (workload clusters, then ``management``) with simulators;
    stops them and removes its files on exit."""
    work = tempfile.mkdtemp(prefix="gloomesh-bench-")
    try:
        cp = start_environment(tree, tuple(names) + tuple(management))
        try:
            yield Session(tree, cp, pathlib.Path(work), names, forks, management, linking, module_python)
        finally:
            cp.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- wait, rerun_requests, install: one number per sample, rows compared by median --------------------
def row(variant, samples, unit="s", baselines=(), writes=None):
    """One table line: ``samples`` of one variant, compared by median with the ``baselines`` rows."""
    return {"variant": variant, "unit": unit, "samples": samples, "median": statistics.median(samples),
            "min": min(samples), "baselines": list(baselines), "writes": writes}


def with_ratios(rows):
    """``rows``, each with its median divided by each of its baselines' medians."""
    medians = {r["variant"]: r["median"] for r in rows}
    for r in rows:
        r["ratios"] = {b: r["median"] / medians[b] for b in r["baselines"]}
    return rows


def deployment(name):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}}}


def one_cluster(tree, k8s_apply, k8s_client):
    """A started single-cluster control plane (no CRDs, no simulators) and an admin client of ours."""
    cp = tree.controlplane.LocalControlPlane(("bench",)).start()
    try:
        # get_cluster was get_k8s_client before issue 23 (the layouts benchmarked side by side).
        connect = getattr(k8s_client, "get_cluster", None) or k8s_client.get_k8s_client
        client = connect({"kubeconfig": cp.kubeconfig_path, "context": "bench"})
        k8s_apply.ensure_namespace(client, NAMESPACE, check_mode=False)
    except BaseException:
        cp.stop()
        raise
    return cp, client


def ready_latency(cp, k8s_apply, client, name, waiter):
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
        raise BenchmarkError("the wait for Deployment %s did not return within 60s" % name)
    return returned[0] - ready_at


def bench_wait(tree, args, report):
    """k8s wait_for (watch) vs polling every 5 s and every 1 s."""
    k8s_apply, k8s_client, k8s_wait = tree.k8s_utils()
    ready = k8s_wait.condition_true("Available")
    cp, client = one_cluster(tree, k8s_apply, k8s_client)

    def poll(name, interval):
        """The manual procedure's loop: `sleep N`, then GET and check, until ready."""
        while True:
            time.sleep(interval)
            if ready(k8s_apply.get_object(client, "apps/v1", "Deployment", name, NAMESPACE))[0]:
                return

    def watch(name):
        k8s_wait.wait_for(client, "apps/v1", "Deployment", name, NAMESPACE, ready, 60, "Deployment %s" % name)

    try:
        waiters = {"poll %gs" % i: (lambda name, i=i: poll(name, i)) for i in POLL_INTERVALS}
        waiters["wait_for (watch, ours)"] = watch
        samples = {variant: [] for variant in waiters}
        for n in range(args.repeat):
            for index, (variant, waiter) in enumerate(waiters.items()):
                samples[variant].append(ready_latency(cp, k8s_apply, client, "wait-%d-%d" % (n, index), waiter))
    finally:
        cp.stop()
    baselines = [v for v in samples if v.startswith("poll")]
    report["rows"] = with_ratios([row(v, s, baselines=[] if v in baselines else baselines) for v, s in samples.items()])


def timed_calls(cp, call):
    """(seconds per call, write requests per call) over CALLS_PER_SAMPLE calls."""
    mark = cp.audit_mark()
    began = time.monotonic()
    for _call in range(CALLS_PER_SAMPLE):
        call()
    seconds = (time.monotonic() - began) / CALLS_PER_SAMPLE
    return seconds, len(cp.writes_since(mark)) / CALLS_PER_SAMPLE


def bench_rerun_requests(tree, args, report):
    """apply_object on an up-to-date object (one GET) vs server-side applying it every run."""
    k8s_apply, k8s_client, _k8s_wait = tree.k8s_utils()
    cp, client = one_cluster(tree, k8s_apply, k8s_client)
    desired = deployment("rerun")

    def always_apply():  # what `kubectl apply --server-side` sends on every run: a no-op SSA PATCH
        api = getattr(client, "api", None) or client.client  # Cluster.client before issue 23
        api.server_side_apply(k8s_apply.resource_for(client, "apps/v1", "Deployment"), body=desired,
                              name="rerun", namespace=NAMESPACE, field_manager=k8s_apply.FIELD_MANAGER)

    def ours():
        if k8s_apply.apply_object(client, desired, check_mode=False).changed:
            raise BenchmarkError("apply_object changed an up-to-date Deployment")

    calls = {"server-side apply every run": always_apply, "apply_object (ours)": ours}
    seconds, writes = {variant: [] for variant in calls}, {variant: [] for variant in calls}
    try:
        k8s_apply.apply_object(client, desired, check_mode=False)
        for _sample in range(args.repeat):
            for variant, call in calls.items():
                per_call, writes_per_call = timed_calls(cp, call)
                seconds[variant].append(per_call)
                writes[variant].append(writes_per_call)
    finally:
        cp.stop()
    baseline = "server-side apply every run"
    report["rows"] = with_ratios([row(v, seconds[v], unit="s/call", baselines=[] if v == baseline else [baseline],
                                      writes=statistics.median(writes[v])) for v in calls])


def install_run(tree, forks, rerun):
    """[(seconds, writes)] of install_manual_link on 3 fresh clusters with ``forks``, then of its re-run with ``rerun``."""
    results = []
    with session(tree, INSTALL_CLUSTERS, forks) as bench:
        for _run in range(2 if rerun else 1):
            metrics, _result = bench.play(tree.playbook("install_manual_link"), "install_manual_link (forks=%d)" % forks)
            results.append((metrics["wall"], metrics["writes"]))
    return results


def bench_install(tree, args, report):
    """install_manual_link on 3 fresh clusters: forks=3 vs forks=1, and the no-op re-run vs the first install."""
    serial, parallel, rerun, rerun_writes = [], [], [], []
    for _sample in range(args.repeat):
        serial.append(install_run(tree, 1, rerun=False)[0][0])
        (first, _first_writes), (again, writes) = install_run(tree, 3, rerun=True)
        parallel.append(first)
        rerun.append(again)
        rerun_writes.append(writes)
    report["rows"] = with_ratios([
        row("forks=1 (cluster by cluster)", serial),
        row("forks=3 (parallel)", parallel, baselines=["forks=1 (cluster by cluster)"]),
        row("no-op re-run, forks=3", rerun, baselines=["forks=3 (parallel)"], writes=max(rerun_writes))])


def render_rows(name, report):
    lines = ["%-15s %-30s %10s %10s %-7s %3s %7s  %s" % (
        "benchmark", "variant", "median", "min", "unit", "n", "writes", "median vs baseline")]
    for r in report.get("rows", ()):
        ratios = ", ".join("%.3gx %s" % (x, b) for b, x in r["ratios"].items()) or "baseline"
        writes = "-" if r["writes"] is None else "%g" % r["writes"]
        lines.append("%-15s %-30s %10.4f %10.4f %-7s %3d %7s  %s" % (
            name, r["variant"], r["median"], r["min"], r["unit"], len(r["samples"]), writes, ratios))
    return lines


# -- baseline: the collection vs the hand-written kubernetes.core playbook (issue 11) -----------------
COLLECTION, K8S_CORE = "collection", "k8s_core"
INSTALL, RERUN, VERIFY = "install", "no-op re-run", "verify"
METRICS = ("cpu", "module_cpu", "wall", "writes", "reads", "module_starts", "changed")


def sample_collection(tree, n, profile_to):
    """One sample of the collection on fresh clusters: {run: metrics}, the API floor of its re-run, and
    its profile when ``profile_to`` names a file (an extra no-op re-run, with the callback)."""
    install, runs, profile = tree.playbook("install_manual_link"), {}, None
    with session(tree, cluster_names(n), forks=n) as bench:
        runs[INSTALL], _result = bench.play(install, "the collection's install (N=%d)" % n)
        runs[RERUN], result = bench.play(install, "the collection's no-op re-run (N=%d)" % n)
        floor = bench.replay(result["reads"])
        runs[VERIFY], _result = bench.play(tree.playbook("verify"), "the collection's verify (N=%d)" % n)
        if profile_to:
            metrics, _result = bench.play(install, "the collection's profiled no-op re-run (N=%d)" % n,
                                          profile=profile_to)
            with open(profile_to, encoding="utf-8") as fh:
                profile = profile_summary(json.load(fh), metrics)
    return runs, floor, profile


def sample_k8s_core(tree, n, baseline, work):
    """One sample of the hand-written playbook ``baseline`` on fresh clusters: {run: metrics}."""
    # A fresh copy for every sample, so nothing a run may leave next to it carries over.
    playbook = shutil.copy(baseline, work)
    with session(tree, cluster_names(n), forks=n, module_python=MODULE_PYTHON) as bench:
        charts = importlib.import_module("tests.harness.helm_charts")
        env = bench.run.env()
        bench.extra_env = {"PATH": os.pathsep.join([OCI_MIRROR, env["PATH"]]),
                           "GLOOMESH_BENCH_HELM": os.path.join(charts.RECORDER_DIR, "helm"),
                           "GLOOMESH_BENCH_CHART_REPO": charts.repository_url()}
        return {run: bench.play(playbook, "the baseline's %s (%s, N=%d)" % (run, baseline, n))[0]
                for run in (INSTALL, RERUN)}


def summary(samples):
    return {metric: statistics.median(s[metric] for s in samples) for metric in METRICS}


def bench_baseline(tree, args, report):
    """install_manual_link vs the hand-written kubernetes.core playbook: install and no-op re-run,
    alternating on fresh clusters, plus the collection's verify alone, for every N."""
    if not os.path.isfile(args.baseline_playbook):
        raise BenchmarkError("the baseline playbook %s is missing (see --baseline-playbook)" % args.baseline_playbook)
    report["sizes"] = {}
    with tempfile.TemporaryDirectory(prefix="gloomesh-bench-baseline-") as work:
        for n in args.clusters or BASELINE_SIZES:
            samples = {(COLLECTION, run): [] for run in (INSTALL, RERUN, VERIFY)}
            samples.update({(K8S_CORE, run): [] for run in (INSTALL, RERUN)})
            floors, profile = [], None
            for index in range(args.repeat):
                runs, floor, sample_profile = sample_collection(
                    tree, n, os.path.join(work, "profile.json") if index == 0 else None)
                profile = profile or sample_profile
                floors.append(floor)
                for run, metrics in runs.items():
                    samples[(COLLECTION, run)].append(metrics)
                for run, metrics in sample_k8s_core(tree, n, args.baseline_playbook, work).items():
                    samples[(K8S_CORE, run)].append(metrics)
                # After every sample: a later failure keeps what was measured.
                report["sizes"][str(n)] = baseline_size(samples, floors, profile)
                progress("baseline N=%d: sample %d of %d measured" % (n, index + 1, args.repeat))


def baseline_size(samples, floors, profile):
    """The report of one N: rows with their medians, the ratios, the API floor and the profile."""
    rows = [{"variant": v, "run": r, "samples": s, "median": summary(s)} for (v, r), s in samples.items()]
    medians = {(r["variant"], r["run"]): r["median"] for r in rows}
    ratios = {run: {metric: medians[(COLLECTION, run)][metric] / medians[(K8S_CORE, run)][metric]
                    for metric in ("cpu", "wall")} for run in (INSTALL, RERUN)}
    return {"rows": rows, "ratios": ratios, "profile": profile,
            "api_floor": {"seconds": statistics.median(f[0] for f in floors), "reads": floors[0][1],
                          "watches_not_replayed": floors[0][2]}}


def count(samples, metric):
    """A count over samples: one number when every sample agrees, else min-max."""
    low, high = min(s[metric] for s in samples), max(s[metric] for s in samples)
    return "%d" % low if low == high else "%d-%d" % (low, high)


def render_baseline(name, report):
    lines = ["%-11s %3s %-11s %-13s %8s %8s %8s %8s %8s %6s %6s %7s %7s %3s" % (
        "benchmark", "N", "variant", "run", "cpu s", "min", "mod cpu", "wall s", "min", "writes", "reads", "modules",
        "changed", "n")]
    for n, size in report.get("sizes", {}).items():
        for r in size["rows"]:
            s = r["samples"]
            lines.append("%-11s %3s %-11s %-13s %8.2f %8.2f %8.2f %8.2f %8.2f %6s %6s %7s %7s %3d" % (
                name, n, r["variant"], r["run"], r["median"]["cpu"], min(x["cpu"] for x in s), r["median"]["module_cpu"],
                r["median"]["wall"], min(x["wall"] for x in s), count(s, "writes"), count(s, "reads"),
                count(s, "module_starts"), count(s, "changed"), len(s)))
        lines.append("%-11s %3s ratio collection / k8s_core (medians): %s" % (name, n, "; ".join(
            "%s cpu %.2f wall %.2f" % (run, x["cpu"], x["wall"]) for run, x in size["ratios"].items())))
        floor = size["api_floor"]
        lines.append("%-11s %3s API floor: the collection's no-op re-run reads (%d, %d watches not replayed) sent "
                     "from one Python process in %.2f s"
                     % (name, n, floor["reads"], floor["watches_not_replayed"], floor["seconds"]))
        if size["profile"]:
            lines += ["%-11s %3s %s" % ("profile", n, line) for line in render_profile(size["profile"])]
    return lines


def median_or_none(values):
    return statistics.median(values) if values else None


def profile_summary(tasks, metrics):
    """The top tasks by wall time, and the per-task fixed cost: the median time one host spends on a
    task that started one module process (per host), that ran on the controller only, or was skipped;
    the median CPU seconds of one module process; the controller's CPU seconds per (task, host)."""
    kinds = {"one module start": [], "controller only": [], "skipped": []}
    for task in tasks:
        ran = [h["seconds"] for h in task["hosts"].values() if h["status"] != "skipped"]
        kinds["skipped"] += [h["seconds"] for h in task["hosts"].values() if h["status"] == "skipped"]
        if not task["module_starts"]:
            kinds["controller only"] += ran
        elif task["module_starts"] == len(ran):
            kinds["one module start"] += ran
    host_tasks = sum(len(t["hosts"]) for t in tasks)
    top = sorted(tasks, key=lambda t: t["seconds"], reverse=True)[:TOP_TASKS]
    return {"tasks": len(tasks), "host_tasks": host_tasks, "wall": metrics["wall"], "cpu": metrics["cpu"],
            "module_cpu": metrics["module_cpu"], "module_starts": metrics["module_starts"],
            "fixed_cost": {kind: {"median": median_or_none(s), "host_tasks": len(s)} for kind, s in kinds.items()},
            "cpu_per_module": median_or_none([t["module_cpu"] / t["module_starts"] for t in tasks if t["module_starts"]]),
            "controller_cpu_per_host_task": (metrics["cpu"] - metrics["module_cpu"]) / max(host_tasks, 1),
            "top": [{key: t[key] for key in ("name", "action", "seconds", "module_starts", "module_cpu")}
                    | {"hosts": len(t["hosts"])} for t in top]}


def render_profile(profile):
    lines = [
        "no-op re-run of the collection with the profile callback: %d tasks (%d task-host results), %.1f s wall, "
        "%.1f s CPU of which %.1f s in %d module processes"
        % (profile["tasks"], profile["host_tasks"], profile["wall"], profile["cpu"], profile["module_cpu"],
           profile["module_starts"]),
        "per-task fixed cost, median seconds per host (task-host results): " + ", ".join(
            "%s %s (%d)" % (kind, "-" if x["median"] is None else "%.2f s" % x["median"], x["host_tasks"])
            for kind, x in profile["fixed_cost"].items()),
        "CPU: %s per module process (median); %.2f s of the controller per task-host result (mean)"
        % ("-" if profile["cpu_per_module"] is None else "%.2f s" % profile["cpu_per_module"],
           profile["controller_cpu_per_host_task"]),
        "top tasks by wall time (seconds, module processes, their CPU seconds, hosts):"]
    lines += ["  %6.2f %3d %6.2f %3d  %s [%s]"
              % (t["seconds"], t["module_starts"], t["module_cpu"], t["hosts"], t["name"], t["action"])
              for t in profile["top"]]
    return lines


# -- add_cluster: one cluster added with --limit to N linked clusters, vs a full re-run (issue 14) -----
def bench_add_cluster(tree, args, report):
    """Link N clusters (set-up), add cluster N+1 with `--limit`, then re-run the whole inventory."""
    install = tree.playbook("install_manual_link")
    report["sizes"] = {}
    for n in args.clusters or ADD_CLUSTER_SIZES:
        names = cluster_names(n + 1)
        existing, added = names[:-1], names[-1]
        adds, fulls, failures, starts = [], [], [], []
        for _sample in range(args.repeat):
            began = time.monotonic()
            with session(tree, names, forks=n + 1) as bench:
                starts.append(start_seconds(bench, began))
                bench.play(install, "the set-up install of %d clusters (%s)" % (n, ", ".join(existing)), hosts=existing)
                metrics, result = bench.play(install, "--limit %s" % added, limit=added, must_pass=False)
                if result["rc"] != 0:
                    failures.append("`install_manual_link --limit %s` failed (rc=%d): adding a cluster to a linked "
                                    "mesh with --limit (issue 14, \"Add a cluster\") does not work on this tree:\n%s"
                                    % (added, result["rc"], tree.playbook_run.failures(result)[-3000:]))
                existing_reads = [metrics["reads_by_cluster"].get(c, 0) for c in existing]
                metrics["writes_to_added"] = metrics["writes_by_cluster"].get(added, 0)
                metrics["writes_to_existing"] = metrics["writes"] - metrics["writes_to_added"]
                metrics["max_reads_per_existing"] = max(existing_reads)
                adds.append(metrics)
                fulls.append(bench.play(install, "the full re-run of %d clusters after the add" % (n + 1))[0])
            progress("add_cluster N=%d: sample %d of %d measured" % (n, len(fulls), args.repeat))
        report["sizes"][str(n)] = {"added": added, "add_with_limit": adds, "full_rerun": fulls,
                                   "failures": failures, "start": starts}


def start_seconds(bench, began):
    """How long the N+1 clusters took to start: their API servers (and etcd) answering, then with the
    CRDs installed and the simulators running (issue 14: the local control plane starts 11 for N=10)."""
    return {"apiservers": round(bench.cp.startup_seconds, 2), "environment": round(time.monotonic() - began, 2)}


ADD_CLUSTER_LINE = "%-11s %3s %-26s %8s %8s %6s %5s %8s %5s %12s %7s %3s  %s"


def median_seconds(samples, metric):
    return "%.2f" % statistics.median(s[metric] for s in samples)


def render_add_cluster(name, report):
    lines = [ADD_CLUSTER_LINE % ("benchmark", "N", "run", "wall s", "cpu s", "writes", "added", "existing", "peers",
                                 "reads/exist.", "modules", "n", "check")]
    for n, size in report.get("sizes", {}).items():
        adds, fulls, peers = size["add_with_limit"], size["full_rerun"], 2 * int(n)
        add_ok = all(s["rc"] == 0 and s["peer_writes"] == peers for s in adds)
        lines.append(ADD_CLUSTER_LINE % (
            name, n, "add %s with --limit" % size["added"], median_seconds(adds, "wall"), median_seconds(adds, "cpu"),
            count(adds, "writes"), count(adds, "writes_to_added"), count(adds, "writes_to_existing"),
            count(adds, "peer_writes"), count(adds, "max_reads_per_existing"), count(adds, "module_starts"), len(adds),
            "ok" if add_ok else "FAILED: expected rc 0 and 2N=%d peer writes" % peers))
        lines.append(ADD_CLUSTER_LINE % (
            name, n, "full re-run (%d clusters)" % (int(n) + 1), median_seconds(fulls, "wall"),
            median_seconds(fulls, "cpu"), count(fulls, "writes"), "-", "-", count(fulls, "peer_writes"), "-",
            count(fulls, "module_starts"), len(fulls),
            "ok" if all(s["writes"] == 0 for s in fulls) else "FAILED: expected 0 writes (the --limit run left work undone)"))
        lines.append("%-11s %3s %d clusters started in %s s (API servers %s s)" % (
            name, n, int(n) + 1, median_seconds(size["start"], "environment"), median_seconds(size["start"], "apiservers")))
        # The first failure's head; every failure is whole in the JSON.
        lines += ["%-11s %3s %s" % (name, n, line) for failure in size["failures"][:1]
                  for line in failure.splitlines()[:FAILURE_LINES]]
    return lines


# -- scale: N = 3, 10, 20 clusters, cost per cluster (issue 24) -------------------------------------
SCALE_SIZES, SCALE_BASELINE_SIZES, SCALE_AUTOMATIC_SIZES = (3, 10, 20), (3, 10), (20,)
ADD = "add with --limit"
SCALE_RUNS = (INSTALL, RERUN, VERIFY, ADD)
GLOO_VERSION = "2.7.0"
SCALE_VERIFY_WAIT = 600
# Issue 24's criteria: the N=20 no-op re-run and verify per cluster, at most 1.5x their N=3 cost;
# the no-op re-run at most 0.15x the baseline's CPU from N=10 on (below, the ratio is printed only:
# Ansible's fixed cost weighs more there).
PER_CLUSTER_GROWTH, BASELINE_RERUN_RATIO, BASELINE_RATIO_FROM = 1.5, 0.15, 10


def cluster_resources(bench, began):
    """What the started clusters hold: seconds to ready, and the RSS of the API servers and etcd,
    and of the benchmark process, whose threads are the simulators."""
    pids = bench.cp.pids()
    return {"seconds": round(time.monotonic() - began, 2), "apiservers_seconds": round(bench.cp.startup_seconds, 2),
            "clusters": len(pids) - 1, "apiservers_etcd_rss_mb": round(sum(rss_kib(p) for p in pids) / 1024),
            "benchmark_process_rss_mb": round(rss_kib(os.getpid()) / 1024), "loadavg": loadavg()}


def scale_collection(tree, n, linking):
    """install, no-op re-run, verify on N clusters, then cluster N+1 added with --limit: {run: metrics}.
    Automatic linking: cluster1 ... clusterN-1 and mgmt (the management cluster is in the mesh)."""
    names = cluster_names(n + 1 if linking == "manual" else n)
    management = ("mgmt",) if linking == "automatic" else ()
    existing, added = names[:-1], names[-1]
    install = tree.playbook("install_%s_link" % linking)
    began = time.monotonic()
    with session(tree, names, forks=n + 1, management=management, linking=linking) as bench:
        runs = {"clusters": cluster_resources(bench, began)}
        # The simulators (one process for every cluster) report peering late under a high load
        # average: at N=20 and a load of 60, 6 of 380 links were not reported within verify's 60 s.
        bench.run.extra["verify_wait_timeout"] = SCALE_VERIFY_WAIT
        if management:
            seed_gloo_platform(bench)
        for run, playbook, limit in ((INSTALL, install, None), (RERUN, install, None),
                                     (VERIFY, tree.playbook("verify"), None)):
            runs[run] = bench.play(playbook, "%s (%s linking, N=%d)" % (run, linking, n), hosts=existing)[0]
            progress("scale %s N=%d: %s measured" % (linking, n, run))
        runs[ADD] = bench.play(install, "--limit %s (%s linking, N=%d)" % (added, linking, n), limit=added)[0]
    return runs


def seed_gloo_platform(bench):
    """Gloo Mesh as automatic linking needs it installed (tests/integration/test_playbooks.py
    test_automatic_link): the CRD release everywhere, the management plane in mgmt."""
    bench.cp.simulators.management_plane(True, mgmt_context="mgmt")
    for name in bench.cp.names:
        bench.run.seed_release(name, "gloo-platform-crds", GLOO_VERSION, {"installEnterpriseCrds": False})
    bench.run.seed_release("mgmt", "gloo-platform", GLOO_VERSION,
                           {"common": {"cluster": "mgmt"},
                            "licensing": {"glooMeshLicenseKey": bench.tree.playbook_run.LICENSE}})
    bench.extra_inventory_vars["verify_management_metrics_port"] = bench.cp.simulators.management_metrics_port()


def bench_scale(tree, args, report):
    """Manual linking (full mesh) at every --sizes N, the baseline at --baseline-sizes, automatic
    linking at --automatic-sizes; one sample each (CPU seconds are the metric: docs/benchmarks.md)."""
    if args.baseline_sizes and not os.path.isfile(args.baseline_playbook):
        raise BenchmarkError("the baseline playbook %s is missing (see --baseline-playbook)" % args.baseline_playbook)
    report["sizes"] = {}
    with tempfile.TemporaryDirectory(prefix="gloomesh-bench-scale-") as work:
        for n in sorted(set(args.sizes) | set(args.baseline_sizes)):
            size = report["sizes"][str(n)] = {}
            if n in args.sizes:
                size["manual"] = scale_collection(tree, n, "manual")
                args.save()
            if n in args.baseline_sizes:
                size[K8S_CORE] = sample_k8s_core(tree, n, args.baseline_playbook, work)
                args.save()
                progress("scale N=%d: the baseline measured" % n)
        for n in args.automatic_sizes:
            report["sizes"].setdefault(str(n), {})["automatic"] = scale_collection(tree, n, "automatic")
            args.save()
    report["criteria"] = scale_criteria(report["sizes"])


def per_cluster_cpu(sizes, n, run):
    metrics = sizes.get(str(n), {}).get("manual", {}).get(run)
    return metrics["cpu"] / n if metrics else None


def scale_criteria(sizes):
    """Issue 24's checks on what was measured: {check: {"value": ..., "limit": ..., "ok": bool}}."""
    checks = {}
    ns = sorted(int(n) for n, size in sizes.items() if "manual" in size)
    if ns and ns[0] < ns[-1]:
        for run in (RERUN, VERIFY):
            growth = per_cluster_cpu(sizes, ns[-1], run) / per_cluster_cpu(sizes, ns[0], run)
            checks["%s CPU per cluster, N=%d / N=%d" % (run, ns[-1], ns[0])] = {
                "value": growth, "limit": PER_CLUSTER_GROWTH, "ok": growth <= PER_CLUSTER_GROWTH}
    for n, size in sizes.items():
        for linking in ("manual", "automatic"):
            if linking in size:
                writes = size[linking][RERUN]["writes"]
                checks["%s re-run writes, N=%s" % (linking, n)] = {"value": writes, "limit": 0, "ok": writes == 0}
        if K8S_CORE in size and "manual" in size:
            ratio = size["manual"][RERUN]["cpu"] / size[K8S_CORE][RERUN]["cpu"]
            applies = int(n) >= BASELINE_RATIO_FROM
            checks["re-run CPU / baseline, N=%s" % n] = {"value": ratio, "limit": BASELINE_RERUN_RATIO if applies else None,
                                                         "ok": ratio <= BASELINE_RERUN_RATIO or not applies}
    return checks


# -- slices: AWX job slicing at N clusters, the slices in parallel (issue 24) ------------------------
VERIFIED = re.compile(r"Mesh verified: (\d+) clusters")


def awx_slices(hosts, count):
    """The hosts of each slice as AWX job slicing makes them: the inventory's hosts ordered by name, slice k
    (1-based) gets every count-th from the (k-1)-th on (awx/main/models/inventory.py, Inventory.get_sliced_hosts)."""
    ordered = sorted(hosts)
    return [ordered[offset::count] for offset in range(count)]


def bench_slices(tree, args, report):
    """install_manual_link on N = the largest --sizes clusters in --slices slices at once, then one full
    run on the same clusters: it must write nothing, so the slices left what one full run leaves.
    --slice-inventory awx: each slice's inventory holds its hosts only (what AWX feeds a slice job);
    limit: the whole inventory with --limit (a workflow of job templates with limits)."""
    n, count, install = max(args.sizes), args.slices, tree.playbook("install_manual_link")
    names = cluster_names(n)
    report.update({"clusters": n, "slices": awx_slices(names, count), "inventory": args.slice_inventory})
    with session(tree, names, forks=n) as bench:
        env = {**bench.run.env(), "ANSIBLE_FORKS": str(n)}

        def play(hosts):
            whole = args.slice_inventory == "limit"
            return tree.run_playbook(install, bench.inventory(names if whole else hosts), bench.run.extra, env=env,
                                     limit=",".join(hosts) if whole else None, timeout=PLAY_TIMEOUT)

        mark, load, cpu, began = bench.cp.audit_mark(), loadavg(), children_cpu(), time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            results = list(pool.map(play, report["slices"]))
        report["parallel"] = {"wall": time.monotonic() - began, "cpu": children_cpu() - cpu, "loadavg": load,
                              "writes": len(bench.cp.writes_since(mark)),
                              "peer_writes": sum(1 for e in bench.cp.writes_since(mark) if is_peer_gateway(e)),
                              "rc": [r["rc"] for r in results],
                              "verified_clusters": [[int(m) for m in VERIFIED.findall(r["stdout"])] for r in results]}
        args.save()
        progress("slices: %d slices of %d clusters measured" % (count, n))
        report["full_run_after"] = bench.play(install, "the full run after the slices", must_pass=False)[0]


def render_slices(name, report):
    if "parallel" not in report:
        return []
    par, full = report["parallel"], report.get("full_run_after", {})
    return ["%s: %d clusters in %d slices (%s inventories) at once: %.0f s wall, %.0f CPU s, %d writes (%d peer "
            "Gateways), rc %s, clusters each slice verified %s" % (
                name, report["clusters"], len(report["slices"]), report["inventory"], par["wall"], par["cpu"],
                par["writes"], par["peer_writes"], par["rc"], par["verified_clusters"]),
            "%s: then one full run: %s writes (%s peer Gateways), %.0f s wall, %.0f CPU s, rc %s" % (
                name, full.get("writes"), full.get("peer_writes"), full.get("wall", 0), full.get("cpu", 0),
                full.get("rc"))]


# -- upgrade: the rolling upgrade of the whole mesh, its re-run and its rollback (issue 25) ----------
UPGRADE_SIZES, UPGRADE_FROM, UPGRADE_TO = (3, 6), "1.25.2", "1.26.2"
UPGRADE_RUNS = ("upgrade", "re-run", "rollback")


def bench_upgrade(tree, args, report):
    """upgrade_mesh from UPGRADE_FROM to UPGRADE_TO on N clusters (canary, then one batch of the rest),
    its no-op re-run and the rollback, each measured; the install before them is not."""
    if not os.path.isfile(tree.playbook("upgrade_mesh")):
        raise BenchmarkError("%s has no playbooks/upgrade_mesh.yml" % tree.root)
    report["sizes"] = {}
    for n in args.upgrade_sizes:
        runs = report["sizes"][str(n)] = {}
        with session(tree, cluster_names(n), forks=n) as bench:
            bench.run.extra["gloomesh_istio_version"] = UPGRADE_FROM
            bench.play(tree.playbook("install_manual_link"), "the install before the upgrade (N=%d)" % n)
            bench.run.extra.update(gloomesh_istio_version=UPGRADE_TO, upgrade_batch_size=max(n - 1, 1))
            for run in UPGRADE_RUNS:
                bench.run.extra["upgrade_rollback"] = run == "rollback"
                runs[run] = bench.play(tree.playbook("upgrade_mesh"), "%s (N=%d)" % (run, n))[0]
                progress("upgrade N=%d: %s measured" % (n, run))
        args.save()


def render_upgrade(name, report):
    header = ("benchmark", "N", "run", "cpu s", "wall s", "wall/N", "writes", "writes by cluster")
    lines = ["%-9s %3s %-9s %8s %8s %8s %7s %s" % header]
    for n, runs in report.get("sizes", {}).items():
        for run, m in runs.items():
            lines.append("%-9s %3s %-9s %8.1f %8.1f %8.1f %7d %s" % (
                name, n, run, m["cpu"], m["wall"], m["wall"] / int(n), m["writes"],
                json.dumps(m["writes_by_cluster"], sort_keys=True)))
    return lines


SCALE_LINE = "%-9s %3s %-10s %-16s %8s %8s %7s %6s %6s %7s %7s %7s %s"


def render_scale(name, report):
    lines = [SCALE_LINE % ("benchmark", "N", "variant", "run", "cpu s", "wall s", "cpu/N", "writes", "reads",
                           "tree MB", "proc MB", "changed", "load")]
    for n, size in report.get("sizes", {}).items():
        for variant, runs in size.items():
            for run in SCALE_RUNS:
                if run in runs:
                    m = runs[run]
                    lines.append(SCALE_LINE % (
                        name, n, variant, run, "%.1f" % m["cpu"], "%.1f" % m["wall"], "%.2f" % (m["cpu"] / int(n)),
                        m["writes"], m["reads"], "%.0f" % m["peak_tree_rss_mb"], "%.0f" % m["peak_process_rss_mb"],
                        m["changed"], "%.1f" % m["loadavg"][0]))
            if "clusters" in runs:
                c = runs["clusters"]
                lines.append("%-9s %3s %-10s %d clusters ready in %.0f s (API servers %.0f s); RSS: API servers and "
                             "etcd %d MB, benchmark process with the simulators %d MB"
                             % (name, n, variant, c["clusters"], c["seconds"], c["apiservers_seconds"],
                                c["apiservers_etcd_rss_mb"], c["benchmark_process_rss_mb"]))
    for check, verdict in report.get("criteria", {}).items():
        if verdict["limit"] is None:
            lines.append("%-9s %s: %.3g (no limit at this N)" % (name, check, verdict["value"]))
            continue
        lines.append("%-9s %s: %.3g (limit %g) %s" % (name, check, verdict["value"], verdict["limit"],
                                                      "ok" if verdict["ok"] else "FAILED"))
    return lines


BENCHMARKS = {"wait": (bench_wait, render_rows), "rerun_requests": (bench_rerun_requests, render_rows),
              "install": (bench_install, render_rows), "baseline": (bench_baseline, render_baseline),
              "add_cluster": (bench_add_cluster, render_add_cluster), "scale": (bench_scale, render_scale),
              "slices": (bench_slices, render_slices), "upgrade": (bench_upgrade, render_upgrade)}


def sizes(text):
    values = [int(v) for v in text.split(",") if v]
    if any(v < 2 for v in values):
        raise argparse.ArgumentTypeError("a mesh needs at least 2 clusters")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--only", choices=list(BENCHMARKS), action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="samples per variant (default 3)")
    parser.add_argument("--clusters", type=sizes, metavar="N,N",
                        help="cluster counts of baseline (default 3,5) and add_cluster (default 3,6,10)")
    parser.add_argument("--sizes", type=sizes, metavar="N,N", default=list(SCALE_SIZES),
                        help="scale: cluster counts, manual linking (default %s)" % ",".join(map(str, SCALE_SIZES)))
    parser.add_argument("--baseline-sizes", type=sizes, metavar="N,N", default=list(SCALE_BASELINE_SIZES),
                        help="scale: where the baseline runs ('' for none; default %s)"
                        % ",".join(map(str, SCALE_BASELINE_SIZES)))
    parser.add_argument("--automatic-sizes", type=sizes, metavar="N,N", default=list(SCALE_AUTOMATIC_SIZES),
                        help="scale: cluster counts (management cluster included), automatic linking ('' for none; "
                        "default %s)" % ",".join(map(str, SCALE_AUTOMATIC_SIZES)))
    parser.add_argument("--upgrade-sizes", type=sizes, metavar="N,N", default=list(UPGRADE_SIZES),
                        help="upgrade: cluster counts (default %s)" % ",".join(map(str, UPGRADE_SIZES)))
    parser.add_argument("--slices", type=int, default=4, help="slices: how many (default 4)")
    parser.add_argument("--slice-inventory", choices=("awx", "limit"), default="awx",
                        help="slices: each slice's inventory has its hosts only (awx, the default), or the whole "
                        "inventory with --limit")
    parser.add_argument("--tree", default=REPO_ROOT,
                        help="checkout of the collection to measure: its playbooks and tests/harness (default: this one)")
    parser.add_argument("--baseline-playbook", default=BASELINE_PLAYBOOK, metavar="PATH",
                        help="the hand-written peer of the baseline benchmark (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    tree = Tree(os.path.abspath(args.tree))
    become_subreaper()
    # SIGTERM unwinds like Ctrl-C, so every control plane is stopped by its `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("tree %s, python %s" % (tree.root, sys.executable), flush=True)
    report, failed = {"tree": tree.root}, False

    def save():
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=2)
    args.save = save
    for name in args.only or BENCHMARKS:
        bench, render = BENCHMARKS[name]
        report[name] = {"loadavg_at_start": loadavg()}
        try:
            bench(tree, args, report[name])
        except BenchmarkError as err:
            # What was measured before the failure is still printed and saved.
            report[name]["error"], failed = str(err), True
        finally:
            report[name]["loadavg_at_end"] = loadavg()
            save()
        print("\n".join(render(name, report[name])))
        if "error" in report[name]:
            print("%s could not be measured: %s" % (name, report[name]["error"]))
        print("%-15s load average %.2f %.2f %.2f at start, %.2f %.2f %.2f at end"
              % tuple([name] + report[name]["loadavg_at_start"] + report[name]["loadavg_at_end"]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
