"""The in-process action plugin against the module process, and the README's module_defaults block.

Every module runs in the controller process when the connection is local (plugin_utils/in_process.py)
and as a module process otherwise (here: gloomesh_in_process=false). Both must give the same result,
mask the same secrets, and honour module_defaults the same way.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import yaml

from tests.harness.collection_path import REPO_ROOT, ansible_env
from tests.harness.playbook_run import run_playbook

README = os.path.join(REPO_ROOT, "README.md")
RUNTIME = os.path.join(REPO_ROOT, "meta", "runtime.yml")
CONTEXT = "cluster1"


def harmless_tasks(tmp_path):
    """One read-only or check-mode call per module of the action group (and kubernetes.core's)."""
    root = str(tmp_path / "pki" / "root-cert.pem")
    return {
        "servicemeshcontroller": {"cluster": "c1", "version": "1.25.2", "wait": False},
        "eastwest_gateway": {"generate": True},
        "eastwest_gateway_info": {"namespace": "no-such-namespace"},
        "mesh_link": {"state": "absent", "peers": [{"cluster": "nobody"}]},
        "root_of_trust": {"root_cert_path": root, "root_key_path": root.replace("cert", "key"), "cluster": "c1",
                          "root_key_type": "ecdsa-p256", "intermediate_key_type": "ecdsa-p256"},
        "root_of_trust_info": {"namespace": "no-such-namespace"},
        "gloo_operator": {"helm": False, "wait": False},
        "gateway_api_crds": {"policy": "skip"},
        "mesh_info": {},
        "kubernetes.core.k8s_info": {"api_version": "v1", "kind": "Namespace", "name": "default"},
    }


def readme_module_defaults():
    """The module_defaults block exactly as the README shows it."""
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    block = re.search(r"```yaml\n(- hosts: workload_clusters\n  module_defaults:\n.*?)```", text, re.S)
    assert block, "README.md has no '- hosts: workload_clusters / module_defaults:' example"
    return yaml.safe_load(block.group(1))[0]["module_defaults"]


def group_members():
    """The modules of the action group; every entry must be a module file of ours (a name without one
    would never receive the group's defaults, and Ansible says nothing about it)."""
    with open(RUNTIME, encoding="utf-8") as fh:
        group = [m for m in yaml.safe_load(fh)["action_groups"]["gloomesh"] if isinstance(m, str)]
    missing = [m for m in group if not os.path.exists(os.path.join(REPO_ROOT, "plugins", "modules", m + ".py"))]
    assert not missing, "meta/runtime.yml action group gloomesh lists modules without a module file: %s" % missing
    return group


def inventory(kubeconfig, **host_vars):
    return {"all": {"children": {"workload_clusters": {"hosts": {CONTEXT: {
        "cluster_name": CONTEXT, "kube_context": CONTEXT, "kubeconfig": kubeconfig,
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, **host_vars}}}}}}


def play(tmp_path, module_defaults, tasks, **play_vars):
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([{
        "name": "Every module", "hosts": "workload_clusters", "gather_facts": False,
        "module_defaults": module_defaults, "vars": play_vars,
        "tasks": [{"name": name, ("gloomesh.multicluster." + name if "." not in name else name): args,
                   "register": "result_" + name.replace(".", "_"), "ignore_errors": True,
                   "check_mode": True} for name, args in tasks.items()] + [
            {"name": "Show the results", "ansible.builtin.debug": {"msg": "RESULTS {{ {"
             + ", ".join("'%s': result_%s" % (n, n.replace(".", "_")) for n in tasks) + "} | to_json }}"}}],
    }]))
    return path


def results_of(run):
    for line in run["stdout"].splitlines():
        if '"msg": "RESULTS ' in line:
            return json.loads(json.loads("{" + line.strip().rstrip(",") + "}")["msg"][len("RESULTS "):])
    raise AssertionError(run["stdout"][-4000:])


def test_every_group_member_has_a_harmless_call(tmp_path):
    assert set(group_members()) <= set(harmless_tasks(tmp_path)), "add the new module to harmless_tasks()"


def test_servicemeshcontroller_is_a_module_name_without_deprecation(tmp_path):
    """The design's name is the module (ansible-doc renders it); service_mesh is a second name for it.
    Neither prints a deprecation, and both get the group's module_defaults."""
    env = ansible_env({"ANSIBLE_DEPRECATION_WARNINGS": "True"})
    for name in ("servicemeshcontroller", "service_mesh"):
        doc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"),
                              "gloomesh.multicluster." + name], capture_output=True, text=True, env=env, check=False)
        assert doc.returncode == 0 and "plugins/modules/servicemeshcontroller.py" in doc.stdout, doc.stderr
        assert "deprecat" not in (doc.stdout + doc.stderr).lower(), doc.stdout + doc.stderr
    defaults = {"group/gloomesh.multicluster.gloomesh": {"context": "set-by-module-defaults"}}
    tasks = {"servicemeshcontroller": {"state": "absent"}, "service_mesh": {"state": "absent"}}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                                          "contexts": [], "current-context": ""}))
    run = run_playbook(play(tmp_path, defaults, tasks), inventory(str(kubeconfig)),
                       env={"ANSIBLE_DEPRECATION_WARNINGS": "True"})
    results = results_of(run)
    for name in tasks:
        # Validated and run: it fails on a context the kubeconfig lacks, the group's.
        assert results[name]["failed"] and "set-by-module-defaults" in results[name]["msg"], results[name]
    assert "deprecat" not in (run["stdout"] + run["stderr"]).lower(), run["stdout"] + run["stderr"]


def test_readme_module_defaults_on_every_module_both_ways(kubeconfig, control_plane, audit, tmp_path):
    tasks = dict((name, args) for name, args in harmless_tasks(tmp_path).items()
                 if name in group_members() or "." in name)
    tasks["istioctl_fetch"] = {"version": "1.25.2", "dest": str(tmp_path / "bin"), "url": "http://127.0.0.1:9/x"}
    outcomes = {}
    for in_process in (True, False):
        mark = audit.mark()
        run = run_playbook(play(tmp_path, readme_module_defaults(), tasks, gloomesh_in_process=in_process),
                           inventory(kubeconfig))
        results = results_of(run)
        for name, result in results.items():
            # The group's kubeconfig/context reach every member, and only the members.
            assert "Unsupported parameters" not in str(result.get("msg")), (name, result)
        assert results["kubernetes.core.k8s_info"]["resources"][0]["metadata"]["name"] == "default"
        assert audit.writes(mark, CONTEXT) == []  # check mode everywhere
        outcomes[in_process] = results
    # The same answers from the controller process and from a module process.
    for name in tasks:
        ours, theirs = outcomes[True][name], outcomes[False][name]
        assert (ours.get("failed", False), ours.get("changed")) == (theirs.get("failed", False), theirs.get("changed")), name
        assert ours.get("msg") == theirs.get("msg"), name


def test_module_defaults_and_task_options_beat_host_variables(kubeconfig, control_plane, tmp_path):
    """kube_context only fills in what neither the task nor module_defaults set."""
    defaults = {"group/gloomesh.multicluster.gloomesh": {"context": "set-by-module-defaults"}}
    tasks = {"root_of_trust_info": {}, "eastwest_gateway_info": {"context": "set-by-the-task"}}
    for in_process in (True, False):
        results = results_of(run_playbook(play(tmp_path, defaults, tasks, gloomesh_in_process=in_process),
                                          inventory(kubeconfig)))
        assert "set-by-module-defaults" in results["root_of_trust_info"]["msg"]
        assert "set-by-the-task" in results["eastwest_gateway_info"]["msg"]


def test_secrets_masked_in_process_as_by_a_module(kubeconfig, control_plane, tmp_path):
    # api_key is a no_log option: its value never shows, whichever way the module runs.
    secret = "gloomesh-test-token-1f2e3d"
    tasks = {"root_of_trust_info": {"api_key": secret, "namespace": "no-such-namespace"}}
    for in_process in (True, False):
        run = run_playbook(play(tmp_path, {}, tasks, gloomesh_in_process=in_process), inventory(kubeconfig),
                           verbosity=3)
        assert secret not in run["stdout"] + run["stderr"]
