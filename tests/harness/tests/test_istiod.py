"""Upstream istiod (tests/harness/istiod.py) against local clusters: what Istio's own code decides.

Two clusters with what the collection and the Gloo Operator's chart put there before istiod runs
(istio-system labelled with its network, mesh ConfigMap istio-gloo, GatewayClasses istio-eastwest
and istio-remote, Secret cacerts from one shared root), then one real pilot-discovery each
(start_with_control_plane also writes the injector ConfigMap and marks gloo the default revision,
see tests/harness/istiod.py). No
gloo-operator is installed: the simulators that stand in for istiod act only where the operator's
istiod-gloo Deployment runs, so here nothing but real istiod plays istiod (the workload simulator
still runs the pods of what istiod deploys).

Skipped, saying what to run, when pilot-discovery is not built (hack/build-istiod.sh).
"""
from __future__ import annotations

import base64
import os
import socket
import ssl
import types
import uuid

import pytest
import yaml
from cryptography import x509

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates as certs
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway as gateways
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import EASTWEST_NAMESPACE
from tests.harness.controlplane import start_environment
from tests.harness.istiod import (NAMESPACE, IstiodUnavailable, SecretVolume, endpoint_slice, find_istiod,
                                  start_with_control_plane)
from tests.harness.poll import wait_until
from tests.harness.simulators.base import GATEWAYS, SERVICES, Kube, Resource
from tests.harness.simulators.operator import desired_objects, gateway_classes

NAMES = ("cluster1", "cluster2")
NETWORKS = {"cluster1": "network1", "cluster2": "network2"}
TRUST_DOMAIN = "cluster.local"
SECRETS = Resource("v1", "Secret", "secrets")
NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
MANAGER = "gloomesh-test"


def _apply(kube: Kube, res: Resource, obj: dict) -> dict:
    meta = obj["metadata"]
    return kube.request("PATCH", res.path(meta.get("namespace"), meta["name"]),
                        {"fieldManager": MANAGER, "force": "true"}, obj,
                        content_type="application/apply-patch+yaml")


def _cacerts(root, root_key, cluster) -> tuple[dict, x509.Certificate]:
    """Secret cacerts as root_of_trust writes it (the collection's builders), and its intermediate."""
    key = certs.generate_key("ecdsa-p256")
    intermediate = certs.build_intermediate(root, root_key, key, cluster)
    data = certs.bundle_data([intermediate], key, root)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cacerts", "namespace": NAMESPACE},
              "type": "Opaque", "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    return secret, intermediate


def _mesh_configmap(name) -> dict:
    """ConfigMap istio-gloo as the Gloo Operator (simulator) renders it for this cluster."""
    smc = {"metadata": {"name": "managed-istio", "namespace": "gloo-mesh", "generation": 1},
           "spec": {"cluster": name, "network": NETWORKS[name], "version": "1.27.0", "trustDomain": TRUST_DOMAIN}}
    return next(o for o in desired_objects(smc, {}) if o["kind"] == "ConfigMap")


@pytest.fixture(scope="module")
def assets():
    try:
        return find_istiod()
    except IstiodUnavailable as err:
        pytest.skip(f"upstream istiod not built: {err}")


@pytest.fixture(scope="module")
def mesh(assets):
    if os.environ.get("GLOOMESH_TEST_KUBECONFIG"):
        pytest.skip("runs pilot-discovery against local clusters")
    cp = start_environment(NAMES, simulators=True, install_operator=False)
    try:
        root_key = certs.generate_key("ecdsa-p256")
        root = certs.build_root(root_key)
        intermediates = {}
        for name in NAMES:
            with cp.api_client(name, simulator=True) as api:
                kube = Kube(api, name)
                _apply(kube, NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
                    "name": NAMESPACE, "labels": {"topology.istio.io/network": NETWORKS[name]}}})
                _apply(kube, NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": EASTWEST_NAMESPACE}})
                _apply(kube, CONFIGMAPS, _mesh_configmap(name))
                for gatewayclass in gateway_classes():
                    _apply(kube, Resource("gateway.networking.k8s.io/v1", "GatewayClass", "gatewayclasses",
                                          namespaced=False), gatewayclass)
                secret, intermediates[name] = _cacerts(root, root_key, name)
                _apply(kube, SECRETS, secret)
        fleet = start_with_control_plane(cp)
        yield types.SimpleNamespace(cp=cp, istiods=fleet, root=root, root_key=root_key, intermediates=intermediates)
    finally:
        cp.stop()


def _kube(mesh, name) -> Kube:
    return Kube(mesh.cp.api_client(name, simulator=True), name)


def _condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def _serving_cert(port: int) -> x509.Certificate:
    """The certificate istiod serves on its webhook port: its own DNS certificate, which its CA signs."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="istiod-gloo.istio-system.svc") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def _issued_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001 - any failure means: not this issuer
        return False


# -- unit: the kubelet and controller-manager stand-ins --------------------------------------------
def test_secret_volume_swaps_files_atomically_like_kubelet(tmp_path):
    volume = SecretVolume(str(tmp_path / "cacerts"))
    assert volume.sync(None) and volume.keys() == set()
    secret = {"metadata": {"resourceVersion": "5"}, "data": {"a.pem": "QQ==", "b.pem": "Qg=="}}
    assert volume.sync(secret)
    assert not volume.sync(secret), "same resourceVersion: nothing to write"
    assert os.path.islink(tmp_path / "cacerts" / "a.pem")
    assert os.readlink(tmp_path / "cacerts" / "a.pem") == os.path.join("..data", "a.pem")
    first = os.readlink(tmp_path / "cacerts" / "..data")
    assert (tmp_path / "cacerts" / "a.pem").read_bytes() == b"A"
    assert volume.sync({"metadata": {"resourceVersion": "6"}, "data": {"a.pem": "Qw=="}})
    assert (tmp_path / "cacerts" / "a.pem").read_bytes() == b"C"
    assert volume.keys() == {"a.pem"}
    assert os.readlink(tmp_path / "cacerts" / "..data") != first
    assert not os.path.exists(tmp_path / "cacerts" / first), "the old payload folder is removed"
    assert volume.sync(None) and volume.keys() == set()


def test_endpoint_slice_lists_ready_matching_pods_by_target_port():
    service = {"metadata": {"name": "gw", "namespace": "ns", "uid": "u1"},
               "spec": {"selector": {"app": "gw"}, "ports": [
                   {"name": "status-port", "port": 15021, "appProtocol": "tcp"},
                   {"name": "xds", "port": 15012, "targetPort": "tls-xds"}]}}
    ready = [{"type": "Ready", "status": "True"}]
    pods = [
        {"metadata": {"name": "gw-1", "namespace": "ns", "uid": "p1", "labels": {"app": "gw"}},
         "spec": {"containers": [{"ports": [{"name": "tls-xds", "containerPort": 15013}]}]},
         "status": {"podIP": "10.244.0.5", "conditions": ready}},
        {"metadata": {"name": "other", "namespace": "ns", "uid": "p2", "labels": {"app": "x"}},
         "status": {"podIP": "10.244.0.6", "conditions": ready}},
    ]
    slice_ = endpoint_slice(service, pods)
    assert [e["addresses"] for e in slice_["endpoints"]] == [["10.244.0.5"]]
    assert slice_["endpoints"][0]["conditions"]["ready"] is True
    assert [(p["name"], p["port"]) for p in slice_["ports"]] == [("status-port", 15021), ("xds", 15013)]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "gw"


# -- real istiod -------------------------------------------------------------------------------------
@pytest.mark.clusters
def test_istiod_runs_per_cluster_with_the_mesh_configmap(mesh):
    for name in NAMES:
        istiod = mesh.istiods[name]
        assert istiod.running(), istiod.log_tail()
        config = istiod.mesh()
        assert config.get("trustDomain") == TRUST_DOMAIN
        assert config.get("rootNamespace") == NAMESPACE
        assert istiod.env["CLUSTER_ID"] == name
        assert "Use local CA certificate" in istiod.log_text(), "cacerts not loaded as a plugged-in CA"
    ports = {p for i in mesh.istiods for p in vars(i.ports).values()}
    assert len(ports) == 6 * len(NAMES), "every istiod listens on its own ports"


@pytest.mark.clusters
def test_eastwest_gateway_is_deployed_and_programmed_by_istiod(mesh):
    name = "cluster2"
    kube = _kube(mesh, name)
    gw = gateways.eastwest_gateway(EASTWEST_NAMESPACE, NETWORKS[name], name)
    _apply(kube, GATEWAYS, gw)
    gw_name = gw["metadata"]["name"]

    def deployed():
        svc = kube.get(SERVICES, gw_name, EASTWEST_NAMESPACE)
        dep = kube.get(DEPLOYMENTS, gw_name, EASTWEST_NAMESPACE)
        return (svc, dep) if svc and dep else None
    svc, dep = wait_until(deployed, "istiod's Service and Deployment for the east-west Gateway", timeout=60)
    labels = svc["metadata"]["labels"]
    assert labels["gateway.istio.io/managed"] == "istio.io-eastwest-controller"
    assert labels["topology.istio.io/network"] == NETWORKS[name]
    assert svc["spec"]["type"] == "LoadBalancer"
    assert {p["port"] for p in svc["spec"]["ports"]} >= {15008, 15012, 15021}

    def programmed():
        current = kube.get(GATEWAYS, gw_name, EASTWEST_NAMESPACE)
        cond = _condition(current, "Programmed")
        return current if cond and cond.get("status") == "True" else None
    try:
        current = wait_until(programmed, "Programmed=True on the east-west Gateway", timeout=60)
    except AssertionError:
        current = kube.get(GATEWAYS, gw_name, EASTWEST_NAMESPACE)
        raise AssertionError(f"status: {yaml.safe_dump(current.get('status'))}\n"
                             f"istiod log:\n{mesh.istiods[name].log_tail()}") from None
    assert _condition(current, "Accepted")["status"] == "True"
    assert {"type": "IPAddress", "value": "198.51.100.11"} in current["status"]["addresses"]
    listeners = {entry["name"]: next(c for c in entry["conditions"] if c["type"] == "Accepted")
                 for entry in current["status"].get("listeners") or []}
    assert listeners["xds-tls"]["status"] == "True"
    # Upstream's verdict on the collection's HBONE listener (Solo's procedure writes it with TLS mode
    # Passthrough): pilot/pkg/config/kube/gateway/conversion.go unexpectedEastWestWaypointListener
    # wants port 15008 HBONE with TLS mode Terminate. The Gateway stays Accepted and Programmed.
    assert (listeners["cross-network"]["status"], listeners["cross-network"]["reason"]) == \
        ("False", "UnsupportedProtocol"), listeners["cross-network"]
    # The Service istiod deployed carries the network label: the cluster's own network gateway
    # (serviceregistry/kube/controller/network.go extractGatewaysInner; no 15443 port, so Port 0).
    own = wait_until(lambda: [g for g in mesh.istiods[name].network_gateways() if g["Network"] == NETWORKS[name]],
                     "cluster2's own east-west gateway in its /debug/networkz", timeout=30)
    assert [(g["Addr"], g["Port"], g["HBONEPort"]) for g in own] == [("198.51.100.11", 0, 15008)]


@pytest.mark.clusters
def test_remote_peer_gateway_becomes_a_network_gateway_in_istiod(mesh):
    source, peer_name = "cluster1", "cluster2"
    peer_kube = _kube(mesh, peer_name)
    eastwest = gateways.eastwest_gateway(EASTWEST_NAMESPACE, NETWORKS[peer_name], peer_name)
    _apply(peer_kube, GATEWAYS, eastwest)  # as in the previous test: the same object again
    service = wait_until(
        lambda: (s := peer_kube.get(SERVICES, "istio-eastwest", EASTWEST_NAMESPACE))
        and ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") and s,
        "an address on cluster2's east-west Service", timeout=60)
    peer = gateways.peer_descriptor(service, TRUST_DOMAIN, eastwest)
    assert peer["network"] == NETWORKS[peer_name] and peer["address"] == "198.51.100.11"
    peer_gw = gateways.peer_gateway(peer)
    kube = _kube(mesh, source)
    _apply(kube, GATEWAYS, peer_gw)
    istiod = mesh.istiods[source]

    def found():
        return [g for g in istiod.network_gateways() if g.get("Network") == NETWORKS[peer_name]]
    try:
        network_gateways = wait_until(found, "a network2 gateway in cluster1's /debug/networkz", timeout=60)
    except AssertionError:
        raise AssertionError(f"networkz: {istiod.network_gateways()}\nlog:\n{istiod.log_tail()}") from None
    # One per HBONE listener of the peer (handleGatewayResource: spec.addresses x HBONE listeners;
    # xds-tls on 15012 is not auto-passthrough, IsAutoPassthrough expects 15443), the identity from
    # annotation gateway.istio.io/service-account in the peer Gateway's namespace (kube.GatewaySA),
    # and Cluster = the cluster whose istiod reads the peer.
    assert [(g["Addr"], g["Port"], g["HBONEPort"], g["Cluster"]) for g in network_gateways] == \
        [("198.51.100.11", 15008, 15008, source)]
    assert network_gateways[0]["ServiceAccount"] == {"Namespace": peer["namespace"], "Name": peer["service_account"]}
    assert istiod.network_summary() == \
        f"istiod {source}: 1 network gateway: {NETWORKS[peer_name]} 198.51.100.11:15008 HBONE"
    # istiod's status writer (reportUnmanagedGatewayStatus in gateway/conversion.go) follows.
    current = wait_until(
        lambda: (g := kube.get(GATEWAYS, peer_gw["metadata"]["name"], peer_gw["metadata"]["namespace"]))
        and (_condition(g, "Programmed") or {}).get("status") == "True" and g,
        "Programmed=True on the peer Gateway", timeout=30)
    assert _condition(current, "Programmed")["message"] == "This Gateway is remote; Istio will not program it"
    assert _condition(current, "Accepted")["status"] == "True"
    assert current["status"]["addresses"] == peer_gw["spec"]["addresses"]


@pytest.mark.clusters
def test_istiod_publishes_the_plugged_root_and_signs_with_the_intermediate(mesh):
    for name in NAMES:
        kube = _kube(mesh, name)
        namespace = f"app-{uuid.uuid4().hex[:6]}"
        _apply(kube, NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        published = wait_until(lambda: kube.get(CONFIGMAPS, "istio-ca-root-cert", namespace),
                               f"istio-ca-root-cert in {namespace} of {name}", timeout=30)
        assert published["data"]["root-cert.pem"] == certs.cert_pem(mesh.root)
        leaf = _serving_cert(mesh.istiods[name].ports.https)
        assert _issued_by(leaf, mesh.intermediates[name]), f"istiod of {name} does not sign with its cacerts"


@pytest.mark.clusters
def test_istiod_reloads_a_new_intermediate_when_kubelet_swaps_the_files(mesh):
    name = "cluster1"
    kube = _kube(mesh, name)
    secret, intermediate = _cacerts(mesh.root, mesh.root_key, name)
    _apply(kube, SECRETS, secret)
    istiod = mesh.istiods[name]
    try:
        wait_until(lambda: _issued_by(_serving_cert(istiod.ports.https), intermediate),
                   "istiod's own certificate signed by the new intermediate", timeout=30)
    except AssertionError:
        raise AssertionError(istiod.log_tail()) from None
    mesh.intermediates[name] = intermediate


@pytest.mark.clusters
def test_istiod_without_multiroot_ignores_a_new_root(mesh):
    """ISTIO_MULTIROOT_MESH off (pilot/pkg/features/pilot.go MultiRootMesh, default false): a
    cacerts whose root-cert.pem changed is ignored whole (istio_ca.go handleEvent): istiod keeps
    signing with the intermediate it loaded and keeps publishing the old root."""
    name = "cluster2"
    kube = _kube(mesh, name)
    istiod = mesh.istiods[name]
    new_root_key = certs.generate_key("ecdsa-p256")
    new_root = certs.build_root(new_root_key)
    secret, _new_intermediate = _cacerts(new_root, new_root_key, name)
    _apply(kube, SECRETS, secret)
    wait_until(lambda: "Multi root is disabled, updating new ROOT-CA not supported" in istiod.log_text(),
               "istiod's refusal of the new root in its log", timeout=30)
    assert _issued_by(_serving_cert(istiod.ports.https), mesh.intermediates[name])
    published = kube.get(CONFIGMAPS, "istio-ca-root-cert", NAMESPACE)
    assert published["data"]["root-cert.pem"] == certs.cert_pem(mesh.root)
