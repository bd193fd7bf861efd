"""Pure parts of the istiod, automatic-peering and management-plane simulators."""
from __future__ import annotations

from tests.harness.simulators.eastwest import (address_type, eastwest_objects, eastwest_status, mesh_trust_domain,
                                               peer_cluster, remote_status)
from tests.harness.simulators.management_plane import copy_of, source_of
from tests.harness.simulators.peering import local_peer


def _eastwest(**annotations):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "istio-eastwest", "namespace": "istio-eastwest", "generation": 4,
                         "labels": {"istio.io/expose-istiod": "15012", "topology.istio.io/network": "net1",
                                    "topology.kubernetes.io/region": "eu"},
                         "annotations": annotations},
            "spec": {"gatewayClassName": "istio-eastwest"}}


def _remote(name="istio-remote-peer-cluster2", labels=None, addresses=("198.51.100.11",), **annotations):
    return {"metadata": {"name": name, "namespace": "istio-eastwest", "generation": 1,
                         "labels": {"topology.istio.io/network": "net2", "topology.istio.io/cluster": "cluster2"}
                         if labels is None else labels,
                         "annotations": {"gateway.istio.io/service-account": "istio-eastwest",
                                         "gateway.istio.io/trust-domain": "cluster2", **annotations}},
            "spec": {"gatewayClassName": "istio-remote",
                     "addresses": [{"type": "IPAddress", "value": a} for a in addresses]}}


def _conditions(status):
    return {c["type"]: c for c in status["conditions"]}


def test_eastwest_objects_copy_the_gateway_labels():
    sa, deployment, service = eastwest_objects(_eastwest(**{"istio.io/expose-istiod-address": "203.0.113.5"}), "img")
    assert {o["metadata"]["name"] for o in (sa, deployment, service)} == {"istio-eastwest"}
    assert service["spec"]["type"] == "LoadBalancer"
    assert [p["port"] for p in service["spec"]["ports"]] == [15021, 15008, 15012]
    assert service["metadata"]["labels"]["istio.io/expose-istiod"] == "15012"
    assert service["metadata"]["annotations"]["istio.io/expose-istiod-address"] == "203.0.113.5"


def test_eastwest_status_honours_the_address_override():
    status = eastwest_status(_eastwest(), "198.51.100.10")
    assert status["addresses"] == [{"type": "IPAddress", "value": "198.51.100.10"}]
    assert _conditions(status)["Programmed"]["status"] == "True"
    assert _conditions(status)["Programmed"]["observedGeneration"] == 4
    override = eastwest_status(_eastwest(**{"istio.io/expose-istiod-address": "east.example.com"}), "198.51.100.10")
    assert override["addresses"] == [{"type": "Hostname", "value": "east.example.com"}]
    assert address_type("2001:db8::1") == "IPAddress"


def test_remote_gateway_connected():
    status = remote_status(_remote(), {"198.51.100.11": "cluster2"}, {"cluster2": "cluster2"}, [])
    conds = _conditions(status)
    assert status["addresses"] == [{"type": "IPAddress", "value": "198.51.100.11"}]
    for t in ("Accepted", "Programmed", "gloo.solo.io/PeerConnected", "gloo.solo.io/PeeringSucceeded",
              "gloo.solo.io/PeerDataPlaneProgrammed"):
        assert conds[t]["status"] == "True", t


def test_remote_gateway_rejections():
    no_network = _conditions(remote_status(_remote(labels={}), {}, {}, []))
    assert no_network["Accepted"]["status"] == "False"
    assert "topology.istio.io/network" in no_network["Accepted"]["message"]
    no_address = _conditions(remote_status(_remote(addresses=()), {}, {}, []))
    assert "spec.addresses" in no_address["Accepted"]["message"]


def test_remote_gateway_problems():
    unknown = _conditions(remote_status(_remote(addresses=("198.51.100.99",)), {}, {}, []))
    assert unknown["Accepted"]["status"] == "True"
    assert unknown["gloo.solo.io/PeerConnected"]["status"] == "False"
    assert "198.51.100.99:15012" in unknown["gloo.solo.io/PeerConnected"]["message"]
    directory, domains = {"198.51.100.11": "cluster2"}, {"cluster2": "cluster2"}
    dup = _conditions(remote_status(_remote(), directory, domains, ["istio-remote-peer-cluster2-manual"]))
    assert "multiple gateways for cluster cluster2" in dup["gloo.solo.io/PeerConnected"]["message"]
    wrong_td = _conditions(remote_status(_remote(**{"gateway.istio.io/trust-domain": "cluster.local"}),
                                         directory, domains, []))
    assert wrong_td["gloo.solo.io/PeerConnected"]["status"] == "True"
    assert wrong_td["gloo.solo.io/PeerDataPlaneProgrammed"]["reason"] == "TrustDomainMismatch"
    no_sa = _remote()
    del no_sa["metadata"]["annotations"]["gateway.istio.io/service-account"]
    assert _conditions(remote_status(no_sa, directory, domains, []))[
        "gloo.solo.io/PeerDataPlaneProgrammed"]["reason"] == "MissingServiceAccount"


def test_peer_cluster():
    assert peer_cluster(_remote()) == "cluster2"
    assert peer_cluster(_remote(labels={"topology.istio.io/network": "n"})) == "cluster2"  # from the name
    assert peer_cluster(_remote(name="other", labels={"topology.istio.io/network": "n"})) == "n"


def test_mesh_trust_domain():
    assert mesh_trust_domain({"data": {"mesh": "trustDomain: c1\n"}}) == "c1"
    assert mesh_trust_domain({"data": {"mesh": "defaultConfig: {}\n"}}) == "cluster.local"
    assert mesh_trust_domain(None) == "cluster.local"


def test_local_peer_shape():
    gw = _eastwest(**{"istio.io/expose-istiod-address": "203.0.113.5"})
    assert local_peer(gw, "cluster1", "cluster1") is None  # no address yet
    gw["status"] = {"addresses": [{"type": "IPAddress", "value": "203.0.113.5"}]}
    peer = local_peer(gw, "cluster1", "td1")
    meta = peer["metadata"]
    assert meta["name"] == "istio-remote-peer-cluster1" and meta["namespace"] == "istio-eastwest"
    assert meta["labels"]["topology.istio.io/network"] == "net1"
    assert meta["labels"]["topology.istio.io/cluster"] == "cluster1"
    assert meta["labels"]["topology.kubernetes.io/region"] == "eu"
    assert meta["labels"]["gloo.solo.io/automatic-peering"] == "true"
    assert meta["annotations"] == {"gateway.istio.io/trust-domain": "td1",
                                   "gateway.istio.io/service-account": "istio-eastwest"}
    assert peer["spec"]["gatewayClassName"] == "istio-remote"
    assert peer["spec"]["addresses"] == [{"type": "IPAddress", "value": "203.0.113.5"}]
    assert [listener["port"] for listener in peer["spec"]["listeners"]] == [15008, 15012]


def test_management_plane_copies_keep_their_source():
    gw = local_peer({**_eastwest(), "status": {"addresses": [{"value": "198.51.100.10"}]}}, "cluster1", "cluster1")
    gw["metadata"]["annotations"]["simulator.gloomesh.io/owner"] = "istiod/cluster1"
    assert source_of(gw) == "cluster1"
    copied = copy_of(gw, "cluster1")
    assert source_of(copied) == "cluster1"
    assert copied["metadata"]["labels"]["gloo.solo.io/config-distribution"] == "true"
    assert copied["spec"] == gw["spec"]
    manual = _remote()
    assert source_of(manual) is None  # the collection's own links are never distributed
