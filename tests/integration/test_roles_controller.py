"""Roles that need no cluster to be exercised: istioctl (against a local download server) and
the preflight checks that fail before any cluster answers."""
from __future__ import annotations

import os
import sys

import yaml

from tests.harness.playbook_run import run_playbook
from tests.harness.tarball_server import TarballServer, root_layout

ISTIO = "1.25.2"


def _hosts(names, **extra):
    return {"all": {"children": {"workload_clusters": {"hosts": {
        n: {"cluster_name": n, "kube_context": n, "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable, **extra} for n in names}}}}}


def _playbook(tmp_path, role, **role_vars):
    path = tmp_path / f"{role}.yml"
    path.write_text(yaml.safe_dump([{
        "name": f"Run role {role}", "hosts": "workload_clusters", "gather_facts": False,
        "roles": [{"role": f"gloomesh.multicluster.{role}", "vars": role_vars}]}]))
    return path


def test_istioctl_role_installs_once_on_the_controller(tmp_path):
    dest = tmp_path / "bin"
    with TarballServer() as server:
        image = ISTIO + "-solo"
        server.files[f"/istio-binaries-k3y/{image}/istioctl-{image}-linux-amd64.tar.gz"] = root_layout(image)
        playbook = _playbook(tmp_path, "istioctl", istioctl_version=ISTIO, istioctl_repo_key="k3y",
                             istioctl_base_url=server.base_url, istioctl_dest=str(dest))
        inventory = _hosts(["cluster1", "cluster2", "cluster3"])

        first = run_playbook(playbook, inventory)
        assert first["rc"] == 0, first["stdout"][-3000:]
        # run_once on the controller: one download for three clusters.
        assert server.request_count() == 1
        assert os.access(dest / "istioctl", os.X_OK)
        assert f"istioctl {image}" in first["stdout"] or f"istioctl {ISTIO}" in first["stdout"]

        again = run_playbook(playbook, inventory)
        assert again["rc"] == 0
        assert all(c["changed"] == 0 for c in again["recap"].values()), again["recap"]
        assert server.request_count() == 1, "a re-run must not download again"

        skipped = run_playbook(_playbook(tmp_path, "istioctl", istioctl_install=False, istioctl_version=ISTIO,
                                         istioctl_base_url=server.base_url, istioctl_dest=str(tmp_path / "none")),
                               inventory)
        assert skipped["rc"] == 0 and not (tmp_path / "none").exists()
        assert server.request_count() == 1


def test_preflight_reports_every_problem_together(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "cluster1",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "dead", "user": "u"}} for n in ("cluster1", "cluster2")]}))
    inventory = _hosts(["cluster1", "cluster2", "cluster3"], kubeconfig=str(kubeconfig))
    inventory["all"]["children"]["workload_clusters"]["hosts"]["cluster2"]["mesh_link_peers"] = ["cluster9"]
    inventory["all"]["vars"] = {"gloomesh_istio_version": "1.24.2", "gloomesh_gloo_version": "2.6.0",
                                "gloomesh_license_key": "", "gloomesh_license_secret_ref": "gloo-mesh:license-keys"}
    playbook = _playbook(tmp_path, "preflight", preflight_linking="automatic")
    result = run_playbook(playbook, inventory)
    assert result["rc"] != 0
    out = result["stdout"]
    for text in (
        "gloomesh_istio_version: multicluster requires Istio 1.24.3 or later",
        "gloomesh_gloo_version: multicluster peering with the Gloo Operator needs Gloo Mesh 2.7",
        "gloomesh_license_secret_ref 'gloo-mesh:license-keys' must read <namespace>/<secret name>",
        "cluster1: cluster cluster1 (https://127.0.0.1:9): GET /version:",
        "cluster2: cluster cluster2 (https://127.0.0.1:9): GET /version:",
        "cluster3: cluster cluster3: cannot load the connection settings",
        "cluster2: mesh_link_peers 'cluster9' is not a cluster of this mesh",
        "automatic linking needs exactly one host in the management cluster group",
    ):
        assert text in out, f"missing {text!r}:\n{out[-4000:]}"
    assert "Preflight found 8 problem(s); nothing was changed" in out
