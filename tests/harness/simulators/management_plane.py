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

Relay agents. The copies travel over each workload cluster's Gloo agent connection to the
management server (Solo's istiod builds the automatic peer "to be distributed to remote clusters
using GMEs agent-mgmt relay connection": platform/discovery/peering/watcher.go
TranslateEastWestGateway, github.com/PetrMc/istio-petrmc-upstream-fork@d89b44066a). Every cluster
but the management cluster runs an agent, connected until `set_agent(context, False)`. The server
publishes the connections only as a Prometheus gauge, `relay_push_clients_connected{cluster="<name>"}`
1 or 0 (HELP "Current number of connected Relay push clients (Relay Agents)"), on the metrics port
of its pods labelled `app=gloo-mesh-mgmt-server` in namespace gloo-mesh, which Solo's meshctl check
reads ("cluster %v registered but agent is not connected": solo-io/gloo-mesh@f8f23f2ad7
pkg/meshctl/checks/enterprise_registration_check.go) and Solo's Gloo Mesh 2.7 labs tell you to grep
(solo-io/workshops@0602bdef07 gloo-mesh/enterprise/2-7/default/README.md, "Deploy and register
Gloo Mesh"). The simulator runs one such pod, whose IP is an address of this machine where it
serves that gauge (the API server proxies only to a global unicast pod IP: kubernetes
pkg/registry/core/pod/strategy.go ResourceLocation, so not loopback), on a free port
(`metrics_port`, since port 9091 may be taken). A cluster whose agent is disconnected gets nothing
and gives nothing: the simulator neither writes to it nor copies its peer anew, and leaves what
was distributed before where it is (no Solo source says what the server does with a disconnected
agent's last snapshot).
"""
from __future__ import annotations

import copy
import http.server
import ipaddress
import logging
import socket
import threading

from .base import GATEWAYS, NAMESPACES, OWNER_ANNOTATION, PODS, component_of, marked, owner_of
from .eastwest import REMOTE_CLASS
from .peering import AUTOMATIC_LABEL

log = logging.getLogger("gloomesh.simulators")

COMPONENT = "gloo-management-plane"
MANAGER = "gloomesh-sim-gloo-mgmt"
DISTRIBUTED_LABEL = "gloo.solo.io/config-distribution"
OWNER_PREFIX = "management-plane/"
SERVER_NAMESPACE = "gloo-mesh"
SERVER_POD = "gloo-mesh-mgmt-server-5d4f8b7c9d-sim01"
RELAY_METRIC = "relay_push_clients_connected"


def routable_address() -> str:
    """An IPv4 address of this machine that is not loopback (the route's source address; connecting a
    UDP socket sends nothing)."""
    candidates = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            candidates.append(probe.getsockname()[0])
        except OSError:
            pass
    try:
        candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    for address in candidates:
        ip = ipaddress.ip_address(address)
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
            return address
    raise RuntimeError("the management plane's metrics need an IPv4 address of this machine other than loopback "
                       "(the API server proxies only to such pod IPs); found only %s" % (candidates or "none"))


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
        self.disconnected: set[str] = set()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._pod_in: str | None = None  # the context whose server pod was written
        self.thread = threading.Thread(target=self._run, daemon=True, name="gloomesh-sim-management-plane")

    def switch(self, enabled: bool, mgmt_context: str):
        with self._cond:
            self.enabled, self.mgmt_context = enabled, mgmt_context
        self.wake()

    def set_agent(self, context: str, connected: bool):
        """Connect or disconnect the Gloo agent of a workload cluster."""
        with self._cond:
            (self.disconnected.discard if connected else self.disconnected.add)(context)
        self.wake()

    @property
    def metrics_port(self) -> int:
        return self._metrics_server().server_address[1]

    def metrics(self) -> str:
        """The management server's gauge of connected agents, one sample per workload cluster."""
        with self._cond:
            mgmt, down = self.mgmt_context, set(self.disconnected)
        lines = [f"# HELP {RELAY_METRIC} Current number of connected Relay push clients (Relay Agents).",
                 f"# TYPE {RELAY_METRIC} gauge"]
        lines += [f'{RELAY_METRIC}{{cluster="{c.name}"}} {0 if c.name in down else 1}'
                  for c in self.sims.clusters() if c.name != mgmt]
        return "\n".join(lines) + "\n"

    def _metrics_server(self) -> http.server.ThreadingHTTPServer:
        with self._cond:
            if self._server is None:
                plane = self

                class Metrics(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = plane.metrics().encode() if self.path == "/metrics" else b""
                        self.send_response(200 if body else 404)
                        self.send_header("Content-Type", "text/plain; version=0.0.4")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)

                    def log_message(self, *args):
                        pass

                self._server = http.server.ThreadingHTTPServer((routable_address(), 0), Metrics)
                self._server.daemon_threads = True
                threading.Thread(target=self._server.serve_forever, daemon=True,
                                 name="gloomesh-sim-management-metrics").start()
            return self._server

    def close(self):
        with self._cond:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

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
        self._server_pod(mgmt)
        with self._cond:
            down = set(self.disconnected) if mgmt is not None else set()
        wanted: set[tuple[str, str, str]] = set()
        if mgmt is not None:
            # 1. every workload cluster's own automatic peer -> management cluster
            for name, cluster in clusters.items():
                if name == mgmt.name or name in down:
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
                    if name not in (source, mgmt.name) and name not in down:
                        self._place(cluster, copy_of(gw, source), wanted)
        for name, cluster in clusters.items():
            for gw in cluster.items(GATEWAYS):
                if component_of(gw) == COMPONENT and (name, *self._key(gw)) not in wanted \
                        and name not in down and source_of(gw) not in down:
                    cluster.remove(GATEWAYS, gw["metadata"]["name"], gw["metadata"]["namespace"])

    def _server_pod(self, mgmt):
        """The management server's pod, in the management cluster while the simulator is on; its IP
        serves the metrics. (Pods are not in the informers' caches: written once per switch.)"""
        if self._pod_in is not None and (mgmt is None or mgmt.name != self._pod_in):
            old = next((c for c in self.sims.clusters() if c.name == self._pod_in), None)
            if old is not None:
                old.remove(PODS, SERVER_POD, SERVER_NAMESPACE, grace_seconds=0)
            self._pod_in = None
        if mgmt is None or self._pod_in is not None or mgmt.cached(NAMESPACES, SERVER_NAMESPACE) is None:
            return
        server = self._metrics_server()
        pod = marked({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": SERVER_POD, "namespace": SERVER_NAMESPACE,
                                   "labels": {"app": "gloo-mesh-mgmt-server"}},
                      "spec": {"automountServiceAccountToken": False, "containers": [{
                          "name": "gloo-mesh-mgmt-server", "image": "gcr.io/gloo-mesh/gloo-mesh-mgmt-server:2.7.0",
                          "ports": [{"name": "stats", "containerPort": server.server_address[1]}]}]}},
                     COMPONENT, OWNER_PREFIX + mgmt.name)
        address = server.server_address[0]
        status = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": SERVER_POD, "namespace": SERVER_NAMESPACE},
                  "status": {"phase": "Running", "podIP": address, "podIPs": [{"ip": address}]}}
        try:
            mgmt.kube.apply(pod, MANAGER)
            mgmt.kube.apply(status, MANAGER + "-status", "status")
        except Exception as err:  # retried on the next change
            log.warning("management plane: %s: server pod not written: %s", mgmt.name, err)
            return
        self._pod_in = mgmt.name

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
