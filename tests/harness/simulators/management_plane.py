"""Gloo management-plane simulator: ConfigDistribution of automatic peer Gateways.

Stands in for the Gloo Mesh management server with featureGates.ConfigDistribution=true
(gloo-platform and gloo-platform-crds with installEnterpriseCrds in the management cluster,
installEnterpriseCrds in the workload clusters: procedure, "Enable automatic peering of
clusters"). As the procedure's "Review remote peer gateways" describes, every cluster's
automatic peer Gateway (see peering.py) is copied into the management cluster, and every
automatic peer Gateway found there is copied to every other cluster. Each cluster then holds one
istio-remote Gateway per other cluster, plus its own self-peer. Copies whose source disappeared
are removed; so are all copies when the simulator is switched off (it is off until a test calls
`Simulators.management_plane(True)`, since ConfigDistribution is a Helm flag). A Gateway of the
same name that the simulator did not write (e.g. one the collection linked by hand) is left
alone and logged: two peers for one cluster is a conflict Solo's istiod only logs (no condition
says so, see peering.py); verify reports it.

Copies keep the source's labels, annotations and spec as they are, add label
`gloo.solo.io/config-distribution: "true"` and carry `simulator.gloomesh.io/owner:
management-plane/<source context>`.
"""
from __future__ import annotations

import copy
import logging
import threading

from .base import GATEWAYS, NAMESPACES, OWNER_ANNOTATION, component_of, marked, owner_of
from .eastwest import REMOTE_CLASS
from .peering import AUTOMATIC_LABEL

log = logging.getLogger("gloomesh.simulators")

COMPONENT = "gloo-management-plane"
MANAGER = "gloomesh-sim-gloo-mgmt"
DISTRIBUTED_LABEL = "gloo.solo.io/config-distribution"
OWNER_PREFIX = "management-plane/"


def source_of(gw: dict) -> str | None:
    """The context whose istiod published this automatic peer Gateway (directly or as a copy)."""
    owner = owner_of(gw) or ""
    labels = (gw.get("metadata") or {}).get("labels") or {}
    if labels.get(AUTOMATIC_LABEL) != "true" or (gw.get("spec") or {}).get("gatewayClassName") != REMOTE_CLASS:
        return None
    for prefix in ("istiod/", OWNER_PREFIX):
        if owner.startswith(prefix):
            return owner[len(prefix):]
    return None


def copy_of(gw: dict, source: str) -> dict:
    meta = gw["metadata"]
    labels = dict(meta.get("labels") or {})
    labels[DISTRIBUTED_LABEL] = "true"
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != OWNER_ANNOTATION}
    body = {"apiVersion": gw["apiVersion"], "kind": "Gateway",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
                         "annotations": annotations},
            "spec": copy.deepcopy(gw["spec"])}
    return marked(body, COMPONENT, OWNER_PREFIX + source)


class ManagementPlaneSimulator:
    def __init__(self, sims):
        self.sims = sims
        self.enabled = False
        self.mgmt_context = "mgmt"
        self._cond = threading.Condition()
        self._dirty = False
        self._reported: set[tuple[str, str, str]] = set()
        self.thread = threading.Thread(target=self._run, daemon=True, name="gloomesh-sim-management-plane")

    def switch(self, enabled: bool, mgmt_context: str):
        with self._cond:
            self.enabled, self.mgmt_context = enabled, mgmt_context
        self.wake()

    def wake(self):
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def interrupt(self):
        with self._cond:
            self._cond.notify_all()

    def _run(self):
        stop = self.sims.stop_event
        while not stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._dirty or stop.is_set())
                if stop.is_set():
                    return
                self._dirty = False
            try:
                self.reconcile()
            except Exception:
                if stop.is_set():
                    return
                log.exception("management plane: reconcile failed")

    def reconcile(self):
        clusters = {c.name: c for c in self.sims.clusters() if c.served(GATEWAYS)}
        mgmt = clusters.get(self.mgmt_context) if self.enabled else None
        wanted: set[tuple[str, str, str]] = set()
        if mgmt is not None:
            # 1. every workload cluster's own automatic peer -> management cluster
            for name, cluster in clusters.items():
                if name == mgmt.name:
                    continue
                for gw in cluster.items(GATEWAYS):
                    if owner_of(gw) == f"istiod/{name}" and source_of(gw) == name:
                        self._place(mgmt, copy_of(gw, name), wanted)
            # 2. every automatic peer held by the management cluster -> every other cluster
            for gw in mgmt.items(GATEWAYS):
                source = source_of(gw)
                if source is None or (source != mgmt.name and (mgmt.name, *self._key(gw)) not in wanted):
                    continue
                for name, cluster in clusters.items():
                    if name not in (source, mgmt.name):
                        self._place(cluster, copy_of(gw, source), wanted)
        for name, cluster in clusters.items():
            for gw in cluster.items(GATEWAYS):
                if component_of(gw) == COMPONENT and (name, *self._key(gw)) not in wanted:
                    cluster.remove(GATEWAYS, gw["metadata"]["name"], gw["metadata"]["namespace"])

    @staticmethod
    def _key(gw) -> tuple[str, str]:
        return gw["metadata"]["namespace"], gw["metadata"]["name"]

    def _place(self, cluster, gw: dict, wanted: set):
        namespace, name = gw["metadata"]["namespace"], gw["metadata"]["name"]
        if cluster.cached(NAMESPACES, namespace) is None:
            return  # distribution waits until the namespace exists there
        existing = cluster.cached(GATEWAYS, name, namespace)
        if existing is not None and component_of(existing) != COMPONENT:
            if (cluster.name, namespace, name) not in self._reported:
                self._reported.add((cluster.name, namespace, name))
                log.info("management plane: %s already has Gateway %s/%s it did not write; left alone",
                         cluster.name, namespace, name)
            return
        wanted.add((cluster.name, namespace, name))
        cluster.ensure(gw, MANAGER, exact_metadata=True)
