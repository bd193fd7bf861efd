"""Simulators for the closed-source controllers a multicluster Gloo mesh relies on.

The Gloo Operator, istiod's gateway deployer and automatic peering, the Gloo management plane
and a cloud load balancer cannot run offline (closed source, images we cannot pull), and the
local test clusters have no controller-manager or kubelet. These small watch-based controllers
do what the real ones do, each rule citing its source (an istio/istio file and function, or
Solo's multicluster procedure by section title), and they are as strict, slow and incomplete as
the real ones can be: they reject what upstream rejects and never fill in what a client forgot.

- workloads.py         kwok-style pods and Deployment/DaemonSet status
- operator.py          Gloo Operator (ServiceMeshController) + what its Helm chart installs
- eastwest.py          istiod as controller of GatewayClasses istio-eastwest and istio-remote
- loadbalancer.py      a cloud load balancer for LoadBalancer Services (modes ready/slow/none)
- peering.py           Solo's istiod: automatic local peer Gateway (PEERING_AUTOMATIC_LOCAL_GATEWAY)
                       and the peering status writer (gloo.solo.io conditions on istio-remote Gateways)
- management_plane.py  Gloo management plane ConfigDistribution of peer Gateways
- trust.py             istiod as plug-in CA (cacerts, istio-ca-root-cert) and workload certificates (`sims.trust`)

Usage::

    sims = Simulators(kubeconfig_path, ["cluster1", "cluster2", "mgmt"], operator_delay=0.3)
    sims.set_load_balancer("cluster2", "none")           # before or after start()
    sims.set_mesh_configmap("cluster1", "absent")
    sims.start()                 # returns once every cache is synced
    sims.management_plane(True, mgmt_context="mgmt")
    sims.lb_address("cluster2")  # "198.51.100.11"
    sims.stop()                  # every thread ends within 2 s

Fault and fidelity settings, per cluster (context):

- ``set_load_balancer(context, mode="ready", delay=5.0)``: what the cluster's load balancer does
  for a LoadBalancer Service that has no address yet. "ready" (the default): address at once;
  "slow": address `delay` seconds after the Service (or the mode) appeared; "none": no load
  balancer implementation (bare metal, kind without cloud-provider-kind), the Service stays
  pending forever and the east-west Gateway reports what istiod reports then
  (Programmed=False, reason AddressNotAssigned, the Service's ClusterIP in status.addresses).
  An address already assigned stays (nothing withdraws Service status).
  Whatever the mode, the cluster's east-west gateway is reachable from the other clusters at
  `lb_address(context)` (as through a NAT address the operator knows), so a peer that names
  that address and the right xds-tls port connects.
- ``set_mesh_configmap(context, mode="full")``: how the Gloo Operator writes the mesh ConfigMap
  istio-gloo. "full": as upstream's chart renders it, always with trustDomain (cluster.local unless
  meshConfig overrides it: manifests/charts/istio-control/istio-discovery/values.yaml
  meshConfig.trustDomain); "absent": not at all (an existing one is removed). The cluster's real trust domain stays the ServiceMeshController's
  (spec.trustDomain, else spec.cluster, else cluster.local), so tests can prove a client's
  fallback order.
- ``set_peering_status(context, mode="synced")``: Solo's peering status writer in that cluster
  (peering.py). "synced": a connected peer's network syncs at once (PeeringSucceeded True);
  "unsynced": connected peers never finish syncing (PeeringSucceeded stays Unknown); "stopped":
  the writer has not run yet, the Gateways carry Istio's Accepted and Programmed only.
- ``set_operator_conditions(context, mode="all")``: which ServiceMeshController conditions the
  operator moves to a new generation (operator.py). "all": every condition, as the procedure's
  example shows; "reevaluated": only those it re-evaluated for the change, the others keep the
  observedGeneration they had.
- ``set_agent(context, connected=True)``: whether the cluster's Gloo agent is connected to the
  management server (management_plane.py): a disconnected one shows 0 in the server's
  `relay_push_clients_connected` gauge, and nothing is distributed to or from its cluster.
  ``management_metrics_port()`` is the port of that gauge (the role's verify_management_metrics_port).
- ``set_operator_upgrade(context, mode="succeed")``: "fail" makes the operator end the next change
  of spec.version in that cluster in phase FAILED (operator.py), the installed version left running.
- ``set_ca(context, mode="simulated")``: who is the cluster's istiod CA (trust.py). "simulated":
  the trust simulator loads cacerts, publishes istio-ca-root-cert and certifies the workloads;
  "upstream": it does nothing in that cluster, where a real istiod (tests/harness/istiod.py,
  ``observe_only`` with ``ca=True``) loads, signs and publishes instead.
- ``set_istiod(context, mode="simulated")``: who plays istiod's open-source controllers in that
  cluster. "simulated": eastwest.py (the east-west and istio-remote Gateways: status, what is
  deployed for them) and trust.py (the CA); "upstream": neither acts there, a real istiod
  (tests/harness/istiod.py, not ``observe_only``) does both, and peers reach the cluster's
  istiod where that istiod reports its east-west Gateway (`eastwest.IstiodSimulator.endpoints`).
  Solo's parts (operator.py, peering.py, management_plane.py) stay simulated either way.
- ``load_balancer(context)`` / ``mesh_configmap(context)`` / ``peering_status(context)`` /
  ``operator_conditions(context)`` / ``operator_upgrade(context)`` read the settings back.

The kubeconfig's contexts should authenticate as user `gloomesh-simulator` (the local control
plane's `simulator_kubeconfig_path`), so audit counts of the collection's writes exclude them.
Everything the simulators write carries label `simulator.gloomesh.io/component` and annotation
`simulator.gloomesh.io/owner`, and is server-side applied with a field manager `gloomesh-sim-*`.
"""
from __future__ import annotations

import dataclasses
import threading
import time

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from . import peering, workloads
from .base import (COMPONENT_LABEL, CONFIGMAPS, CRDS, DAEMONSETS, DEPLOYMENTS, GATEWAYCLASSES, GATEWAYS,
                   MUTATING_WEBHOOKS, NAMESPACES, OWNER_ANNOTATION, PODS, SERVICEACCOUNTS, SERVICES, SMCS, Cluster,
                   Kube)
from .eastwest import IstiodSimulator
from .loadbalancer import LoadBalancerSimulator
from .management_plane import ManagementPlaneSimulator
from .operator import CONDITION_MODES as OPERATOR_CONDITION_MODES
from .operator import UPGRADE_MODES as OPERATOR_UPGRADE_MODES
from .operator import SMC_CRD_PATH, OperatorSimulator, install_gloo_operator
from .trust import SECRETS, TrustSimulator

__all__ = ["Simulators", "install_gloo_operator", "SMC_CRD_PATH", "COMPONENT_LABEL", "OWNER_ANNOTATION",
           "AUTOMATIC_PEERING_LABEL", "LB_NETWORK", "LB_MODES", "MESH_CONFIGMAP_MODES"]

AUTOMATIC_PEERING_LABEL = peering.AUTOMATIC_LABEL
LB_NETWORK = "198.51.100."  # TEST-NET-2 (RFC 5737): documentation addresses, never routed
LB_MODES = ("ready", "slow", "none")
MESH_CONFIGMAP_MODES = ("full", "absent")
PLAYER_MODES = ("simulated", "upstream")  # who plays an open-source part of istiod: set_ca, set_istiod
_MARKED = f"{COMPONENT_LABEL}"  # label-exists selector: only objects a simulator wrote
# Changes that can alter what another cluster's simulators must do (peer addresses, reachable
# east-west gateways, trust domains, networks, distributed Gateways, target namespaces).
_CROSS_CLUSTER = (GATEWAYS, CONFIGMAPS, NAMESPACES, DEPLOYMENTS, SERVICES, SMCS)


@dataclasses.dataclass
class ClusterSettings:
    """Per-cluster fault and fidelity settings (see the module docstring)."""

    lb_mode: str = "ready"
    lb_delay: float = 5.0
    lb_since: float = dataclasses.field(default_factory=time.monotonic)
    mesh_configmap: str = "full"
    peering_status: str = "synced"
    operator_conditions: str = "all"
    operator_upgrade: str = "succeed"
    ca: str = "simulated"
    istiod: str = "simulated"


class Simulators:
    """Controller simulators for a set of clusters: one worker and one watch per resource type each."""

    def __init__(self, kubeconfig_path: str, contexts, operator_delay: float = 0.3):
        self.kubeconfig_path = kubeconfig_path
        self.contexts = tuple(contexts)
        self.operator_delay = operator_delay
        self.stop_event = threading.Event()
        self._clusters: dict[str, Cluster] = {}
        self._settings = {name: ClusterSettings() for name in self.contexts}
        self._operator = OperatorSimulator(self, operator_delay)
        self._istiod = IstiodSimulator(self)
        self._load_balancer = LoadBalancerSimulator(self)
        self._peering_status = peering.PeeringStatusWriter(self)
        self.trust = TrustSimulator(self)
        self._mgmt: ManagementPlaneSimulator | None = None
        self._mgmt_setting = (False, "mgmt")
        self._agent_settings: dict[str, bool] = {}

    # -- public API ------------------------------------------------------------------------------
    def lb_address(self, context: str) -> str:
        """The address of the east-west gateway of `context` (198.51.100.10 + index): what its
        load balancer assigns, and where the other clusters reach it with or without one."""
        return f"{LB_NETWORK}{10 + self._index(context)}"

    def set_load_balancer(self, context: str, mode: str = "ready", delay: float = 5.0) -> None:
        """Load-balancer mode of one cluster: "ready", "slow" (address after `delay` s) or "none"."""
        self._index(context)
        if mode not in LB_MODES:
            raise ValueError(f"load balancer mode {mode!r}: expected one of {', '.join(LB_MODES)}")
        if delay < 0:
            raise ValueError(f"load balancer delay {delay!r}: expected seconds >= 0")
        self._settings[context] = dataclasses.replace(self._settings[context], lb_mode=mode, lb_delay=float(delay),
                                                      lb_since=time.monotonic())
        self._wake(context)

    def load_balancer(self, context: str) -> tuple[str, float]:
        """(mode, delay) of the cluster's load balancer."""
        settings = self.settings(context)
        return settings.lb_mode, settings.lb_delay

    def set_mesh_configmap(self, context: str, mode: str = "full") -> None:
        """How the operator writes the mesh ConfigMap of one cluster: "full" or "absent"."""
        self._set(context, "mesh_configmap", mode, MESH_CONFIGMAP_MODES)

    def mesh_configmap(self, context: str) -> str:
        return self.settings(context).mesh_configmap

    def set_peering_status(self, context: str, mode: str = "synced") -> None:
        """Solo's peering status writer in one cluster: "synced", "unsynced" or "stopped"."""
        self._set(context, "peering_status", mode, peering.PEERING_STATUS_MODES)

    def peering_status(self, context: str) -> str:
        return self.settings(context).peering_status

    def set_operator_conditions(self, context: str, mode: str = "all") -> None:
        """Which conditions the operator moves to a new generation: "all" or "reevaluated"."""
        self._set(context, "operator_conditions", mode, OPERATOR_CONDITION_MODES)

    def operator_conditions(self, context: str) -> str:
        return self.settings(context).operator_conditions

    def set_operator_upgrade(self, context: str, mode: str = "succeed") -> None:
        """Whether the operator's next change of spec.version in one cluster "succeed"s or "fail"s."""
        self._set(context, "operator_upgrade", mode, OPERATOR_UPGRADE_MODES)

    def operator_upgrade(self, context: str) -> str:
        return self.settings(context).operator_upgrade

    def set_ca(self, context: str, mode: str = "simulated") -> None:
        """Who is the cluster's istiod CA: the trust simulator ("simulated") or a real istiod ("upstream")."""
        self._set(context, "ca", mode, PLAYER_MODES)

    def ca(self, context: str) -> str:
        return self.settings(context).ca

    def set_istiod(self, context: str, mode: str = "simulated") -> None:
        """Who plays istiod (Gateway controllers and CA): the simulators or a real istiod ("upstream")."""
        self._set(context, "istiod", mode, PLAYER_MODES)
        self.set_ca(context, mode)  # a real istiod is its cluster's CA as well

    def istiod(self, context: str) -> str:
        return self.settings(context).istiod

    def istiod_endpoints(self):
        """Where each cluster's istiod answers peers (eastwest.IstiodSimulator.endpoints)."""
        return self._istiod.endpoints()

    def _set(self, context: str, field: str, mode: str, modes) -> None:
        self._index(context)
        if mode not in modes:
            raise ValueError(f"{field.replace('_', ' ')} mode {mode!r}: expected one of {', '.join(modes)}")
        self._settings[context] = dataclasses.replace(self._settings[context], **{field: mode})
        self._wake(context)

    def settings(self, context: str) -> ClusterSettings:
        return self._settings[context]

    def management_plane(self, enabled: bool = True, mgmt_context: str = "mgmt"):
        """Switch the Gloo management-plane simulator (ConfigDistribution) on or off."""
        if enabled and mgmt_context not in self.contexts:
            raise ValueError(f"management cluster {mgmt_context!r} is not one of {list(self.contexts)}")
        self._mgmt_setting = (enabled, mgmt_context)
        if self._mgmt is not None:
            self._mgmt.switch(enabled, mgmt_context)

    def set_agent(self, context: str, connected: bool = True):
        """Connect or disconnect a workload cluster's Gloo agent (see management_plane.py)."""
        self._index(context)
        self._agent_settings[context] = connected
        if self._mgmt is not None:
            self._mgmt.set_agent(context, connected)

    def management_metrics_port(self) -> int:
        """The port of the management server pod's metrics (verify_management_metrics_port)."""
        if self._mgmt is None:
            raise RuntimeError("simulators not started")
        return self._mgmt.metrics_port

    def start(self, timeout: float = 30.0):
        """Start watching every cluster; returns once every cache holds the current state."""
        if self._clusters:
            raise RuntimeError("simulators already started")
        self.stop_event = threading.Event()
        for index, name in enumerate(self.contexts):
            cluster = Cluster(name, index, Kube(self._api_client(name), name), self.stop_event, self._changed)
            for res in (CRDS, NAMESPACES, CONFIGMAPS, DEPLOYMENTS, DAEMONSETS, MUTATING_WEBHOOKS,
                        GATEWAYS, GATEWAYCLASSES, SMCS):
                cluster.watch(res)
            for res in (SERVICES, SERVICEACCOUNTS):
                cluster.watch(res, _MARKED)
            cluster.watch(PODS, workloads.POD_SELECTOR)
            cluster.watch(SECRETS)
            cluster.reconcilers = [self._operator.reconcile, workloads.reconcile, self._load_balancer.reconcile,
                                   self._istiod.reconcile, peering.reconcile, self._peering_status.reconcile,
                                   self.trust.reconcile]
            self._clusters[name] = cluster
        self._mgmt = ManagementPlaneSimulator(self)
        self._mgmt.switch(*self._mgmt_setting)
        for context, connected in self._agent_settings.items():
            self._mgmt.set_agent(context, connected)
        for cluster in self._clusters.values():
            for informer in cluster.informers.values():
                informer.thread.start()
        deadline = time.monotonic() + timeout
        for cluster in self._clusters.values():
            for informer in cluster.informers.values():
                if not informer.synced.wait(max(deadline - time.monotonic(), 0)):
                    self.stop()
                    raise TimeoutError(f"simulator cache of {informer.res.plural} in {cluster.name} "
                                       f"not synced after {timeout:.0f}s")
        for cluster in self._clusters.values():
            cluster.worker.start()
        self._mgmt.thread.start()
        return self

    def stop(self, timeout: float = 10.0):
        """Stop every thread (watches are shut down, not waited out) and close the connections."""
        self.stop_event.set()
        for cluster in self._clusters.values():
            cluster.interrupt()
        if self._mgmt is not None:
            self._mgmt.interrupt()
        deadline = time.monotonic() + timeout
        for thread in self.threads():
            if thread.ident is not None:
                thread.join(max(deadline - time.monotonic(), 0.05))
        for cluster in self._clusters.values():
            cluster.kube.api_client.close()
        if self._mgmt is not None:
            self._mgmt.close()
        self._clusters = {}
        self._mgmt = None

    def threads(self) -> list[threading.Thread]:
        """Every thread these simulators run (for tests asserting a clean stop)."""
        found = []
        for cluster in self._clusters.values():
            found += [i.thread for i in cluster.informers.values()] + [cluster.worker]
        if self._mgmt is not None:
            found.append(self._mgmt.thread)
        return found

    def clusters(self) -> list[Cluster]:
        return list(self._clusters.values())

    def cluster(self, context: str) -> Cluster:
        return self._clusters[context]

    # -- internals -------------------------------------------------------------------------------
    def _index(self, context: str) -> int:
        try:
            return self.contexts.index(context)
        except ValueError:
            raise ValueError(f"unknown context {context!r}: expected one of {', '.join(self.contexts)}") from None

    def _wake(self, context: str):
        cluster = self._clusters.get(context)
        if cluster is not None:
            cluster.wake()
            self._changed(cluster, SERVICES)

    def _api_client(self, context):
        configuration = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=self.kubeconfig_path, context=context,
                                    client_configuration=configuration, persist_config=False)
        # One long-lived connection per watch plus a few for writes.
        configuration.connection_pool_maxsize = 32
        return k8s_client.ApiClient(configuration)

    def _changed(self, cluster: Cluster, res):
        if res in _CROSS_CLUSTER:
            for other in self._clusters.values():
                if other is not cluster:
                    other.wake()
            if self._mgmt is not None:
                self._mgmt.wake()
