"""mesh_link against real API servers and upstream istiod, alone and with eastwest_gateway and
eastwest_gateway_info (full mesh, asymmetric link, unlink, adoption).

Upstream istiod is every cluster's istiod (fixture istiod): it deploys the east-west gateways and
writes their status; Solo's peering status writer stays simulated. Every link is checked to be, in
the source cluster's istiod, a network gateway with the peer's network, address and HBONE port (its
/debug/networkz), and every unlink to remove it.

Peer clusters get unique names per test: mesh_link looks at every istio-remote Gateway of the
source cluster, so unique names keep the tests from seeing each other's peers.
"""
from __future__ import annotations

import concurrent.futures
import time

import pytest
from kubernetes import client as k8s

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.gateway import eastwest_gateway
from tests.harness.module_runner import run_module
from tests.integration.gateway_helpers import (
    CONTEXTS, GW_GROUP, GW_PLURAL, GW_VERSION, LISTENERS, MANAGED_BY, api, assert_no_writes, ensure_test_namespace,
    ew, expect_network_gateways, fake_istiod, get_gateway, info, lb_address, list_gateways, spec_as_applied,
    trust_domain_of, unique)

SOURCE = "cluster1"
PEER_CONDITIONS = ("gloo.solo.io/PeeringSucceeded", "gloo.solo.io/PeerConnected",
                   "gloo.solo.io/PeerDataPlaneProgrammed")


def link(kubeconfig, context, peers, check_mode=False, diff=False, **args):
    return run_module("mesh_link", dict(args, kubeconfig=kubeconfig, context=context, peers=peers),
                      check_mode=check_mode, diff=diff)


def descriptor(cluster, namespace, address="198.51.100.201", network=None, **extra):
    return dict({"cluster": cluster, "network": network or "net-" + cluster, "address": address,
                 "namespace": namespace}, **extra)


def actions(result):
    return sorted((p["cluster"], p["namespace"], p["action"]) for p in result["peers"])


def remote_gateways(control_plane, context, namespace):
    return [g for g in list_gateways(control_plane, context, namespace)
            if g["spec"]["gatewayClassName"] == "istio-remote"]


def conditions(gateway):
    return {c["type"]: c["status"] for c in (gateway.get("status") or {}).get("conditions") or []}


def owns_managed_by_label(gateway):
    return any(entry["manager"] == "gloomesh"
               and "f:app.kubernetes.io/managed-by" in entry["fieldsV1"].get("f:metadata", {}).get("f:labels", {})
               for entry in gateway["metadata"].get("managedFields") or [])


# --- kubernetes.core's checklist ---------------------------------------------------------------------

def test_mesh_link_checklist(kubeconfig, control_plane, audit, istiod, scratch):
    ns = scratch("ml-life", [SOURCE])
    p1, p2 = unique("life"), unique("life")
    peers = [descriptor(p1, ns, "198.51.100.201"),
             descriptor(p2, ns, "ew.%s.example" % p2, trust_domain="%s.local" % p2, region="us-east-1",
                        zone="us-east-1b", service_account="istio-eastwest")]
    args = {"cluster": "src-" + p1}

    # create, check mode
    mark = audit.mark()
    result = link(kubeconfig, SOURCE, peers, check_mode=True, diff=True, **args)
    assert result["changed"] and actions(result) == sorted([(p1, ns, "created"), (p2, ns, "created")])
    assert [d["before"] for d in result["diff"]] == [{}, {}]
    assert {d["after_header"] for d in result["diff"]} == {
        "Gateway %s/istio-remote-peer-%s" % (ns, p) for p in (p1, p2)}
    assert_no_writes(audit, mark, SOURCE)
    assert remote_gateways(control_plane, SOURCE, ns) == []

    # create
    mark = audit.mark()
    result = link(kubeconfig, SOURCE, peers, **args)
    assert result["changed"] and actions(result) == sorted([(p1, ns, "created"), (p2, ns, "created")])
    assert result["cluster"] == "src-" + p1
    assert len(audit.writes(mark, SOURCE)) == 3  # namespace + 2 Gateways
    first = get_gateway(control_plane, SOURCE, ns, "istio-remote-peer-" + p1)
    assert first["metadata"]["labels"] == {"topology.istio.io/network": "net-" + p1,
                                           "topology.istio.io/cluster": p1, **MANAGED_BY}
    assert first["metadata"]["annotations"] == {"gateway.istio.io/service-account": "istio-eastwest",
                                                "gateway.istio.io/trust-domain": "cluster.local"}
    assert spec_as_applied(first["spec"]) == {
        "gatewayClassName": "istio-remote", "addresses": [{"type": "IPAddress", "value": "198.51.100.201"}],
        "listeners": LISTENERS}
    second = get_gateway(control_plane, SOURCE, ns, "istio-remote-peer-" + p2)
    assert second["metadata"]["labels"] == {"topology.istio.io/network": "net-" + p2,
                                            "topology.istio.io/cluster": p2,
                                            "topology.kubernetes.io/region": "us-east-1",
                                            "topology.kubernetes.io/zone": "us-east-1b", **MANAGED_BY}
    assert second["metadata"]["annotations"]["gateway.istio.io/trust-domain"] == "%s.local" % p2
    assert second["spec"]["addresses"] == [{"type": "Hostname", "value": "ew.%s.example" % p2}]
    # istiod resolves a peer's hostname itself and drops a gateway whose name does not resolve
    # (pilot/pkg/model/network.go resolveHostnameGateways, RESOLVE_HOSTNAME_GATEWAYS on by
    # default): ew.<p2>.example never does, so only the IP peer is a network gateway.
    expect_network_gateways(istiod, SOURCE, ns, peers[:1])

    # create again
    for check_mode in (True, False):
        mark = audit.mark()
        result = link(kubeconfig, SOURCE, peers, check_mode=check_mode, diff=True, **args)
        assert not result["changed"] and {p["action"] for p in result["peers"]} == {"unchanged"}
        assert result["diff"] == []
        assert_no_writes(audit, mark, SOURCE)

    # modify: the first peer's east-west address moved, its trust domain changed
    modified = [dict(peers[0], address="198.51.100.202", trust_domain="moved.local"), peers[1]]
    mark = audit.mark()
    result = link(kubeconfig, SOURCE, modified, check_mode=True, diff=True, **args)
    assert result["changed"] and actions(result) == sorted([(p1, ns, "updated"), (p2, ns, "unchanged")])
    (change,) = result["diff"]
    assert change["before"]["spec"]["addresses"] == [{"type": "IPAddress", "value": "198.51.100.201"}]
    assert change["after"]["spec"]["addresses"] == [{"type": "IPAddress", "value": "198.51.100.202"}]
    assert_no_writes(audit, mark, SOURCE)
    assert get_gateway(control_plane, SOURCE, ns, "istio-remote-peer-" + p1)["spec"]["addresses"][0]["value"] \
        == "198.51.100.201"

    mark = audit.mark()
    result = link(kubeconfig, SOURCE, modified, **args)
    assert actions(result) == sorted([(p1, ns, "updated"), (p2, ns, "unchanged")])
    assert len(audit.writes(mark, SOURCE)) == 1
    live = get_gateway(control_plane, SOURCE, ns, "istio-remote-peer-" + p1)
    assert live["spec"]["addresses"] == [{"type": "IPAddress", "value": "198.51.100.202"}]
    assert live["metadata"]["annotations"]["gateway.istio.io/trust-domain"] == "moved.local"
    expect_network_gateways(istiod, SOURCE, ns, modified[:1])

    # modify again
    for check_mode in (True, False):
        mark = audit.mark()
        result = link(kubeconfig, SOURCE, modified, check_mode=check_mode, **args)
        assert not result["changed"]
        assert_no_writes(audit, mark, SOURCE)

    # delete (state absent needs only cluster and namespace)
    unlink = [{"cluster": p1, "namespace": ns}, {"cluster": p2, "namespace": ns}]
    mark = audit.mark()
    result = link(kubeconfig, SOURCE, unlink, check_mode=True, diff=True, state="absent")
    assert result["changed"] and actions(result) == sorted([(p1, ns, "removed"), (p2, ns, "removed")])
    assert [d["after"] for d in result["diff"]] == [{}, {}]
    assert_no_writes(audit, mark, SOURCE)
    assert len(remote_gateways(control_plane, SOURCE, ns)) == 2

    mark = audit.mark()
    result = link(kubeconfig, SOURCE, unlink, state="absent")
    assert result["changed"] and actions(result) == sorted([(p1, ns, "removed"), (p2, ns, "removed")])
    assert len(audit.writes(mark, SOURCE)) == 2
    assert remote_gateways(control_plane, SOURCE, ns) == []
    expect_network_gateways(istiod, SOURCE, ns, [])

    # delete missing
    for check_mode in (True, False):
        mark = audit.mark()
        result = link(kubeconfig, SOURCE, unlink, check_mode=check_mode, state="absent")
        assert not result["changed"]
        assert actions(result) == sorted([(p1, ns, "unchanged"), (p2, ns, "unchanged")])
        assert_no_writes(audit, mark, SOURCE)


# --- refused before any write ------------------------------------------------------------------------

@pytest.mark.parametrize("peers, args, words", [
    ([descriptor("me", "ew")], {"cluster": "me"},
     "peers[0].cluster 'me' is the source cluster itself (option cluster)"),
    ([descriptor("p1", "ew"), descriptor("p2", "ew"), descriptor("p1", "other")], {"cluster": "me"},
     "peers[2].cluster 'p1' duplicates peers[0]"),
    ([{"cluster": "p1", "network": "n1"}], {"cluster": "me"},
     "peers[0].address is required: peer p1 has no east-west address"),
    ([{"cluster": "p1", "address": "10.0.0.1"}], {"cluster": "me"},
     "peers[0].network is required: istiod ignores a peer Gateway without a network label"),
    ([descriptor("p1", "ew", address="10.0.0.1", address_type="Hostname")], {"cluster": "me"},
     "peers[0].address_type 'Hostname' must be IPAddress for address '10.0.0.1'"),
    ([descriptor("p1", "ew", address="not an address")], {"cluster": "me"},
     "peers[0].address 'not an address' must be an IPv4/IPv6 address or a lowercase DNS hostname"),
    ([descriptor("P1", "ew")], {"cluster": "me"}, "peers[0].cluster 'P1' must be 1-63 lowercase"),
    ([descriptor("p1", "East_West")], {"cluster": "me"}, "peers[0].namespace 'East_West' must be a namespace name"),
    ([descriptor("p1", "ew", address_type="NamedAddress")], {"cluster": "me"}, "address_type"),
    ([{"network": "n1", "address": "10.0.0.1"}], {"cluster": "me"}, "cluster"),
    ([descriptor("p1", "ew")], {"cluster": "Me"}, "cluster 'Me' must be 1-63 lowercase"),
    ([descriptor("p1", "ew")], {"state": "linked"}, "state"),
], ids=["self", "duplicate", "no-address", "no-network", "address-type-mismatch", "bad-address",
        "bad-cluster-name", "bad-namespace", "address-type-choice", "cluster-missing", "bad-source-name",
        "bad-state"])
def test_mesh_link_refuses(kubeconfig, audit, peers, args, words):
    mark = audit.mark()
    result = link(kubeconfig, SOURCE, peers, **args)
    assert result["failed"] and words in result["msg"], result["msg"]
    assert_no_writes(audit, mark, SOURCE)


def test_source_cluster_is_discovered(kubeconfig, control_plane, audit, scratch):
    install_ns = scratch("istiod-src", [SOURCE])
    ensure_test_namespace(control_plane, SOURCE, install_ns)
    mark = audit.mark()
    # no istiod there: the source's name is unknown, and needed to refuse self-links
    result = link(kubeconfig, SOURCE, [descriptor("p1", "ew")], install_namespace=install_ns)
    assert result["failed"] and result["missing"] == ["cluster"]
    assert "set option cluster" in result["msg"]
    assert_no_writes(audit, mark, SOURCE)
    fake_istiod(control_plane, SOURCE, install_ns, "istiod-gloo", cluster_id="src-found")
    mark = audit.mark()
    result = link(kubeconfig, SOURCE, [descriptor("src-found", "ew")], install_namespace=install_ns)
    assert result["failed"] and "peers[0].cluster 'src-found' is the source cluster itself" in result["msg"]
    assert_no_writes(audit, mark, SOURCE)


# --- with eastwest_gateway and eastwest_gateway_info ---------------------------------------------------

def expose_all(kubeconfig, contexts, namespace, names):
    """eastwest_gateway then eastwest_gateway_info in each cluster: {context: peer descriptor}.

    The network is the cluster's own (its istio-system label, the istiod fixture's): istiod programs
    the data plane for a peer only when the peer's network label is the remote cluster's network."""
    peers = {}
    for context in contexts:
        made = ew(kubeconfig, context, namespace=namespace, network=context, cluster=names[context])
        assert made["programmed"] and made["address"], made
        described = info(kubeconfig, context, namespace=namespace)
        assert not described.get("failed"), described
        peers[context] = described["peer"]
    return peers


def test_full_mesh_then_exclusive_unlink(kubeconfig, control_plane, audit, istiod, scratch):
    ns = scratch("ml-mesh")
    names = {context: unique("fm") for context in CONTEXTS}
    peers = expose_all(kubeconfig, CONTEXTS, ns, names)

    for context in CONTEXTS:
        others = [peers[c] for c in CONTEXTS if c != context]
        result = link(kubeconfig, context, others, cluster=names[context], wait=True, wait_timeout=60)
        assert not result.get("failed"), result
        assert sorted(p["action"] for p in result["peers"]) == ["created", "created"]

    # exactly one peer Gateway per ordered pair: 6 for 3 clusters, each describing its peer exactly
    total = 0
    for context in CONTEXTS:
        gateways = remote_gateways(control_plane, context, ns)
        total += len(gateways)
        described = {g["metadata"]["labels"]["topology.istio.io/cluster"]: g for g in gateways}
        assert sorted(described) == sorted(names[c] for c in CONTEXTS if c != context)
        for peer_context in (c for c in CONTEXTS if c != context):
            gateway = described[names[peer_context]]
            assert gateway["metadata"]["name"] == "istio-remote-peer-" + names[peer_context]
            assert gateway["metadata"]["labels"] == {"topology.istio.io/network": peer_context,
                                                     "topology.istio.io/cluster": names[peer_context], **MANAGED_BY}
            assert gateway["metadata"]["annotations"] == {
                "gateway.istio.io/service-account": "istio-eastwest",
                "gateway.istio.io/trust-domain": trust_domain_of(control_plane, peer_context)}
            assert spec_as_applied(gateway["spec"]) == {
                "gatewayClassName": "istio-remote",
                "addresses": [{"type": "IPAddress", "value": lb_address(control_plane, peer_context, ns)}],
                "listeners": LISTENERS}
            # Solo's istiod (simulated) peered: reachable at that address, with an HBONE listener
            assert all(conditions(gateway)[c] == "True" for c in PEER_CONDITIONS), conditions(gateway)
        expect_network_gateways(istiod, context, ns, [peers[c] for c in CONTEXTS if c != context])
    assert total == 6

    # re-run everything: no write in any cluster
    mark = audit.mark()
    for context in CONTEXTS:
        others = [peers[c] for c in CONTEXTS if c != context]
        result = link(kubeconfig, context, others, cluster=names[context], wait=True)
        assert not result["changed"]
    for context in CONTEXTS:
        assert_no_writes(audit, mark, context)

    # exclusive: cluster1 keeps cluster2 only; mgmt's peer Gateway goes
    keep = [peers["cluster2"]]
    dropped = (names["mgmt"], ns, "removed")
    mark = audit.mark()
    result = link(kubeconfig, "cluster1", keep, cluster=names["cluster1"], exclusive=True, check_mode=True)
    assert result["changed"] and dropped in actions(result)
    assert_no_writes(audit, mark, "cluster1")
    assert len(remote_gateways(control_plane, "cluster1", ns)) == 2
    result = link(kubeconfig, "cluster1", keep, cluster=names["cluster1"], exclusive=True)
    assert actions(result) == sorted([(names["cluster2"], ns, "unchanged"), dropped])
    assert [g["metadata"]["name"] for g in remote_gateways(control_plane, "cluster1", ns)] == [
        "istio-remote-peer-" + names["cluster2"]]
    expect_network_gateways(istiod, "cluster1", ns, keep)
    mark = audit.mark()
    result = link(kubeconfig, "cluster1", keep, cluster=names["cluster1"], exclusive=True)
    assert not result["changed"]
    assert_no_writes(audit, mark, "cluster1")


def test_asymmetric_link(kubeconfig, control_plane, istiod, scratch):
    ns = scratch("ml-asym")
    names = {context: unique("as") for context in ("cluster1", "cluster2")}
    peers = expose_all(kubeconfig, ("cluster1", "cluster2"), ns, names)
    result = link(kubeconfig, "cluster1", [peers["cluster2"]], cluster=names["cluster1"], wait=True, wait_timeout=60)
    assert actions(result) == [(names["cluster2"], ns, "created")]
    found = {context: remote_gateways(control_plane, context, ns) for context in CONTEXTS}
    assert sum(len(g) for g in found.values()) == 1
    (gateway,) = found["cluster1"]
    assert gateway["metadata"]["labels"]["topology.istio.io/cluster"] == names["cluster2"]
    assert conditions(gateway)["gloo.solo.io/PeerConnected"] == "True"
    expect_network_gateways(istiod, "cluster1", ns, [peers["cluster2"]])
    expect_network_gateways(istiod, "cluster2", ns, [])


def test_wait_for_peer_connected_names_what_is_missing(kubeconfig, istiod, scratch):
    ns = scratch("ml-wait", [SOURCE])
    nobody = descriptor(unique("gone"), ns, address="203.0.113.50")
    result = link(kubeconfig, SOURCE, [nobody], cluster="src-wait", wait=True, wait_timeout=3)
    assert result["failed"]
    # verify's rule (both Solo conditions), as Solo's istiod words them (peering/controller.go).
    assert result["msg"].startswith("timed out after 3s waiting for Gateway %s/istio-remote-peer-%s to be "
                                    "connected to peer %s: gloo.solo.io/PeerConnected=False (Pending: not "
                                    "connected to peer); also not True: gloo.solo.io/PeeringSucceeded"
                                    % (ns, nobody["cluster"], nobody["cluster"]))
    # istiod takes the peer as a network gateway all the same: that says nothing about reaching it.
    expect_network_gateways(istiod, SOURCE, ns, [nobody])


def test_peer_namespace_change_moves_the_gateway(kubeconfig, control_plane, istiod, scratch):
    first, second = scratch("ml-from", [SOURCE]), scratch("ml-to", [SOURCE])
    peer = unique("mv")
    link(kubeconfig, SOURCE, [descriptor(peer, first)], cluster="src-mv")
    result = link(kubeconfig, SOURCE, [descriptor(peer, second)], cluster="src-mv")
    # removed first: never two peer Gateways for one cluster
    assert [(p["namespace"], p["action"]) for p in result["peers"]] == [(first, "removed"), (second, "created")]
    assert remote_gateways(control_plane, SOURCE, first) == []
    assert len(remote_gateways(control_plane, SOURCE, second)) == 1
    expect_network_gateways(istiod, SOURCE, second, [descriptor(peer, second)])
    expect_network_gateways(istiod, SOURCE, first, [])


# --- Gateways we do not manage ------------------------------------------------------------------------

def foreign_gateway(namespace, name, cluster, address):
    """An istio-remote Gateway written by istiod's automatic peering: it copies the east-west
    Gateway's labels, ours included, so only the field manager tells it apart."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"topology.istio.io/network": "net-" + cluster,
                                    "topology.istio.io/cluster": cluster,
                                    "gloo.solo.io/automatic-peering": "true", **MANAGED_BY},
                         "annotations": {"gateway.istio.io/service-account": "istio-eastwest",
                                         "gateway.istio.io/trust-domain": "cluster.local"}},
            "spec": {"gatewayClassName": "istio-remote",
                     "addresses": [{"type": "IPAddress", "value": address}], "listeners": LISTENERS}}


def test_adopt_takes_over_unmanaged_peer_gateways(kubeconfig, control_plane, audit, istiod, scratch):
    ns, stray_ns = scratch("ml-adopt", [SOURCE]), scratch("ml-stray", [SOURCE])
    peer = unique("ad")
    custom = k8s.CustomObjectsApi(api(control_plane, SOURCE))
    for namespace, name in ((ns, "istio-remote-peer-" + peer), (stray_ns, "hand-written-" + peer)):
        ensure_test_namespace(control_plane, SOURCE, namespace)
        custom.create_namespaced_custom_object(GW_GROUP, GW_VERSION, namespace, GW_PLURAL,
                                               foreign_gateway(namespace, name, peer, "198.51.100.240"),
                                               field_manager="pilot-discovery")
    wanted = [descriptor(peer, ns, "198.51.100.241")]

    mark = audit.mark()
    result = link(kubeconfig, SOURCE, wanted, cluster="src-ad")
    assert result["failed"]
    assert ("peer %s already has Gateway %s/istio-remote-peer-%s and Gateway %s/hand-written-%s, not managed by "
            "gloomesh.multicluster" % (peer, ns, peer, stray_ns, peer)) in result["msg"]
    assert "set adopt=true" in result["msg"]
    result = link(kubeconfig, SOURCE, [{"cluster": peer, "namespace": ns}], state="absent")
    assert result["failed"] and "set adopt=true" in result["msg"]
    assert_no_writes(audit, mark, SOURCE)

    mark = audit.mark()
    result = link(kubeconfig, SOURCE, wanted, cluster="src-ad", adopt=True, check_mode=True)
    assert actions(result) == sorted([(peer, ns, "updated"), (peer, stray_ns, "removed")])
    assert_no_writes(audit, mark, SOURCE)

    result = link(kubeconfig, SOURCE, wanted, cluster="src-ad", adopt=True)
    # the stray one is deleted before ours is applied
    assert [(p["namespace"], p["action"]) for p in result["peers"]] == [(stray_ns, "removed"), (ns, "updated")]
    assert remote_gateways(control_plane, SOURCE, stray_ns) == []
    adopted = get_gateway(control_plane, SOURCE, ns, "istio-remote-peer-" + peer)
    assert owns_managed_by_label(adopted)
    assert adopted["spec"]["addresses"] == [{"type": "IPAddress", "value": "198.51.100.241"}]
    expect_network_gateways(istiod, SOURCE, ns, wanted)
    expect_network_gateways(istiod, SOURCE, stray_ns, [])

    # ours now: no adopt needed, nothing to write
    mark = audit.mark()
    result = link(kubeconfig, SOURCE, wanted, cluster="src-ad")
    assert not result["changed"] and actions(result) == [(peer, ns, "unchanged")]
    assert_no_writes(audit, mark, SOURCE)


# --- mesh: a run over part of an inventory links the pairs it touches both ways ---------------------

def mesh_entry(kubeconfig, context, name, namespace, descriptor=None, peers=None):
    """One cluster of option mesh: in the run when its descriptor is given (as the role does)."""
    return {"cluster": name, "context": context, "kubeconfig": kubeconfig, "namespace": namespace,
            "in_run": descriptor is not None, "descriptor": descriptor, "peers": peers}


def link_in_mesh(kubeconfig, context, name, mesh, check_mode=False, diff=False, **args):
    return run_module("mesh_link", dict(args, kubeconfig=kubeconfig, context=context, cluster=name, mesh=mesh),
                      check_mode=check_mode, diff=diff)


def writes_by_context(audit, mark):
    return {context: len(audit.writes(mark, context)) for context in CONTEXTS}


def peer_specs(control_plane, context, namespace):
    """{peer cluster: (labels, annotations, spec)} of the istio-remote Gateways of a namespace."""
    return {g["metadata"]["labels"]["topology.istio.io/cluster"]:
            (g["metadata"]["labels"], g["metadata"].get("annotations"), spec_as_applied(g["spec"]))
            for g in remote_gateways(control_plane, context, namespace)}


def test_mesh_add_one_cluster_writes_2n(kubeconfig, control_plane, audit, istiod, scratch):
    ns = scratch("ml-add")
    names = {context: unique("add") for context in CONTEXTS}
    peers = expose_all(kubeconfig, CONTEXTS, ns, names)
    existing, added = ("cluster1", "cluster2"), "mgmt"

    # N = 2 clusters linked by a full run of an inventory without the new one
    before = [mesh_entry(kubeconfig, c, names[c], ns, peers[c]) for c in existing]
    for context in existing:
        result = link_in_mesh(kubeconfig, context, names[context], before, exclusive=True)
        assert not result.get("failed"), result

    # the new cluster joins the inventory; a run limited to it links it both ways: exactly 2N writes
    after = [mesh_entry(kubeconfig, c, names[c], ns) for c in existing] + [
        mesh_entry(kubeconfig, added, names[added], ns, peers[added])]
    mark = audit.mark()
    result = link_in_mesh(kubeconfig, added, names[added], after, check_mode=True, diff=True, exclusive=True)
    assert result["changed"] and writes_by_context(audit, mark) == {c: 0 for c in CONTEXTS}
    assert sorted(d["after_header"] for d in result["diff"]) == sorted(
        ["Gateway %s/istio-remote-peer-%s in cluster %s" % (ns, names[p], names[added]) for p in existing]
        + ["Gateway %s/istio-remote-peer-%s in cluster %s" % (ns, names[added], names[c]) for c in existing])
    mark = audit.mark()
    result = link_in_mesh(kubeconfig, added, names[added], after, exclusive=True)
    assert sorted((p["target"], p["cluster"], p["action"]) for p in result["peers"]) == sorted(
        [(names[added], names[p], "created") for p in existing]
        + [(names[c], names[added], "created") for c in existing])
    assert writes_by_context(audit, mark) == {"cluster1": 1, "cluster2": 1, "mgmt": 2}
    # the existing clusters were only read: their east-west gateway (descriptor) and their peer list
    for context in existing:
        reads = {e["objectRef"]["resource"] for e in control_plane.events_since(mark, context)
                 if e.get("user", {}).get("username") == "admin" and e.get("objectRef")
                 and e["verb"] in ("get", "list", "watch")}
        assert reads <= {"services", "gateways", "configmaps", "servicemeshcontrollers", "namespaces"}, reads

    # a full run of the new inventory now: nothing to write, and what it would write is what is there
    full = [mesh_entry(kubeconfig, c, names[c], ns, peers[c]) for c in CONTEXTS]
    mark = audit.mark()
    for context in CONTEXTS:
        result = link_in_mesh(kubeconfig, context, names[context], full, exclusive=True)
        assert not result["changed"], result
    assert writes_by_context(audit, mark) == {c: 0 for c in CONTEXTS}
    for context in CONTEXTS:
        assert sorted(peer_specs(control_plane, context, ns)) == sorted(names[c] for c in CONTEXTS if c != context)
        expect_network_gateways(istiod, context, ns, [peers[c] for c in CONTEXTS if c != context])


def test_mesh_asymmetric_peers_both_ways(kubeconfig, control_plane, audit, istiod, scratch):
    ns = scratch("ml-asy")
    names = {context: unique("asy") for context in CONTEXTS}
    peers = expose_all(kubeconfig, CONTEXTS, ns, names)
    a, b, c = (names[x] for x in CONTEXTS)
    # a stale peer of ours for c in cluster2 (cluster2 used to reach c)
    link(kubeconfig, "cluster2", [peers["mgmt"]], cluster=b)

    # cluster2 reaches only cluster1; mgmt reaches only cluster2; cluster1 reaches everyone
    mesh = [mesh_entry(kubeconfig, "cluster1", a, ns),
            mesh_entry(kubeconfig, "cluster2", b, ns, peers=[a]),
            mesh_entry(kubeconfig, "mgmt", c, ns, peers["mgmt"], peers=[b])]
    mark = audit.mark()
    result = link_in_mesh(kubeconfig, "mgmt", c, mesh, exclusive=True)
    assert sorted((p["target"], p["cluster"], p["action"]) for p in result["peers"]) == sorted([
        (a, c, "created"), (b, c, "removed"), (c, b, "created")])
    assert writes_by_context(audit, mark) == {"cluster1": 1, "cluster2": 1, "mgmt": 1}
    assert sorted(peer_specs(control_plane, "mgmt", ns)) == [b]
    assert sorted(peer_specs(control_plane, "cluster1", ns)) == [c]
    assert peer_specs(control_plane, "cluster2", ns) == {}
    for context, reached in (("mgmt", ["cluster2"]), ("cluster1", ["mgmt"]), ("cluster2", [])):
        expect_network_gateways(istiod, context, ns, [peers[c] for c in reached])


def test_mesh_refuses_before_any_write(kubeconfig, control_plane, audit, istiod, scratch):
    ns = scratch("ml-ref")
    names = {context: unique("ref") for context in CONTEXTS}
    peers = expose_all(kubeconfig, CONTEXTS, ns, names)
    a, b, c = (names[x] for x in CONTEXTS)
    # cluster2 holds a peer Gateway for mgmt's cluster that someone else wrote
    k8s.CustomObjectsApi(api(control_plane, "cluster2")).create_namespaced_custom_object(
        GW_GROUP, GW_VERSION, ns, GW_PLURAL, foreign_gateway(ns, "by-hand-" + c, c, "198.51.100.250"),
        field_manager="kubectl")
    mesh = [mesh_entry(kubeconfig, "cluster1", a, ns), mesh_entry(kubeconfig, "cluster2", b, ns),
            mesh_entry(kubeconfig, "mgmt", c, ns, peers["mgmt"])]
    mark = audit.mark()
    result = link_in_mesh(kubeconfig, "mgmt", c, mesh)
    assert result["failed"]
    assert result["msg"].startswith("in cluster %s: peer %s already has Gateway %s/by-hand-%s, not managed by "
                                    "gloomesh.multicluster" % (b, c, ns, c)), result["msg"]
    assert writes_by_context(audit, mark) == {x: 0 for x in CONTEXTS}

    # a cluster of the run without descriptor (it failed before linking): its links are skipped and
    # said so, never removed; the others are written
    link(kubeconfig, "cluster1", [peers["mgmt"]], cluster=a)  # cluster1 was linked to mgmt before
    mesh = [mesh_entry(kubeconfig, "cluster1", a, ns, peers["cluster1"]), mesh_entry(kubeconfig, "cluster2", b, ns),
            dict(mesh_entry(kubeconfig, "mgmt", c, ns), in_run=True)]
    for check_mode in (True, False):
        mark = audit.mark()
        result = link_in_mesh(kubeconfig, "cluster1", a, mesh, check_mode=check_mode, exclusive=True)
        assert not result.get("failed"), result
        assert sorted((p["target"], p["cluster"], p["action"]) for p in result["peers"]) == sorted([
            (a, b, "created"), (b, a, "created")])
        assert list(result["skipped"]) == [c] and "failed or was skipped earlier in this run" in result["skipped"][c]
        assert any("cluster %s: the links with it are left as they are" % c in w for w in result["warnings"])
        assert writes_by_context(audit, mark) == (
            {x: 0 for x in CONTEXTS} if check_mode else {"cluster1": 1, "cluster2": 1, "mgmt": 0})
    assert sorted(peer_specs(control_plane, "cluster1", ns)) == sorted([b, c])
    expect_network_gateways(istiod, "cluster1", ns, [peers["cluster2"], peers["mgmt"]])

    # a descriptor that describes another cluster than its entry
    mesh = [mesh_entry(kubeconfig, "cluster1", a, ns, peers["cluster2"]), mesh_entry(kubeconfig, "cluster2", b, ns)]
    mark = audit.mark()
    result = link_in_mesh(kubeconfig, "cluster1", a, mesh)
    assert result["failed"] and "mesh[0].descriptor.cluster '%s' must be %s" % (b, a) in result["msg"], result["msg"]
    assert writes_by_context(audit, mark) == {x: 0 for x in CONTEXTS}


def test_mesh_waits_for_a_cluster_outside_the_run(kubeconfig, control_plane, audit, istiod,
                                                  scratch):
    ns = scratch("ml-rdy")
    names = {context: unique("rdy") for context in CONTEXTS}
    peers = expose_all(kubeconfig, ("cluster1",), ns, names)
    a, b = names["cluster1"], names["cluster2"]
    mesh = [mesh_entry(kubeconfig, "cluster1", a, ns, peers["cluster1"]), mesh_entry(kubeconfig, "cluster2", b, ns)]

    # not ready within ready_timeout: the links with it, both ways, are left as they are, and said so
    mark = audit.mark()
    result = link_in_mesh(kubeconfig, "cluster1", a, mesh, ready_timeout=2)
    assert not result.get("failed"), result
    assert result["skipped"][b].startswith("timed out after 2s waiting for cluster %s to be ready to link: no "
                                           "Service %s/istio-eastwest yet" % (b, ns)), result["skipped"]
    assert result["peers"] == []
    assert writes_by_context(audit, mark) == {x: 0 for x in CONTEXTS}

    # another run creates its east-west gateway meanwhile (here: the API call it sends, a second
    # later): linked as soon as istiod has deployed its Service and the load balancer gave it an address
    def expose_later():
        time.sleep(1)
        ensure_test_namespace(control_plane, "cluster2", ns)
        k8s.CustomObjectsApi(api(control_plane, "cluster2")).create_namespaced_custom_object(
            GW_GROUP, GW_VERSION, ns, GW_PLURAL, eastwest_gateway(ns, "cluster2", b))

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        exposing = pool.submit(expose_later)
        result = link_in_mesh(kubeconfig, "cluster1", a, mesh, ready_timeout=120)
        exposing.result()
    assert not result.get("failed"), result
    assert result["skipped"] == {}
    assert sorted((p["target"], p["cluster"], p["action"]) for p in result["peers"]) == sorted([
        (a, b, "created"), (b, a, "created")])
    assert get_gateway(control_plane, "cluster1", ns, "istio-remote-peer-" + b)["spec"]["addresses"] == [
        {"type": "IPAddress", "value": lb_address(control_plane, "cluster2", ns)}]
    expect_network_gateways(istiod, "cluster1", ns,
                            [{"network": "cluster2", "address": lb_address(control_plane, "cluster2", ns)}])
    expect_network_gateways(istiod, "cluster2", ns, [peers["cluster1"]])
