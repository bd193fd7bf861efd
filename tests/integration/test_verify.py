"""Verify (issues 9.5, 10.4, 11, 12): mesh_info per cluster, mesh_verify across clusters, the verify role.

One manual full mesh of three workload clusters is installed once for the module; each test breaks
one thing by hand (as admin, before its audit mark), verifies, and puts it back. The unreachable
cluster test runs last: it kills and restarts an API server.
"""
from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import EXTERNAL_KUBECONFIG
from tests.harness.module_runner import run_module
from tests.harness.playbook_run import GATEWAY_API, failures, fresh_mesh
from tests.harness.poll import wait_until

NAMES = ("cluster1", "cluster2", "cluster3")
NAMESPACE = "istio-eastwest"
# Seconds a verify of a broken mesh waits for links that will not come up.
SHORT_WAIT = 3

pytestmark = pytest.mark.skipif(bool(EXTERNAL_KUBECONFIG), reason="breaks clusters by hand and reads audit logs")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    with fresh_mesh(NAMES, tmp_path_factory.mktemp("verify")) as run:
        yield run


def verify(run, tmp_path, wait=30, check=False, playbook="verify", **extra):
    """Run the verify playbook; the result, its JSON report and its published statistics."""
    path = tmp_path / "report.json"
    result = run.play(playbook, extra={"verify_wait_timeout": wait, "verify_report_path": str(path), **extra},
                      check=check, verbosity=0)
    result["report"] = json.loads(path.read_text()) if path.exists() else None
    artifacts = tmp_path / "artifacts.json"
    result["stats"] = json.loads(artifacts.read_text()) if artifacts.exists() else None
    if artifacts.exists():
        artifacts.unlink()
    # Verify only reads, whatever it finds.
    assert result["writes"] == [], [f"{e['context']} {e['verb']} {e['requestURI']}" for e in result["writes"]]
    return result


def rows(result):
    return {row["cluster"]: row for row in result["report"]["clusters"]}


def table_row(result, cluster):
    """The line of ``cluster`` in the printed clusters table."""
    lines = result["stdout"].splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["CLUSTER", "STATE"])
    return next(line for line in lines[start + 1:start + 1 + len(NAMES) + 1] if line.startswith(cluster + " "))


def gateway_call(run, context, method, *args, patch=False):
    """CustomObjectsApi.<method>(group, version, namespace, plural, *args) on ``context``, as admin (by hand)."""
    from kubernetes import client

    with run.cp.api_client(context) as api:
        if patch:
            api.set_default_header("Content-Type", "application/json-patch+json")
        return getattr(client.CustomObjectsApi(api), method)(*GATEWAY_API[:2], NAMESPACE, GATEWAY_API[2], *args)


def patch_peer(run, context, peer, ops):
    """JSON-patch the peer Gateway for ``peer`` in ``context``."""
    gateway_call(run, context, "patch_namespaced_custom_object", "istio-remote-peer-" + peer, ops, patch=True)


def peer_condition(run, context, peer, condition_type):
    """Status of one condition of the peer Gateway for ``peer`` in ``context`` (None when absent)."""
    gw = gateway_call(run, context, "get_namespaced_custom_object", "istio-remote-peer-" + peer)
    return next((c["status"] for c in (gw.get("status") or {}).get("conditions") or []
                 if c["type"] == condition_type), None)


def listener_index(run, context, peer, listener):
    gw = gateway_call(run, context, "get_namespaced_custom_object", "istio-remote-peer-" + peer)
    return [entry["name"] for entry in gw["spec"]["listeners"]].index(listener)


# What AWX's callback does with the play's statistics: keep the custom ones (set_stats) as artifacts.
STATS_CALLBACK = """
import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "artifacts"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["ARTIFACTS_FILE"], "w") as handle:
            json.dump(stats.custom.get("_run", {}), handle)
"""


@pytest.fixture(autouse=True)
def artifacts(monkeypatch, tmp_path):
    (tmp_path / "callbacks").mkdir()
    (tmp_path / "callbacks" / "artifacts.py").write_text(STATS_CALLBACK)
    monkeypatch.setenv("ANSIBLE_CALLBACK_PLUGINS", str(tmp_path / "callbacks"))
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "artifacts")
    monkeypatch.setenv("ARTIFACTS_FILE", str(tmp_path / "artifacts.json"))


def test_full_mesh_verifies_with_a_table_a_json_report_and_stats(mesh, tmp_path):
    result = verify(mesh, tmp_path)
    assert result["rc"] == 0, failures(result)
    out = result["stdout"]
    assert "Mesh verified: 3 clusters, every expected peer connected, one root of trust" in out
    for name in NAMES:
        assert table_row(result, name).split()[-1] == "OK"
    # The link table shows Solo's link conditions.
    assert "SUCCEEDED  CONNECTED  DATAPLANE  FIELDS" in out
    report = result["report"]
    assert report["ok"] and report["problems"] == []
    assert [(link["cluster"], link["peer"]) for link in report["links"]] == [
        (c, p) for c in NAMES for p in NAMES if p != c]
    assert all(link["conditions"]["gloo.solo.io/PeerConnected"] == "True" and link["fields"] == []
               and link["conditions"]["gloo.solo.io/PeeringSucceeded"] == "True" for link in report["links"])
    assert {name: row["connected_peers"] for name, row in rows(result).items()} == {
        name: [p for p in NAMES if p != name] for name in NAMES}
    # The same report is published with set_stats (an AWX artifact).
    assert result["stats"] == {"gloomesh_verify": report}
    # One in-process read per cluster and one verdict: no kubernetes.core module, no module process.
    assert "kubernetes.core" not in out and "set_fact" not in out


def test_changed_xds_tls_port_fails_naming_cluster_and_peer(mesh, tmp_path):
    index = listener_index(mesh, "cluster1", "cluster2", "xds-tls")
    patch_peer(mesh, "cluster1", "cluster2", [{"op": "replace", "path": f"/spec/listeners/{index}/port", "value": 15999}])
    try:
        result = verify(mesh, tmp_path, wait=SHORT_WAIT)
    finally:
        patch_peer(mesh, "cluster1", "cluster2",
                   [{"op": "replace", "path": f"/spec/listeners/{index}/port", "value": 15012}])
    assert result["rc"] != 0
    problems = result["report"]["problems"]
    assert problems[0] == ("cluster1: peer cluster2: listener xds-tls port is 15999, cluster2's east-west gateway "
                           "listens on 15012")
    # Solo's istiod (simulated) dials the port of the peer's xds-tls listener: nobody answers there.
    assert problems[1] == ("cluster1: peer cluster2 not connected: gloo.solo.io/PeerConnected=False (Pending: not "
                           "connected to peer); also not True: gloo.solo.io/PeeringSucceeded")
    assert len(problems) == 2
    assert table_row(result, "cluster1").endswith("FAIL (2)")
    assert "Mesh verification found 2 problem(s): cluster1: peer cluster2: listener xds-tls port is 15999" in \
        result["stdout"]
    # A failing verify still publishes its report.
    assert result["stats"] == {"gloomesh_verify": result["report"]}


def test_wrong_peer_address_fails_in_that_clusters_row(mesh, tmp_path):
    right = mesh.peers("cluster3")["istio-remote-peer-cluster1"]
    patch_peer(mesh, "cluster3", "cluster1", [{"op": "replace", "path": "/spec/addresses/0/value", "value": "192.0.2.99"}])
    try:
        result = verify(mesh, tmp_path, wait=SHORT_WAIT)
    finally:
        patch_peer(mesh, "cluster3", "cluster1", [{"op": "replace", "path": "/spec/addresses/0/value", "value": right}])
    assert result["rc"] != 0
    assert result["report"]["problems"][0] == f"cluster3: peer cluster1: address is 192.0.2.99, cluster1 advertises {right}"
    assert [row["ok"] for row in result["report"]["clusters"]] == [True, True, False]
    assert table_row(result, "cluster3").endswith("FAIL (2)")
    assert table_row(result, "cluster1").endswith("OK")


def test_deleted_peer_fails_and_check_mode_only_reports(mesh, tmp_path):
    gateway_call(mesh, "cluster2", "delete_namespaced_custom_object", "istio-remote-peer-cluster3")
    try:
        result = verify(mesh, tmp_path, wait=SHORT_WAIT)
        assert result["rc"] != 0
        assert result["report"]["problems"] == ["cluster2: no istio-remote Gateway for peer cluster3"]
        assert rows(result)["cluster2"]["missing_peers"] == ["cluster3"]
        assert "cluster2: no istio-remote Gateway for peer cluster3" in result["stdout"]
        # --check shows the same table without failing, and writes no report file.
        (tmp_path / "report.json").unlink()
        preview = verify(mesh, tmp_path, wait=SHORT_WAIT, check=True)
        assert preview["rc"] == 0, failures(preview)
        assert "Mesh verification found 1 problem(s)" in preview["stdout"] and preview["report"] is None
    finally:
        kube = {"kubeconfig": mesh.cp.kubeconfig_path}
        peers = [run_module("eastwest_gateway_info", dict(kube, context=name))["peer"] for name in ("cluster1", "cluster3")]
        restored = run_module("mesh_link", dict(kube, context="cluster2", cluster="cluster2", peers=peers))
        assert restored.get("changed"), restored


def _relink(run, source, peer):
    kube = {"kubeconfig": run.cp.kubeconfig_path}
    gateway_call(run, source, "delete_namespaced_custom_object", "istio-remote-peer-" + peer)
    descriptor = run_module("eastwest_gateway_info", dict(kube, context=peer))["peer"]
    assert run_module("mesh_link", dict(kube, context=source, cluster=source, peers=[descriptor])).get("changed")


def test_a_link_is_up_when_solo_says_so_and_verify_waits_for_it(mesh, tmp_path):
    """Issue 20 item 1: right after linking, before Solo's status writer has run, a peer Gateway carries
    Istio's Programmed=True only. Not connected until PeeringSucceeded and PeerConnected are both True."""
    sims = mesh.cp.simulators
    sims.set_peering_status("cluster1", "stopped")
    try:
        _relink(mesh, "cluster1", "cluster2")
        result = verify(mesh, tmp_path, wait=SHORT_WAIT)
        assert result["rc"] != 0
        assert result["report"]["problems"] == [
            "cluster1: peer cluster2 not connected: gloo.solo.io/PeerConnected not reported yet; also not True: "
            "gloo.solo.io/PeeringSucceeded"]
        link = next(x for x in result["report"]["links"] if (x["cluster"], x["peer"]) == ("cluster1", "cluster2"))
        assert link["conditions"] == {"Accepted": "True", "Programmed": "True"}
        # Connected, network not synced yet: PeeringSucceeded Unknown. Verify waits, and returns once it syncs.
        sims.set_peering_status("cluster1", "unsynced")
        syncs = threading.Timer(3, sims.set_peering_status, ("cluster1", "synced"))
        began = time.monotonic()
        syncs.start()
        try:
            result = verify(mesh, tmp_path, wait=60)
        finally:
            syncs.join()
        assert result["rc"] == 0, failures(result)
        assert 3 <= time.monotonic() - began
    finally:
        sims.set_peering_status("cluster1", "synced")


def test_foreign_extra_peer_fails(mesh, tmp_path):
    foreign = {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "istio-remote-peer-cluster9", "namespace": NAMESPACE,
                     "labels": {"topology.istio.io/network": "cluster9", "topology.istio.io/cluster": "cluster9"}},
        "spec": {"gatewayClassName": "istio-remote", "addresses": [{"type": "IPAddress", "value": "192.0.2.9"}],
                 "listeners": [{"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]},
    }
    gateway_call(mesh, "cluster1", "create_namespaced_custom_object", foreign)
    try:
        result = verify(mesh, tmp_path, wait=SHORT_WAIT)
    finally:
        gateway_call(mesh, "cluster1", "delete_namespaced_custom_object", "istio-remote-peer-cluster9")
    assert result["rc"] != 0
    assert result["report"]["problems"] == [
        "cluster1: unexpected istio-remote Gateway istio-eastwest/istio-remote-peer-cluster9 for cluster9 (not a peer "
        "of this cluster)"]
    link = next(link for link in result["report"]["links"] if link["peer"] == "cluster9")
    assert (link["cluster"], link["gateway"], link["ok"]) == ("cluster1", "istio-eastwest/istio-remote-peer-cluster9",
                                                              False)


def test_mesh_info_sections_and_a_wait_that_watches(mesh, audit):
    kube = {"kubeconfig": mesh.cp.kubeconfig_path, "context": "cluster2"}
    peers_of_cluster2 = dict(kube, cluster="cluster2", mesh_clusters=list(NAMES), sections=["peers"])
    mark = audit.mark()
    reach = run_module("mesh_info", dict(kube, sections=["reachability"]))
    assert reach["reachable"] and reach["sections"] == [] and "peers" not in reach and "service_mesh" not in reach
    everything = run_module("mesh_info", dict(kube, cluster="cluster2", mesh_clusters=list(NAMES)))
    assert everything["service_mesh"]["ready"] and everything["eastwest"]["listeners"]["xds-tls"] == 15012
    assert everything["peer_descriptor"]["cluster"] == "cluster2" and everything["pending_peers"] == {}
    assert len(everything["root_of_trust"]["root_fingerprints"]) == 1
    assert "PRIVATE KEY" not in json.dumps(everything)
    assert audit.writes(mark) == []

    index = listener_index(mesh, "cluster2", "cluster1", "xds-tls")
    port = "/spec/listeners/%d/port" % index
    patch_peer(mesh, "cluster2", "cluster1", [{"op": "replace", "path": port, "value": 15999}])
    # Solo's status writer notices on its own schedule, as the real one does.
    wait_until(lambda: peer_condition(mesh, "cluster2", "cluster1", "gloo.solo.io/PeerConnected") == "False",
               "cluster2's peer for cluster1 to be reported not connected", 60)
    broken = run_module("mesh_info", dict(peers_of_cluster2, wait_timeout=0))
    assert broken["pending_peers"]["cluster1"].startswith("gloo.solo.io/PeerConnected=False (Pending")
    # Check mode reads once, without waiting.
    began = time.monotonic()
    preview = run_module("mesh_info", dict(peers_of_cluster2, wait_timeout=90), check_mode=True)
    assert "cluster1" in preview["pending_peers"] and time.monotonic() - began < 30
    # A peer that comes back while mesh_info watches: it returns then, not at the end of its budget.
    repair = threading.Timer(2, patch_peer, (mesh, "cluster2", "cluster1", [{"op": "replace", "path": port, "value": 15012}]))
    began = time.monotonic()
    repair.start()
    try:
        healed = run_module("mesh_info", dict(peers_of_cluster2, wait_timeout=90))
    finally:
        repair.join()
    assert healed["pending_peers"] == {}, healed["pending_peers"]
    assert 2 <= time.monotonic() - began < 60
    assert healed["waited"] >= 1


def test_cluster_that_failed_earlier_is_a_row_of_its_own(mesh, tmp_path):
    playbook = tmp_path / "fail_then_verify.yml"
    playbook.write_text("""
- name: A step that fails for cluster2
  hosts: workload_clusters
  connection: local
  gather_facts: false
  tasks:
    - name: Fail cluster2
      ansible.builtin.fail:
        msg: cluster2 broke
      when: inventory_hostname == 'cluster2'
- name: Verify
  hosts: workload_clusters
  connection: local
  gather_facts: false
  roles:
    - role: gloomesh.multicluster.verify
""")
    result = verify(mesh, tmp_path, playbook=str(playbook.with_suffix("")))
    assert result["rc"] != 0
    assert rows(result)["cluster2"]["state"] == "failed earlier"
    assert result["report"]["problems"] == ["cluster2: failed earlier in this run, not read"]
    assert table_row(result, "cluster2").split()[1:3] == ["failed", "earlier"]


def test_unreachable_cluster_is_a_row_of_its_own(mesh, tmp_path):
    mesh.cp.kill("cluster3")
    try:
        result = verify(mesh, tmp_path, wait=SHORT_WAIT)
    finally:
        mesh.cp.restart("cluster3")
    assert result["rc"] != 0
    row = rows(result)["cluster3"]
    assert row["state"] == "unreachable" and not row["ok"]
    assert row["problems"][0].startswith("unreachable: cluster cluster3 (https://127.0.0.1:")
    assert table_row(result, "cluster3").split()[1] == "unreachable"
    assert result["seconds"] < 120
    # The others were read; their peers for cluster3 cannot be compared with it.
    assert [rows(result)[n]["state"] for n in ("cluster1", "cluster2")] == ["reachable", "reachable"]
    assert all(link["fields"] is None for link in result["report"]["links"] if link["peer"] == "cluster3")
