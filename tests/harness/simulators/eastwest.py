"""istiod simulator: the gateway controller for classes istio-eastwest and istio-remote.

Stands in for istiod of revision `gloo` (installed by the operator simulator) in its role as
Gateway API controller, reproducing facts.md §1 and §2. It acts only in clusters where the
istiod-gloo Deployment is available and the GatewayClass exists (istiod is that class's
controller), and it marks both classes Accepted.

East-west (class istio-eastwest, controller istio.io/eastwest-controller), facts.md §1: for each
Gateway it deploys a ServiceAccount, a Deployment and a LoadBalancer Service named after the
Gateway (`istio-eastwest` for the fixed name), the Service inheriting the Gateway's labels and
annotations (so it carries istio.io/expose-istiod) with ports 15021, 15008 and 15012. A
simulated cloud load balancer gives the Service `status.loadBalancer.ingress[0].ip` =
`Simulators.lb_address(context)` (198.51.100.0/24, documentation addresses nothing is ever sent
to). The Gateway then gets `status.addresses` (the `istio.io/expose-istiod-address` annotation
when set, else the load-balancer IP) and Accepted/Programmed=True with observedGeneration.
Deleting the Gateway removes what was deployed for it.

Remote peers (class istio-remote), facts.md §2: a Gateway without a non-empty
topology.istio.io/network label or without spec.addresses is rejected (Accepted=False with a
message, nothing programmed). Otherwise spec.addresses is mirrored to status.addresses,
Accepted/Programmed are True and the Gloo peering conditions are reported:
gloo.solo.io/PeerConnected and gloo.solo.io/PeeringSucceeded are True when the address is the
programmed east-west address of a simulated cluster, False otherwise ("link too early", wrong
address) and False for every Gateway when two of them describe the same peer cluster
("multiple gateways for cluster"); gloo.solo.io/PeerDataPlaneProgrammed is False when the
gateway.istio.io/service-account annotation is missing or gateway.istio.io/trust-domain
(default cluster.local) differs from the peer's mesh trust domain.
"""
from __future__ import annotations

import ipaddress

import yaml

from .base import (CONFIGMAPS, DEPLOYMENTS, GATEWAYCLASSES, GATEWAYS, LAST_APPLIED, OWNER_ANNOTATION, SERVICEACCOUNTS,
                   SERVICES, COMPONENT_LABEL, component_of, condition, marked, merge_conditions, owner_of)
from .operator import GATEWAY_CLASSES, ISTIOD, MESH_CONFIGMAP, NETWORK_LABEL

COMPONENT = "istiod"
MANAGER = "gloomesh-sim-istiod"
EASTWEST_CLASS = "istio-eastwest"
REMOTE_CLASS = "istio-remote"
CLUSTER_LABEL = "topology.istio.io/cluster"
ADDRESS_ANNOTATION = "istio.io/expose-istiod-address"
SERVICE_ACCOUNT_ANNOTATION = "gateway.istio.io/service-account"
TRUST_DOMAIN_ANNOTATION = "gateway.istio.io/trust-domain"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
PEER_PREFIX = "istio-remote-peer-"
PORTS = [{"name": "status-port", "port": 15021, "protocol": "TCP"},
         {"name": "tls-hbone", "port": 15008, "protocol": "TCP"},
         {"name": "tls-xds", "port": 15012, "protocol": "TCP"}]


# -- pure parts --------------------------------------------------------------------------------
def address_type(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return "IPAddress"
    except ValueError:
        return "Hostname"


def _meta(obj) -> dict:
    return obj.get("metadata") or {}


def copied_metadata(gw: dict) -> tuple[dict, dict]:
    """The Gateway's labels and annotations without kubectl's and the simulators' bookkeeping."""
    labels = {k: v for k, v in (_meta(gw).get("labels") or {}).items() if k != COMPONENT_LABEL}
    annotations = {k: v for k, v in (_meta(gw).get("annotations") or {}).items()
                   if k not in (LAST_APPLIED, OWNER_ANNOTATION)}
    return labels, annotations


def eastwest_objects(gw: dict, image: str) -> list[dict]:
    """ServiceAccount, Deployment and LoadBalancer Service that istiod deploys for an east-west Gateway."""
    name, ns = _meta(gw)["name"], _meta(gw)["namespace"]
    labels, annotations = copied_metadata(gw)
    labels[GATEWAY_NAME_LABEL] = name
    selector = {GATEWAY_NAME_LABEL: name}
    meta = {"name": name, "namespace": ns, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(meta),
         "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": {**selector, "istio.io/gateway-name": name}},
                               "spec": {"serviceAccountName": name, "containers": [{
                                   "name": "istio-proxy", "image": image, "args": ["proxy", "router"],
                                   "ports": [{"containerPort": p["port"], "name": p["name"]} for p in PORTS]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {**meta, "annotations": annotations},
         "spec": {"type": "LoadBalancer", "selector": selector, "ports": PORTS}},
    ]


def gateway_conditions(gw: dict, desired: list[tuple[str, str, str, str]]) -> list[dict]:
    gen = _meta(gw).get("generation", 1)
    return merge_conditions(((gw.get("status") or {}).get("conditions")), [
        {"type": t, "status": s, "reason": r, "message": m, "observedGeneration": gen} for t, s, r, m in desired])


def eastwest_status(gw: dict, lb_ip: str) -> dict:
    address = (_meta(gw).get("annotations") or {}).get(ADDRESS_ANNOTATION) or lb_ip
    service = f"{_meta(gw)['name']}.{_meta(gw)['namespace']}.svc.cluster.local:15012"
    return {"addresses": [{"type": address_type(address), "value": address}],
            "conditions": gateway_conditions(gw, [
                ("Accepted", "True", "Accepted", "Resource accepted"),
                ("Programmed", "True", "Programmed", f"Resource programmed, assigned to service(s) {service}"),
            ])}


def peer_cluster(gw: dict) -> str:
    """The cluster an istio-remote Gateway describes: its cluster label, else its name, else its network."""
    labels = _meta(gw).get("labels") or {}
    name = _meta(gw)["name"]
    if labels.get(CLUSTER_LABEL):
        return labels[CLUSTER_LABEL]
    if name.startswith(PEER_PREFIX):
        return name[len(PEER_PREFIX):]
    return labels.get(NETWORK_LABEL) or name


def remote_status(gw: dict, directory: dict[str, str], trust_domains: dict[str, str],
                  duplicates: list[str]) -> dict:
    """What istiod reports on an istio-remote Gateway.

    directory: programmed east-west address -> simulated cluster; trust_domains: cluster -> its
    mesh trust domain; duplicates: names of the other istio-remote Gateways for the same peer.
    """
    labels = _meta(gw).get("labels") or {}
    annotations = _meta(gw).get("annotations") or {}
    addresses = [{"type": a.get("type") or "IPAddress", "value": a.get("value")}
                 for a in (gw.get("spec") or {}).get("addresses") or [] if a.get("value")]
    problem = None
    if not labels.get(NETWORK_LABEL):
        problem = f"label {NETWORK_LABEL} is required on istio-remote gateways"
    elif not addresses:
        problem = "spec.addresses is required on istio-remote gateways (status addresses are not used)"
    if problem:
        return {"addresses": [], "conditions": gateway_conditions(gw, [
            ("Accepted", "False", "InvalidParameters", problem),
            ("Programmed", "False", "Invalid", problem)])}
    peer = peer_cluster(gw)
    target = next((directory[a["value"]] for a in addresses if a["value"] in directory), None)
    if duplicates:
        connected = ("False", "MultipleGateways",
                     f"multiple gateways for cluster {peer}: {', '.join(sorted(duplicates + [_meta(gw)['name']]))}")
    elif target is None:
        connected = ("False", "ConnectionFailed",
                     "no east-west gateway answers at " + ", ".join(f"{a['value']}:15012" for a in addresses))
    else:
        connected = ("True", "Connected", f"connected to istiod of cluster {target} at {addresses[0]['value']}:15012")
    if connected[0] != "True":
        dataplane = ("False", "PeerNotConnected", connected[2])
    elif not annotations.get(SERVICE_ACCOUNT_ANNOTATION):
        dataplane = ("False", "MissingServiceAccount",
                     f"annotation {SERVICE_ACCOUNT_ANNOTATION} is missing: "
                     "peer workload identities cannot be verified")
    elif annotations.get(TRUST_DOMAIN_ANNOTATION, "cluster.local") != trust_domains.get(target, "cluster.local"):
        claimed = annotations.get(TRUST_DOMAIN_ANNOTATION, "cluster.local")
        dataplane = ("False", "TrustDomainMismatch",
                     f"annotation {TRUST_DOMAIN_ANNOTATION} is {claimed!r} "
                     f"but cluster {target} uses trust domain {trust_domains.get(target, 'cluster.local')!r}")
    else:
        dataplane = ("True", "Programmed", f"data plane of cluster {target} programmed")
    peering = ("True" if connected[0] == "True" else "False",
               "Succeeded" if connected[0] == "True" else "PeeringFailed", connected[2])
    return {"addresses": addresses, "conditions": gateway_conditions(gw, [
        ("Accepted", "True", "Accepted", "Resource accepted"),
        ("Programmed", "True", "Programmed", "Remote gateway programmed"),
        ("gloo.solo.io/PeeringSucceeded", *peering),
        ("gloo.solo.io/PeerConnected", *connected),
        ("gloo.solo.io/PeerDataPlaneProgrammed", *dataplane),
    ])}


def mesh_trust_domain(configmap: dict | None) -> str:
    """Top-level trustDomain of a mesh ConfigMap's `mesh` document (default cluster.local)."""
    text = ((configmap or {}).get("data") or {}).get("mesh")
    try:
        mesh = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return "cluster.local"
    if isinstance(mesh, dict) and mesh.get("trustDomain"):
        return str(mesh["trustDomain"])
    return "cluster.local"


# -- cluster helpers ---------------------------------------------------------------------------
def istiod(cluster) -> dict | None:
    """The available istiod-gloo Deployment of this cluster."""
    for dep in cluster.items(DEPLOYMENTS):
        if _meta(dep)["name"] == ISTIOD and ((dep.get("status") or {}).get("availableReplicas") or 0) >= 1:
            return dep
    return None


def istiod_env(dep: dict) -> dict[str, str]:
    containers = dep["spec"]["template"]["spec"].get("containers") or []
    return {e["name"]: e.get("value", "") for c in containers for e in c.get("env") or []}


def cluster_trust_domain(cluster) -> str:
    """Trust domain from the mesh ConfigMap beside istiod: istio-gloo first, then istio."""
    dep = istiod(cluster)
    namespaces = [_meta(dep)["namespace"]] if dep else []
    namespaces.append("istio-system")
    for ns in namespaces:
        for name in (MESH_CONFIGMAP, "istio"):
            configmap = cluster.cached(CONFIGMAPS, name, ns)
            if configmap is not None:
                return mesh_trust_domain(configmap)
    return "cluster.local"


def programmed(gw: dict) -> bool:
    cond = condition(gw, "Programmed")
    return bool(cond and cond.get("status") == "True")


def _class(gw) -> str:
    return (gw.get("spec") or {}).get("gatewayClassName") or ""


# -- controller --------------------------------------------------------------------------------
class IstiodSimulator:
    def __init__(self, sims):
        self.sims = sims

    def directory(self) -> tuple[dict[str, str], dict[str, str]]:
        """Programmed east-west addresses -> cluster, and cluster -> trust domain, over all clusters."""
        addresses, domains = {}, {}
        for cluster in self.sims.clusters():
            if not cluster.served(GATEWAYS):
                continue
            for gw in cluster.items(GATEWAYS):
                if _class(gw) == EASTWEST_CLASS and programmed(gw):
                    for address in (gw.get("status") or {}).get("addresses") or []:
                        addresses[address.get("value")] = cluster.name
                    addresses[self.sims.lb_address(cluster.name)] = cluster.name
            domains[cluster.name] = cluster_trust_domain(cluster)
        return addresses, domains

    def reconcile(self, cluster) -> None:
        dep = istiod(cluster)
        if not (cluster.served(GATEWAYS) and cluster.served(GATEWAYCLASSES)):
            return
        classes = {_meta(c)["name"]: c for c in cluster.items(GATEWAYCLASSES)
                   if GATEWAY_CLASSES.get(_meta(c)["name"]) == (c.get("spec") or {}).get("controllerName")}
        gateways = [g for g in cluster.items(GATEWAYS) if not _meta(g).get("deletionTimestamp")]
        # Deployed objects live as long as their Gateway (ownerReferences in a real cluster).
        live = {f"Gateway/{_meta(g)['namespace']}/{_meta(g)['name']}" for g in gateways if _class(g) == EASTWEST_CLASS}
        if dep is not None:
            for gc in classes.values():
                cluster.ensure_status(gc, {"conditions": gateway_conditions(gc, [
                    ("Accepted", "True", "Handled", "Handled by Istio controller")])}, MANAGER)
            if EASTWEST_CLASS in classes:
                image = dep["spec"]["template"]["spec"]["containers"][0]["image"].replace("/pilot:", "/proxyv2:")
                for gw in gateways:
                    if _class(gw) == EASTWEST_CLASS:
                        self._eastwest(cluster, gw, image)
            if REMOTE_CLASS in classes:
                self._remotes(cluster, [g for g in gateways if _class(g) == REMOTE_CLASS])
        # What was deployed for a Gateway that is gone (or changed class) is removed.
        for res in (DEPLOYMENTS, SERVICES, SERVICEACCOUNTS):
            for obj in cluster.items(res):
                owner = owner_of(obj) or ""
                if component_of(obj) == COMPONENT and owner.startswith("Gateway/") and owner not in live:
                    cluster.remove(res, _meta(obj)["name"], _meta(obj)["namespace"])

    def _eastwest(self, cluster, gw, image):
        owner = f"Gateway/{_meta(gw)['namespace']}/{_meta(gw)['name']}"
        current = {}
        for obj in eastwest_objects(gw, image):
            current[obj["kind"]] = cluster.ensure(marked(obj, COMPONENT, owner), MANAGER)
        service = current.get("Service")
        if service is None:
            return
        lb_ip = self.sims.lb_address(cluster.name)
        # The simulated cloud load balancer.
        cluster.ensure_status(service, {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}, MANAGER)
        cluster.ensure_status(gw, eastwest_status(gw, lb_ip), MANAGER)

    def _remotes(self, cluster, gateways):
        directory, domains = self.directory()
        by_peer: dict[str, list[str]] = {}
        for gw in gateways:
            by_peer.setdefault(peer_cluster(gw), []).append(_meta(gw)["namespace"] + "/" + _meta(gw)["name"])
        for gw in gateways:
            me = _meta(gw)["namespace"] + "/" + _meta(gw)["name"]
            others = [n.split("/", 1)[1] for n in by_peer[peer_cluster(gw)] if n != me]
            cluster.ensure_status(gw, remote_status(gw, directory, domains, others), MANAGER)
