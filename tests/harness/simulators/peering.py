"""istiod's automatic peering (beta): the local peer Gateway a cluster publishes about itself.

Stands in for the Solo build of istiod with env PEERING_AUTOMATIC_LOCAL_GATEWAY=true, which the
operator sets from ConfigMap gloo-extensions-config, key values.istiod (procedure, "Automatically
link clusters (beta)", "Deploy mesh components" step 5). Per the procedure's "Review remote peer
gateways", each cluster then has an istio-remote Gateway `istio-remote-peer-<cluster>` in the
east-west namespace whose address is its east-west gateway's. The simulator builds it as Solo's
istiod does (NetworkWatcher.reconcileEastWestGateway and TranslateEastWestGateway,
platform/discovery/peering/controller.go and watcher.go of Solo's istiod source, see below), from
each Gateway of class istio-eastwest as that Gateway is:

- none is built (Solo's istiod logs a warning) unless the east-west Gateway has the labels
  istio.io/expose-istiod, topology.istio.io/cluster and topology.istio.io/network, listeners
  named cross-network and xds-tls, and an address in status.addresses;
- name istio-remote-peer-<its topology.istio.io/cluster label>;
- spec.addresses = the east-west Gateway's status.addresses, whatever they are (a ClusterIP
  while the load balancer is pending, see eastwest.py): a peer built too early is as broken as
  the east-west Gateway's status;
- listeners cross-network (HBONE) and xds-tls (TLS), both TLS Passthrough, on the ports of the
  east-west Gateway's listeners of those names;
- labels and annotations copied from the east-west Gateway (without kubectl's and the
  simulators' bookkeeping), plus annotations gateway.istio.io/trust-domain (this cluster's mesh
  trust domain) and gateway.istio.io/service-account (the east-west Gateway's name).

Solo's peering status writer (the same istiod; NetworkWatcher.reconcileGatewayStatus in
platform/discovery/peering/controller.go, peer parsing in TranslatePeerGateway and
ValidatePeerGateway of platform/discovery/peering/watcher.go, Solo's istiod source as published
at github.com/PetrMc/istio-petrmc-upstream-fork@d89b44066a) writes on every istio-remote Gateway,
beside Istio's Accepted and Programmed (eastwest.py), under its own field manager:

- a Gateway without a topology.istio.io/network label or without spec.addresses is invalid:
  PeeringSucceeded, PeerConnected and PeerDataPlaneProgrammed False, reason Invalid, message
  "no network started, encountered error validating gateway: <why>" (the data plane one:
  "peering data plane not programmed for cross-network traffic, encountered error validating
  gateway: <why>");
- the peer is the cluster of label topology.istio.io/cluster, else of the network label; a peer
  for the local cluster (CLUSTER_ID) starts no network and gets no Solo condition at all;
- PeerConnected True reason Programmed while the peer's istiod answers at spec.addresses[0] on
  the port of the listener named xds-tls (15012 without one), else False reason Pending "not
  connected to peer";
- PeeringSucceeded True reason Programmed once the peer's network has synced, Unknown reason
  Pending "network not yet synced check istiod log for more details" until then. Here a
  connected peer syncs at once, unless `Simulators.set_peering_status(context, "unsynced")`;
- PeerDataPlaneProgrammed True reason Programmed "peering data plane programmed for
  cross-network traffic with LoadBalancer service type" when the Gateway has a listener of
  protocol HBONE, else False reason Invalid "..., missing HBONE listener". Nothing else is
  checked (no network, service account or trust domain);
- several Gateways for one cluster are no condition (each is reported as above).

`Simulators.set_peering_status(context, "stopped")` stands for the moment before the writer has
looked at a Gateway: only Istio's Accepted and Programmed are there.

Simulator conventions (how tests and the collection recognise these Gateways): label
`gloo.solo.io/automatic-peering: "true"`, field manager `gloomesh-sim-istiod`, and the
simulator's annotation `simulator.gloomesh.io/owner: istiod/<context>`. Gateways the collection
manages carry field manager `gloomesh` and `app.kubernetes.io/managed-by: gloomesh.multicluster`.
The peer is removed when the env is switched off or the east-west Gateway is gone.
"""
from __future__ import annotations

from .base import (GATEWAYS, LAST_APPLIED, OWNER_ANNOTATION, COMPONENT_LABEL, component_of, marked, merge_conditions,
                   owner_of)
from .eastwest import (CLUSTER_LABEL, COMPONENT, EASTWEST_CLASS, EXPOSE_ISTIOD_LABEL, MANAGER, PEER_PREFIX,
                       REMOTE_CLASS, SERVICE_ACCOUNT_ANNOTATION, TRUST_DOMAIN_ANNOTATION, XDS_LISTENER, Endpoint,
                       cluster_trust_domain, istiod, istiod_env, xds_port)
from .operator import NETWORK_LABEL

AUTOMATIC_LABEL = "gloo.solo.io/automatic-peering"
PEERING_ENV = "PEERING_AUTOMATIC_LOCAL_GATEWAY"
PEER_LISTENERS = ("cross-network", XDS_LISTENER)
STATUS_MANAGER = "gloomesh-sim-solo-peering"
PEERING_STATUS_MODES = ("synced", "unsynced", "stopped")
CONNECTED, SUCCEEDED, DATAPLANE = ("gloo.solo.io/PeerConnected", "gloo.solo.io/PeeringSucceeded",
                                   "gloo.solo.io/PeerDataPlaneProgrammed")
DEFAULT_XDS_PORT = 15012


def local_peer(eastwest: dict, trust_domain: str) -> dict | None:
    """The istio-remote Gateway describing this cluster, built from an east-west Gateway (None: none)."""
    meta = eastwest["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != COMPONENT_LABEL}
    ports = {entry.get("name"): entry.get("port") for entry in (eastwest.get("spec") or {}).get("listeners") or []}
    addresses = [{"type": a.get("type") or "IPAddress", "value": a["value"]}
                 for a in (eastwest.get("status") or {}).get("addresses") or [] if a.get("value")]
    if not (EXPOSE_ISTIOD_LABEL in labels and labels.get(CLUSTER_LABEL) and NETWORK_LABEL in labels
            and all(ports.get(name) for name in PEER_LISTENERS) and addresses):
        return None
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in (LAST_APPLIED, OWNER_ANNOTATION)}
    labels[AUTOMATIC_LABEL] = "true"
    annotations[TRUST_DOMAIN_ANNOTATION] = trust_domain
    annotations[SERVICE_ACCOUNT_ANNOTATION] = meta["name"]
    listeners = [{"name": name, "port": ports[name], "protocol": protocol, "tls": {"mode": "Passthrough"}}
                 for name, protocol in zip(PEER_LISTENERS, ("HBONE", "TLS"))]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": PEER_PREFIX + labels[CLUSTER_LABEL], "namespace": meta["namespace"],
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
        for gw in cluster.items(GATEWAYS):
            meta = gw["metadata"]
            if (gw.get("spec") or {}).get("gatewayClassName") != EASTWEST_CLASS or meta.get("deletionTimestamp"):
                continue
            peer = local_peer(gw, cluster_trust_domain(cluster))
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


# -- Solo's peering status writer (see the module docstring) ----------------------------------------
def invalid_peer(gw: dict) -> str | None:
    """Why Solo's istiod starts no network for an istio-remote Gateway (ValidatePeerGateway), or None."""
    if not ((gw["metadata"].get("labels") or {}).get(NETWORK_LABEL)):
        return "no network label found in gateway"
    if not (gw.get("spec") or {}).get("addresses"):
        if (gw.get("status") or {}).get("addresses"):
            return "no spec.addresses found in gateway (but found status.addresses)"
        return "no addresses found in gateway"
    return None


def peer_of(gw: dict) -> str:
    """The cluster a valid peer Gateway describes (TranslatePeerGateway): cluster label, else network."""
    labels = gw["metadata"].get("labels") or {}
    return labels.get(CLUSTER_LABEL) or labels[NETWORK_LABEL]


def dialled(gw: dict) -> tuple[str, int]:
    """Where Solo's istiod dials the peer's istiod: spec.addresses[0], port of listener xds-tls else 15012."""
    port = xds_port(gw)
    return gw["spec"]["addresses"][0]["value"], DEFAULT_XDS_PORT if port is None else port


def solo_conditions(gw: dict, local_cluster: str, endpoints: list[Endpoint], synced: bool = True):
    """(type, status, reason, message) of Solo's conditions on an istio-remote Gateway; None for a
    self-peer (no network started, no status)."""
    invalid = invalid_peer(gw)
    if invalid:
        why = f"no network started, encountered error validating gateway: {invalid}"
        return [(SUCCEEDED, "False", "Invalid", why), (CONNECTED, "False", "Invalid", why),
                (DATAPLANE, "False", "Invalid", "peering data plane not programmed for cross-network traffic, "
                                                f"encountered error validating gateway: {invalid}")]
    if peer_of(gw) == local_cluster:
        return None
    address, port = dialled(gw)
    up = any(address in e.addresses and e.xds_port == port for e in endpoints)
    found = [(CONNECTED, "True", "Programmed", "") if up else (CONNECTED, "False", "Pending", "not connected to peer"),
             (SUCCEEDED, "True", "Programmed", "") if up and synced else
             (SUCCEEDED, "Unknown", "Pending", "network not yet synced check istiod log for more details")]
    if any(entry.get("protocol") == "HBONE" for entry in (gw.get("spec") or {}).get("listeners") or []):
        found.append((DATAPLANE, "True", "Programmed",
                      "peering data plane programmed for cross-network traffic with LoadBalancer service type"))
    else:
        found.append((DATAPLANE, "False", "Invalid",
                      "peering data plane not programmed for cross-network traffic, missing HBONE listener"))
    return found


class PeeringStatusWriter:
    """Writes solo_conditions on the istio-remote Gateways of clusters whose istiod runs."""

    def __init__(self, sims):
        self.sims = sims

    def reconcile(self, cluster) -> None:
        mode = self.sims.peering_status(cluster.name)
        dep = istiod(cluster)
        if mode == "stopped" or dep is None or not cluster.served(GATEWAYS):
            return
        local = istiod_env(dep).get("CLUSTER_ID") or "Kubernetes"
        endpoints = self.sims.istiod_endpoints()
        for gw in cluster.items(GATEWAYS):
            if (gw.get("spec") or {}).get("gatewayClassName") != REMOTE_CLASS \
                    or gw["metadata"].get("deletionTimestamp"):
                continue
            found = solo_conditions(gw, local, endpoints, synced=mode == "synced")
            if found is None:
                continue
            gen = gw["metadata"].get("generation", 1)
            conditions = merge_conditions((gw.get("status") or {}).get("conditions"), [
                # message is required by the Gateway CRD's condition schema (metav1.Condition): "" when none.
                {"type": t, "status": st, "reason": r, "message": m, "observedGeneration": gen}
                for t, st, r, m in found])
            cluster.ensure_status(gw, {"conditions": conditions}, STATUS_MANAGER, own_conditions=True)
