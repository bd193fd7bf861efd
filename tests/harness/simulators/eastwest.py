"""istiod simulator: the Gateway API controller for classes istio-eastwest and istio-remote.

Stands in for istiod of revision `gloo` (installed by the operator simulator). It acts only in
clusters where the istiod-gloo Deployment is available, for GatewayClasses whose controllerName
is istiod's, and marks those classes Accepted (reason Handled, "Handled by Istio controller":
pilot/pkg/config/kube/gatewaycommon/gatewayclass.go GetClassStatus). Paths below are in
istio/istio; "procedure" is Solo's multicluster procedure, cited by section title.

East-west Gateways (class istio-eastwest, controller istio.io/eastwest-controller: procedure,
"Deploy mesh components" step 8; its ClassInfo in gatewaycommon/classinfo.go GetClassInfos:
template "waypoint", no name suffix, Service type LoadBalancer, both address types reported).

- Managed or not (gatewaycommon/gateway_utils.go IsManaged): a Gateway whose spec.addresses
  holds a Hostname or more than one address points at an existing Service; nothing is deployed
  and, as that Service is unknown, Programmed=False AddressNotUsable (gateway/conversion.go
  extractGatewayServices; IP addresses there are ignored with Accepted=False InvalidAddress).
- Deployed for a managed Gateway (gatewaycommon/deploymentcontroller.go configureIstioGateway
  rendering manifests/charts/istio-control/istio-discovery/files/waypoint.yaml): a
  ServiceAccount named by annotation gateway.istio.io/service-account, else the Gateway's name;
  a Deployment and a Service named by annotation gateway.istio.io/name-override, else the
  Gateway's name. Labels and annotations are the Gateway's own, or spec.infrastructure's when
  set (extractInfrastructureMetadata; PILOT_ENABLE_GATEWAY_API_COPY_LABELS_ANNOTATIONS is true
  by default), without the annotations the template omits (kubectl.kubernetes.io/last-applied-
  configuration, gateway.istio.io/name-override, gateway.istio.io/service-account,
  gateway.istio.io/controller-version), plus gateway.networking.k8s.io/gateway-name,
  gateway.networking.k8s.io/gateway-class-name and gateway.istio.io/managed (DeploymentController
  .apply); the Service also gets networking.istio.io/traffic-distribution: PreferClose. Nothing
  the Gateway lacks is filled in (no network or cluster label).
- Service (extractServicePorts, waypoint.yaml): type LoadBalancer unless annotation
  networking.istio.io/service-type says otherwise; ports status-port 15021, then one per listener
  port named after the listener, appProtocol the lowercased protocol; loadBalancerIP =
  spec.addresses[0] when set. The load balancer is loadbalancer.py's.
- Status (gateway/conversion.go reportGatewayStatus with gatewaycommon/context.go
  ResolveGatewayInstances and gatewaycommon/conversion.go SetProgrammedCondition), with
  observedGeneration on every condition; Accepted and ResolvedRefs True, and Programmed:
  * Service not there yet: False, AddressNotUsable, "Failed to assign to any requested addresses:
    hostname "<svc>" not found";
  * gateway pod not available yet: False, AddressNotAssigned, "Failed to assign to any requested
    addresses: no instances found for hostname "<svc>"" (once per listener port);
  * load balancer pending: False, AddressNotAssigned, "Assigned to service(s) <svc>:<port> and
    ..., but failed to assign to all requested addresses: address pending for hostname "<svc>"",
    and status.addresses holds the Service's ClusterIP (an east-west class reports internal
    addresses when there is no external one): an address in status does NOT mean reachable;
  * address assigned: True, Programmed, "Resource programmed, assigned to service(s) ...", and
    status.addresses holds the load balancer's addresses;
  * a non-LoadBalancer Service: True with the ClusterIP and the Service hostname as addresses.
  status.addresses is never emptied once set ("once we are ready, never remove the address").
- Deleting the Gateway removes what was deployed for it (ownerReferences + garbage collection).

Remote peers (class istio-remote, controller istio.io/unmanaged-gateway):

- Status as gateway/conversion.go reportUnmanagedGatewayStatus writes it for every such Gateway,
  valid for peering or not: status.addresses = spec.addresses, Accepted=True "Resource
  accepted", Programmed=True "This Gateway is remote; Istio will not program it". Programmed
  says nothing about the link.
- The link itself (conditions gloo.solo.io/PeeringSucceeded, PeerConnected and
  PeerDataPlaneProgrammed) is Solo's closed-source peering, simulated in peering.py; this
  simulator only says where each cluster's istiod answers peers (`IstiodSimulator.endpoints`): a
  cluster's east-west gateway answers when its Gateway carries label istio.io/expose-istiod, has
  an xds-tls listener, and its pod is available, at its load balancer's addresses and at
  `Simulators.lb_address(context)`.

In a cluster where a real istiod plays istiod (`Simulators.set_istiod(context, "upstream")`) this
simulator does nothing: istiod writes the GatewayClass, east-west and istio-remote statuses and
deploys the east-west gateway itself. `endpoints` then reads where that istiod answers peers from
what it reports: an east-west Gateway as above whose Deployment (named and labelled by istiod's
deployment controller, gateway.networking.k8s.io/gateway-name) is available, at the addresses
istiod put in the Gateway's status and at `Simulators.lb_address(context)`.
"""
from __future__ import annotations

import dataclasses
import ipaddress

import yaml

from .base import (CONFIGMAPS, DEPLOYMENTS, GATEWAYCLASSES, GATEWAYS, LAST_APPLIED, OWNER_ANNOTATION,
                   SERVICEACCOUNTS, SERVICES, SMCS, COMPONENT_LABEL, component_of, condition, marked,
                   merge_conditions, owner_of)
from .loadbalancer import assigned
from .operator import GATEWAY_CLASSES, ISTIOD, MESH_CONFIGMAP, trust_domain

COMPONENT = "istiod"
MANAGER = "gloomesh-sim-istiod"
EASTWEST_CLASS = "istio-eastwest"
REMOTE_CLASS = "istio-remote"
CONTROLLER_LABEL = "istio.io-eastwest-controller"  # pkg/config/constants ManagedGatewayEastWestControllerLabel
CLUSTER_LABEL = "topology.istio.io/cluster"
EXPOSE_ISTIOD_LABEL = "istio.io/expose-istiod"
SERVICE_ACCOUNT_ANNOTATION = "gateway.istio.io/service-account"
NAME_OVERRIDE_ANNOTATION = "gateway.istio.io/name-override"
SERVICE_TYPE_ANNOTATION = "networking.istio.io/service-type"
TRUST_DOMAIN_ANNOTATION = "gateway.istio.io/trust-domain"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name"
MANAGED_LABEL = "gateway.istio.io/managed"
XDS_LISTENER = "xds-tls"
PEER_PREFIX = "istio-remote-peer-"
DOMAIN_SUFFIX = "cluster.local"
# Annotations waypoint.yaml does not copy onto what it deploys.
OMITTED_ANNOTATIONS = (LAST_APPLIED, NAME_OVERRIDE_ANNOTATION, SERVICE_ACCOUNT_ANNOTATION,
                       "gateway.istio.io/controller-version")


# -- pure parts --------------------------------------------------------------------------------
def address_type(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return "IPAddress"
    except ValueError:
        return "Hostname"


def _meta(obj) -> dict:
    return obj.get("metadata") or {}


def _spec(obj) -> dict:
    return obj.get("spec") or {}


def human_join(items: list[str]) -> str:
    """gatewaycommon/conversion.go HumanReadableJoin."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def copied_metadata(gw: dict) -> tuple[dict, dict]:
    """Labels and annotations istiod puts on what it deploys for `gw` (before its own labels)."""
    infra = _spec(gw).get("infrastructure") or {}

    def pick(key):
        if infra.get(key) is not None:
            return {k: v for k, v in infra[key].items() if not k.startswith("gateway.networking.k8s.io/")}
        return dict(_meta(gw).get(key) or {})
    labels = {k: v for k, v in pick("labels").items() if k != COMPONENT_LABEL}
    annotations = {k: v for k, v in pick("annotations").items()
                   if k not in OMITTED_ANNOTATIONS and k != OWNER_ANNOTATION}
    return labels, annotations


def is_managed(gw: dict) -> bool:
    addresses = _spec(gw).get("addresses") or []
    return not addresses or (len(addresses) == 1 and (addresses[0].get("type") or "IPAddress") == "IPAddress")


def deployed_name(gw: dict) -> str:
    return (_meta(gw).get("annotations") or {}).get(NAME_OVERRIDE_ANNOTATION) or _meta(gw)["name"]


def service_account_name(gw: dict) -> str:
    return (_meta(gw).get("annotations") or {}).get(SERVICE_ACCOUNT_ANNOTATION) or _meta(gw)["name"]


def service_host(gw: dict) -> str:
    return f"{deployed_name(gw)}.{_meta(gw)['namespace']}.svc.{DOMAIN_SUFFIX}"


def listener_ports(gw: dict) -> list[int]:
    ports = []
    for listener in _spec(gw).get("listeners") or []:
        if listener.get("port") not in ports:
            ports.append(listener.get("port"))
    return ports


def service_ports(gw: dict) -> list[dict]:
    ports = [{"name": "status-port", "port": 15021, "protocol": "TCP", "appProtocol": "tcp"}]
    for listener in _spec(gw).get("listeners") or []:
        if any(p["port"] == listener.get("port") for p in ports):
            continue
        ports.append({"name": str(listener.get("name", "")).replace(".", "-")[:63], "port": listener.get("port"),
                      "protocol": "TCP", "appProtocol": str(listener.get("protocol", "")).lower()})
    return ports


def eastwest_objects(gw: dict, image: str) -> list[dict]:
    """ServiceAccount, Deployment and Service that istiod deploys for a managed east-west Gateway."""
    name, ns, workload = _meta(gw)["name"], _meta(gw)["namespace"], deployed_name(gw)
    labels, annotations = copied_metadata(gw)
    labels.update({GATEWAY_NAME_LABEL: name, GATEWAY_CLASS_LABEL: _spec(gw).get("gatewayClassName"),
                   MANAGED_LABEL: CONTROLLER_LABEL})
    selector = {GATEWAY_NAME_LABEL: name}
    service_type = (_meta(gw).get("annotations") or {}).get(SERVICE_TYPE_ANNOTATION) or "LoadBalancer"
    service_spec = {"type": service_type, "selector": selector, "ports": service_ports(gw)}
    addresses = _spec(gw).get("addresses") or []
    if addresses and service_type == "LoadBalancer":
        service_spec["loadBalancerIP"] = addresses[0]["value"]

    def meta(obj_name, extra_annotations=None):
        return {"name": obj_name, "namespace": ns, "labels": dict(labels),
                "annotations": {**(extra_annotations or {}), **annotations}}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(service_account_name(gw))},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(workload),
         "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": {**labels, "sidecar.istio.io/inject": "false",
                                                       "service.istio.io/canonical-name": workload}},
                               "spec": {"serviceAccountName": service_account_name(gw), "containers": [{
                                   "name": "istio-proxy", "image": image, "args": ["proxy", "router"],
                                   "ports": [{"containerPort": p["port"], "name": p["name"][:15]}
                                             for p in service_spec["ports"]]}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": meta(workload, {"networking.istio.io/traffic-distribution": "PreferClose"}),
         "spec": service_spec},
    ]


def gateway_conditions(gw: dict, desired: list[tuple[str, str, str, str]]) -> list[dict]:
    gen = _meta(gw).get("generation", 1)
    return merge_conditions(((gw.get("status") or {}).get("conditions")), [
        {"type": t, "status": s, "reason": r, "message": m, "observedGeneration": gen} for t, s, r, m in desired])


def _addresses(values: list[str]) -> list[dict]:
    return [{"type": address_type(v), "value": v} for v in values]


def eastwest_status(gw: dict, service: dict | None, instances: bool) -> dict:
    """What istiod reports on an east-west Gateway, given its Service and whether its pod is available."""
    accepted = ("Accepted", "True", "Accepted", "Resource accepted")
    resolved = ("ResolvedRefs", "True", "ResolvedRefs", "All references resolved")
    reported: list[str] = []
    if not is_managed(gw):
        hosts, skipped = [], []
        for address in _spec(gw).get("addresses") or []:
            if (address.get("type") or "IPAddress") != "Hostname":
                skipped.append(address["value"])
            else:
                value = address["value"]
                hosts.append(value if "." in value else f"{value}.{_meta(gw)['namespace']}.svc.{DOMAIN_SUFFIX}")
        if skipped:
            accepted = ("Accepted", "False", "InvalidAddress",
                        f"only Hostname is supported, ignoring [{' '.join(skipped)}]")
        if not hosts:
            programmed = ("Programmed", "False", "UnsupportedAddress", "Failed to assign to any requested addresses")
        else:
            missing = "; ".join(sorted(f'hostname "{h}" not found' for h in hosts))
            programmed = ("Programmed", "False", "AddressNotUsable",
                          f"Failed to assign to any requested addresses: {missing}")
    else:
        host = service_host(gw)
        ports = listener_ports(gw)
        internal: list[str] = []
        if service is None:
            warnings = [f'hostname "{host}" not found']
        elif not instances:
            warnings = [f'no instances found for hostname "{host}"' for _port in ports]
        else:
            internal = sorted(f"{host}:{port}" for port in ports)
            warnings = []
            external = [i.get("ip") or i.get("hostname") for i in assigned(service)]
            load_balancer = _spec(service).get("type") == "LoadBalancer"
            if ports:
                if external:
                    reported = external
                else:
                    cluster_ip = _spec(service).get("clusterIP")
                    reported = [cluster_ip] if cluster_ip and cluster_ip != "None" else []
                    if load_balancer:
                        warnings = [f'address pending for hostname "{host}"']
                    else:
                        reported.append(host)
        programmed = ("Programmed", "True", "Programmed", "Resource programmed")
        if internal:
            programmed = (*programmed[:3], f"Resource programmed, assigned to service(s) {human_join(internal)}")
        if warnings:
            if internal:
                message = (f"Assigned to service(s) {human_join(internal)}, but failed to assign to all "
                           f"requested addresses: {'; '.join(sorted(warnings))}")
            else:
                message = f"Failed to assign to any requested addresses: {'; '.join(sorted(warnings))}"
            # A missing Service makes the address unusable, anything else only not assigned yet.
            reason = "AddressNotUsable" if service is None else "AddressNotAssigned"
            programmed = ("Programmed", "False", reason, message)
    # Never removed once reported.
    addresses = _addresses(reported) if reported else list((gw.get("status") or {}).get("addresses") or [])
    return {"addresses": addresses, "conditions": gateway_conditions(gw, [accepted, programmed, resolved])}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where one cluster's istiod answers peers: its east-west gateway's reachable addresses."""

    cluster: str
    addresses: frozenset
    xds_port: int


def xds_port(gw: dict) -> int | None:
    for listener in _spec(gw).get("listeners") or []:
        if listener.get("name") == XDS_LISTENER:
            return listener.get("port")
    return None


def remote_status(gw: dict) -> dict:
    """What Istio reports on every istio-remote Gateway, valid for peering or not
    (gateway/conversion.go reportUnmanagedGatewayStatus): nothing about the link (peering.py)."""
    spec_addresses = [a for a in _spec(gw).get("addresses") or [] if a.get("value")]
    return {"addresses": [{"type": a.get("type") or "IPAddress", "value": a["value"]} for a in spec_addresses],
            "conditions": gateway_conditions(gw, [
                ("Accepted", "True", "Accepted", "Resource accepted"),
                ("Programmed", "True", "Programmed", "This Gateway is remote; Istio will not program it"),
            ])}


def mesh_trust_domain(configmap: dict | None) -> str | None:
    """Top-level trustDomain of a mesh ConfigMap's `mesh` document (None when not set)."""
    text = ((configmap or {}).get("data") or {}).get("mesh")
    try:
        mesh = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
    if isinstance(mesh, dict) and mesh.get("trustDomain"):
        return str(mesh["trustDomain"])
    return None


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
    """The cluster's mesh trust domain: the mesh ConfigMap's trustDomain (istio-gloo, then istio,
    beside istiod, then in istio-system), else what the ServiceMeshController that installed
    istiod sets it to (the operator may configure istiod without writing it to the ConfigMap)."""
    dep = istiod(cluster)
    namespaces = [_meta(dep)["namespace"]] if dep else []
    namespaces.append("istio-system")
    for ns in namespaces:
        for name in (MESH_CONFIGMAP, "istio"):
            found = mesh_trust_domain(cluster.cached(CONFIGMAPS, name, ns))
            if found:
                return found
    owner = (owner_of(dep) or "") if dep else ""
    if owner.startswith("ServiceMeshController/") and cluster.served(SMCS):
        _kind, namespace, name = owner.split("/", 2)
        smc = cluster.cached(SMCS, name, namespace)
        if smc is not None:
            return trust_domain(_spec(smc))
    return "cluster.local"


def programmed(gw: dict) -> bool:
    cond = condition(gw, "Programmed")
    return bool(cond and cond.get("status") == "True")


def _class(gw) -> str:
    return _spec(gw).get("gatewayClassName") or ""


def _upstream_addresses(cluster, gw) -> set | None:
    """Where a real istiod's east-west gateway answers (see the module docstring), None while its pod
    is not available."""
    dep = cluster.cached(DEPLOYMENTS, deployed_name(gw), _meta(gw)["namespace"])
    if dep is None or (_meta(dep).get("labels") or {}).get(GATEWAY_NAME_LABEL) != _meta(gw)["name"] \
            or not (dep.get("status") or {}).get("availableReplicas"):
        return None
    return {a["value"] for a in (gw.get("status") or {}).get("addresses") or [] if a.get("value")}


def _simulated_addresses(cluster, gw) -> set | None:
    """Where this simulator's east-west gateway answers, None while its pod is not available."""
    service, available = _available(cluster, gw)
    return {i.get("ip") or i.get("hostname") for i in assigned(service)} if available else None


def _available(cluster, gw) -> tuple[dict | None, bool]:
    """The Service deployed for an east-west Gateway, and whether its gateway pod is available."""
    ns, name = _meta(gw)["namespace"], deployed_name(gw)
    service = cluster.cached(SERVICES, name, ns)
    dep = cluster.cached(DEPLOYMENTS, name, ns)
    owner = f"Gateway/{ns}/{_meta(gw)['name']}"
    if service is None or owner_of(service) != owner:
        return None, False
    return service, bool(dep and owner_of(dep) == owner and (dep.get("status") or {}).get("availableReplicas"))


# -- controller --------------------------------------------------------------------------------
class IstiodSimulator:
    def __init__(self, sims):
        self.sims = sims

    def endpoints(self) -> list[Endpoint]:
        """Every cluster's east-west gateway that answers peers (see the module docstring)."""
        found = []
        for cluster in self.sims.clusters():
            if not cluster.served(GATEWAYS) or istiod(cluster) is None:
                continue
            upstream = self.sims.istiod(cluster.name) == "upstream"
            addresses_of = _upstream_addresses if upstream else _simulated_addresses
            for gw in cluster.items(GATEWAYS):
                port = xds_port(gw)
                if _class(gw) != EASTWEST_CLASS or not is_managed(gw) or port is None \
                        or EXPOSE_ISTIOD_LABEL not in (_meta(gw).get("labels") or {}):
                    continue
                addresses = addresses_of(cluster, gw)
                if addresses is None:
                    continue
                addresses.add(self.sims.lb_address(cluster.name))
                found.append(Endpoint(cluster.name, frozenset(addresses), port))
        return found

    def reconcile(self, cluster) -> None:
        if self.sims.istiod(cluster.name) == "upstream":
            return  # a real istiod plays istiod here (see the module docstring)
        dep = istiod(cluster)
        if not (cluster.served(GATEWAYS) and cluster.served(GATEWAYCLASSES)):
            return
        classes = {_meta(c)["name"]: c for c in cluster.items(GATEWAYCLASSES)
                   if GATEWAY_CLASSES.get(_meta(c)["name"]) == _spec(c).get("controllerName")}
        gateways = [g for g in cluster.items(GATEWAYS) if not _meta(g).get("deletionTimestamp")]
        # Deployed objects live as long as their Gateway (ownerReferences in a real cluster).
        live = {f"Gateway/{_meta(g)['namespace']}/{_meta(g)['name']}" for g in gateways
                if _class(g) == EASTWEST_CLASS and is_managed(g)}
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
                for gw in gateways:
                    if _class(gw) == REMOTE_CLASS:
                        cluster.ensure_status(gw, remote_status(gw), MANAGER, own_conditions=True)
        # What was deployed for a Gateway that is gone (or changed class) is removed.
        for res in (DEPLOYMENTS, SERVICES, SERVICEACCOUNTS):
            for obj in cluster.items(res):
                owner = owner_of(obj) or ""
                if component_of(obj) == COMPONENT and owner.startswith("Gateway/") and owner not in live:
                    cluster.remove(res, _meta(obj)["name"], _meta(obj)["namespace"])

    def _eastwest(self, cluster, gw, image):
        owner = f"Gateway/{_meta(gw)['namespace']}/{_meta(gw)['name']}"
        if is_managed(gw):
            for obj in eastwest_objects(gw, image):
                cluster.ensure(marked(obj, COMPONENT, owner), MANAGER, exact_metadata=True)
        service, available = _available(cluster, gw)
        cluster.ensure_status(gw, eastwest_status(gw, service, available), MANAGER)
