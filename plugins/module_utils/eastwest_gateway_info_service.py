# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What eastwest_gateway_info does: read one cluster the way ``istioctl multicluster link``
reads a destination and return its peer descriptor. Read-only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import yaml
except ImportError:
    # gloomesh_module() has already failed with missing_required_lib("pyyaml"); stay importable.
    yaml = None

from ansible_collections.gloomesh.multicluster.plugins.module_utils import gateway_builder as gb
from ansible_collections.gloomesh.multicluster.plugins.module_utils.eastwest_gateway_service import (
    discover_cluster,
    resolve_topology,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_apply import (
    describe,
    get_object,
    list_objects,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_client import get_k8s_client

# The Gloo Operator's revision "gloo" first, then the default revision.
MESH_CONFIGMAPS = ("istio-gloo", "istio")


def read_trust_domain(client, install_namespace):
    """(trust domain, where it came from): the mesh ConfigMap's top-level trustDomain."""
    for name in MESH_CONFIGMAPS:
        configmap = get_object(client, "v1", "ConfigMap", name, install_namespace)
        if configmap is None:
            continue
        where = describe("ConfigMap", name, install_namespace)
        try:
            mesh = yaml.safe_load((configmap.get("data") or {}).get("mesh") or "")
        except yaml.YAMLError as exc:
            raise GloomeshError("%s: data key mesh is not a YAML MeshConfig document: %s" % (where, exc))
        return gb.trust_domain_of(mesh), where
    return gb.DEFAULT_TRUST_DOMAIN, None


def _eastwest_service(client, namespace, install_namespace, context):
    services = list_objects(client, "v1", "Service", namespace, label_selector=gb.LABEL_EXPOSE_ISTIOD)
    if len(services) == 1:
        return services[0]
    # istiod names the Service after the Gateway: among several, the standard name wins.
    named = [s for s in services if s["metadata"]["name"] == gb.EASTWEST_NAME]
    if len(named) == 1:
        return named[0]
    # Only the error messages need the cluster's name.
    cluster = discover_cluster(client, install_namespace) or context or "(current context)"
    where = "namespace %s" % namespace if namespace else "any namespace"
    if not services:
        raise GloomeshError(
            "cluster %s is not ready to link: no Service labelled %s in %s (apply its east-west "
            "Gateway with eastwest_gateway and let istiod create the Service)"
            % (cluster, gb.LABEL_EXPOSE_ISTIOD, where), missing="service")
    found = ", ".join(sorted("%s/%s" % (s["metadata"]["namespace"], s["metadata"]["name"]) for s in services))
    raise GloomeshError("cluster %s has several Services labelled %s in %s (%s); set option namespace to "
                        "choose one" % (cluster, gb.LABEL_EXPOSE_ISTIOD, where, found))


def eastwest_gateway_info(module):
    params = module.params
    namespace = None if params["all_namespaces"] else gb.validate_namespace(params["namespace"])
    install_namespace = gb.validate_namespace(params["install_namespace"], "install_namespace")
    client = get_k8s_client(module)

    service = _eastwest_service(client, namespace, install_namespace, params["context"])
    trust_domain, source = read_trust_domain(client, install_namespace)
    if source is None:
        module.warn("no mesh ConfigMap %s in namespace %s; assuming trust domain %s"
                    % (" or ".join(MESH_CONFIGMAPS), install_namespace, gb.DEFAULT_TRUST_DOMAIN))

    peer = gb.peer_descriptor(service, trust_domain)
    # Older releases label the Service with the network only: ask istiod like eastwest_gateway.
    unknown = tuple(option for option in ("network", "cluster") if not peer[option])
    if unknown:
        peer["network"], peer["cluster"] = resolve_topology(
            client, install_namespace, peer["network"], peer["cluster"], needed=unknown)
    if not peer["address"]:
        raise GloomeshError(
            "cluster %s is not ready to link: Service %s has no %s annotation and no "
            "status.loadBalancer.ingress address yet (is its load balancer provisioned?)"
            % (peer["cluster"], "%s/%s" % (peer["namespace"], peer["service_account"]), gb.ANNOTATION_ADDRESS),
            missing="address", cluster=peer["cluster"])
    # What mesh_link would refuse is refused here already, naming this cluster.
    try:
        gb.normalize_peer(peer)
    except GloomeshError as exc:
        raise GloomeshError("cluster %s cannot be linked: %s" % (peer["cluster"], exc.message), **exc.details)
    return {"changed": False, "peer": peer, "trust_domain_source": source}
