"""Pure parts of the istiod, load-balancer, automatic-peering and management-plane simulators."""
from __future__ import annotations

import pytest

from tests.harness.simulators.eastwest import (Endpoint, _upstream_addresses, address_type, eastwest_objects,
                                               eastwest_status, human_join, mesh_trust_domain, remote_status)
from tests.harness.simulators import ClusterSettings
from tests.harness.simulators.loadbalancer import wait_left
from tests.harness.simulators.management_plane import copy_of, source_of
from tests.harness.simulators.peering import local_peer, peer_of, solo_conditions

SVC = "istio-eastwest.istio-eastwest.svc.cluster.local"
LISTENERS = [{"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
             {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]


def _eastwest(labels=None, addresses=None, **annotations):
    gw = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
          "metadata": {"name": "istio-eastwest", "namespace": "istio-eastwest", "generation": 4,
                       "labels": {"istio.io/expose-istiod": "15012", "topology.istio.io/network": "net1",
                                  "topology.kubernetes.io/region": "eu"} if labels is None else labels,
                       "annotations": annotations},
          "spec": {"gatewayClassName": "istio-eastwest", "listeners": LISTENERS}}
    if addresses is not None:
        gw["spec"]["addresses"] = addresses
    return gw


def _service(ingress=(), service_type="LoadBalancer", cluster_ip="10.96.0.20"):
    return {"spec": {"type": service_type, "clusterIP": cluster_ip},
            "status": {"loadBalancer": {"ingress": [{"ip": i} for i in ingress]}}}


def _remote(name="istio-remote-peer-cluster2", labels=None, addresses=("198.51.100.11",), listeners=None,
            **annotations):
    return {"metadata": {"name": name, "namespace": "istio-eastwest", "generation": 1,
                         "labels": {"topology.istio.io/network": "cluster2", "topology.istio.io/cluster": "cluster2"}
                         if labels is None else labels,
                         "annotations": {"gateway.istio.io/service-account": "istio-eastwest",
                                         "gateway.istio.io/trust-domain": "cluster2", **annotations}},
            "spec": {"gatewayClassName": "istio-remote", "listeners": LISTENERS if listeners is None else listeners,
                     "addresses": [{"type": "IPAddress", "value": a} for a in addresses]}}


CLUSTER2 = Endpoint("cluster2", frozenset({"198.51.100.11"}), 15012)
CONNECTED, SUCCEEDED, DATAPLANE = ("gloo.solo.io/PeerConnected", "gloo.solo.io/PeeringSucceeded",
                                   "gloo.solo.io/PeerDataPlaneProgrammed")


def _solo(gw, local="cluster1", endpoints=(CLUSTER2,), synced=True):
    found = solo_conditions(gw, local, list(endpoints), synced)
    return None if found is None else {t: (st, r, m) for t, st, r, m in found}


def _conditions(status):
    return {c["type"]: c for c in status["conditions"]}


def test_eastwest_objects_follow_the_waypoint_template():
    gw = _eastwest(**{"kubectl.kubernetes.io/last-applied-configuration": "{}", "example.com/team": "mesh",
                      "gateway.istio.io/service-account": "ew-sa"})
    sa, deployment, service = eastwest_objects(gw, "img")
    assert sa["metadata"]["name"] == "ew-sa"
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "istio-eastwest"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ew-sa"
    assert service["spec"]["type"] == "LoadBalancer" and "loadBalancerIP" not in service["spec"]
    assert [(p["name"], p["port"], p["appProtocol"]) for p in service["spec"]["ports"]] == [
        ("status-port", 15021, "tcp"), ("cross-network", 15008, "hbone"), ("xds-tls", 15012, "tls")]
    for obj in (sa, deployment, service):
        labels = obj["metadata"]["labels"]
        assert labels["istio.io/expose-istiod"] == "15012" and labels["topology.istio.io/network"] == "net1"
        assert labels["gateway.networking.k8s.io/gateway-name"] == "istio-eastwest"
        assert labels["gateway.networking.k8s.io/gateway-class-name"] == "istio-eastwest"
        assert labels["gateway.istio.io/managed"] == "istio.io-eastwest-controller"
        assert "topology.istio.io/cluster" not in labels  # never filled in
        assert obj["metadata"]["annotations"]["example.com/team"] == "mesh"
        assert "kubectl.kubernetes.io/last-applied-configuration" not in obj["metadata"]["annotations"]
        assert "gateway.istio.io/service-account" not in obj["metadata"]["annotations"]
    assert service["metadata"]["annotations"]["networking.istio.io/traffic-distribution"] == "PreferClose"


def test_eastwest_objects_use_infrastructure_metadata_and_requested_address():
    gw = _eastwest(addresses=[{"type": "IPAddress", "value": "203.0.113.9"}])
    gw["spec"]["infrastructure"] = {"labels": {"team": "mesh", "gateway.networking.k8s.io/x": "dropped"}}
    service = eastwest_objects(gw, "img")[2]
    assert service["spec"]["loadBalancerIP"] == "203.0.113.9"
    labels = service["metadata"]["labels"]
    assert "istio.io/expose-istiod" not in labels and labels["team"] == "mesh"
    assert "gateway.networking.k8s.io/x" not in service["metadata"]["labels"]


def test_eastwest_status_before_the_service_exists():
    programmed = _conditions(eastwest_status(_eastwest(), None, instances=False))["Programmed"]
    assert (programmed["status"], programmed["reason"], programmed["message"]) == (
        "False", "AddressNotUsable", f'Failed to assign to any requested addresses: hostname "{SVC}" not found')


def test_eastwest_status_before_the_gateway_pod_is_ready():
    status = eastwest_status(_eastwest(), _service(), instances=False)
    programmed = _conditions(status)["Programmed"]
    assert (programmed["status"], programmed["reason"]) == ("False", "AddressNotAssigned")
    once = f'no instances found for hostname "{SVC}"'
    assert programmed["message"] == f"Failed to assign to any requested addresses: {once}; {once}"  # per port
    assert status["addresses"] == []


def test_eastwest_status_while_the_load_balancer_is_pending_reports_the_cluster_ip():
    status = eastwest_status(_eastwest(), _service(), instances=True)
    conds = _conditions(status)
    assert (conds["Programmed"]["status"], conds["Programmed"]["reason"]) == ("False", "AddressNotAssigned")
    assert conds["Programmed"]["message"] == (
        f"Assigned to service(s) {SVC}:15008 and {SVC}:15012, but failed to assign to all requested addresses: "
        f'address pending for hostname "{SVC}"')
    assert conds["Programmed"]["observedGeneration"] == 4
    assert conds["Accepted"]["status"] == conds["ResolvedRefs"]["status"] == "True"
    assert status["addresses"] == [{"type": "IPAddress", "value": "10.96.0.20"}]


def test_eastwest_status_with_an_address_and_never_without_one_again():
    gw = _eastwest()
    status = eastwest_status(gw, _service(["198.51.100.10"]), instances=True)
    programmed = _conditions(status)["Programmed"]
    assert (programmed["status"], programmed["reason"]) == ("True", "Programmed")
    assert programmed["message"] == f"Resource programmed, assigned to service(s) {SVC}:15008 and {SVC}:15012"
    assert status["addresses"] == [{"type": "IPAddress", "value": "198.51.100.10"}]
    gw["status"] = status
    again = eastwest_status(gw, _service(), instances=False)  # e.g. the gateway pod restarting
    assert _conditions(again)["Programmed"]["status"] == "False"
    assert again["addresses"] == status["addresses"]


def test_eastwest_status_of_a_cluster_ip_service_is_programmed_with_internal_addresses():
    gw = _eastwest(**{"networking.istio.io/service-type": "ClusterIP"})
    assert eastwest_objects(gw, "img")[2]["spec"]["type"] == "ClusterIP"
    status = eastwest_status(gw, _service(service_type="ClusterIP"), instances=True)
    assert _conditions(status)["Programmed"]["status"] == "True"
    assert status["addresses"] == [{"type": "IPAddress", "value": "10.96.0.20"}, {"type": "Hostname", "value": SVC}]


def test_eastwest_gateway_with_a_hostname_address_is_not_deployed():
    gw = _eastwest(addresses=[{"type": "Hostname", "value": "ew.example.com"}])
    status = eastwest_status(gw, None, instances=False)
    programmed = _conditions(status)["Programmed"]
    assert (programmed["reason"], programmed["message"]) == (
        "AddressNotUsable", 'Failed to assign to any requested addresses: hostname "ew.example.com" not found')
    two = eastwest_status(_eastwest(addresses=[{"type": "IPAddress", "value": "203.0.113.1"},
                                               {"type": "IPAddress", "value": "203.0.113.2"}]), None, False)
    assert _conditions(two)["Accepted"]["reason"] == "InvalidAddress"
    assert _conditions(two)["Programmed"]["reason"] == "UnsupportedAddress"


class _Cached:
    """The one Deployment a simulator cache holds."""

    def __init__(self, deployment):
        self.deployment = deployment

    def cached(self, res, name, namespace):
        dep = self.deployment
        return dep if dep and (dep["metadata"]["name"], dep["metadata"]["namespace"]) == (name, namespace) else None


def test_upstream_istiod_answers_peers_once_the_gateway_it_deployed_is_available():
    gw = _eastwest()
    gw["status"] = {"addresses": [{"type": "IPAddress", "value": "10.96.0.20"}]}  # pending LB: the ClusterIP
    dep = {"metadata": {"name": "istio-eastwest", "namespace": "istio-eastwest",
                        "labels": {"gateway.networking.k8s.io/gateway-name": "istio-eastwest"}},
           "status": {"availableReplicas": 1}}
    assert _upstream_addresses(_Cached(dep), gw) == {"10.96.0.20"}
    assert _upstream_addresses(_Cached(None), gw) is None
    assert _upstream_addresses(_Cached({**dep, "status": {}}), gw) is None
    # a Deployment of that name that istiod did not deploy for this Gateway
    assert _upstream_addresses(_Cached({**dep, "metadata": {**dep["metadata"], "labels": {}}}), gw) is None


def test_human_join():
    assert human_join(["a"]) == "a" and human_join(["a", "b"]) == "a and b"
    assert human_join(["a", "b", "c"]) == "a, b, and c"
    assert address_type("2001:db8::1") == "IPAddress" and address_type("ew.example.com") == "Hostname"


def test_istio_reports_every_remote_gateway_programmed_and_nothing_about_the_link():
    for peer in (_remote(), _remote(labels={}), _remote(listeners=[])):
        status = remote_status(peer)
        assert status["addresses"] == [{"type": "IPAddress", "value": "198.51.100.11"}]
        assert [(c["type"], c["status"], c["message"]) for c in status["conditions"]] == [
            ("Accepted", "True", "Resource accepted"),
            ("Programmed", "True", "This Gateway is remote; Istio will not program it")]


def test_solo_conditions_of_a_connected_peer():
    # Solo's tests/integration/pilot/ambientmulticluster/status_test.go TestStatus.
    assert _solo(_remote()) == {
        CONNECTED: ("True", "Programmed", ""), SUCCEEDED: ("True", "Programmed", ""),
        DATAPLANE: ("True", "Programmed", "peering data plane programmed for cross-network traffic with "
                                          "LoadBalancer service type")}


def test_solo_conditions_before_the_peer_answers_or_syncs():
    down = _solo(_remote(), endpoints=())
    assert down[CONNECTED] == ("False", "Pending", "not connected to peer")
    assert down[SUCCEEDED] == ("Unknown", "Pending", "network not yet synced check istiod log for more details")
    # PeerDataPlaneProgrammed looks at the listeners only.
    assert down[DATAPLANE][0] == "True"
    unsynced = _solo(_remote(), synced=False)
    assert unsynced[CONNECTED][0] == "True" and unsynced[SUCCEEDED][0] == "Unknown"


@pytest.mark.parametrize("peer, why", [
    (_remote(labels={"topology.istio.io/cluster": "cluster2"}), "no network label found in gateway"),
    (_remote(addresses=()), "no addresses found in gateway"),
])
def test_solo_conditions_of_an_invalid_peer(peer, why):
    found = _solo(peer)
    assert found[SUCCEEDED] == found[CONNECTED] == (
        "False", "Invalid", "no network started, encountered error validating gateway: " + why)
    assert found[DATAPLANE] == ("False", "Invalid", "peering data plane not programmed for cross-network traffic, "
                                                    "encountered error validating gateway: " + why)


def test_solo_dials_the_first_address_on_the_xds_tls_port_else_15012():
    wrong_port = [dict(LISTENERS[0]), {**LISTENERS[1], "port": 15999}]
    assert _solo(_remote(listeners=wrong_port))[CONNECTED][0] == "False"
    assert _solo(_remote(listeners=LISTENERS[:1]))[CONNECTED][0] == "True"  # no xds-tls: 15012
    assert _solo(_remote(addresses=("10.96.0.20", "198.51.100.11")))[CONNECTED][0] == "False"


def test_solo_data_plane_needs_an_hbone_listener_and_nothing_else():
    no_hbone = _solo(_remote(listeners=LISTENERS[1:]))
    assert no_hbone[DATAPLANE] == ("False", "Invalid", "peering data plane not programmed for cross-network "
                                                       "traffic, missing HBONE listener")
    wrong_identity = _remote(labels={"topology.istio.io/network": "net-x", "topology.istio.io/cluster": "cluster2"},
                             **{"gateway.istio.io/trust-domain": "other", "gateway.istio.io/service-account": "x"})
    assert _solo(wrong_identity)[DATAPLANE][0] == "True"


def test_a_self_peer_gets_no_solo_condition():
    assert _solo(_remote(), local="cluster2") is None
    assert _solo(_remote(labels={"topology.istio.io/network": "cluster2"}), local="cluster2") is None


def test_peer_cluster():
    assert peer_of(_remote()) == "cluster2"
    assert peer_of(_remote(labels={"topology.istio.io/network": "n"})) == "n"  # TranslatePeerGateway


def test_mesh_trust_domain():
    assert mesh_trust_domain({"data": {"mesh": "trustDomain: c1\n"}}) == "c1"
    assert mesh_trust_domain({"data": {"mesh": "defaultConfig: {}\n"}}) is None
    assert mesh_trust_domain(None) is None


def test_local_peer_is_built_as_solos_translate_eastwest_gateway_builds_it():
    labels = {"istio.io/expose-istiod": "15012", "topology.istio.io/network": "net1",
              "topology.istio.io/cluster": "cluster1", "topology.kubernetes.io/region": "eu"}
    gw = _eastwest(labels=dict(labels), **{"gateway.istio.io/service-account": "ew-sa", "example.com/a": "b"})
    assert local_peer(gw, "td1") is None  # no address yet
    gw["status"] = {"addresses": [{"type": "IPAddress", "value": "203.0.113.5"}]}
    gw["spec"]["listeners"] = [{**LISTENERS[0], "protocol": "TCP"}, {**LISTENERS[1], "port": 15013}]
    peer = local_peer(gw, "td1")
    meta = peer["metadata"]
    assert meta["name"] == "istio-remote-peer-cluster1" and meta["namespace"] == "istio-eastwest"
    assert meta["labels"] == {**labels, "gloo.solo.io/automatic-peering": "true"}
    # The service account is the east-west Gateway's name, whatever its annotation said.
    assert meta["annotations"] == {"gateway.istio.io/trust-domain": "td1", "gateway.istio.io/service-account":
                                   "istio-eastwest", "example.com/a": "b"}
    assert peer["spec"]["gatewayClassName"] == "istio-remote"
    assert peer["spec"]["addresses"] == [{"type": "IPAddress", "value": "203.0.113.5"}]
    assert [(x["name"], x["port"], x["protocol"]) for x in peer["spec"]["listeners"]] == [
        ("cross-network", 15008, "HBONE"), ("xds-tls", 15013, "TLS")]


@pytest.mark.parametrize("missing", ["istio.io/expose-istiod", "topology.istio.io/cluster", "topology.istio.io/network"])
def test_no_local_peer_without_the_labels_solo_requires(missing):
    labels = {"istio.io/expose-istiod": "15012", "topology.istio.io/network": "n", "topology.istio.io/cluster": "c"}
    del labels[missing]
    gw = _eastwest(labels=labels)
    gw["status"] = {"addresses": [{"type": "IPAddress", "value": "203.0.113.5"}]}
    assert local_peer(gw, "td") is None


def test_management_plane_copies_keep_their_source():
    eastwest = _eastwest(labels={"istio.io/expose-istiod": "15012", "topology.istio.io/network": "cluster1",
                                 "topology.istio.io/cluster": "cluster1"})
    gw = local_peer({**eastwest, "status": {"addresses": [{"value": "198.51.100.10"}]}}, "cluster1")
    gw["metadata"]["annotations"]["simulator.gloomesh.io/owner"] = "istiod/cluster1"
    assert source_of(gw) == "cluster1"
    copied = copy_of(gw, "cluster1")
    assert source_of(copied) == "cluster1"
    assert copied["metadata"]["labels"]["gloo.solo.io/config-distribution"] == "true"
    assert copied["spec"] == gw["spec"]
    manual = _remote()
    assert source_of(manual) is None  # the collection's own links are never distributed


@pytest.mark.parametrize("mode, since, seen, now, left", [
    ("ready", 0.0, 10.0, 10.0, 0.0),
    ("none", 0.0, 10.0, 99.0, None),
    ("slow", 0.0, 10.0, 11.0, 2.0),   # 3 s after the Service appeared
    ("slow", 0.0, 10.0, 14.0, 0.0),   # due: never negative
    ("slow", 12.0, 10.0, 13.0, 2.0),  # the mode set after the Service: counted from the mode
])
def test_load_balancer_wait_left(mode, since, seen, now, left):
    settings = ClusterSettings(lb_mode=mode, lb_delay=3.0, lb_since=since)
    assert wait_left(settings, seen, now) == left
