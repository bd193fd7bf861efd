"""builders/gateway.py: the east-west and peer Gateways (istioctl multicluster expose / link) and peer descriptors."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway as gb
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

LISTENERS = [
    {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
    {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
]


def peer(**overrides):
    base = {"cluster": "cluster2", "network": "net2", "address": "172.18.0.20", "address_type": None,
            "trust_domain": "cluster2.local", "service_account": "istio-eastwest",
            "namespace": "istio-eastwest", "region": None, "zone": None}
    base.update(overrides)
    return base


# --- east-west Gateway -------------------------------------------------------------

def test_eastwest_gateway_minimal_shape():
    assert gb.eastwest_gateway("istio-eastwest", "net1", "cluster1") == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {
            "name": "istio-eastwest",
            "namespace": "istio-eastwest",
            "labels": {
                "istio.io/expose-istiod": "15012",
                "topology.istio.io/network": "net1",
                "topology.istio.io/cluster": "cluster1",
                "app.kubernetes.io/managed-by": "gloomesh.multicluster",
            },
        },
        "spec": {"gatewayClassName": "istio-eastwest", "listeners": LISTENERS},
    }


def test_eastwest_gateway_region_zone_and_address_override():
    gw = gb.eastwest_gateway("ew", "net1", "cluster1", region="eu-west-1", zone="eu-west-1a",
                             address="ew.example.com")
    assert gw["metadata"]["namespace"] == "ew"
    assert gw["metadata"]["labels"]["topology.kubernetes.io/region"] == "eu-west-1"
    assert gw["metadata"]["labels"]["topology.kubernetes.io/zone"] == "eu-west-1a"
    assert gw["metadata"]["annotations"] == {"gloomesh.multicluster/advertised-address": "ew.example.com"}


def test_eastwest_gateway_label_values_are_strings():
    # "15012" must stay a string: a label value, not an int.
    gw = gb.eastwest_gateway("istio-eastwest", "net1", "cluster1")
    assert all(isinstance(v, str) for v in gw["metadata"]["labels"].values())


def test_builders_return_fresh_listener_lists():
    first = gb.eastwest_gateway("a", "n", "c")
    first["spec"]["listeners"][0]["port"] = 1
    assert gb.eastwest_gateway("a", "n", "c")["spec"]["listeners"] == LISTENERS


@pytest.mark.parametrize("rule, value, option", [
    (validation.namespace, "Istio_EW", "namespace"),
    (validation.label_value, "net/1", "network"),
    (validation.label_value, "net 1", "network"),
    (validation.cluster_name, "Cluster1", "cluster"),
    (validation.cluster_name, "c" * 64, "cluster"),
    (validation.label_value, "-eu", "region"),
    (validation.label_value, "a/b", "zone"),
    (validation.address, "not an address", "address"),
    (validation.cluster_name, 42, "cluster"),
])
def test_validation_rules_reject(rule, value, option):
    with pytest.raises(GloomeshError) as err:
        rule(value, option)
    assert err.value.message.startswith(option + " ")
    assert err.value.details == {"option": option}


def test_validation_accepts_ipv6_and_hostname():
    assert validation.address("fd00::1") == "fd00::1"
    assert validation.address("lb-1.elb.amazonaws.com") == "lb-1.elb.amazonaws.com"


# --- addresses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, kind", [
    ("172.18.0.20", "IPAddress"),
    ("2001:db8::7", "IPAddress"),
    ("a7f6f1a2611fc4eb3864f8d688622fd4-1234567890.us-east-1.elb.amazonaws.com", "Hostname"),
    ("eastwest.cluster2.example", "Hostname"),
])
def test_address_type(value, kind):
    assert validation.address_type(value) == kind


def test_advertised_address_prefers_our_annotation_then_ip_then_hostname():
    gateway = {"metadata": {"annotations": {"gloomesh.multicluster/advertised-address": "1.2.3.4"}}}
    svc = {"metadata": {"annotations": {"istio.io/expose-istiod-address": "9.9.9.9"}},
           "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1", "hostname": "h.example"}]}}}
    assert gb.advertised_address(svc, gateway) == "1.2.3.4"
    # No annotation Istio does not read is honoured.
    assert gb.advertised_address(svc) == "10.0.0.1"
    svc["status"]["loadBalancer"]["ingress"] = [{"hostname": "h.example"}, {"ip": "10.0.0.9"}]
    assert gb.advertised_address(svc) == "h.example"
    svc["status"] = {"loadBalancer": {}}
    assert gb.advertised_address(svc) is None
    assert gb.advertised_address({"metadata": {}}) is None


# --- peer descriptor and peer Gateway ------------------------------------------------

def test_peer_gateway_exact_shape():
    gw = gb.peer_gateway(validation.peer(peer(region="us-east-1", zone="us-east-1b")))
    assert gw == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {
            "name": "istio-remote-peer-cluster2",
            "namespace": "istio-eastwest",
            "annotations": {
                "gateway.istio.io/service-account": "istio-eastwest",
                "gateway.istio.io/trust-domain": "cluster2.local",
            },
            "labels": {
                "topology.istio.io/network": "net2",
                "topology.istio.io/cluster": "cluster2",
                "topology.kubernetes.io/region": "us-east-1",
                "topology.kubernetes.io/zone": "us-east-1b",
                "app.kubernetes.io/managed-by": "gloomesh.multicluster",
            },
        },
        "spec": {
            "gatewayClassName": "istio-remote",
            "addresses": [{"type": "IPAddress", "value": "172.18.0.20"}],
            "listeners": LISTENERS,
        },
    }


def test_peer_gateway_hostname_address_and_peer_namespace():
    gw = gb.peer_gateway(validation.peer(peer(address="ew.cluster2.example", namespace="ew-2")))
    assert gw["spec"]["addresses"] == [{"type": "Hostname", "value": "ew.cluster2.example"}]
    assert gw["metadata"]["namespace"] == "ew-2"
    assert "topology.kubernetes.io/region" not in gw["metadata"]["labels"]


def test_peer_fills_defaults():
    normal = validation.peer({"cluster": "c2", "network": "n2", "address": "1.1.1.1"})
    assert normal == {"cluster": "c2", "network": "n2", "address": "1.1.1.1", "address_type": "IPAddress",
                      "trust_domain": "cluster.local", "service_account": "istio-eastwest",
                      "namespace": "istio-eastwest", "region": None, "zone": None}


def test_peer_does_not_mutate_input():
    raw = peer()
    before = copy.deepcopy(raw)
    validation.peer(raw)
    assert raw == before


@pytest.mark.parametrize("overrides, option, words", [
    ({"cluster": None}, "peer.cluster", "is required"),
    ({"cluster": "Cluster_2"}, "peer.cluster", "lowercase"),
    ({"address": None}, "peer.address", "no east-west address"),
    ({"address": ""}, "peer.address", "no east-west address"),
    ({"address": "http://x"}, "peer.address", "IPv4/IPv6"),
    ({"network": None}, "peer.network", "without a network label"),
    ({"network": "bad net"}, "peer.network", "label value"),
    ({"address_type": "Hostname"}, "peer.address_type", "must be IPAddress"),
    ({"address_type": "NamedAddress"}, "peer.address_type", "IPAddress, Hostname"),
    ({"trust_domain": "Bad Domain"}, "peer.trust_domain", "trust domain"),
    ({"service_account": "Bad_SA"}, "peer.service_account", "service account"),
    ({"namespace": "Bad"}, "peer.namespace", "namespace name"),
    ({"region": "a b"}, "peer.region", "label value"),
    ({"zone": "a b"}, "peer.zone", "label value"),
])
def test_peer_rejects(overrides, option, words):
    with pytest.raises(GloomeshError) as err:
        validation.peer(peer(**overrides))
    assert err.value.details["option"] == option
    assert words in err.value.message


def test_peer_rejects_unknown_keys_and_non_dicts():
    with pytest.raises(GloomeshError, match="unknown keys color"):
        validation.peer(dict(peer(), color="blue"))
    with pytest.raises(GloomeshError, match="peer descriptor"):
        validation.peer("cluster2")


def test_peer_for_unlink_needs_only_cluster():
    assert validation.peer({"cluster": "c2"}, for_link=False)["namespace"] == "istio-eastwest"


def test_peers_refuses_self_and_duplicates():
    with pytest.raises(GloomeshError) as err:
        validation.peers([peer(cluster="cluster1")], source_cluster="cluster1")
    assert err.value.details["option"] == "peers[0].cluster"
    assert "source cluster itself" in err.value.message
    with pytest.raises(GloomeshError) as err:
        validation.peers([peer(), peer(cluster="c3"), peer(namespace="other")], "cluster1")
    assert err.value.details["option"] == "peers[2].cluster"
    assert "duplicates peers[0]" in err.value.message


def test_peers_names_the_index():
    with pytest.raises(GloomeshError) as err:
        validation.peers([peer(), peer(cluster="c3", address=None)], "cluster1")
    assert err.value.details["option"] == "peers[1].address"


def test_peers_ok():
    peers = validation.peers([peer(), peer(cluster="c3", address="h.example")], "cluster1")
    assert [p["address_type"] for p in peers] == ["IPAddress", "Hostname"]
    assert validation.peers([], "cluster1") == []


# --- reading clusters -------------------------------------------------------------------------

def test_peer_descriptor_from_service_and_gateway():
    svc = {"metadata": {"name": "istio-eastwest", "namespace": "ew",
                        "labels": {"istio.io/expose-istiod": "15012", "topology.istio.io/network": "n2",
                                   "topology.istio.io/cluster": "c2", "topology.kubernetes.io/zone": "z1"}},
           "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}}
    assert gb.peer_descriptor(svc, "td.local") == {
        "cluster": "c2", "network": "n2", "address": "lb.example", "address_type": "Hostname",
        "trust_domain": "td.local", "service_account": "istio-eastwest", "namespace": "ew",
        "region": None, "zone": "z1"}
    # Older releases leave out the cluster label: the caller asks istiod then.
    del svc["metadata"]["labels"]["topology.istio.io/cluster"]
    del svc["status"]
    described = gb.peer_descriptor(svc, "cluster.local")
    assert described["cluster"] is None
    assert described["address"] is None and described["address_type"] is None
    gateway = gb.eastwest_gateway("ew", "n2", "c2", address="203.0.113.7")
    described = gb.peer_descriptor(svc, "cluster.local", gateway)
    assert (described["cluster"], described["address"], described["address_type"]) == ("c2", "203.0.113.7",
                                                                                       "IPAddress")


def test_peer_descriptor_round_trips_through_validation():
    svc = {"metadata": {"name": "istio-eastwest", "namespace": "istio-eastwest",
                        "labels": {"topology.istio.io/network": "n2", "topology.istio.io/cluster": "c2"}},
           "status": {"loadBalancer": {"ingress": [{"ip": "10.1.2.3"}]}}}
    descriptor = gb.peer_descriptor(svc, "cluster.local")
    assert validation.peer(descriptor) == descriptor


@pytest.mark.parametrize("env, expected", [
    ([{"name": "CLUSTER_ID", "value": "cluster1"}], "cluster1"),
    ([{"name": "CLUSTER_ID", "value": "Kubernetes"}], None),
    ([{"name": "CLUSTER_ID", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}], None),
    ([{"name": "OTHER", "value": "x"}], None),
    (None, None),
])
def test_cluster_id_of(env, expected):
    deployment = {"spec": {"template": {"spec": {"containers": [{"name": "discovery", "env": env}]}}}}
    assert gb.cluster_id_of(deployment) == expected
    assert gb.cluster_id_of(None) is None


# --- ownership and status ---------------------------------------------------------------------


def test_peer_cluster_of():
    gw = gb.peer_gateway(validation.peer(peer()))
    assert gb.peer_cluster_of(gw) == "cluster2"
    del gw["metadata"]["labels"]["topology.istio.io/cluster"]
    assert gb.peer_cluster_of(gw) == "cluster2"
    gw["metadata"]["name"] = "hand-written"
    assert gb.peer_cluster_of(gw) is None
    assert gb.peer_cluster_of(gb.eastwest_gateway("ns", "n", "c")) is None


def test_status_helpers():
    gw = {"status": {"addresses": [{"type": "IPAddress", "value": "10.0.0.5"}],
                     "conditions": [{"type": "Accepted", "status": "True"},
                                    {"type": "Programmed", "status": "False"}]}}
    assert gb.gateway_address(gw) == "10.0.0.5"
    assert gb.gateway_address({}) is None and gb.gateway_address(None) is None
