"""eastwest_gateway and eastwest_gateway_info against real API servers and upstream istiod.

Upstream istiod is every cluster's istiod in this module (fixture istiod): it deploys the
east-west gateway for the Gateway the module applies and decides its status (Accepted,
Programmed and its reasons, status.addresses); only the cloud's load balancer is simulated (at
once, slow or never: `Simulators.set_load_balancer`).

Every test uses its own east-west namespace (and its own mesh cluster names where the name
matters), so the shared session clusters keep nothing of it that another test could see:
Gateways and what istiod deployed for them are deleted at the end.
"""
from __future__ import annotations

import time

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.integration.gateway_helpers import (
    GW_GROUP, GW_PLURAL, GW_VERSION, LISTENERS, MANAGED_BY, SMC_GROUP, SMC_PLURAL, SMC_VERSION, api, assert_no_writes,
    ensure_test_namespace, ew, fake_istiod, get_gateway, info, lb_address, spec_as_applied, trust_domain_of, unique)


# --- eastwest_gateway: kubernetes.core's checklist ----------------------------------------------

def test_eastwest_gateway_checklist(kubeconfig, control_plane, audit, istiod, scratch):
    context = "cluster1"
    ns = scratch("ew-life", [context])
    args = {"namespace": ns, "network": "net-a", "cluster": "life-a"}

    # create, check mode: reported, nothing written (not even the namespace)
    mark = audit.mark()
    result = ew(kubeconfig, context, check_mode=True, diff=True, **args)
    assert (result["changed"], result["action"]) == (True, "created")
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["metadata"]["labels"]["topology.istio.io/network"] == "net-a"
    assert_no_writes(audit, mark, context)
    assert get_gateway(control_plane, context, ns) is None

    # create: namespace + Gateway, then waits for Programmed and an address
    mark = audit.mark()
    started = time.monotonic()
    result = ew(kubeconfig, context, diff=True, **args)
    latency = time.monotonic() - started
    assert not result.get("failed"), result
    assert (result["changed"], result["action"], result["programmed"]) == (True, "created", True)
    assert result["address"] == lb_address(control_plane, context, ns)
    assert (result["network"], result["cluster"]) == ("net-a", "life-a")
    assert len(audit.writes(mark, context)) == 2  # namespace, Gateway
    live = get_gateway(control_plane, context, ns)
    assert live["metadata"]["labels"] == {
        "istio.io/expose-istiod": "15012", "topology.istio.io/network": "net-a",
        "topology.istio.io/cluster": "life-a", **MANAGED_BY}
    assert "annotations" not in live["metadata"] or not live["metadata"]["annotations"]
    assert spec_as_applied(live["spec"]) == {"gatewayClassName": "istio-eastwest", "listeners": LISTENERS}
    assert result["resource"]["status"]["addresses"][0]["value"] == result["address"]
    print("\neastwest_gateway create + wait for Programmed and address: %.2fs" % latency)

    # create again: nothing to do, zero writes, in check mode and for real
    for check_mode in (True, False):
        mark = audit.mark()
        result = ew(kubeconfig, context, check_mode=check_mode, diff=True, **args)
        assert (result["changed"], result["action"]) == (False, "unchanged"), result
        assert result["programmed"] is True and result["address"]
        assert result["diff"]["before"] == result["diff"]["after"]
        assert_no_writes(audit, mark, context)

    # modify: region, zone and an advertised address
    modified = dict(args, region="eu-west-1", zone="eu-west-1a", address="203.0.113.7")
    mark = audit.mark()
    result = ew(kubeconfig, context, check_mode=True, diff=True, **modified)
    assert (result["changed"], result["action"]) == (True, "updated")
    assert result["diff"]["after"]["metadata"]["annotations"] == {"gloomesh.multicluster/advertised-address": "203.0.113.7"}
    assert "managedFields" not in result["diff"]["after"]["metadata"]
    assert_no_writes(audit, mark, context)
    assert "topology.kubernetes.io/region" not in get_gateway(control_plane, context, ns)["metadata"]["labels"]

    mark = audit.mark()
    result = ew(kubeconfig, context, **modified)
    assert (result["changed"], result["action"]) == (True, "updated")
    assert len(audit.writes(mark, context)) == 1
    live = get_gateway(control_plane, context, ns)
    assert live["metadata"]["labels"]["topology.kubernetes.io/region"] == "eu-west-1"
    assert live["metadata"]["labels"]["topology.kubernetes.io/zone"] == "eu-west-1a"
    assert live["metadata"]["annotations"]["gloomesh.multicluster/advertised-address"] == "203.0.113.7"

    # modify again: nothing to do
    for check_mode in (True, False):
        mark = audit.mark()
        result = ew(kubeconfig, context, check_mode=check_mode, **modified)
        assert (result["changed"], result["action"]) == (False, "unchanged")
        assert_no_writes(audit, mark, context)

    # options dropped again: our labels and annotation are removed, not left behind
    result = ew(kubeconfig, context, **args)
    assert (result["changed"], result["action"]) == (True, "updated")
    live = get_gateway(control_plane, context, ns)
    assert "topology.kubernetes.io/region" not in live["metadata"]["labels"]
    assert "istio.io/expose-istiod-address" not in (live["metadata"].get("annotations") or {})

    # delete, check mode: reported, still there
    mark = audit.mark()
    result = ew(kubeconfig, context, check_mode=True, diff=True, state="absent", namespace=ns)
    assert (result["changed"], result["action"]) == (True, "deleted")
    assert result["diff"]["after"] == {}
    assert_no_writes(audit, mark, context)
    assert get_gateway(control_plane, context, ns) is not None

    # delete
    mark = audit.mark()
    result = ew(kubeconfig, context, state="absent", namespace=ns)
    assert (result["changed"], result["action"], result["resource"]) == (True, "deleted", {})
    assert len(audit.writes(mark, context)) == 1
    assert get_gateway(control_plane, context, ns) is None

    # delete a missing Gateway: nothing to do
    for check_mode in (True, False):
        mark = audit.mark()
        result = ew(kubeconfig, context, check_mode=check_mode, state="absent", namespace=ns)
        assert (result["changed"], result["action"]) == (False, "absent")
        assert_no_writes(audit, mark, context)


def test_generate_returns_the_gateway_and_writes_nothing(kubeconfig, control_plane, audit):
    ns = unique("ew-gen")
    mark = audit.mark()
    result = ew(kubeconfig, "cluster1", namespace=ns, network="n1", cluster="c1", zone="z1",
                address="ew.example.test", generate=True)
    assert (result["changed"], result["action"]) == (False, "generated")
    assert result["resource"] == {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "istio-eastwest", "namespace": ns,
                     "labels": {"istio.io/expose-istiod": "15012", "topology.istio.io/network": "n1",
                                "topology.istio.io/cluster": "c1", "topology.kubernetes.io/zone": "z1",
                                **MANAGED_BY},
                     "annotations": {"gloomesh.multicluster/advertised-address": "ew.example.test"}},
        "spec": {"gatewayClassName": "istio-eastwest", "listeners": LISTENERS}}
    assert_no_writes(audit, mark, "cluster1")
    with pytest.raises(ApiException):
        k8s.CoreV1Api(api(control_plane, "cluster1")).read_namespace(ns)


# --- eastwest_gateway: network and cluster from the cluster ---------------------------------------

def test_network_and_cluster_are_discovered(kubeconfig, control_plane, audit, scratch):
    context = "cluster2"
    install_ns = scratch("istiod-disc", [context])
    ensure_test_namespace(control_plane, context, install_ns, {"topology.istio.io/network": "net-disc"})
    fake_istiod(control_plane, context, install_ns, "istiod-gloo", cluster_id="disc-1")
    mark = audit.mark()
    result = ew(kubeconfig, context, install_namespace=install_ns, generate=True)
    assert (result["network"], result["cluster"]) == ("net-disc", "disc-1")
    labels = result["resource"]["metadata"]["labels"]
    assert (labels["topology.istio.io/network"], labels["topology.istio.io/cluster"]) == ("net-disc", "disc-1")
    # a given value wins over the discovered one
    result = ew(kubeconfig, context, install_namespace=install_ns, cluster="given", generate=True)
    assert (result["network"], result["cluster"]) == ("net-disc", "given")
    assert_no_writes(audit, mark, context)


def test_cluster_falls_back_to_istiod_deployment(kubeconfig, control_plane, scratch):
    context = "cluster2"
    install_ns = scratch("istiod-plain", [context])
    ensure_test_namespace(control_plane, context, install_ns, {"topology.istio.io/network": "net-plain"})
    fake_istiod(control_plane, context, install_ns, "istiod", cluster_id="plain-1")
    result = ew(kubeconfig, context, install_namespace=install_ns, generate=True)
    assert result["cluster"] == "plain-1"


def test_undiscoverable_topology_names_both_options(kubeconfig, control_plane, audit, scratch):
    context = "cluster2"
    install_ns = scratch("istiod-none", [context])
    ensure_test_namespace(control_plane, context, install_ns)
    # CLUSTER_ID=Kubernetes is istiod's default: it means "not set"
    fake_istiod(control_plane, context, install_ns, "istiod-gloo", cluster_id="Kubernetes")
    ns = unique("ew-none")
    mark = audit.mark()
    result = ew(kubeconfig, context, install_namespace=install_ns, namespace=ns)
    assert result["failed"]
    assert result["missing"] == ["network", "cluster"]
    assert "network is not set and namespace %s has no label topology.istio.io/network" % install_ns in result["msg"]
    assert "cluster is not set and no Deployment istiod-gloo or istiod" in result["msg"]
    assert "set options network and cluster" in result["msg"]
    # one known, the other not: only the missing one is named
    result = ew(kubeconfig, context, install_namespace=install_ns, namespace=ns, network="n1")
    assert result["failed"] and result["missing"] == ["cluster"]
    assert "set option cluster " in result["msg"]
    assert_no_writes(audit, mark, context)


# --- eastwest_gateway: input rejected before any request that writes --------------------------------

@pytest.mark.parametrize("args, option, words", [
    ({"namespace": "East_West"}, "namespace", "namespace name"),
    ({"cluster": "Cluster_1"}, "cluster", "lowercase"),
    ({"network": "net/1"}, "network", "label value"),
    ({"region": "eu west"}, "region", "label value"),
    ({"zone": "-a"}, "zone", "label value"),
    ({"address": "http://lb.example"}, "address", "IPv4/IPv6 address or a lowercase DNS hostname"),
    ({"install_namespace": "Istio"}, "install_namespace", "namespace name"),
    ({"state": "gone"}, "state", "present, absent"),
])
def test_eastwest_gateway_rejects_bad_input(kubeconfig, audit, args, option, words):
    mark = audit.mark()
    base = {"namespace": unique("ew-bad"), "network": "n1", "cluster": "c1"}
    result = ew(kubeconfig, "cluster1", **dict(base, **args))
    assert result["failed"]
    assert option in result["msg"] and words in result["msg"], result["msg"]
    assert_no_writes(audit, mark, "cluster1")


def test_wait_timeout_names_what_is_missing(make_control_plane):
    # A cluster without istiod: the Gateway is never programmed.
    cp = make_control_plane(("gwwait",), simulators=False)
    started = time.monotonic()
    result = ew(cp.kubeconfig_path, "gwwait", namespace="istio-eastwest", network="n", cluster="c",
                wait_timeout=2)
    assert time.monotonic() - started < 10
    assert result["failed"]
    assert result["msg"].startswith("timed out after 2s waiting for Gateway istio-eastwest/istio-eastwest "
                                    "to be programmed with an address: "), result["msg"]
    # The Gateway API CRD's default status: nobody has picked the Gateway up.
    assert ("condition Programmed not True: Programmed=Unknown (Pending: Waiting for controller); no address in status.addresses"
            in result["msg"])
    assert "istiod has not deployed Service istio-eastwest/istio-eastwest for the Gateway" in result["msg"]
    # the Gateway was applied: a later run with a working istiod picks it up
    assert get_gateway(cp, "gwwait", "istio-eastwest") is not None


def test_without_a_load_balancer_the_timeout_names_the_service_and_the_fix_an_address_needs_no_wait(
        kubeconfig, control_plane, istiod, scratch):
    """istiod reports Programmed=False (AddressNotAssigned) while the LoadBalancer Service it
    deployed is pending: no address peers can dial."""
    if control_plane.simulators is None:
        pytest.skip("needs the simulated load balancer's modes")
    context, sims = "cluster2", control_plane.simulators
    ns = scratch("ew-nolb", [context])
    args = {"namespace": ns, "network": "net-n", "cluster": "nolb"}
    sims.set_load_balancer(context, "none")
    try:
        started = time.monotonic()
        result = ew(kubeconfig, context, wait_timeout=4, **args)
        assert result["failed"] and time.monotonic() - started < 15
        msg = result["msg"]
        assert msg.startswith("timed out after 4s waiting for Gateway %s/istio-eastwest to be programmed with an "
                              "address: " % ns), msg
        assert "AddressNotAssigned" in msg, msg
        assert "Service %s/istio-eastwest (type LoadBalancer) is pending" % ns in msg, msg
        assert "Install a LoadBalancer implementation" in msg and "set eastwest_gateway_address" in msg, msg

        # With the address the other clusters dial: accepted is enough, peers get that address.
        started = time.monotonic()
        result = ew(kubeconfig, context, wait_timeout=60, address="203.0.113.9", **args)
        assert not result.get("failed"), result.get("msg")
        assert time.monotonic() - started < 15
        assert result["peer"]["address"] == "203.0.113.9" and result["address"] == "203.0.113.9"

        # A slow load balancer: the wait returns with its address, never the ClusterIP before it.
        sims.set_load_balancer(context, "slow", delay=3)
        slow = scratch("ew-slowlb", [context])
        started = time.monotonic()
        result = ew(kubeconfig, context, wait_timeout=60, namespace=slow, network="net-s", cluster="slowlb")
        assert not result.get("failed"), result.get("msg")
        assert time.monotonic() - started >= 2.5
        service = k8s.CoreV1Api(api(control_plane, context)).read_namespaced_service("istio-eastwest", slow)
        assert result["peer"]["address"] == service.status.load_balancer.ingress[0].ip != service.spec.cluster_ip
    finally:
        sims.set_load_balancer(context, "ready")


# --- eastwest_gateway_info -------------------------------------------------------------------------

def test_info_returns_the_peer_descriptor(kubeconfig, control_plane, audit, istiod, scratch):
    context = "cluster2"
    ns = scratch("ew-info", [context])
    made = ew(kubeconfig, context, namespace=ns, network="net-i", cluster="info-1", region="r1", zone="z1")
    assert made["programmed"], made
    for check_mode in (False, True):
        mark = audit.mark()
        result = info(kubeconfig, context, check_mode=check_mode, namespace=ns)
        assert result["changed"] is False and not result.get("failed"), result
        assert result["peer"] == {
            "cluster": "info-1", "network": "net-i",
            "address": lb_address(control_plane, context, ns), "address_type": "IPAddress",
            "trust_domain": trust_domain_of(control_plane, context),
            "service_account": "istio-eastwest", "namespace": ns, "region": "r1", "zone": "z1",
            "trust_domain_source": result["trust_domain_source"]}
        assert result["trust_domain_source"] in ("ConfigMap istio-system/istio-gloo", "ConfigMap istio-system/istio")
        assert_no_writes(audit, mark, context)


def test_info_prefers_the_advertised_address(kubeconfig, control_plane, istiod, scratch):
    context = "cluster2"
    ns = scratch("ew-addr", [context])
    made = ew(kubeconfig, context, namespace=ns, network="net-h", cluster="host-1", address="ew.cluster2.example")
    assert not made.get("failed") and made["peer"]["address"] == "ew.cluster2.example", made
    peer = info(kubeconfig, context, namespace=ns)["peer"]
    assert (peer["address"], peer["address_type"]) == ("ew.cluster2.example", "Hostname")


def labelled_service(namespace, labels, annotations=None, name="istio-eastwest"):
    return {"metadata": {"name": name, "namespace": namespace, "annotations": annotations or {},
                         "labels": dict({"istio.io/expose-istiod": "15012"}, **labels)},
            # LoadBalancer, as istiod deploys it: Kubernetes refuses an ingress status on any other type.
            "spec": {"type": "LoadBalancer", "ports": [{"name": "tls-xds", "port": 15012}]}}


def test_info_not_ready_to_link(kubeconfig, control_plane, audit, scratch):
    context = "cluster2"
    ns = scratch("ew-early", [context])
    ensure_test_namespace(control_plane, context, ns)
    mark = audit.mark()
    # no east-west Service at all
    result = info(kubeconfig, context, namespace=ns)
    assert result["failed"] and result["missing"] == "service"
    assert "is not ready to link: no Service labelled istio.io/expose-istiod in namespace %s" % ns in result["msg"]
    assert_no_writes(audit, mark, context)
    # a Service whose load balancer has no address yet
    k8s.CoreV1Api(api(control_plane, context)).create_namespaced_service(ns, labelled_service(
        ns, {"topology.istio.io/network": "net-e", "topology.istio.io/cluster": "early-1"}))
    mark = audit.mark()
    result = info(kubeconfig, context, namespace=ns)
    assert result["failed"] and result["missing"] == "address" and result["cluster"] == "early-1"
    assert result["msg"].startswith(
        "cluster early-1 is not ready to link: Service %s/istio-eastwest has no load-balancer address yet "
        "and its east-west Gateway advertises none" % ns)
    assert_no_writes(audit, mark, context)


def test_info_trust_domain_and_topology_fallbacks(kubeconfig, control_plane, scratch):
    context = "cluster1"
    install_ns = scratch("istiod-td", [context])
    ns = scratch("ew-td", [context])
    ensure_test_namespace(control_plane, context, install_ns, {"topology.istio.io/network": "net-td"})
    ensure_test_namespace(control_plane, context, ns)
    fake_istiod(control_plane, context, install_ns, "istiod-gloo", cluster_id="td-1")
    core = k8s.CoreV1Api(api(control_plane, context))
    # An older release: the Service has neither network nor cluster label. An address annotation no
    # Istio source reads is not an address.
    core.create_namespaced_service(ns, labelled_service(ns, {}, {"istio.io/expose-istiod-address": "10.9.8.7"}))
    assert info(kubeconfig, context, namespace=ns, install_namespace=install_ns)["missing"] == "address"
    core.patch_namespaced_service_status("istio-eastwest", ns, {"status": {"loadBalancer": {"ingress": [
        {"ip": "10.9.8.7"}]}}})

    result = info(kubeconfig, context, namespace=ns, install_namespace=install_ns)
    assert result["peer"]["trust_domain"] == "cluster.local"
    assert result["trust_domain_source"].startswith("default")
    assert (result["peer"]["network"], result["peer"]["cluster"]) == ("net-td", "td-1")
    assert (result["peer"]["address"], result["peer"]["address_type"]) == ("10.9.8.7", "IPAddress")

    def mesh(name, trust_domain):
        core.create_namespaced_config_map(install_ns, {"metadata": {"name": name}, "data": {
            "mesh": yaml.safe_dump({"trustDomain": trust_domain, "defaultConfig": {"proxyMetadata": {}}})}})

    mesh("istio", "plain.local")
    result = info(kubeconfig, context, namespace=ns, install_namespace=install_ns)
    assert result["peer"]["trust_domain"] == "plain.local"
    assert result["trust_domain_source"] == "ConfigMap %s/istio" % install_ns
    mesh("istio-gloo", "gloo.local")
    result = info(kubeconfig, context, namespace=ns, install_namespace=install_ns)
    assert result["peer"]["trust_domain"] == "gloo.local"
    assert result["trust_domain_source"] == "ConfigMap %s/istio-gloo" % install_ns


def test_info_all_namespaces_needs_one_service(kubeconfig, control_plane, scratch):
    context = "cluster1"
    core = k8s.CoreV1Api(api(control_plane, context))
    first, second = scratch("ew-any", [context]), scratch("ew-any", [context])
    for ns in (first, second):
        ensure_test_namespace(control_plane, context, ns)
        core.create_namespaced_service(ns, labelled_service(
            ns, {"topology.istio.io/network": "n", "topology.istio.io/cluster": "any-1"},
            {"istio.io/expose-istiod-address": "10.0.0.1"}))
    result = info(kubeconfig, context, all_namespaces=True)
    assert result["failed"]
    assert "several Services labelled istio.io/expose-istiod in any namespace" in result["msg"]
    assert "%s/istio-eastwest" % first in result["msg"] and "%s/istio-eastwest" % second in result["msg"]
    assert "set option namespace" in result["msg"]


def test_gateway_of_another_field_manager_needs_force_conflicts(kubeconfig, control_plane, audit, scratch):
    context = "cluster1"
    ns = scratch("ew-expose", [context])
    ensure_test_namespace(control_plane, context, ns)
    # as `istioctl multicluster expose` left it, with another network
    k8s.CustomObjectsApi(api(control_plane, context)).create_namespaced_custom_object(
        GW_GROUP, GW_VERSION, ns, GW_PLURAL, {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "istio-eastwest", "labels": {
                "istio.io/expose-istiod": "15012", "topology.istio.io/network": "old-net"}},
            "spec": {"gatewayClassName": "istio-eastwest", "listeners": LISTENERS}},
        field_manager="istioctl")
    args = {"namespace": ns, "network": "new-net", "cluster": "exp-1", "wait": False}
    mark = audit.mark()
    result = ew(kubeconfig, context, **args)
    assert result["failed"] and "another field manager owns fields we set" in result["msg"]
    assert "force_conflicts" in result["msg"]
    # the server refuses the apply (409): nothing changed
    assert [w["responseStatus"]["code"] for w in audit.writes(mark, context)] == [409]
    assert get_gateway(control_plane, context, ns)["metadata"]["labels"]["topology.istio.io/network"] == "old-net"
    result = ew(kubeconfig, context, force_conflicts=True, **args)
    assert (result["changed"], result["action"]) == (True, "updated")
    assert get_gateway(control_plane, context, ns)["metadata"]["labels"]["topology.istio.io/network"] == "new-net"


def test_info_trust_domain_order_and_disagreement(kubeconfig, control_plane, scratch):
    """Mesh ConfigMap, then the ServiceMeshController's trustDomain, then its cluster (procedure,
    "ServiceMeshController reference"), then cluster.local; two that disagree are an error."""
    context = "cluster1"
    install_ns = scratch("istiod-tdo", [context])
    ns = scratch("ew-tdo", [context])
    ensure_test_namespace(control_plane, context, install_ns, {"topology.istio.io/network": "net-tdo"})
    ensure_test_namespace(control_plane, context, ns)
    core = k8s.CoreV1Api(api(control_plane, context))
    core.create_namespaced_service(ns, labelled_service(
        ns, {"topology.istio.io/network": "net-tdo", "topology.istio.io/cluster": "tdo-1"}))
    core.patch_namespaced_service_status("istio-eastwest", ns, {"status": {"loadBalancer": {"ingress": [
        {"ip": "10.9.8.6"}]}}})
    objects = k8s.CustomObjectsApi(api(control_plane, context))
    name = unique("smc-tdo")
    objects.create_namespaced_custom_object(SMC_GROUP, SMC_VERSION, "gloo-mesh", SMC_PLURAL, {
        "apiVersion": "operator.gloo.solo.io/v1", "kind": "ServiceMeshController", "metadata": {"name": name},
        "spec": {"cluster": "tdo-1", "network": "net-tdo", "version": "1.25.2", "installNamespace": install_ns}})
    try:
        where = "ServiceMeshController gloo-mesh/%s" % name

        def read(**args):
            return info(kubeconfig, context, namespace=ns, install_namespace=install_ns, **args)

        result = read()
        assert (result["peer"]["trust_domain"], result["trust_domain_source"]) == ("tdo-1", where + " spec.cluster")
        objects.patch_namespaced_custom_object(SMC_GROUP, SMC_VERSION, "gloo-mesh", SMC_PLURAL, name,
                                               {"spec": {"trustDomain": "tdo.example"}})
        result = read()
        assert (result["peer"]["trust_domain"], result["trust_domain_source"]) == (
            "tdo.example", where + " spec.trustDomain")
        # A mesh ConfigMap that says otherwise (a change not rolled out, an edit by hand).
        core.create_namespaced_config_map(install_ns, {"metadata": {"name": "istio-gloo"}, "data": {
            "mesh": yaml.safe_dump({"trustDomain": "other.local"})}})
        result = read()
        assert result["failed"] and "trust domain of this cluster is ambiguous" in result["msg"]
        assert "ConfigMap %s/istio-gloo says other.local" % install_ns in result["msg"]
        assert "%s spec.trustDomain says tdo.example" % where in result["msg"]
        assert result["trust_domains"] == {"mesh_config": "other.local", "service_mesh": "tdo.example"}
        assert read(trust_domain_source="mesh_config")["peer"]["trust_domain"] == "other.local"
        assert read(trust_domain_source="service_mesh")["peer"]["trust_domain"] == "tdo.example"
        core.patch_namespaced_config_map("istio-gloo", install_ns, {"data": {
            "mesh": yaml.safe_dump({"trustDomain": "tdo.example"})}})
        result = read()
        assert (result["peer"]["trust_domain"], result["trust_domain_source"]) == (
            "tdo.example", "ConfigMap %s/istio-gloo" % install_ns)
    finally:
        objects.delete_namespaced_custom_object(SMC_GROUP, SMC_VERSION, "gloo-mesh", SMC_PLURAL, name)
