"""The roles' planning and verification filters (plugins/filter/mesh.py), no cluster."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gloomesh.multicluster.plugins.filter import mesh

HOSTVARS = {
    "c1": {"cluster_name": "cluster1", "kube_context": "ctx1"},
    "c2": {"cluster_name": "cluster2", "kube_context": "ctx2"},
    "c3": {"cluster_name": "cluster3", "kube_context": "ctx3", "mesh_link_peers": ["cluster1"]},
}
HOSTS = ["c1", "c2", "c3"]


def gateway(name, cls, cluster=None, address="198.51.100.11", namespace="istio-eastwest", programmed=None):
    gw = {"metadata": {"name": name, "namespace": namespace, "labels": {}},
          "spec": {"gatewayClassName": cls, "addresses": [{"type": "IPAddress", "value": address}]}}
    if cluster:
        gw["metadata"]["labels"]["topology.istio.io/cluster"] = cluster
    if programmed is not None:
        gw["status"] = {"conditions": [{"type": "Programmed", "status": programmed}],
                        "addresses": [{"type": "IPAddress", "value": address}]}
    return gw


SMC_OK = [{"status": {"phase": "SUCCEEDED", "conditions": [{"type": "Ready", "status": "True"}]}}]
CA_OK = {"root_fingerprint": "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55", "problems": [], "valid": True}


@pytest.mark.parametrize("istio, gloo, expected", [
    ("1.25.2", "2.7.1", []),
    ("1.25.2-solo", None, []),
    ("1.24.2", None, ["multicluster requires Istio 1.24.3 or later"]),
    ("1.26.1", None, ["Istio 1.26.1 is refused"]),
    ("", None, ["gloomesh_istio_version is not set"]),
    ("banana", None, ["is not an Istio version"]),
    ("1.25.2", "2.6.3", ["needs Gloo Mesh 2.7 or later; got 2.6.3"]),
    ("1.25.2", "two", ["is not a Gloo Mesh version"]),
])
def test_version_problems(istio, gloo, expected):
    problems = mesh.mesh_version_problems(istio, gloo)
    assert len(problems) == len(expected)
    for problem, text in zip(problems, expected):
        assert text in problem


def test_full_mesh_and_asymmetric_peers():
    assert mesh.mesh_peer_clusters(HOSTVARS, "c1", HOSTS) == ["cluster2", "cluster3"]
    assert mesh.mesh_peer_clusters(HOSTVARS, "c3", HOSTS) == ["cluster1"]
    # Automatic mode ignores mesh_link_peers: the management plane links everyone.
    assert mesh.mesh_peer_clusters(HOSTVARS, "c3", HOSTS, "automatic") == ["cluster1", "cluster2"]
    assert mesh.mesh_hosts_of_clusters(HOSTVARS, HOSTS, ["cluster3", "cluster1"]) == ["c1", "c3"]


def test_peer_list_naming_an_unknown_cluster_is_refused():
    hostvars = dict(HOSTVARS, c3=dict(HOSTVARS["c3"], mesh_link_peers=["cluster9"]))
    with pytest.raises(AnsibleFilterError, match="cluster9"):
        mesh.mesh_peer_clusters(hostvars, "c3", HOSTS)


def test_topology_problems():
    hostvars = {
        "a": {"cluster_name": "one", "kube_context": "a"},
        "b": {"cluster_name": "one", "kube_context": "b", "mesh_link_peers": ["one", "ghost"]},
        "c": {"kube_context": ""},
    }
    problems = mesh.mesh_topology_problems(hostvars, ["a", "b", "c"])
    assert "c: cluster_name is not set" in problems
    assert "c: kube_context is not set" in problems
    assert "cluster_name one is used by a, b; every cluster needs a unique name" in problems
    assert any("lists the cluster itself (one)" in p for p in problems)
    assert any("names ghost, which is not a cluster of this mesh" in p for p in problems)
    assert mesh.mesh_topology_problems(HOSTVARS, HOSTS) == []


def test_problem_summary_merges_identical_problems():
    lines = mesh.mesh_problem_summary({"c2": ["no license", "API down"], "c1": ["no license"], "c3": []})
    assert lines == ["c1, c2: no license", "c2: API down"]


def test_host_facts_skip_hosts_without_the_fact():
    assert mesh.mesh_host_facts(HOSTVARS, HOSTS, "mesh_link_peers") == {"c3": ["cluster1"]}


def test_verify_report_and_table():
    eastwest = [gateway("istio-eastwest", "istio-eastwest", programmed="True", address="198.51.100.10")]
    c1 = mesh.mesh_verify_report(
        "cluster1", SMC_OK, eastwest,
        [eastwest[0], gateway("istio-remote-peer-cluster2", "istio-remote", "cluster2", "198.51.100.11")],
        CA_OK, ["cluster2", "cluster3"])
    assert c1["problems"] == ["no istio-remote Gateway for peer cluster3"]
    c2 = mesh.mesh_verify_report(
        "cluster2", SMC_OK, [gateway("istio-eastwest", "istio-eastwest", programmed="True", address="198.51.100.11")],
        [gateway("istio-remote-peer-cluster1", "istio-remote", "cluster1", "198.51.100.99")], CA_OK, ["cluster1"])
    assert c2["problems"] == []
    summary = mesh.mesh_verify_summary([c2, c1])
    assert not summary["ok"]
    assert summary["problems"] == [
        "cluster1: no istio-remote Gateway for peer cluster3",
        "cluster2: istio-remote Gateway for cluster1 points at 198.51.100.99, but cluster1's east-west address is 198.51.100.10",
    ]
    header, row1, row2 = summary["table"]
    assert header.split() == ["CLUSTER", "MESH", "EAST-WEST", "PEERS", "MISSING", "ROOT", "STATUS"]
    assert row1.split()[:5] == ["cluster1", "SUCCEEDED", "198.51.100.10", "1/2", "cluster2"]
    assert "cluster3" in row1 and row1.endswith("1 problem(s)")
    assert row2.split()[0] == "cluster2" and row2.endswith("OK")


def test_verify_missing_everything_and_self_peer():
    report = mesh.mesh_verify_report("cluster1", [], [], [gateway("istio-remote-peer-cluster1", "istio-remote", "cluster1")],
                                     {"problems": ["Secret cacerts not found"], "root_fingerprint": None}, ["cluster2"])
    assert report["problems"] == [
        "ServiceMeshController not found",
        "east-west gateway not found",
        "no istio-remote Gateway for peer cluster2",
        "istio-remote Gateway for the cluster itself (cluster1)",
        "cacerts: Secret cacerts not found",
        "cacerts: cacerts has no root certificate",
    ]
    automatic = mesh.mesh_verify_report("cluster1", SMC_OK, [gateway("istio-eastwest", "istio-eastwest", programmed="True")],
                                        [gateway("istio-remote-peer-cluster1", "istio-remote", "cluster1"),
                                         gateway("istio-remote-peer-cluster2", "istio-remote", "cluster2")],
                                        CA_OK, ["cluster2"], "automatic")
    assert automatic["problems"] == []


def test_verify_duplicate_peers_and_different_roots():
    dup = mesh.mesh_verify_report("cluster1", SMC_OK, [gateway("istio-eastwest", "istio-eastwest", programmed="True")],
                                  [gateway("istio-remote-peer-cluster2", "istio-remote", "cluster2"),
                                   gateway("cluster2-auto", "istio-remote", "cluster2")], CA_OK, ["cluster2"])
    assert dup["problems"] == ["2 istio-remote Gateways for peer cluster2 (cluster2-auto, istio-remote-peer-cluster2); "
                               "istiod needs exactly one"]
    other = dict(dup, cluster="cluster2", problems=[], peers={}, expected_peers=[], root_fingerprint="99:88")
    summary = mesh.mesh_verify_summary([dup, other])
    assert "clusters do not share one root of trust: cluster1=aabbccddeeff, cluster2=9988" in summary["problems"]
