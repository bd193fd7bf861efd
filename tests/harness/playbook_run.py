"""Playbook runs against a local control plane, as the playbook tests and the benchmark do them:
an inventory whose hosts are the clusters, the real helm behind its recording wrapper and our local
chart repository (helm_charts.py), the collection's writes counted from the audit log, and the
license checked absent from the output."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

from .collection_path import REPO_ROOT, ansible_env
from .crds import gateway_api_path
from .helm_charts import chart_vars, install, read_records, recorder_env

PLAYBOOKS = os.path.join(REPO_ROOT, "playbooks")
LICENSE = "gloomesh-test-license-6f1c0a52e4b94d0c"
ISTIO = "1.25.2"
GATEWAY_API = ("gateway.networking.k8s.io", "v1", "gateways")


def run_playbook(playbook, inventory=None, extra_vars=None, check=False, diff=False,
                 verbosity=0, env=None, timeout=900, limit=None, tags=None):
    """Run ansible-playbook; return dict(rc, stdout, stderr, recap={host: {ok, changed, ...}})."""
    with tempfile.TemporaryDirectory(prefix="gloomesh-pb-") as tmp:  # extra vars may hold the license
        return _run_playbook(tmp, playbook, inventory, extra_vars, check, diff, verbosity, env, timeout,
                             limit, tags)


def _run_playbook(tmp, playbook, inventory, extra_vars, check, diff, verbosity, env, timeout, limit, tags):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)]
    if inventory is not None:
        if isinstance(inventory, dict):
            path = os.path.join(tmp, "inventory.yml")
            with open(path, "w", encoding="utf-8") as fh:
                yaml.safe_dump(inventory, fh)
            inventory = path
        cmd += ["-i", str(inventory)]
    if extra_vars:
        path = os.path.join(tmp, "extra_vars.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(extra_vars, fh)
        cmd += ["-e", "@" + path]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if tags:
        cmd += ["--tags", tags]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=ansible_env(env), check=False)
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "recap": parse_recap(proc.stdout), "cmd": cmd}


def parse_recap(stdout: str) -> dict:
    """PLAY RECAP lines -> {host: {'ok': n, 'changed': n, 'failed': n, ...}}."""
    recap = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and not line.strip():
            in_recap = False  # custom stats (set_stats) may follow the recap
            continue
        if in_recap and ":" in line and "=" in line:
            host, counts = line.split(":", 1)
            recap[host.strip()] = {k: int(v) for k, v in
                                   (item.split("=") for item in counts.split())}
    return recap


class Run:
    """Playbook runs against one control plane, with the recorded real helm and an audit of writes."""

    def __init__(self, cp, tmp_path, workload, management=()):
        self.cp = cp
        self.tmp = tmp_path
        self.workload = list(workload)
        self.management = list(management)
        self.helm_dir = str(tmp_path / "helm")
        os.makedirs(self.helm_dir, exist_ok=True)
        self.crds_file = gateway_api_path()
        self.extra = {
            "gloomesh_istio_version": ISTIO,
            "gloomesh_license_key": LICENSE,
            "gloomesh_install_istioctl": False,
            "gloomesh_pki_dir": str(tmp_path / "pki"),
            "gloomesh_gateway_api_crds_file": self.crds_file,
            **chart_vars(),
        }

    def host(self, name, **extra):
        return {"cluster_name": name, "kube_context": name, "kubeconfig": self.cp.kubeconfig_path,
                "ansible_connection": "local", "ansible_pipelining": True, "ansible_python_interpreter": sys.executable, **extra}

    def inventory(self, workload=None, host_vars=None, linking="manual"):
        host_vars = host_vars or {}
        groups = {"workload_clusters": {"hosts": {n: self.host(n, **host_vars.get(n, {}))
                                                  for n in (self.workload if workload is None else workload)}}}
        if self.management:
            groups["management_cluster"] = {"hosts": {n: self.host(n) for n in self.management}}
        return {"all": {"vars": {"gloomesh_linking": linking}, "children": groups}}

    def env(self):
        return recorder_env(self.helm_dir, LICENSE)

    def play(self, name, inventory=None, extra=None, check=False, verbosity=1, **kwargs):
        """Run playbooks/<name>.yml; returns the result plus the writes it sent and its wall time."""
        mark = self.cp.audit_mark()
        began = time.monotonic()
        result = run_playbook(os.path.join(PLAYBOOKS, name + ".yml"), inventory or self.inventory(),
                              {**self.extra, **(extra or {})}, check=check, verbosity=verbosity,
                              env=self.env(), **kwargs)
        result["seconds"] = time.monotonic() - began
        result["writes"] = self.cp.writes_since(mark)
        # The license is handed to Helm but never shown, not even with -v.
        assert LICENSE not in result["stdout"] + result["stderr"], f"license leaked in the output of {name}"
        return result

    def helm_calls(self):
        return read_records(self.helm_dir)

    def seed_release(self, context, name, version, values):
        """Gloo Mesh as installed before the run: release `name` of chart `name` in gloo-mesh, by
        the real helm as the simulator user (so the audit of the collection's writes skips it)."""
        install(self.cp.simulator_kubeconfig_path, context, "gloo-mesh", name, name, version, values)

    # cluster reads (as admin: reads are not counted as writes)
    def custom(self, context, group, version, plural, namespace=None):
        from kubernetes import client

        with self.cp.api_client(context) as api:
            objs = client.CustomObjectsApi(api)
            if namespace:
                return objs.list_namespaced_custom_object(group, version, namespace, plural)["items"]
            return objs.list_cluster_custom_object(group, version, plural)["items"]

    def peers(self, context):
        """{gateway name: spec address} of the istio-remote Gateways in a cluster."""
        return {gw["metadata"]["name"]: gw["spec"]["addresses"][0]["value"]
                for gw in self.custom(context, *GATEWAY_API)
                if gw["spec"].get("gatewayClassName") == "istio-remote"}


@contextlib.contextmanager
def fresh_mesh(names, tmp_path, install="install_manual_link"):
    """A Run on fresh local clusters ``names`` with simulators and upstream istiod as the pod of each
    cluster's istiod-gloo (tests/harness/istiod.py with_deployment), stopped on exit; ``install`` (a
    playbook, None for none) has run on all of them first."""
    from .controlplane import start_environment  # the control plane imports nothing of this module

    cp = start_environment(names, simulators=True, install_operator=False, istiod=names)
    try:
        run = Run(cp, tmp_path, names)
        if install:
            result = run.play(install)
            assert result["rc"] == 0, f"{install} failed (rc={result['rc']}):\n{failures(result)}"
        yield run
    finally:
        cp.stop()


def failures(result):
    """The failed tasks of a run (task header, error and fatal lines), then the recap."""
    lines, task, picked = result["stdout"].splitlines(), "", []
    for line in lines:
        if line.startswith("TASK ["):
            task = line
        elif line.startswith(("fatal:", "failed:", "[ERROR]")):
            picked += [task, line[:2000]]
    return "\n".join(picked) + "\n" + result["stdout"][-1500:]
