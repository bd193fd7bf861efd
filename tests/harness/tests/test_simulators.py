"""The controller simulators against real local API servers.

Each test starts fresh clusters: the simulators change cluster-wide state (GatewayClasses,
webhooks, istio-system) that the session clusters' other tests rely on.
"""
from __future__ import annotations

import logging
import time

import pytest

from tests.harness.poll import wait_until
from tests.harness.simulators import Simulators, base, install_gloo_operator
from tests.harness.simulators.base import (CONFIGMAPS, DAEMONSETS, DEPLOYMENTS, GATEWAYCLASSES, GATEWAYS,
                                           MUTATING_WEBHOOKS, NAMESPACES, PODS, SERVICEACCOUNTS, SERVICES, SMCS,
                                           ApiError, Kube, condition)
from tests.harness.simulators.operator import observed_generation

LICENSE = "lic-5f1b7c0e-never-printed"
LISTENERS = [{"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
             {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]


def kept(obj, predicate):
    """`obj` when it exists and satisfies `predicate`, else None (for wait_for)."""
    return obj if obj is not None and predicate(obj) else None


def admin(cp, context) -> Kube:
    return Kube(cp.api_client(context), context)


def smc(name="managed-istio", namespace="gloo-mesh", **spec) -> dict:
    return {"apiVersion": "operator.gloo.solo.io/v1", "kind": "ServiceMeshController",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": name}},
            "spec": {"dataplaneMode": "Ambient", "installNamespace": "istio-system", "version": "1.25.2", **spec}}


def phase_of(kube, name="managed-istio", namespace="gloo-mesh", generation=None):
    obj = kube.get(SMCS, name, namespace) or {}
    status = obj.get("status") or {}
    if generation is not None and observed_generation(status) != generation:
        return None
    return status.get("phase")


def eastwest_gateway(network, namespace="istio-eastwest") -> dict:
    """What `istioctl multicluster expose` generates (procedure, "Deploy mesh components" step 8)."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "istio-eastwest", "namespace": namespace,
                         "labels": {"istio.io/expose-istiod": "15012", "topology.istio.io/network": network}},
            "spec": {"gatewayClassName": "istio-eastwest", "listeners": LISTENERS}}


def remote_gateway(name, address=None, network="cluster2", trust_domain="cluster2", xds_port=15012) -> dict:
    labels = {"topology.istio.io/cluster": name.replace("istio-remote-peer-", "")}
    if network:
        labels["topology.istio.io/network"] = network
    listeners = [LISTENERS[0], {**LISTENERS[1], "port": xds_port}]
    spec = {"gatewayClassName": "istio-remote", "listeners": listeners}
    if address:
        spec["addresses"] = [{"type": "IPAddress", "value": address}]
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": "istio-eastwest", "labels": labels,
                         "annotations": {"gateway.istio.io/service-account": "istio-eastwest",
                                         "gateway.istio.io/trust-domain": trust_domain}},
            "spec": spec}


def namespace(name) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def true(obj, cond_type) -> bool:
    cond = condition(obj, cond_type)
    return bool(cond and cond["status"] == "True")


def programmed(kube, name="istio-eastwest", ns="istio-eastwest"):
    gw = kube.get(GATEWAYS, name, ns)
    return gw if gw and true(gw, "Programmed") and (gw.get("status") or {}).get("addresses") else None


def reported(kube, name, cond_type, ns="istio-eastwest") -> dict:
    return condition(kube.get(GATEWAYS, name, ns), cond_type) or {}


def remote_gateways(kube, ns="istio-eastwest") -> dict[str, dict]:
    return {g["metadata"]["name"]: g for g in kube.list(GATEWAYS)["items"]
            if g["metadata"]["namespace"] == ns and g["spec"]["gatewayClassName"] == "istio-remote"}


def install_mesh(kube, cluster, extensions=None):
    if extensions:
        kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "gloo-extensions-config", "namespace": "gloo-mesh"},
                    "data": extensions}, "test")
    kube.apply(smc(cluster=cluster, network=cluster), "test")


def istiod_env_of(kube, ns="istio-system") -> dict:
    istiod = kube.get(DEPLOYMENTS, "istiod-gloo", ns)
    return {e["name"]: e["value"] for e in istiod["spec"]["template"]["spec"]["containers"][0].get("env") or []}


def running_pods(kube, ns):
    return sorted(p["metadata"]["name"] for p in kube.list(PODS)["items"]
                  if p["metadata"]["namespace"] == ns and (p.get("status") or {}).get("phase") == "Running")


def test_operator_needs_gloo_operator_honours_delay_reconciles_and_stops_cleanly(make_control_plane, caplog,
                                                                                 monkeypatch):
    caplog.set_level(logging.DEBUG, logger="gloomesh.simulators")
    # Watches the server ends every second or two: every step below also proves they resume.
    monkeypatch.setattr(base, "WATCH_SECONDS", (1, 2))
    cp = make_control_plane(("solo",), simulators=False)
    sims = Simulators(cp.simulator_kubeconfig_path, ["solo"], operator_delay=1.0)
    began = time.monotonic()
    sims.start()
    started = time.monotonic() - began
    # This instance's threads only: the session fixture's simulators run alongside in a full suite.
    own_threads = sims.threads()
    try:
        kube = admin(cp, "solo")
        kube.apply(namespace("gloo-mesh"), "test")
        kube.apply(smc(cluster="solo", network="solo-net"), "test")
        time.sleep(1.5)  # longer than the delay: without a gloo-operator nothing reconciles it
        assert phase_of(kube) is None and kube.get(DEPLOYMENTS, "istiod-gloo", "istio-system") is None

        # What the Helm chart creates; the simulator gives it a Running pod (no kubelet here).
        with cp.api_client("solo") as client:
            install_gloo_operator(client, "gloo-mesh", env={"SOLO_ISTIO_LICENSE_KEY": LICENSE})
        operator_up = time.monotonic()
        dep = wait_until(lambda: kept(kube.get(DEPLOYMENTS, "gloo-operator", "gloo-mesh"),
                                      lambda d: (d.get("status") or {}).get("availableReplicas") == 1),
                         "gloo-operator available")
        assert dep["metadata"]["labels"]["app.kubernetes.io/name"] == "gloo-operator"
        assert condition(dep, "Available")["status"] == "True"
        env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "SOLO_ISTIO_LICENSE_KEY", "value": LICENSE} in env
        pods = [p for p in kube.list(PODS)["items"]
                if (p["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "gloo-operator"]
        assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running", [
            (p["metadata"]["name"], p["metadata"].get("labels")) for p in kube.list(PODS)["items"]]
        assert true(pods[0], "Ready")
        # The simulator's delay makes callers' waits real.
        assert kube.get(DEPLOYMENTS, "istiod-gloo", "istio-system") is None
        wait_until(lambda: phase_of(kube) == "SUCCEEDED", "SUCCEEDED", timeout=30)
        assert time.monotonic() - operator_up >= 1.0

        status = kube.get(SMCS, "managed-istio", "gloo-mesh")["status"]
        assert set(status) == {"phase", "conditions"}  # nothing at the top level but the phase
        assert [c["type"] for c in status["conditions"]] == [
            "Initialized", "CRDInstalled", "ControlPlaneDeployed", "CNIDeployed", "WebhookDeployed", "Ready"]
        assert all(c["status"] == "True" and c["observedGeneration"] == 1 for c in status["conditions"])
        assert condition({"status": status}, "Ready")["reason"] == "SystemReady"
        istiod = kube.get(DEPLOYMENTS, "istiod-gloo", "istio-system")
        assert istiod["spec"]["template"]["metadata"]["labels"]["istio.io/rev"] == "gloo"
        assert istiod_env_of(kube)["CLUSTER_ID"] == "solo"
        assert istiod["status"]["availableReplicas"] == 2  # scalingProfile Default
        for name in ("istio-cni-node", "ztunnel"):
            assert kube.get(DAEMONSETS, name, "istio-system")["status"]["numberReady"] == 1
        pods = running_pods(kube, "istio-system")
        assert len(pods) == 4 and sum(p.startswith("istiod-gloo-") for p in pods) == 2
        assert kube.get(MUTATING_WEBHOOKS, "istio-sidecar-injector-gloo") is not None
        mesh = kube.get(CONFIGMAPS, "istio-gloo", "istio-system")["data"]["mesh"]
        assert "trustDomain: solo\n" in mesh
        assert kube.get(NAMESPACES, "istio-system")["metadata"]["labels"]["topology.istio.io/network"] == "solo-net"
        eastwest_class = kube.get(GATEWAYCLASSES, "istio-eastwest")
        assert eastwest_class["spec"]["controllerName"] == "istio.io/eastwest-controller"
        wait_until(lambda: true(kube.get(GATEWAYCLASSES, "istio-remote"), "Accepted"), "istio-remote Accepted")

        # gloo-extensions-config: its istiod env is applied after the delay, and only when it changed.
        extensions = {"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "gloo-extensions-config", "namespace": "gloo-mesh"},
                      "data": {"beta": "serviceMeshController:\n  multiClusterMode: Peering\n"}}
        istiod_generation = kube.get(DEPLOYMENTS, "istiod-gloo", "istio-system")["metadata"]["generation"]
        kube.apply(extensions, "test")
        time.sleep(1.5)
        assert kube.get(DEPLOYMENTS, "istiod-gloo", "istio-system")["metadata"]["generation"] == istiod_generation
        extensions["data"]["values.istiod"] = 'env:\n  PEERING_AUTOMATIC_LOCAL_GATEWAY: "true"\n'
        kube.apply(extensions, "test")
        changed = time.monotonic()
        wait_until(lambda: "PEERING_AUTOMATIC_LOCAL_GATEWAY" in istiod_env_of(kube), "extension env applied")
        assert time.monotonic() - changed >= 0.9
        assert observed_generation(kube.get(SMCS, "managed-istio", "gloo-mesh")["status"]) == 1

        # A new generation: the old status (generation 1 on every condition) stays for the delay.
        kube.apply(smc(cluster="solo", network="solo-net", trustDomain="solo.example", scalingProfile="Demo"),
                   "test")
        changed = time.monotonic()
        while time.monotonic() - changed < 0.8:
            status = kube.get(SMCS, "managed-istio", "gloo-mesh")["status"]
            assert status["phase"] == "SUCCEEDED" and {c["observedGeneration"] for c in status["conditions"]} == {1}
            time.sleep(0.1)
        wait_until(lambda: phase_of(kube, generation=2) == "SUCCEEDED", "generation 2 SUCCEEDED")
        assert "trustDomain: solo.example\n" in kube.get(CONFIGMAPS, "istio-gloo", "istio-system")["data"]["mesh"]
        assert istiod_env_of(kube)["PEERING_AUTOMATIC_LOCAL_GATEWAY"] == "true"
        wait_until(lambda: sum(p.startswith("istiod-gloo-") for p in running_pods(kube, "istio-system")) == 1,
                   "istiod rolled out to one Demo replica")
        assert not set(pods) & {p for p in running_pods(kube, "istio-system") if p.startswith("istiod-gloo-")}

        # A test deleting what the operator owns gets it back, as from a real operator.
        kube.delete(DAEMONSETS, "ztunnel", "istio-system")
        wait_until(lambda: kube.get(DAEMONSETS, "ztunnel", "istio-system"), "ztunnel recreated")

        # Deleting the ServiceMeshController uninstalls the mesh.
        kube.delete(SMCS, "managed-istio", "gloo-mesh")
        wait_until(lambda: kube.get(DEPLOYMENTS, "istiod-gloo", "istio-system") is None
                   and kube.get(MUTATING_WEBHOOKS, "istio-sidecar-injector-gloo") is None
                   and kube.get(CONFIGMAPS, "istio-gloo", "istio-system") is None
                   and kube.get(GATEWAYCLASSES, "istio-eastwest") is None
                   and not running_pods(kube, "istio-system"), "the mesh removed")
        assert [d["metadata"]["name"] for d in kube.list(DAEMONSETS)["items"]] == []
    finally:
        stopping = time.monotonic()
        sims.stop()
        stop_seconds = time.monotonic() - stopping
    # Prompt on an idle machine (well under a second); the bound leaves room for a loaded CI host.
    assert stop_seconds < 10.0, f"stop() took {stop_seconds:.2f}s"
    assert own_threads and not [t.name for t in own_threads if t.is_alive()]
    assert started < 15
    assert not any(LICENSE in record.getMessage() for record in caplog.records)


def test_operator_rejects_unsupported_input(make_control_plane):
    cp = make_control_plane(("solo",), install_operator=True)
    kube = admin(cp, "solo")
    # The CRD's schema: enums are enforced by the API server.
    with pytest.raises(ApiError) as err:
        kube.apply(smc(name="bad-enum", cluster="solo", dataplaneMode="Hybrid"), "test")
    assert err.value.status == 422
    defaulted = kube.apply(smc(name="defaults", cluster="solo", version="1.24.2"), "test")
    assert defaulted["spec"]["onConflict"] == "Abort" and defaulted["spec"]["scalingProfile"] == "Default"

    kube.apply(smc(name="old", cluster="solo", version="1.24.2"), "test")
    kube.apply(smc(name="solo-suffix", cluster="solo", version="1.25.2-solo"), "test")
    kube.apply(smc(name="unwatched", cluster="solo", installNamespace="mesh-x"), "test")
    for name, fragment in (("old", "1.24.3 or later"), ("solo-suffix", "without -solo"),
                           ("unwatched", "WATCH_NAMESPACES=mesh-x")):
        wait_until(lambda: phase_of(kube, name) == "FAILED", f"{name} FAILED")
        status = kube.get(SMCS, name, "gloo-mesh")["status"]
        assert fragment in status["message"] and "observedGeneration" not in status
        ready = condition({"status": status}, "Ready")
        assert ready["status"] == "False" and fragment in ready["message"] and ready["observedGeneration"] == 1
    assert kube.get(DEPLOYMENTS, "istiod-gloo", "istio-system") is None
    for name in ("defaults", "old", "solo-suffix"):
        kube.delete(SMCS, name, "gloo-mesh")

    # The Helm value WATCH_NAMESPACES lets the operator install there; a fixed spec is retried.
    with cp.api_client("solo") as client:
        install_gloo_operator(client, "gloo-mesh", env={"WATCH_NAMESPACES": "mesh-x"})
    time.sleep(0.5)
    kube.apply(smc(name="unwatched", cluster="solo", installNamespace="mesh-x", network="solo"), "test")
    wait_until(lambda: phase_of(kube, "unwatched", generation=2) == "SUCCEEDED", "mesh-x install")
    assert kube.get(DEPLOYMENTS, "istiod-gloo", "mesh-x") is not None

    # A second controller for the same revision in the same namespace: Abort fails, Force takes over.
    kube.apply(smc(name="second", cluster="solo", installNamespace="mesh-x"), "test")
    wait_until(lambda: phase_of(kube, "second") == "FAILED", "conflict FAILED")
    assert "conflicting Istio resources" in kube.get(SMCS, "second", "gloo-mesh")["status"]["message"]
    kube.apply(smc(name="second", cluster="solo", installNamespace="mesh-x", onConflict="Force"), "test")
    wait_until(lambda: phase_of(kube, "second", generation=2) == "SUCCEEDED", "Force SUCCEEDED")
    owner = kube.get(DEPLOYMENTS, "istiod-gloo", "mesh-x")["metadata"]["annotations"]["simulator.gloomesh.io/owner"]
    assert owner == "ServiceMeshController/gloo-mesh/second"


def test_eastwest_gateways_load_balancer_modes_and_remote_peers(make_control_plane):
    cp = make_control_plane(("cluster1", "cluster2"), install_operator=True)
    sims = cp.simulators
    sims.set_load_balancer("cluster2", "none")
    assert sims.load_balancer("cluster2") == ("none", 5.0) and sims.load_balancer("cluster1") == ("ready", 5.0)
    c1, c2 = admin(cp, "cluster1"), admin(cp, "cluster2")
    for kube in (c1, c2):
        kube.apply(namespace("istio-eastwest"), "test")
    # istiod deploys east-west gateways: none before the mesh is installed.
    c2.apply(eastwest_gateway("cluster2"), "test")
    time.sleep(1.0)
    assert c2.get(GATEWAYS, "istio-eastwest", "istio-eastwest").get("status", {}).get("addresses") is None
    assert c2.get(SERVICES, "istio-eastwest", "istio-eastwest") is None
    install_mesh(c1, "cluster1")
    install_mesh(c2, "cluster2")

    # A load balancer that answers at once; the Gateway, without a cluster label, is accepted as it is.
    c1.apply(eastwest_gateway("cluster1"), "test")
    gw = wait_until(lambda: programmed(c1), "cluster1 east-west Programmed")
    assert gw["status"]["addresses"] == [{"type": "IPAddress", "value": sims.lb_address("cluster1")}]
    assert sims.lb_address("cluster1") == "198.51.100.10" and sims.lb_address("cluster2") == "198.51.100.11"
    svc_host = "istio-eastwest.istio-eastwest.svc.cluster.local"
    assert condition(gw, "Programmed")["message"] == (
        f"Resource programmed, assigned to service(s) {svc_host}:15008 and {svc_host}:15012")
    assert condition(gw, "Programmed")["observedGeneration"] == gw["metadata"]["generation"]
    assert true(gw, "Accepted") and true(gw, "ResolvedRefs")
    assert "topology.istio.io/cluster" not in gw["metadata"]["labels"]
    svc = c1.get(SERVICES, "istio-eastwest", "istio-eastwest")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [
        ("status-port", 15021), ("cross-network", 15008), ("xds-tls", 15012)]
    assert svc["metadata"]["labels"]["istio.io/expose-istiod"] == "15012"
    assert svc["metadata"]["labels"]["topology.istio.io/network"] == "cluster1"
    assert svc["metadata"]["labels"]["gateway.istio.io/managed"] == "istio.io-eastwest-controller"
    assert svc["metadata"]["annotations"]["networking.istio.io/traffic-distribution"] == "PreferClose"
    # Kubernetes 1.30+ defaults ipMode (KEP-1860, LoadBalancerIPMode) on what the LB writes.
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": "198.51.100.10", "ipMode": "VIP"}]
    # What istiod copied goes when the Gateway loses it.
    labelled = eastwest_gateway("cluster1")
    labelled["metadata"]["labels"]["example.com/team"] = "mesh"
    c1.apply(labelled, "test")
    wait_until(lambda: c1.get(SERVICES, "istio-eastwest", "istio-eastwest")["metadata"]["labels"].get("example.com/team"),
               "label copied to the Service")
    c1.apply(eastwest_gateway("cluster1"), "test")
    wait_until(lambda: "example.com/team" not in c1.get(SERVICES, "istio-eastwest", "istio-eastwest")["metadata"][
        "labels"], "label removed from the Service")
    assert c1.get(SERVICEACCOUNTS, "istio-eastwest", "istio-eastwest") is not None
    assert c1.get(DEPLOYMENTS, "istio-eastwest", "istio-eastwest") is not None
    wait_until(lambda: running_pods(c1, "istio-eastwest"), "east-west pod Running")

    # No load balancer: the Service stays pending; istiod reports the ClusterIP and Programmed=False.
    def pending():
        cond = reported(c2, "istio-eastwest", "Programmed")
        return cond if "address pending" in cond.get("message", "") else None
    cond = wait_until(pending, "cluster2 east-west reported pending")
    assert (cond["status"], cond["reason"]) == ("False", "AddressNotAssigned")
    assert cond["message"] == (f"Assigned to service(s) {svc_host}:15008 and {svc_host}:15012, but failed to "
                               f'assign to all requested addresses: address pending for hostname "{svc_host}"')
    svc2 = c2.get(SERVICES, "istio-eastwest", "istio-eastwest")
    assert c2.get(GATEWAYS, "istio-eastwest", "istio-eastwest")["status"]["addresses"] == [
        {"type": "IPAddress", "value": svc2["spec"]["clusterIP"]}]
    time.sleep(1.0)
    assert not (c2.get(SERVICES, "istio-eastwest", "istio-eastwest").get("status") or {}).get("loadBalancer", {}).get(
        "ingress")

    # istio-remote peers in cluster1 describing cluster2. Its gateway answers at its network address
    # without a load balancer, on the port of the xds-tls listener.
    c1.apply(remote_gateway("istio-remote-peer-cluster2", sims.lb_address("cluster2")), "test")
    # Two writers, in either order: istiod's Gateway status (Programmed) and Solo's peering conditions.
    peer = wait_until(lambda: kept(c1.get(GATEWAYS, "istio-remote-peer-cluster2", "istio-eastwest"),
                                   lambda g: true(g, "gloo.solo.io/PeerDataPlaneProgrammed") and condition(g, "Programmed")),
                      "peer linked")
    assert peer["status"]["addresses"] == [{"type": "IPAddress", "value": sims.lb_address("cluster2")}]
    assert condition(peer, "Programmed")["message"] == "This Gateway is remote; Istio will not program it"
    for cond_type in ("Accepted", "Programmed", "gloo.solo.io/PeeringSucceeded", "gloo.solo.io/PeerConnected"):
        assert true(peer, cond_type), cond_type
    # The ClusterIP cluster2 reported, a wrong xds port, no network label, no spec.addresses: Solo's
    # writer reports Pending (not connected) or Invalid (peering/controller.go reconcileGatewayStatus).
    c1.apply(remote_gateway("istio-remote-peer-internal", svc2["spec"]["clusterIP"]), "test")
    c1.apply(remote_gateway("istio-remote-peer-port", sims.lb_address("cluster2"), xds_port=15999), "test")
    c1.apply(remote_gateway("istio-remote-peer-nonet", sims.lb_address("cluster2"), network=None), "test")
    c1.apply(remote_gateway("istio-remote-peer-noaddr", None, network="x"), "test")
    for name, reason, message in (
            ("istio-remote-peer-internal", "Pending", "not connected to peer"),
            ("istio-remote-peer-port", "Pending", "not connected to peer"),
            ("istio-remote-peer-nonet", "Invalid", "no network started, encountered error validating gateway: "
                                                   "no network label found in gateway"),
            ("istio-remote-peer-noaddr", "Invalid", "no network started, encountered error validating gateway: "
                                                    "no addresses found in gateway")):
        refused = wait_until(lambda: reported(c1, name, "gloo.solo.io/PeerConnected").get("status") == "False"
                             and reported(c1, name, "gloo.solo.io/PeerConnected"), f"{name} not connected")
        assert (refused["reason"], refused["message"]) == (reason, message), name
        # istiod's own condition says nothing of it (written on istiod's schedule, not Solo's).
        wait_until(lambda: reported(c1, name, "Programmed").get("status") == "True", f"{name} Programmed")
    for name in ("istio-remote-peer-internal", "istio-remote-peer-port", "istio-remote-peer-nonet",
                 "istio-remote-peer-noaddr"):
        c1.delete(GATEWAYS, name, "istio-eastwest")

    # No mesh ConfigMap at all: cluster2's trust domain is still the ServiceMeshController's (its
    # cluster name), so the peer stays linked.
    sims.set_mesh_configmap("cluster2", "absent")
    assert sims.mesh_configmap("cluster2") == "absent"
    wait_until(lambda: c2.get(CONFIGMAPS, "istio-gloo", "istio-system") is None, "mesh ConfigMap removed")
    time.sleep(0.5)
    assert reported(c1, "istio-remote-peer-cluster2", "gloo.solo.io/PeerDataPlaneProgrammed")["status"] == "True"

    # Solo's writer not run yet: Istio's Programmed only. Connected but not synced: PeeringSucceeded Unknown.
    c1.delete(GATEWAYS, "istio-remote-peer-cluster2", "istio-eastwest")
    sims.set_peering_status("cluster1", "stopped")
    c1.apply(remote_gateway("istio-remote-peer-cluster2", sims.lb_address("cluster2")), "test")
    wait_until(lambda: reported(c1, "istio-remote-peer-cluster2", "Programmed").get("status") == "True",
               "Istio's Programmed")
    time.sleep(0.5)
    assert [c["type"] for c in c1.get(GATEWAYS, "istio-remote-peer-cluster2", "istio-eastwest")["status"][
        "conditions"]] == ["Accepted", "Programmed"]
    sims.set_peering_status("cluster1", "unsynced")
    unsynced = wait_until(lambda: reported(c1, "istio-remote-peer-cluster2", "gloo.solo.io/PeeringSucceeded"),
                          "PeeringSucceeded reported")
    assert (unsynced["status"], unsynced["reason"]) == ("Unknown", "Pending")
    assert reported(c1, "istio-remote-peer-cluster2", "gloo.solo.io/PeerConnected")["status"] == "True"
    sims.set_peering_status("cluster1", "synced")
    wait_until(lambda: reported(c1, "istio-remote-peer-cluster2", "gloo.solo.io/PeeringSucceeded").get("status")
               == "True", "synced")

    # A slow load balancer: the address comes `delay` seconds after it took over.
    began = time.monotonic()
    sims.set_load_balancer("cluster2", "slow", delay=1.5)
    gw2 = wait_until(lambda: programmed(c2), "cluster2 east-west Programmed")
    assert time.monotonic() - began >= 1.4
    assert gw2["status"]["addresses"] == [{"type": "IPAddress", "value": sims.lb_address("cluster2")}]

    # Deleting the east-west Gateway removes what istiod deployed for it.
    c1.delete(GATEWAYS, "istio-eastwest", "istio-eastwest")
    wait_until(lambda: c1.get(SERVICES, "istio-eastwest", "istio-eastwest") is None
               and c1.get(DEPLOYMENTS, "istio-eastwest", "istio-eastwest") is None
               and c1.get(SERVICEACCOUNTS, "istio-eastwest", "istio-eastwest") is None
               and not running_pods(c1, "istio-eastwest"), "east-west resources removed")


def test_fault_settings_are_validated_before_anything_starts():
    sims = Simulators("/nonexistent/kubeconfig", ["cluster1"])
    with pytest.raises(ValueError, match="load balancer mode 'down': expected one of ready, slow, none"):
        sims.set_load_balancer("cluster1", "down")
    with pytest.raises(ValueError, match="unknown context 'nope'"):
        sims.set_load_balancer("nope", "none")
    with pytest.raises(ValueError, match="expected one of full, absent"):
        sims.set_mesh_configmap("cluster1", "partial")
    with pytest.raises(ValueError, match="peering status mode 'off': expected one of synced, unsynced, stopped"):
        sims.set_peering_status("cluster1", "off")
    with pytest.raises(ValueError, match="operator conditions mode 'some': expected one of all, reevaluated"):
        sims.set_operator_conditions("cluster1", "some")
    sims.set_load_balancer("cluster1", "slow", delay=2)
    assert sims.load_balancer("cluster1") == ("slow", 2.0) and sims.mesh_configmap("cluster1") == "full"


def test_automatic_peering_and_management_plane(make_control_plane):
    names = ("cluster1", "cluster2", "mgmt")
    cp = make_control_plane(names, install_operator=True)
    sims = cp.simulators
    kubes = {name: admin(cp, name) for name in names}
    extensions = {"beta": "serviceMeshController:\n  multiClusterMode: Peering\n",
                  "values.istiod": 'env:\n  PEERING_AUTOMATIC_LOCAL_GATEWAY: "true"\n'}
    for name, kube in kubes.items():
        kube.apply(namespace("istio-eastwest"), "test")
        install_mesh(kube, name, extensions)
        labelled = eastwest_gateway(name)
        labelled["metadata"]["labels"]["topology.istio.io/cluster"] = name  # Solo's istiod needs it
        kube.apply(labelled, "test")

    # istiod publishes its own cluster as a peer, built from the east-west Gateway.
    for name, kube in kubes.items():
        peer = wait_until(lambda: kube.get(GATEWAYS, f"istio-remote-peer-{name}", "istio-eastwest"),
                          f"automatic peer in {name}")
        meta = peer["metadata"]
        assert meta["labels"]["gloo.solo.io/automatic-peering"] == "true"
        assert meta["labels"]["topology.istio.io/network"] == name
        assert meta["annotations"]["gateway.istio.io/trust-domain"] == name
        assert meta["annotations"]["gateway.istio.io/service-account"] == "istio-eastwest"
        assert meta["labels"]["topology.istio.io/cluster"] == name
        assert peer["spec"]["addresses"] == [{"type": "IPAddress", "value": sims.lb_address(name)}]
        assert list(remote_gateways(kube)) == [f"istio-remote-peer-{name}"]  # no distribution yet

    # ConfigDistribution: every cluster ends with one istio-remote Gateway per cluster (self-peer included).
    sims.management_plane(True, mgmt_context="mgmt")
    expected = {f"istio-remote-peer-{n}" for n in names}

    def distributed():
        return all(set(remote_gateways(k)) == expected and all(
            true(g, "gloo.solo.io/PeerConnected") for n, g in remote_gateways(k).items()
            if n != f"istio-remote-peer-{c}") for c, k in kubes.items())
    wait_until(distributed, "peers distributed and connected everywhere")
    # A self-peer starts no network: Solo's writer leaves it alone (peering/controller.go reconcileGateway).
    for name, kube in kubes.items():
        own = kube.get(GATEWAYS, f"istio-remote-peer-{name}", "istio-eastwest")
        assert [c["type"] for c in own["status"]["conditions"]] == ["Accepted", "Programmed"], name
    copy = kubes["cluster1"].get(GATEWAYS, "istio-remote-peer-cluster2", "istio-eastwest")
    assert copy["spec"]["addresses"] == [{"type": "IPAddress", "value": sims.lb_address("cluster2")}]
    assert copy["metadata"]["labels"]["gloo.solo.io/config-distribution"] == "true"

    # Relay agents (management_plane.py): the management server's gauge, read through the API server's
    # pod proxy as verify reads it; nothing is distributed to a cluster whose agent is disconnected.
    from kubernetes import client as k8s

    def gauge():
        with cp.api_client("mgmt") as api:
            core = k8s.CoreV1Api(api)
            pods = core.list_namespaced_pod("gloo-mesh", label_selector="app=gloo-mesh-mgmt-server").items
            if not pods or not pods[0].status.pod_ip:
                return ""
            return core.connect_get_namespaced_pod_proxy_with_path(
                f"{pods[0].metadata.name}:{sims.management_metrics_port()}", "gloo-mesh", "metrics")
    wait_until(lambda: 'relay_push_clients_connected{cluster="cluster1"} 1' in gauge(), "the server counts cluster1's agent")
    sims.set_agent("cluster1", False)
    metrics = gauge()
    assert 'relay_push_clients_connected{cluster="cluster1"} 0' in metrics, metrics
    assert 'relay_push_clients_connected{cluster="cluster2"} 1' in metrics and 'cluster="mgmt"' not in metrics, metrics
    kubes["cluster1"].delete(GATEWAYS, "istio-remote-peer-cluster2", "istio-eastwest")
    time.sleep(2)  # the management plane reacts to a Gateway deletion within milliseconds
    assert "istio-remote-peer-cluster2" not in remote_gateways(kubes["cluster1"])
    sims.set_agent("cluster1", True)
    wait_until(lambda: "istio-remote-peer-cluster2" in remote_gateways(kubes["cluster1"]), "distribution resumed")
    assert 'relay_push_clients_connected{cluster="cluster1"} 1' in gauge()

    # A cluster leaving (its east-west Gateway deleted): its peer disappears everywhere.
    kubes["cluster2"].delete(GATEWAYS, "istio-eastwest", "istio-eastwest")
    wait_until(lambda: all(set(remote_gateways(k)) == expected - {"istio-remote-peer-cluster2"}
                           for n, k in kubes.items() if n != "cluster2")
               and not remote_gateways(kubes["cluster2"]).get("istio-remote-peer-cluster2"), "cluster2 peer removed")

    # Switched off: copies are withdrawn, each cluster keeps its own automatic peer.
    sims.management_plane(False)
    wait_until(lambda: set(remote_gateways(kubes["cluster1"])) == {"istio-remote-peer-cluster1"}
               and set(remote_gateways(kubes["mgmt"])) == {"istio-remote-peer-mgmt"}, "copies removed")
