"""istiod's automatic peering (beta): the local peer Gateway a cluster publishes about itself.

Stands in for istiod with env PEERING_AUTOMATIC_LOCAL_GATEWAY=true (set by the operator from
ConfigMap gloo-extensions-config, key values.istiod), facts.md §3: from the local `istio-eastwest`
Gateway's status.addresses it builds, in the same namespace, `istio-remote-peer-<CLUSTER_ID>`
of class istio-remote with the shape of facts.md §2 — the east-west Gateway's labels and
annotations copied, topology.istio.io/cluster added when missing, and the annotations
gateway.istio.io/trust-domain (the mesh's) and gateway.istio.io/service-account: istio-eastwest.

Simulator conventions (how tests and the collection recognise these Gateways): label
`gloo.solo.io/automatic-peering: "true"`, field manager `gloomesh-sim-istiod`, and the
simulator's annotation `simulator.gloomesh.io/owner: istiod/<context>`. Gateways the collection
manages carry field manager `gloomesh` and `app.kubernetes.io/managed-by: gloomesh.multicluster`.
The peer is removed when the env is switched off or the east-west Gateway loses its address.
"""
from __future__ import annotations

from .base import GATEWAYS, component_of, marked, owner_of
from .eastwest import (ADDRESS_ANNOTATION, CLUSTER_LABEL, COMPONENT, EASTWEST_CLASS, MANAGER, PEER_PREFIX,
                       REMOTE_CLASS, SERVICE_ACCOUNT_ANNOTATION, TRUST_DOMAIN_ANNOTATION, cluster_trust_domain,
                       copied_metadata, istiod, istiod_env)

AUTOMATIC_LABEL = "gloo.solo.io/automatic-peering"
PEERING_ENV = "PEERING_AUTOMATIC_LOCAL_GATEWAY"
EASTWEST_NAME = "istio-eastwest"
LISTENERS = [
    {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
    {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
]


def local_peer(eastwest: dict, cluster_id: str, trust_domain: str) -> dict | None:
    """The istio-remote Gateway describing this cluster, built from its east-west Gateway (None: no address yet)."""
    addresses = [{"type": a.get("type") or "IPAddress", "value": a["value"]}
                 for a in (eastwest.get("status") or {}).get("addresses") or [] if a.get("value")]
    if not addresses:
        return None
    labels, annotations = copied_metadata(eastwest)
    annotations.pop(ADDRESS_ANNOTATION, None)  # an east-west setting, meaningless on a peer
    labels.setdefault(CLUSTER_LABEL, cluster_id)
    labels[AUTOMATIC_LABEL] = "true"
    annotations[TRUST_DOMAIN_ANNOTATION] = trust_domain
    annotations[SERVICE_ACCOUNT_ANNOTATION] = EASTWEST_NAME
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": PEER_PREFIX + cluster_id, "namespace": eastwest["metadata"]["namespace"],
                     "labels": labels, "annotations": annotations},
        "spec": {"gatewayClassName": REMOTE_CLASS, "addresses": addresses, "listeners": LISTENERS},
    }


def owner(cluster) -> str:
    return f"istiod/{cluster.name}"


def reconcile(cluster) -> None:
    if not cluster.served(GATEWAYS):
        return
    dep = istiod(cluster)
    if dep is None:
        return  # nobody manages (or removes) automatic peers while istiod is down
    wanted = set()
    env = istiod_env(dep)
    if env.get(PEERING_ENV) == "true":
        cluster_id = env.get("CLUSTER_ID") or "Kubernetes"
        for gw in cluster.items(GATEWAYS):
            meta = gw["metadata"]
            if meta["name"] != EASTWEST_NAME or (gw.get("spec") or {}).get("gatewayClassName") != EASTWEST_CLASS \
                    or meta.get("deletionTimestamp"):
                continue
            peer = local_peer(gw, cluster_id, cluster_trust_domain(cluster))
            if peer is None:
                continue
            existing = cluster.cached(GATEWAYS, peer["metadata"]["name"], meta["namespace"])
            if existing is not None and owner_of(existing) != owner(cluster):
                continue  # someone else's Gateway of that name: istiod would not overwrite it
            wanted.add((meta["namespace"], peer["metadata"]["name"]))
            cluster.ensure(marked(peer, COMPONENT, owner(cluster)), MANAGER)
    for gw in cluster.items(GATEWAYS):
        meta = gw["metadata"]
        if component_of(gw) == COMPONENT and owner_of(gw) == owner(cluster) \
                and (meta["namespace"], meta["name"]) not in wanted:
            cluster.remove(GATEWAYS, meta["name"], meta["namespace"])
