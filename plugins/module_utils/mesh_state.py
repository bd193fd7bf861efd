# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Reads of a cluster's mesh state that several operations share: its topology (network and
cluster name), its trust domain, its east-west gateway and its peer Gateways. Read-only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import yaml
except ImportError:
    # run_module() has already failed naming the missing library; stay importable.
    yaml = None

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    DEFAULT_TRUST_DOMAIN,
    EASTWEST_NAME,
    GATEWAY_API_VERSION,
    GATEWAY_KIND,
    ISTIOD_DEPLOYMENTS,
    LABEL_EXPOSE_ISTIOD,
    LABEL_NETWORK,
    MESH_CONFIGMAPS,
    SERVICE_MESH_API_VERSION,
    SERVICE_MESH_KIND,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    describe,
    get_object,
    list_objects,
    served,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import describe_condition

# Where a trust domain can come from, in the order they are consulted.
TRUST_DOMAIN_SOURCES = ("mesh_config", "service_mesh")


# ---------------------------------------------------------------- topology

def discover_network(cluster, install_namespace):
    """Label topology.istio.io/network of istiod's namespace, or None."""
    namespace = get_object(cluster, "v1", "Namespace", install_namespace)
    return ((namespace or {}).get("metadata", {}).get("labels") or {}).get(LABEL_NETWORK) or None


def discover_cluster(cluster, install_namespace):
    """istiod's CLUSTER_ID (istiod-gloo first, then istiod), or None when unset."""
    for name in ISTIOD_DEPLOYMENTS:
        deployment = get_object(cluster, "apps/v1", "Deployment", name, install_namespace)
        if deployment is not None:
            return gateway.cluster_id_of(deployment)
    return None


def _not_discovered(option, install_namespace):
    if option == "network":
        return ("network is not set and namespace %s has no label %s"
                % (install_namespace, LABEL_NETWORK))
    return ("cluster is not set and no Deployment %s in namespace %s sets CLUSTER_ID (other than "
            "the default Kubernetes)" % (" or ".join(ISTIOD_DEPLOYMENTS), install_namespace))


def resolve_topology(cluster, install_namespace, network=None, cluster_name=None, needed=("network", "cluster")):
    """Given values win; the rest comes from the cluster. Error naming every option still unknown."""
    values = {"network": network, "cluster": cluster_name}
    discover = {"network": discover_network, "cluster": discover_cluster}
    missing = []
    for option in needed:
        if not values[option]:
            values[option] = discover[option](cluster, install_namespace)
            if not values[option]:
                missing.append(option)
    if missing:
        raise GloomeshError(
            "%s; set option%s %s (they must match the ServiceMeshController's cluster and network)"
            % ("; ".join(_not_discovered(o, install_namespace) for o in missing),
               "s" if len(missing) > 1 else "", " and ".join(missing)),
            missing=missing)
    return values["network"], values["cluster"]


# ---------------------------------------------------------------- the service mesh

READY_CONDITION = "Ready"


def _by_generation(obj):
    """(current, stale) status conditions. A condition was reported for its observedGeneration, else a
    top-level status.observedGeneration; one reported for an older generation than metadata.generation
    is stale, as (condition, that generation); one whose generation is unknown counts as current."""
    generation = ((obj or {}).get("metadata") or {}).get("generation")
    status = (obj or {}).get("status") or {}
    top = status.get("observedGeneration")
    current, stale = [], []
    for condition in status.get("conditions") or []:
        seen = condition.get("observedGeneration", top)
        if generation is not None and seen is not None and seen < generation:
            stale.append((condition, seen))
        else:
            current.append(condition)
    return current, stale


def stale_conditions(obj):
    """The conditions reported for an older generation than metadata.generation, as text.

    Nothing public shows that the Gloo Operator re-stamps every condition on each change (the
    procedure's one example, "Deploy mesh components" step 5, is a first install): once Ready is
    current these are reported, never waited on.
    """
    return ["%s (generation %s)" % (c.get("type"), seen) for c, seen in _by_generation(obj)[1]]


def service_mesh_readiness(obj):
    """(ready, missing, failed) of a ServiceMeshController.

    Ready: condition Ready True for the current generation, phase SUCCEEDED, and no condition of
    the current generation False; conditions left at an older one do not count (stale_conditions).
    ``failed``: phase FAILED with a False condition of the current generation (a FAILED of an older
    one only says the operator has not looked yet).
    """
    if obj is None:
        return False, "the ServiceMeshController does not exist", False
    generation = obj["metadata"].get("generation")
    status = obj.get("status") or {}
    current = _by_generation(obj)[0]
    false = [describe_condition(c) for c in current if c.get("status") == "False"]
    if status.get("phase") == "FAILED" and false:
        message = status.get("message") or "no message from the operator"
        return False, "phase FAILED: %s; conditions False: %s" % (message, ", ".join(false)), True
    ready = next((c for c in current if c.get("type") == READY_CONDITION), None)
    if ready is None:
        stale = stale_conditions(obj)
        return False, "the operator has not reported condition %s for generation %s yet%s" % (
            READY_CONDITION, generation, " (reported for older ones: %s)" % ", ".join(stale) if stale else ""), False
    missing = [] if status.get("phase") == "SUCCEEDED" else [
        "phase is %s, not SUCCEEDED" % (status.get("phase") or "not reported yet")]
    if ready.get("status") != "True":
        missing.append("condition %s" % describe_condition(ready))
    if false:
        missing.append("conditions False: %s" % ", ".join(false))
    return not missing, "; ".join(missing), False


# ---------------------------------------------------------------- trust domain

def _mesh_config_trust_domain(cluster, install_namespace):
    """(trustDomain or None, where): the first mesh ConfigMap's MeshConfig document."""
    for name in MESH_CONFIGMAPS:
        configmap = get_object(cluster, "v1", "ConfigMap", name, install_namespace)
        if configmap is None:
            continue
        where = describe("ConfigMap", name, install_namespace)
        try:
            mesh = yaml.safe_load((configmap.get("data") or {}).get("mesh") or "")
        except yaml.YAMLError as exc:
            raise GloomeshError("%s: data key mesh is not a YAML MeshConfig document: %s" % (where, exc))
        value = mesh.get("trustDomain") if isinstance(mesh, dict) else None
        return (value or None), where
    return None, None


def _service_mesh_trust_domain(cluster, install_namespace):
    """(trust domain, where) the ServiceMeshController installing into ``install_namespace`` sets:
    spec.trustDomain, else spec.cluster (procedure, "ServiceMeshController reference",
    trustDomain: "If cluster is set, defaults to that value"); (None, None) without one."""
    if not served(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND):
        return None, None
    for controller in list_objects(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND):
        spec = controller.get("spec") or {}
        if (spec.get("installNamespace") or "istio-system") != install_namespace:
            continue
        meta = controller["metadata"]
        where = describe(SERVICE_MESH_KIND, meta["name"], meta.get("namespace"))
        if spec.get("trustDomain"):
            return spec["trustDomain"], where + " spec.trustDomain"
        if spec.get("cluster"):
            return spec["cluster"], where + " spec.cluster"
    return None, None


def resolve_trust_domain(cluster, install_namespace, prefer=None):
    """(trust domain, source) of a cluster: its mesh ConfigMap, then its ServiceMeshController's
    trustDomain, then its cluster, then cluster.local.

    Two sources that disagree (a trust domain changed and not yet rolled out, or a mesh ConfigMap
    edited by hand) are an error unless ``prefer`` (one of TRUST_DOMAIN_SOURCES) says which wins.
    """
    found = {}
    value, where = _mesh_config_trust_domain(cluster, install_namespace)
    if value:
        found["mesh_config"] = (value, where)
    value, where = _service_mesh_trust_domain(cluster, install_namespace)
    if value:
        found["service_mesh"] = (value, where)
    if prefer and prefer in found:
        return found[prefer]
    if len(set(v for v, _w in found.values())) > 1:
        raise GloomeshError(
            "the trust domain of this cluster is ambiguous: %s; fix the one that is wrong, or set "
            "trust_domain_source to one of %s to choose"
            % ("; ".join("%s says %s" % (w, v) for v, w in found.values()), ", ".join(TRUST_DOMAIN_SOURCES)),
            trust_domains=dict((k, v) for k, (v, _w) in found.items()))
    for source in TRUST_DOMAIN_SOURCES:
        if source in found:
            return found[source]
    return DEFAULT_TRUST_DOMAIN, "default (no mesh ConfigMap trustDomain, no ServiceMeshController)"


# ---------------------------------------------------------------- gateways

def eastwest_service(cluster, namespace, cluster_label):
    """The Service istiod deployed for the east-west Gateway (labelled istio.io/expose-istiod).

    ``namespace`` None searches every namespace; ``cluster_label`` names the cluster in errors.
    """
    services = list_objects(cluster, "v1", "Service", namespace, label_selector=LABEL_EXPOSE_ISTIOD)
    if len(services) == 1:
        return services[0]
    # istiod names the Service after the Gateway: among several, the standard name wins.
    named = [s for s in services if s["metadata"]["name"] == EASTWEST_NAME]
    if len(named) == 1:
        return named[0]
    where = "namespace %s" % namespace if namespace else "any namespace"
    if not services:
        raise GloomeshError(
            "cluster %s is not ready to link: no Service labelled %s in %s (apply its east-west "
            "Gateway with eastwest_gateway and let istiod create the Service)"
            % (cluster_label, LABEL_EXPOSE_ISTIOD, where), missing="service")
    found = ", ".join(sorted("%s/%s" % (s["metadata"]["namespace"], s["metadata"]["name"]) for s in services))
    raise GloomeshError("cluster %s has several Services labelled %s in %s (%s); set option namespace to "
                        "choose one" % (cluster_label, LABEL_EXPOSE_ISTIOD, where, found))


def peer_gateways(cluster):
    """Every istio-remote Gateway of a cluster, grouped by the cluster it describes."""
    by_cluster = {}
    for one in list_objects(cluster, GATEWAY_API_VERSION, GATEWAY_KIND):
        name = gateway.peer_cluster_of(one)
        if name:
            by_cluster.setdefault(name, []).append(one)
    return by_cluster


def peer_descriptor(cluster, namespace, install_namespace, trust_domain_source=None, cluster_label=None):
    """A cluster's peer descriptor, read the way ``istioctl multicluster link`` reads a destination:
    its east-west Service and Gateway, its topology and its trust domain.

    Raises GloomeshError naming the cluster when it cannot be linked yet (no Service, no address).
    """
    label = cluster_label or cluster.name
    service = eastwest_service(cluster, namespace, label)
    meta = service["metadata"]
    eastwest = get_object(cluster, GATEWAY_API_VERSION, GATEWAY_KIND, meta["name"], meta["namespace"])
    trust_domain, source = resolve_trust_domain(cluster, install_namespace, trust_domain_source)
    peer = gateway.peer_descriptor(service, trust_domain, eastwest)
    peer["trust_domain_source"] = source
    # Older releases label the Service with the network only: ask istiod like eastwest_gateway does.
    unknown = tuple(option for option in ("network", "cluster") if not peer[option])
    if unknown:
        peer["network"], peer["cluster"] = resolve_topology(
            cluster, install_namespace, peer["network"], peer["cluster"], needed=unknown)
    if not peer["address"]:
        raise GloomeshError(
            "cluster %s is not ready to link: Service %s/%s has no load-balancer address yet and its "
            "east-west Gateway advertises none (is a LoadBalancer implementation running? without one, "
            "set eastwest_gateway's address option)" % (peer["cluster"], meta["namespace"], meta["name"]),
            missing="address", cluster=peer["cluster"])
    return peer
