"""istiod's automatic peering (beta): the local peer Gateway a cluster publishes about itself.

Stands in for the Solo build of istiod with env PEERING_AUTOMATIC_LOCAL_GATEWAY=true, which the
operator sets from ConfigMap gloo-extensions-config, key values.istiod (procedure, "Automatically
link clusters (beta)", "Deploy mesh components" step 5). Per the procedure's "Review remote peer
gateways", each cluster then has an istio-remote Gateway `istio-remote-peer-<cluster>` in the
east-west namespace whose address is its east-west gateway's. The simulator builds it from the
local `istio-eastwest` Gateway as that Gateway is, adding nothing it lacks:

- spec.addresses = the east-west Gateway's status.addresses, whatever they are (a ClusterIP
  while the load balancer is pending, see eastwest.py): a peer built too early is as broken as
  the east-west Gateway's status; none are built before any address is reported;
- listeners = the east-west Gateway's cross-network and xds-tls listeners (their ports are what
  peers dial);
- labels and annotations copied from the east-west Gateway (without kubectl's and the
  simulators' bookkeeping): a missing topology.istio.io/network or topology.istio.io/cluster
  label stays missing;
- annotations gateway.istio.io/trust-domain (this cluster's mesh trust domain) and
  gateway.istio.io/service-account (the east-west gateway's service account), the identity
  peers need (see eastwest.py).

Simulator conventions (how tests and the collection recognise these Gateways): label
`gloo.solo.io/automatic-peering: "true"`, field manager `gloomesh-sim-istiod`, and the
simulator's annotation `simulator.gloomesh.io/owner: istiod/<context>`. Gateways the collection
manages carry field manager `gloomesh` and `app.kubernetes.io/managed-by: gloomesh.multicluster`.
The peer is removed when the env is switched off or the east-west Gateway is gone.
"""
from __future__ import annotations

from .base import GATEWAYS, LAST_APPLIED, OWNER_ANNOTATION, COMPONENT_LABEL, component_of, marked, owner_of
from .eastwest import (COMPONENT, EASTWEST_CLASS, MANAGER, PEER_PREFIX, REMOTE_CLASS, SERVICE_ACCOUNT_ANNOTATION,
                       TRUST_DOMAIN_ANNOTATION, XDS_LISTENER, cluster_trust_domain, istiod, istiod_env,
                       service_account_name)

AUTOMATIC_LABEL = "gloo.solo.io/automatic-peering"
PEERING_ENV = "PEERING_AUTOMATIC_LOCAL_GATEWAY"
EASTWEST_NAME = "istio-eastwest"
PEER_LISTENERS = ("cross-network", XDS_LISTENER)


def local_peer(eastwest: dict, cluster_id: str, trust_domain: str) -> dict | None:
    """The istio-remote Gateway describing this cluster, built from its east-west Gateway (None: no address yet)."""
    addresses = [{"type": a.get("type") or "IPAddress", "value": a["value"]}
                 for a in (eastwest.get("status") or {}).get("addresses") or [] if a.get("value")]
    if not addresses:
        return None
    meta = eastwest["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != COMPONENT_LABEL}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in (LAST_APPLIED, OWNER_ANNOTATION)}
    labels[AUTOMATIC_LABEL] = "true"
    annotations[TRUST_DOMAIN_ANNOTATION] = trust_domain
    annotations[SERVICE_ACCOUNT_ANNOTATION] = service_account_name(eastwest)
    listeners = [dict(listener) for listener in (eastwest.get("spec") or {}).get("listeners") or []
                 if listener.get("name") in PEER_LISTENERS]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": PEER_PREFIX + cluster_id, "namespace": meta["namespace"],
                     "labels": labels, "annotations": annotations},
        "spec": {"gatewayClassName": REMOTE_CLASS, "addresses": addresses, "listeners": listeners},
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
            cluster.ensure(marked(peer, COMPONENT, owner(cluster)), MANAGER, exact_metadata=True)
    for gw in cluster.items(GATEWAYS):
        meta = gw["metadata"]
        if component_of(gw) == COMPONENT and owner_of(gw) == owner(cluster) \
                and (meta["namespace"], meta["name"]) not in wanted:
            cluster.remove(GATEWAYS, meta["name"], meta["namespace"])
