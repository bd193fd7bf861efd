# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Pure builders for the Gateways of multicluster Istio: the east-west Gateway a cluster
exposes itself with (``istioctl multicluster expose``) and the ``istio-remote`` peer Gateway
that describes another cluster (``istioctl multicluster link``), plus the peer descriptor
that carries one cluster's facts from ``eastwest_gateway_info`` to ``mesh_link``.

No cluster access and no validation here: validated values in, Kubernetes dicts out
(validation.py holds the rules).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ANNOTATION_ADVERTISED_ADDRESS,
    ANNOTATION_SERVICE_ACCOUNT,
    ANNOTATION_TRUST_DOMAIN,
    EASTWEST_CLASS,
    EASTWEST_NAME,
    GATEWAY_API_VERSION,
    GATEWAY_KIND,
    HBONE_LISTENER,
    HBONE_PORT,
    LABEL_CLUSTER,
    LABEL_EXPOSE_ISTIOD,
    LABEL_NETWORK,
    LABEL_REGION,
    LABEL_ZONE,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PEER_NAME_PREFIX,
    REMOTE_CLASS,
    XDS_LISTENER,
    XDS_PORT,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.validation import address_type


def listeners():
    """Both listeners of east-west and peer Gateways: HBONE data plane and istiod xDS."""
    return [
        {"name": HBONE_LISTENER, "port": HBONE_PORT, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
        {"name": XDS_LISTENER, "port": XDS_PORT, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
    ]


def topology_labels(network, cluster, region=None, zone=None):
    """Topology labels shared by both Gateways; region/zone only when set."""
    labels = {LABEL_NETWORK: network, LABEL_CLUSTER: cluster}
    if region:
        labels[LABEL_REGION] = region
    if zone:
        labels[LABEL_ZONE] = zone
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    return labels


def eastwest_gateway(namespace, network, cluster, region=None, zone=None, address=None):
    """The east-west Gateway of one cluster, as ``istioctl multicluster expose --generate`` prints it
    (procedure, "Deploy mesh components" step 8), from validated values.

    ``address``: the address peers must dial instead of the load balancer's, kept in our own
    annotation so that later runs (and other clusters' runs) find it.
    """
    labels = {LABEL_EXPOSE_ISTIOD: str(XDS_PORT)}
    labels.update(topology_labels(network, cluster, region, zone))
    metadata = {"name": EASTWEST_NAME, "namespace": namespace, "labels": labels}
    if address:
        metadata["annotations"] = {ANNOTATION_ADVERTISED_ADDRESS: address}
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": GATEWAY_KIND,
        "metadata": metadata,
        "spec": {"gatewayClassName": EASTWEST_CLASS, "listeners": listeners()},
    }


def peer_gateway_name(cluster):
    return PEER_NAME_PREFIX + cluster


def peer_gateway(peer):
    """The istio-remote Gateway describing ``peer`` (a validated descriptor) that
    ``istioctl multicluster link`` writes into the source cluster."""
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": GATEWAY_KIND,
        "metadata": {
            "name": peer_gateway_name(peer["cluster"]),
            "namespace": peer["namespace"],
            "annotations": {
                ANNOTATION_SERVICE_ACCOUNT: peer["service_account"],
                ANNOTATION_TRUST_DOMAIN: peer["trust_domain"],
            },
            "labels": topology_labels(peer["network"], peer["cluster"], peer["region"], peer["zone"]),
        },
        "spec": {
            "gatewayClassName": REMOTE_CLASS,
            "addresses": [{"type": peer["address_type"], "value": peer["address"]}],
            "listeners": listeners(),
        },
    }


def peer_cluster_of(gateway):
    """The cluster an istio-remote Gateway describes (None for other classes)."""
    if (gateway.get("spec") or {}).get("gatewayClassName") != REMOTE_CLASS:
        return None
    metadata = gateway.get("metadata") or {}
    cluster = (metadata.get("labels") or {}).get(LABEL_CLUSTER)
    if cluster:
        return cluster
    name = metadata.get("name") or ""
    # Older releases and hand-written peers may only carry the name.
    return name[len(PEER_NAME_PREFIX):] if name.startswith(PEER_NAME_PREFIX) else None


def gateway_address(gateway):
    """First status address of a Gateway, or None."""
    for entry in (gateway or {}).get("status", {}).get("addresses") or []:
        if entry.get("value"):
            return entry["value"]
    return None


def advertised_address(service, gateway=None):
    """The address peers dial: the one the east-west Gateway advertises in our annotation (set
    with eastwest_gateway's ``address``), else the Service's first load-balancer ingress (ip, then
    hostname), which is what ``istioctl multicluster link`` reads."""
    annotations = ((gateway or {}).get("metadata") or {}).get("annotations") or {}
    if annotations.get(ANNOTATION_ADVERTISED_ADDRESS):
        return annotations[ANNOTATION_ADVERTISED_ADDRESS]
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        return ingress[0].get("ip") or ingress[0].get("hostname") or None
    return None


def cluster_id_of(deployment):
    """istiod's CLUSTER_ID env value from its Deployment; 'Kubernetes' (Istio's default) means unset."""
    containers = (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    for container in containers:
        for env in container.get("env") or []:
            if env.get("name") == "CLUSTER_ID":
                value = env.get("value")
                return None if not value or value == "Kubernetes" else value
    return None


def peer_descriptor(service, trust_domain, gateway=None):
    """Peer descriptor of a cluster from its east-west Service (which inherits the Gateway's labels)
    and Gateway; network or cluster are None when neither carries them."""
    metadata = service.get("metadata") or {}
    labels = dict(((gateway or {}).get("metadata") or {}).get("labels") or {})
    labels.update(metadata.get("labels") or {})
    address = advertised_address(service, gateway)
    return {
        "cluster": labels.get(LABEL_CLUSTER),
        "network": labels.get(LABEL_NETWORK),
        "address": address,
        "address_type": address_type(address) if address else None,
        "trust_domain": trust_domain,
        "service_account": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "region": labels.get(LABEL_REGION),
        "zone": labels.get(LABEL_ZONE),
    }
