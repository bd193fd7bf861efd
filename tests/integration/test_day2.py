"""Day 2 at scale (issue 14) on fresh local clusters with simulators: add a cluster with --limit,
install in slices running in parallel, remove clusters, and the drift report.

Write counts come from the API servers' audit logs (the collection's user only). The add, removal
and drift tests share one four-cluster mesh (module fixture ``mesh``) in the order they are
written: the add test builds it, the removal test takes two clusters away (one of them gone),
the drift test edits the two that remain.

The slice test runs in `make test` with 4 clusters in 2 parallel slices; GLOOMESH_TEST_LONG=1 adds
the 6-cluster, 3-slice run of the issue (about twice as long).
"""
from __future__ import annotations

import concurrent.futures
import json
import os

import pytest
from kubernetes import client as k8s

from tests.harness.module_runner import run_module
from tests.harness.playbook_run import GATEWAY_API, Run, failures, fresh_mesh

NAMES = ("cluster1", "cluster2", "cluster3", "cluster4")
# Asymmetric: cluster2 reaches cluster1 only; every other cluster reaches all the others.
HOST_VARS = {"cluster2": {"mesh_link_peers": ["cluster1"]}}
LONG = os.environ.get("GLOOMESH_TEST_LONG") == "1"
SMC = ("operator.gloo.solo.io", "v1", "servicemeshcontrollers")


def ok(result, what):
    assert result["rc"] == 0, f"{what} failed (rc={result['rc']}):\n{failures(result)}\n{result['stderr'][-3000:]}"


def no_writes(result, what):
    ok(result, what)
    assert result["writes"] == [], f"{what}: " + ", ".join(
        f"{e['context']} {e['verb']} {e['requestURI']}" for e in result["writes"])


def peer_writes(writes):
    """{(cluster written to, verb): count} of peer Gateway writes."""
    counts = {}
    for event in writes:
        ref = event.get("objectRef") or {}
        if ref.get("resource") == "gateways" and (ref.get("name") or "").startswith("istio-remote-peer-"):
            key = (event["context"], event["verb"])
            counts[key] = counts.get(key, 0) + 1
    return counts


def planned(names, host_vars):
    """{source: {destination, ...}} of an inventory, worked out by hand."""
    return {n: set(host_vars.get(n, {}).get("mesh_link_peers") or [p for p in names if p != n]) for n in names}


def linked(run, names):
    return {n: {g.removeprefix("istio-remote-peer-") for g in run.peers(n)} for n in names}


def snapshot(run, names):
    """What the install left in each cluster, without server-maintained fields: peer Gateways,
    the east-west Gateway, the ServiceMeshController."""
    def clean(obj):
        meta = obj["metadata"]
        listeners = [{k: v for k, v in entry.items() if k != "allowedRoutes"} for entry in obj["spec"].get("listeners", [])]
        spec = dict(obj["spec"], listeners=listeners) if "listeners" in obj["spec"] else obj["spec"]
        return {"labels": meta.get("labels"), "annotations": meta.get("annotations"), "spec": spec}

    state = {}
    for name in names:
        gateways = run.custom(name, *GATEWAY_API)
        state[name] = {
            "gateways": {"%s/%s" % (g["metadata"]["namespace"], g["metadata"]["name"]): clean(g) for g in gateways},
            "service_mesh": {s["metadata"]["name"]: s["spec"] for s in run.custom(name, *SMC)},
        }
    return state


def apply_owners(run, names):
    """Who owns what we write on each peer Gateway (istiod's status aside): (manager, operation) pairs."""
    return {(name, g["metadata"]["name"]): sorted((m["manager"], m["operation"]) for m in g["metadata"]["managedFields"]
                                                  if set(m.get("fieldsV1") or {}) - {"f:status"})
            for name in names for g in run.custom(name, *GATEWAY_API)
            if g["spec"].get("gatewayClassName") == "istio-remote"}


# What other parts do with a --limit run of one cluster today (reported to their owners).
@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    """Four fresh clusters; the tests below install, shrink and inspect one mesh on them, in order."""
    if os.environ.get("GLOOMESH_TEST_KUBECONFIG"):
        pytest.skip("needs fresh local clusters")
    with fresh_mesh(NAMES, tmp_path_factory.mktemp("day2"), install=None) as run:
        yield run


# -- 1. add a cluster ---------------------------------------------------------------------------------
def test_add_a_cluster_with_limit(mesh):
    run, existing = mesh, NAMES[:3]
    ok(run.play("install_manual_link", run.inventory(workload=existing, host_vars=HOST_VARS)), "install of 3 clusters")
    assert linked(run, existing) == planned(existing, HOST_VARS)

    # cluster4 joins the inventory; the run is limited to it
    # (preflight checks the inputs of the whole mesh, verify reads the clusters outside the run)
    result = run.play("install_manual_link", run.inventory(host_vars=HOST_VARS), limit="cluster4")
    ok(result, "install_manual_link --limit cluster4")
    assert "Mesh verified: 4 clusters" in result["stdout"]
    assert linked(run, NAMES) == planned(NAMES, HOST_VARS)
    # cluster4's three peers in cluster4, and its peer in every cluster that links to it (not in
    # cluster2, which reaches cluster1 only): 2N - 1 link writes, and nothing else outside cluster4
    assert peer_writes(result["writes"]) == {("cluster4", "patch"): 3, ("cluster1", "patch"): 1,
                                             ("cluster3", "patch"): 1}
    assert [e["context"] for e in result["writes"] if e["context"] != "cluster4"] == ["cluster1", "cluster3"]

    # the whole inventory again: nothing left to do
    no_writes(run.play("install_manual_link", run.inventory(host_vars=HOST_VARS)), "full re-run after the add")


# -- 2. remove clusters -------------------------------------------------------------------------------
def test_remove_clusters_gone_and_reachable(mesh):
    run = mesh
    mesh.cp.kill("cluster3")  # gone: its API server no longer answers
    extra = {"remove_clusters": ["cluster3", "cluster4"], "remove_cluster_uninstall": True}

    result = run.play("remove_cluster", run.inventory(host_vars=HOST_VARS), extra=extra)
    ok(result, "remove_cluster")
    assert "cluster3 does not answer; it is treated as gone" in result["stdout"]
    # cluster1 loses its peers for both, cluster2 had none; cluster4 loses its three peers (then the mesh)
    assert peer_writes(result["writes"]) == {("cluster1", "delete"): 2, ("cluster4", "delete"): 3}
    assert {e["context"] for e in result["writes"]} == {"cluster1", "cluster4"}
    assert linked(run, ("cluster1", "cluster2", "cluster4")) == {"cluster1": {"cluster2"}, "cluster2": {"cluster1"},
                                                                 "cluster4": set()}
    assert run.custom("cluster4", *SMC) == []
    assert "Mesh verified: 2 clusters" in result["stdout"]

    # again: nothing left to remove
    no_writes(run.play("remove_cluster", run.inventory(host_vars=HOST_VARS), extra=extra), "remove_cluster again")

    # bad input: named before anything is written
    result = run.play("remove_cluster", run.inventory(host_vars=HOST_VARS), extra={"remove_clusters": "cluster4"})
    assert result["rc"] != 0 and "remove_clusters must be a non-empty list of cluster names" in result["stdout"]
    assert result["writes"] == []


# -- 3. slices in parallel give the mesh one full run gives --------------------------------------------
SLICE_RUNS = [pytest.param(4, (("cluster1", "cluster2"), ("cluster3", "cluster4")), id="4-clusters-2-slices")]
SLICE_RUNS.append(pytest.param(6, (("cluster1", "cluster2"), ("cluster3", "cluster4"), ("cluster5", "cluster6")),
                               id="6-clusters-3-slices",
                               marks=pytest.mark.skipif(not LONG, reason="long: set GLOOMESH_TEST_LONG=1")))


@pytest.mark.parametrize("count, slices", SLICE_RUNS)
def test_slices_in_parallel_equal_one_full_run(make_control_plane, tmp_path, count, slices):
    names = tuple("cluster%d" % i for i in range(1, count + 1))
    # Asymmetric inside each slice.
    host_vars = {s[1]: {"mesh_link_peers": [s[0]]} for s in slices}

    cp = make_control_plane(names=names, simulators=True, install_operator=False)
    run = Run(cp, tmp_path / "sliced", names)
    mark = cp.audit_mark()
    with concurrent.futures.ThreadPoolExecutor(len(slices)) as pool:
        runs = [pool.submit(run.play, "install_manual_link", run.inventory(host_vars=host_vars), limit=",".join(s))
                for s in slices]
        results = [future.result() for future in runs]
    for part, result in zip(slices, results):
        ok(result, "install_manual_link --limit %s (in parallel)" % ",".join(part))
    assert linked(run, names) == planned(names, host_vars)
    # A pair between two slices is written by both (each treats the other's clusters as outside its
    # run) unless the second finds it in place: one object per pair all the same, applied by our
    # field manager alone, even where two slices wrote into one cluster at once.
    plan = planned(names, host_vars)
    links = sum(len(p) for p in plan.values())
    across = sum(1 for source, peers in plan.items() for peer in peers
                 if not any(source in s and peer in s for s in slices))
    assert links <= sum(peer_writes(cp.writes_since(mark)).values()) <= links + across
    owners = apply_owners(run, names)
    assert len(owners) == links and set(map(tuple, owners.values())) == {(("gloomesh", "Apply"),)}, owners
    sliced = snapshot(run, names)
    no_writes(run.play("install_manual_link", run.inventory(host_vars=host_vars)), "a full run after the slices")
    cp.stop()

    fresh = make_control_plane(names=names, simulators=True, install_operator=False)
    full = Run(fresh, tmp_path / "full", names)
    ok(full.play("install_manual_link", full.inventory(host_vars=host_vars)), "one full run on fresh clusters")
    assert snapshot(full, names) == sliced


# -- 4. drift report ----------------------------------------------------------------------------------
def test_drift_report(mesh, tmp_path, monkeypatch):
    """Five drifts in the two clusters that remain: every one reported, nothing written, no secret."""
    run, names = mesh, ("cluster1", "cluster2")
    inventory = run.inventory(workload=names, host_vars=HOST_VARS)
    address = mesh.cp.simulators.lb_address("cluster2")
    with mesh.cp.api_client("cluster1") as api:
        custom = k8s.CustomObjectsApi(api)
        # a hand-edited peer address
        custom.patch_namespaced_custom_object(*GATEWAY_API[:2], "istio-eastwest", GATEWAY_API[2], "istio-remote-peer-cluster2",
                                              {"spec": {"addresses": [{"type": "IPAddress", "value": "198.51.100.99"}]}})
        # a foreign extra peer: a cluster that is not in the mesh, written by someone else
        custom.create_namespaced_custom_object(*GATEWAY_API[:2], "istio-eastwest", GATEWAY_API[2], {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "istio-remote-peer-cluster9", "labels": {"topology.istio.io/network": "cluster9",
                                                                          "topology.istio.io/cluster": "cluster9"}},
            "spec": {"gatewayClassName": "istio-remote", "addresses": [{"type": "IPAddress", "value": "198.51.100.9"}],
                     "listeners": [{"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]}},
            field_manager="kubectl-create")
    with mesh.cp.api_client("cluster2") as api:
        custom = k8s.CustomObjectsApi(api)
        # a deleted peer
        custom.delete_namespaced_custom_object(*GATEWAY_API[:2], "istio-eastwest", GATEWAY_API[2], "istio-remote-peer-cluster1")
        # a changed ServiceMeshController field
        custom.patch_namespaced_custom_object(*SMC[:2], "gloo-mesh", SMC[2], "managed-istio", {"spec": {"version": "1.25.1"}})
    # a cacerts from another root
    other = run_module("root_of_trust", {"kubeconfig": mesh.cp.kubeconfig_path, "context": "cluster1", "cluster": "cluster1",
                                         "root_cert_path": str(tmp_path / "other-root.pem"),
                                         "root_key_path": str(tmp_path / "other-root-key.pem"), "force": True})
    assert other["changed"], other
    ours = run_module("root_of_trust_info", {"kubeconfig": mesh.cp.kubeconfig_path, "context": "cluster2"})

    report_dir = tmp_path / "drift"
    monkeypatch.setenv("ANSIBLE_SHOW_CUSTOM_STATS", "true")
    result = run.play("drift", inventory, extra={"gloomesh_drift_report_dir": str(report_dir)}, verbosity=0)
    no_writes(result, "drift")
    with open(report_dir / "drift.json", encoding="utf-8") as fh:
        report = json.load(fh)
    rows = {(cluster, row["object"], row["field"]): (row["current"], row["desired"])
            for cluster, found in report["clusters"].items() for row in found}
    assert rows == {
        ("cluster1", "Gateway istio-eastwest/istio-remote-peer-cluster2", "spec.addresses"): (
            [{"type": "IPAddress", "value": "198.51.100.99"}], [{"type": "IPAddress", "value": address}]),
        ("cluster1", "Gateway istio-eastwest/istio-remote-peer-cluster9", "-"): (
            "peer for cluster9, not created by gloomesh.multicluster", "absent: cluster9 is not a peer of this cluster"),
        ("cluster1", "Secret istio-system/cacerts", "root-cert.pem (SHA-256)"): (other["root_fingerprint"], ours["root_fingerprint"]),
        ("cluster2", "Gateway istio-eastwest/istio-remote-peer-cluster1", "-"): ("absent", "present"),
        ("cluster2", "ServiceMeshController gloo-mesh/managed-istio", "spec.version"): ("1.25.1", "1.25.2"),
    }, json.dumps(report, indent=1)
    assert report["drifted"]
    # the same as a table, and as the job's statistics
    with open(report_dir / "drift.txt", encoding="utf-8") as fh:
        table = fh.read()
    assert "spec.version" in table and "spec.version" in result["stdout"]
    assert "CUSTOM STATS" in result["stdout"] and "gloomesh_drift" in result["stdout"]
    # key material never: not in the report, the table or the output
    for text in (json.dumps(report), table, result["stdout"], result["stderr"]):
        assert "PRIVATE KEY" not in text and "ca-key.pem" not in text

    # asked to fail on drift: fails naming the clusters, still without writing
    result = run.play("drift", inventory, extra={"gloomesh_drift_report_dir": str(report_dir), "drift_fail": True})
    assert result["rc"] != 0 and "Drift in cluster1, cluster2" in result["stdout"]
    assert result["writes"] == []
