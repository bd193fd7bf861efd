"""Helpers of the east-west gateway and mesh_link tests: constants, direct API access for set-up and
assertions (never through the collection), and the module runners. Their fixtures (istiod, scratch)
are in conftest.py."""
from __future__ import annotations

import uuid

import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.harness.module_runner import run_module

GW_GROUP, GW_VERSION, GW_PLURAL = "gateway.networking.k8s.io", "v1", "gateways"
SMC_GROUP, SMC_VERSION, SMC_PLURAL = "operator.gloo.solo.io", "v1", "servicemeshcontrollers"
CONTEXTS = ("cluster1", "cluster2", "mgmt")
MANAGED_BY = {"app.kubernetes.io/managed-by": "gloomesh.multicluster"}
LISTENERS = [
    {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
    {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
]
TEST_SMC = "gloomesh-gateway-tests"
# on what istiod deploys for a Gateway (its Deployment, Service, ServiceAccount)
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def spec_as_applied(spec):
    """A live Gateway spec without the listener fields the API server defaults (allowedRoutes)."""
    keys = ("name", "port", "protocol", "tls")
    return dict(spec, listeners=[{k: l[k] for k in keys if k in l} for l in spec.get("listeners") or []])


def unique(prefix: str) -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


# --- cluster helpers (test set-up and assertions talk to the API directly, not through the collection)

def api(control_plane, context):
    return control_plane.api_client(context)


def get_gateway(control_plane, context, namespace, name="istio-eastwest"):
    try:
        return k8s.CustomObjectsApi(api(control_plane, context)).get_namespaced_custom_object(
            GW_GROUP, GW_VERSION, namespace, GW_PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def list_gateways(control_plane, context, namespace):
    return k8s.CustomObjectsApi(api(control_plane, context)).list_namespaced_custom_object(
        GW_GROUP, GW_VERSION, namespace, GW_PLURAL)["items"]


def delete_gateways(control_plane, context, namespace):
    custom = k8s.CustomObjectsApi(api(control_plane, context))
    for gateway in list_gateways(control_plane, context, namespace):
        try:
            custom.delete_namespaced_custom_object(GW_GROUP, GW_VERSION, namespace, GW_PLURAL,
                                                   gateway["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 404:
                raise


def ensure_test_namespace(control_plane, context, name, labels=None):
    core = k8s.CoreV1Api(api(control_plane, context))
    try:
        core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
    except ApiException as exc:
        if exc.status != 409:
            raise


def fake_istiod(control_plane, context, namespace, name="istiod-gloo", cluster_id="cluster-x"):
    """An istiod Deployment to discover CLUSTER_ID from. replicas 0: the simulators never treat it as
    a running istiod (they look for an available istiod-gloo)."""
    apps = k8s.AppsV1Api(api(control_plane, context))
    labels = {"app": "fake-istiod"}
    env = [{"name": "REVISION", "value": "gloo"}]
    if cluster_id is not None:
        env.append({"name": "CLUSTER_ID", "value": cluster_id})
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "discovery", "image": "pilot:test", "env": env}]}}}})


def istiod_in_istio_system(control_plane, context):
    try:
        dep = k8s.AppsV1Api(api(control_plane, context)).read_namespaced_deployment("istiod-gloo", "istio-system")
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dep if (dep.status.available_replicas or 0) >= 1 else None


def gateway_classes(control_plane, context):
    items = k8s.CustomObjectsApi(api(control_plane, context)).list_cluster_custom_object(
        GW_GROUP, GW_VERSION, "gatewayclasses")["items"]
    return {c["metadata"]["name"] for c in items} >= {"istio-eastwest", "istio-remote"}


def lb_address(control_plane, context, namespace):
    """The address the east-west Service of `namespace` got from the (simulated) load balancer."""
    if control_plane.simulators is not None:
        return control_plane.simulators.lb_address(context)
    service = k8s.CoreV1Api(api(control_plane, context)).read_namespaced_service("istio-eastwest", namespace)
    ingress = service.status.load_balancer.ingress[0]
    return ingress.ip or ingress.hostname


def delete_test_objects(control_plane, context, namespace):
    """What a test created in one of its namespaces (the namespace itself never goes away here), and
    what upstream istiod deployed there for its Gateways (garbage collection, which these clusters
    lack, would remove it with them)."""
    delete_gateways(control_plane, context, namespace)
    core = k8s.CoreV1Api(api(control_plane, context))
    apps = k8s.AppsV1Api(api(control_plane, context))
    services = core.list_namespaced_service(namespace, label_selector="istio.io/expose-istiod").items
    deletions = [(core.delete_namespaced_service, s.metadata.name) for s in services
                 if "simulator.gloomesh.io/component" not in (s.metadata.labels or {})]
    deployed = apps.list_namespaced_deployment(namespace, label_selector=GATEWAY_NAME_LABEL).items
    deletions += [(apps.delete_namespaced_deployment, name)
                  for name in ["istiod", "istiod-gloo"] + [d.metadata.name for d in deployed]]
    for delete, name in deletions:
        try:
            delete(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise


def expect_network_gateways(istiods, context, namespace, peers):
    """The real istiod of `context` (fixture istiod) made each peer Gateway in `namespace` a network
    gateway with the peer's network and address and the HBONE port 15008, and made nothing else of
    that namespace (peers: descriptors, as mesh_link takes them). Nothing to check without local
    istiods."""
    if istiods is not None:
        istiods[context].wait_network_gateways(
            namespace, [(p["network"], p["address"], LISTENERS[0]["port"]) for p in peers])


def trust_domain_of(control_plane, context, install_namespace="istio-system"):
    """What the mesh ConfigMap of a cluster says, read independently of the collection."""
    core = k8s.CoreV1Api(api(control_plane, context))
    for name in ("istio-gloo", "istio"):
        try:
            configmap = core.read_namespaced_config_map(name, install_namespace)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        return (yaml.safe_load(configmap.data["mesh"]) or {}).get("trustDomain") or "cluster.local"
    return "cluster.local"


# --- module runners -----------------------------------------------------------------------------

def ew(kubeconfig, context, check_mode=False, diff=False, **args):
    return run_module("eastwest_gateway", dict(args, kubeconfig=kubeconfig, context=context),
                      check_mode=check_mode, diff=diff)


def info(kubeconfig, context, check_mode=False, **args):
    return run_module("eastwest_gateway_info", dict(args, kubeconfig=kubeconfig, context=context),
                      check_mode=check_mode)


def assert_no_writes(audit, mark, context):
    writes = audit.writes(mark, context)
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]
