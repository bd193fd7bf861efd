# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Pure builders for the Gateways of multicluster Istio: the east-west Gateway a cluster
exposes itself with (``istioctl multicluster expose``) and the ``istio-remote`` peer Gateway
that describes another cluster (``istioctl multicluster link``), plus the peer descriptor
that carries one cluster's facts from ``eastwest_gateway_info`` to ``mesh_link``.

No cluster access here: options in, validated values and Kubernetes dicts out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_apply import (
    MANAGED_BY_LABEL as LABEL_MANAGED_BY,
    MANAGED_BY_VALUE as MANAGED_BY,
)

API_VERSION = "gateway.networking.k8s.io/v1"
KIND = "Gateway"

EASTWEST_NAME = "istio-eastwest"
EASTWEST_CLASS = "istio-eastwest"
REMOTE_CLASS = "istio-remote"
PEER_NAME_PREFIX = "istio-remote-peer-"
DEFAULT_NAMESPACE = "istio-eastwest"
DEFAULT_TRUST_DOMAIN = "cluster.local"
# The east-west Service (and its ServiceAccount) is named after the Gateway.
DEFAULT_SERVICE_ACCOUNT = EASTWEST_NAME

LABEL_EXPOSE_ISTIOD = "istio.io/expose-istiod"
EXPOSE_ISTIOD_PORT = "15012"
LABEL_NETWORK = "topology.istio.io/network"
LABEL_CLUSTER = "topology.istio.io/cluster"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_ZONE = "topology.kubernetes.io/zone"
ANNOTATION_ADDRESS = "istio.io/expose-istiod-address"
ANNOTATION_SERVICE_ACCOUNT = "gateway.istio.io/service-account"
ANNOTATION_TRUST_DOMAIN = "gateway.istio.io/trust-domain"

ADDRESS_IP = "IPAddress"
ADDRESS_HOSTNAME = "Hostname"
ADDRESS_TYPES = (ADDRESS_IP, ADDRESS_HOSTNAME)

PEER_FIELDS = ("cluster", "network", "address", "address_type", "trust_domain",
               "service_account", "namespace", "region", "zone")

# Kubernetes validation rules, checked here so bad input fails before any request.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# SPIFFE trust domain characters (lowercase letters, digits, dot, dash, underscore).
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")


def _fail(option, value, rule):
    """GloomeshError "<option> <value> <rule>", e.g. "zone 'a b' must be a Kubernetes label value: ..."."""
    shown = " " if value is None or value == "" else " %r " % (value,)
    raise GloomeshError(option + shown + rule, option=option)


def validate_cluster_name(value, option="cluster"):
    """A cluster name ends up in a label value and in the peer Gateway's object name."""
    if not value or len(value) > 63 or not _DNS_SUBDOMAIN.match(value):
        _fail(option, value, "must be 1-63 lowercase letters, digits, '-' or '.', starting and "
                             "ending with a letter or digit (it is a label value and part of "
                             "the Gateway name %s<cluster>)" % PEER_NAME_PREFIX)
    return value


def validate_label_value(value, option):
    """Network, region and zone are label values."""
    if not value or len(value) > 63 or not _LABEL_VALUE.match(value):
        _fail(option, value, "must be a Kubernetes label value: 1-63 letters, digits, '-', '_' "
                             "or '.', starting and ending with a letter or digit")
    return value


def validate_namespace(value, option="namespace"):
    if not value or len(value) > 63 or not _DNS_LABEL.match(value):
        _fail(option, value, "must be a namespace name: 1-63 lowercase letters, digits or '-', "
                             "starting and ending with a letter or digit")
    return value


def address_type(value):
    """Gateway API address type of an address: IPAddress for IPv4/IPv6, else Hostname."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ADDRESS_HOSTNAME
    return ADDRESS_IP


def validate_address(value, option="address"):
    """An IP address or a DNS hostname, as Gateway spec.addresses accepts them."""
    if value and address_type(value) == ADDRESS_IP:
        return value
    if not value or len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        _fail(option, value, "must be an IPv4/IPv6 address or a lowercase DNS hostname")
    return value


def listeners():
    """Both listeners of east-west and peer Gateways: HBONE data plane and istiod xDS."""
    return [
        {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
        {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
    ]


def topology_labels(network, cluster, region=None, zone=None):
    """Topology labels shared by both Gateways; region/zone only when set."""
    labels = {LABEL_NETWORK: network, LABEL_CLUSTER: cluster}
    if region:
        labels[LABEL_REGION] = region
    if zone:
        labels[LABEL_ZONE] = zone
    labels[LABEL_MANAGED_BY] = MANAGED_BY
    return labels


def eastwest_gateway(namespace, network, cluster, region=None, zone=None, address=None):
    """The east-west Gateway of one cluster (facts §1), from validated values."""
    labels = {LABEL_EXPOSE_ISTIOD: EXPOSE_ISTIOD_PORT}
    labels.update(topology_labels(network, cluster, region, zone))
    metadata = {"name": EASTWEST_NAME, "namespace": namespace, "labels": labels}
    if address:
        metadata["annotations"] = {ANNOTATION_ADDRESS: address}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"gatewayClassName": EASTWEST_CLASS, "listeners": listeners()},
    }


def validate_eastwest(namespace, network=None, cluster=None, region=None, zone=None, address=None):
    """Validate eastwest_gateway's options; empty ones count as not given (network/cluster are
    then discovered and validated once known)."""
    validate_namespace(namespace)
    if network:
        validate_label_value(network, "network")
    if cluster:
        validate_cluster_name(cluster)
    if region:
        validate_label_value(region, "region")
    if zone:
        validate_label_value(zone, "zone")
    if address:
        validate_address(address)


def peer_gateway_name(cluster):
    return PEER_NAME_PREFIX + cluster


def normalize_peer(raw, option="peer", for_link=True):
    """Validate one peer descriptor and fill its defaults.

    ``for_link`` False (unlinking) needs only the cluster and namespace.
    """
    if not isinstance(raw, dict):
        _fail(option, None, "must be a peer descriptor (a dict as returned by eastwest_gateway_info)")
    unknown = sorted(set(raw) - set(PEER_FIELDS))
    if unknown:
        _fail(option, None, "has unknown keys %s; allowed: %s" % (", ".join(unknown), ", ".join(PEER_FIELDS)))
    peer = dict((key, raw.get(key) or None) for key in PEER_FIELDS)
    peer["namespace"] = peer["namespace"] or DEFAULT_NAMESPACE
    peer["trust_domain"] = peer["trust_domain"] or DEFAULT_TRUST_DOMAIN
    peer["service_account"] = peer["service_account"] or DEFAULT_SERVICE_ACCOUNT

    if not peer["cluster"]:
        _fail(option + ".cluster", peer["cluster"], "is required (the peer's cluster name)")
    validate_cluster_name(peer["cluster"], option + ".cluster")
    validate_namespace(peer["namespace"], option + ".namespace")
    if not for_link:
        return peer

    # istiod ignores a peer Gateway without a network label or without spec.addresses.
    if not peer["address"]:
        _fail(option + ".address", peer["address"],
              "is required: peer %s has no east-west address (is its gateway ready?)" % peer["cluster"])
    validate_address(peer["address"], option + ".address")
    derived = address_type(peer["address"])
    if peer["address_type"] is None:
        peer["address_type"] = derived
    elif peer["address_type"] != derived:
        _fail(option + ".address_type", peer["address_type"],
              "must be %s for address %r (allowed: %s)" % (derived, peer["address"], ", ".join(ADDRESS_TYPES)))
    if not peer["network"]:
        _fail(option + ".network", peer["network"],
              "is required: istiod ignores a peer Gateway without a network label")
    validate_label_value(peer["network"], option + ".network")
    for key in ("region", "zone"):
        if peer[key]:
            validate_label_value(peer[key], "%s.%s" % (option, key))
    if not _TRUST_DOMAIN.match(peer["trust_domain"]):
        _fail(option + ".trust_domain", peer["trust_domain"],
              "must be a trust domain: lowercase letters, digits, '.', '-' or '_'")
    if not _DNS_LABEL.match(peer["service_account"]) or len(peer["service_account"]) > 63:
        _fail(option + ".service_account", peer["service_account"],
              "must be a service account name: lowercase letters, digits or '-'")
    return peer


def validate_peers(raw_peers, source_cluster=None, for_link=True):
    """Normalise mesh_link's ``peers``; refuse self-links and duplicates before any write."""
    peers = []
    seen = {}
    for index, raw in enumerate(raw_peers or []):
        option = "peers[%d]" % index
        peer = normalize_peer(raw, option, for_link=for_link)
        if source_cluster and peer["cluster"] == source_cluster:
            _fail(option + ".cluster", peer["cluster"],
                  "is the source cluster itself (option cluster): a cluster is never linked to itself")
        if peer["cluster"] in seen:
            _fail(option + ".cluster", peer["cluster"],
                  "duplicates peers[%d]: each peer cluster may be listed once (two peer "
                  "Gateways for one cluster break peering)" % seen[peer["cluster"]])
        seen[peer["cluster"]] = index
        peers.append(peer)
    return peers


def peer_gateway(peer):
    """The istio-remote Gateway (facts §2) describing ``peer``, a normalised descriptor."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
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


def condition_status(obj, condition_type):
    """Status ('True'/'False'/'Unknown') of a condition, or None when not reported."""
    for condition in (obj or {}).get("status", {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return condition.get("status")
    return None


def service_address(service):
    """Advertised address of an east-west Service, as ``istioctl multicluster link`` reads it:
    the expose-istiod-address annotation, else the first load-balancer ingress (ip, then hostname).
    """
    metadata = service.get("metadata") or {}
    override = (metadata.get("annotations") or {}).get(ANNOTATION_ADDRESS)
    if override:
        return override
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
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


def trust_domain_of(mesh_config):
    """Top-level trustDomain of a parsed MeshConfig document, default cluster.local."""
    if isinstance(mesh_config, dict) and mesh_config.get("trustDomain"):
        return mesh_config["trustDomain"]
    return DEFAULT_TRUST_DOMAIN


def peer_descriptor(service, trust_domain, network=None, cluster=None):
    """Peer descriptor of a cluster from its east-west Service (labels win over the fallbacks)."""
    metadata = service.get("metadata") or {}
    labels = metadata.get("labels") or {}
    address = service_address(service)
    return {
        "cluster": labels.get(LABEL_CLUSTER) or cluster,
        "network": labels.get(LABEL_NETWORK) or network,
        "address": address,
        "address_type": address_type(address) if address else None,
        "trust_domain": trust_domain,
        "service_account": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "region": labels.get(LABEL_REGION),
        "zone": labels.get(LABEL_ZONE),
    }
