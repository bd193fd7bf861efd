"""Upstream istiod (pilot-discovery) against the local clusters: one process per cluster.

The binary is built from the istio.io/istio module pinned in hack/assets/go.mod by
hack/build-istiod.sh into ``$GLOOMESH_CACHE/assets/istiod-<pin>/`` (with the chart's injection
templates and Istio's CRDs beside it); ``GLOOMESH_ISTIOD_BIN`` names another pilot-discovery.
`find_istiod()` raises `IstiodUnavailable` (with what to run) when there is none.

Each `Istiod` runs as the pod the Gloo Operator's Deployment ``istiod-gloo`` would be, in the
way upstream runs pilot-discovery outside a cluster: every path it reads by default is relative
(``./etc/cacerts``, ``./var/lib/istio/inject``, ``./var/run/secrets/istio-dns``: see
pilot/cmd/pilot-discovery/app/cmd.go and pilot/pkg/bootstrap/istio_ca.go), so it runs with its own
folder ``<cluster workdir>/istiod/`` as working directory and finds there what kubelet would
have mounted:

- its own kubeconfig (the harness's simulator user, context = the cluster: its writes are not
  counted as the collection's) and its own loopback ports for every listener;
- revision ``gloo`` and namespace ``istio-system``; no mesh file, so istiod reads ConfigMap
  ``istio-gloo`` itself (pilot/pkg/bootstrap/mesh.go getConfigurationSources: the file when it
  exists, else ConfigMap ``istio-<revision>`` key ``mesh``, and ``meshNetworks`` likewise); the
  network comes from the ``topology.istio.io/network`` label of istio-system, as in a cluster
  (serviceregistry/kube/controller/network.go); CLUSTER_ID and the rest of the container env
  from the ``istiod-gloo`` Deployment when there is one (what its pod would get), else the
  context name;
- the ``cacerts`` Secret as files in ``./etc/cacerts`` (ROOT_CA_DIR): `SecretVolume` plays
  kubelet's atomic writer, before the start and whenever the Secret changes (absent Secret: an
  empty folder, as the chart's ``optional: true`` volume);

Upstream's chart mounts neither the mesh config nor the injection config
(istio-discovery/templates/deployment.yaml): istiod reads both ConfigMaps through the API. So
does this one. When the install has not written ConfigMap ``istio-sidecar-injector-gloo``, the
harness writes it as the chart renders it (`injector_configmap`): without it istiod skips
injection (pilot/pkg/bootstrap/sidecarinjector.go initSidecarInjector, "template not found") and
its gateway deployment controller has no ``waypoint`` template to deploy east-west Gateways with.
A revisioned istiod deploys unlabelled Gateways only as the default revision: see
`default_revision_webhook`.

Our clusters have no controller-manager and no cloud, so beside each istiod `ClusterStandIns`
plays, for the Services istiod deploys (label ``gateway.istio.io/managed``) only: the
EndpointSlice controller (ready endpoints for the simulated pods the workload simulator runs for
istiod's Deployments) and a load balancer (an ingress address at once, after a delay or never, as
`Simulators.set_load_balancer` says for the cluster).

An istiod that is not ``observe_only`` plays all of istiod: it deploys the east-west Gateways and
writes their status, the istio-remote status and the GatewayClasses', and is the cluster's CA.
With ``with_deployment`` it is the pod of the Gloo Operator's Deployment ``istiod-gloo``: the
process starts when the install creates that Deployment (the cacerts it finds then are what it
loads, as a pod's) and stops when the Deployment goes, and the simulators step aside in that
cluster (`Simulators.set_istiod(context, "upstream")`; Solo's parts stay simulated). `make demo`,
the playbook install test and the tests on `playbook_run.fresh_mesh` run it so.

Beside the simulators (which still play istiod's writes: eastwest.py, trust.py), an istiod runs
``observe_only`` (OBSERVE_ENV): it reads the cluster and writes nothing, so it may start before the
install; what it decides is read from its debug endpoints, e.g. the network gateways it made of
each peer Gateway (`network_gateways`, `Istiod.wait_network_gateways`, `network_summary`).
``observe_only`` with ``ca=True`` (CA_ENV) is an observer that is also its cluster's CA: it loads
the plugged ``cacerts`` (kubelet's volume, above), signs, and publishes its roots in every
namespace's ``istio-ca-root-cert``, in place of the trust simulator (`Simulators.set_ca(context,
"upstream")`); its only other writes are its leader election locks (`observer_writes`).

Where a Deployment ``istiod-gloo`` exists, the harness plays its rollout as the trust simulator
sees one (a new pod loads ``cacerts`` as it is when the pod starts): a new pod template (the
collection's restart annotation, a new env) stops the process and starts it again with the
Deployment's env and the Secret as it is then, under the same pod name (`Istiod.restarts`,
`Istiod.wait_rolled_out`). A process that exited (a ``cacerts`` istiod refused) is started again
once the Secret changes, as kubelet restarts a crashed container with the volume it refreshed.
A pod template with readiness gate READINESS_GATE gets that condition from the harness: True
while the process runs and has answered /ready, so the simulated Deployment is rolled out (and
what waits for it, e.g. the collection's rotation, goes on) only once the real istiod serves.

Processes get SIGKILL when the thread that started them ends (start them from the main thread),
log to ``<cluster workdir>/istiod.log``, and stop with `IstiodFleet.stop()`;
`start_with_control_plane()` ties them to a control plane's stop().
"""
from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import datetime
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import yaml

from .collection_path import REPO_ROOT, install_collection_finder
from .controlplane import _BIND_ERRORS, MUTATING_VERBS, SIMULATOR_USER, _die_with_parent, _tail, free_port, terminate
from .poll import wait_until
from .simulators import ClusterSettings
from .simulators.base import Kube, Resource
from .simulators.loadbalancer import assigned, wait_left
from .simulators.workloads import template_hash

BUILD_SCRIPT = os.path.join(REPO_ROOT, "hack", "build-istiod.sh")
BIN_ENV = "GLOOMESH_ISTIOD_BIN"
REVISION = "gloo"
NAMESPACE = "istio-system"
DEPLOYMENT = "istiod-gloo"
SERVICE_ACCOUNT = "istiod-gloo"
CACERTS = "cacerts"
NETWORK_LABEL = "topology.istio.io/network"
MANAGED_LABEL = "gateway.istio.io/managed"  # on what the gateway deployment controller deploys
DOMAIN = "cluster.local"
STAND_IN_MANAGER = "gloomesh-standin"
POLL_SECONDS = 0.3

SECRETS = Resource("v1", "Secret", "secrets")
SERVICES = Resource("v1", "Service", "services")
CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
PODS = Resource("v1", "Pod", "pods")
NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
ENDPOINTSLICES = Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")
CRDS = Resource("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False)
VALIDATING_WEBHOOKS = Resource("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
                               "validatingwebhookconfigurations", namespaced=False)

# Injection templates of the chart's ConfigMap, name -> file under chart/files
# (manifests/charts/istio-control/istio-discovery/templates/istiod-injector-configmap.yaml).
TEMPLATES = {
    "sidecar": "injection-template.yaml",
    "gateway": "gateway-injection-template.yaml",
    "grpc-simple": "grpc-simple.yaml",
    "grpc-agent": "grpc-agent.yaml",
    "waypoint": "waypoint.yaml",
    "kube-gateway": "kube-gateway.yaml",
    "agentgateway": "agentgateway.yaml",
    "agentgateway-waypoint": "agentgateway-waypoint.yaml",
}
# Env the chart's Deployment gives istiod (templates/deployment.yaml) and the ambient profile
# (files/profile-ambient.yaml); AMBIENT_ENABLE_MULTI_NETWORK (pilot/pkg/features/ambient.go,
# default false) registers the east-west controller istio.io/eastwest-controller
# (pilot/pkg/config/kube/gatewaycommon/classinfo.go): without it no east-west Gateway is deployed.
BASE_ENV = {
    "REVISION": REVISION,
    "PILOT_CERT_PROVIDER": "istiod",
    "POD_NAMESPACE": NAMESPACE,
    "SERVICE_ACCOUNT": SERVICE_ACCOUNT,
    "CA_TRUSTED_NODE_ACCOUNTS": f"{NAMESPACE}/ztunnel",
    "PILOT_ENABLE_ANALYSIS": "false",
    "PILOT_TRACE_SAMPLING": "1",
    "PILOT_ENABLE_AMBIENT": "true",
    "AMBIENT_ENABLE_MULTI_NETWORK": "true",
    "PLATFORM": "",
}
# An istiod that only reads (`observe_only`): it decides what it makes of the cluster (its network
# gateways, /debug/networkz) and writes nothing the simulators write while they still play istiod's
# other parts (issue 19): no CA, so no istio-ca-root-cert in any namespace (bootstrap/server.go
# shouldStartNsController) and no DNS certificate or webhook patching (validation.go,
# sidecarinjector.go: an empty config name turns each off); no Gateway status, no GatewayClass
# creation, no gateway deployments (features/experimental.go), no ambient status conditions on
# Services and policies (features/ambient.go AMBIENT_ENABLE_STATUS), no ServiceEntry addresses. Its
# only writes are its leader election locks (LEADER_LOCKS) in istio-system. Run without the default-revision
# webhook, it owns no unlabelled Gateway either (pkg/revisions/tag_watcher.go IsMine). Network
# gateways come from every Gateway with a network label whatever its revision
# (serviceregistry/kube/controller/network.go: its informer has no filter).
OBSERVE_ENV = {
    "ENABLE_CA_SERVER": "false",
    "PILOT_CERT_PROVIDER": "none",
    "VALIDATION_WEBHOOK_CONFIG_NAME": "",
    "INJECTION_WEBHOOK_CONFIG_NAME": "",
    "PILOT_ENABLE_GATEWAY_API_STATUS": "false",
    "PILOT_ENABLE_GATEWAY_API_GATEWAYCLASS_CONTROLLER": "false",
    "PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER": "false",
    "AMBIENT_ENABLE_STATUS": "false",
    "PILOT_ENABLE_IP_AUTOALLOCATE": "false",  # addresses in ServiceEntry status (features/pilot.go)
}
# An observer that is also the cluster's CA (`observe_only` with `ca=True`): ENABLE_CA_SERVER and
# PILOT_CERT_PROVIDER=istiod give it the plugged-in CA of ./etc/cacerts (bootstrap/server.go
# maybeCreateCA, istio_ca.go createIstioCA), its own DNS certificate signed by it (the webhook port
# serves it; patching stays off), the CA service on the secure gRPC port, and the namespace
# controller that writes istio-ca-root-cert in every namespace (server.go shouldStartNsController).
CA_ENV = {"ENABLE_CA_SERVER": "true", "PILOT_CERT_PROVIDER": "istiod"}
ROOT_CONFIGMAP = "istio-ca-root-cert"
READINESS_GATE = "harness.gloomesh.io/upstream-istiod"  # see the module docstring
# Names (a revision suffix may follow) of istiod's leader election locks, Leases or ConfigMaps in its
# namespace (pilot/pkg/leaderelection/leaderelection.go): an observer still takes part in elections.
LEADER_LOCKS = ("istio-namespace-controller-election", "istio-clustertrustbundle-controller-election",
                "istio-serviceexport-controller-election", "istio-leader", "istio-gateway-status-leader",
                "istio-status-leader", "istio-analyze-leader", "istio-gateway-deployment",
                "istio-gateway-inferencepool", "istio-node-untaint", "istio-ip-autoallocate")


class IstiodUnavailable(RuntimeError):
    """No pilot-discovery to run (not built, or GLOOMESH_ISTIOD_BIN wrong)."""


# -- assets ----------------------------------------------------------------------------------------
def assets_dir() -> str:
    """The folder hack/build-istiod.sh fills for the pin in hack/assets/go.mod (it builds nothing here)."""
    out = subprocess.run(["bash", BUILD_SCRIPT, "--locate"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise IstiodUnavailable(out.stderr.strip() or f"{BUILD_SCRIPT} --locate exited with {out.returncode}")
    return out.stdout.strip()


@dataclasses.dataclass(frozen=True)
class IstiodAssets:
    binary: str
    chart: str   # values.yaml and files/*.yaml of the istio-discovery chart
    crds: str    # crd-all.gen.yaml


def find_istiod() -> IstiodAssets:
    """The pilot-discovery to run and the chart files beside it, or IstiodUnavailable saying how to get them."""
    folder = assets_dir()
    binary = os.environ.get(BIN_ENV) or os.path.join(folder, "pilot-discovery")
    if not os.access(binary, os.X_OK):
        raise IstiodUnavailable(f"no executable pilot-discovery at {binary}: run `make istiod`, or set {BIN_ENV}")
    return IstiodAssets(binary, os.path.join(folder, "chart"), os.path.join(folder, "crds", "crd-all.gen.yaml"))


# -- what the chart renders ------------------------------------------------------------------------
def injector_configmap(chart: str, cluster_id: str, network: str = "", hub: str = "", tag: str = "",
                       env: dict | None = None) -> dict:
    """ConfigMap istio-sidecar-injector-gloo (keys config, values) as the chart renders it for
    revision gloo with the ambient profile (templates/istiod-injector-configmap.yaml picks
    global, sidecarInjectorWebhook, revision, pilot={cni, env} and gateways={securityContext,
    seccompProfile} of the merged values; templates/zzz_profile.yaml merges the profile onto
    values.yaml's _internal_defaults_do_not_set)."""
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as fh:
        defaults = yaml.safe_load(fh)["_internal_defaults_do_not_set"]
    profile_path = os.path.join(chart, "files", "profile-ambient.yaml")
    profile = {}
    if os.path.isfile(profile_path):
        with open(profile_path, encoding="utf-8") as fh:
            profile = yaml.safe_load(fh) or {}
    user = {"revision": REVISION,
            "global": {"multiCluster": {"clusterName": cluster_id}, "network": network or "",
                       **({"hub": hub} if hub else {}), **({"tag": tag} if tag else {})},
            "env": dict(env or {})}
    install_collection_finder()
    from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.helm_release import merge_values

    values = merge_values(merge_values(defaults, profile), user)
    injected = {
        "global": values.get("global") or {},
        "sidecarInjectorWebhook": values.get("sidecarInjectorWebhook") or {},
        "revision": values.get("revision") or "",
        "pilot": {"cni": values.get("cni") or {}, "env": values.get("env") or {}},
        "gateways": {k: (values.get("gateways") or {}).get(k) for k in ("securityContext", "seccompProfile")},
    }
    hook = values.get("sidecarInjectorWebhook") or {}
    templates = {}
    for name, filename in TEMPLATES.items():
        path = os.path.join(chart, "files", filename)
        if name not in (hook.get("templates") or {}) and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                templates[name] = fh.read().strip() + "\n"
    templates.update(hook.get("templates") or {})
    config = {
        "defaultTemplates": list(hook.get("defaultTemplates") or ["sidecar"]),
        "policy": ((values.get("global") or {}).get("proxy") or {}).get("autoInject", "enabled"),
        "alwaysInjectSelector": hook.get("alwaysInjectSelector") or [],
        "neverInjectSelector": hook.get("neverInjectSelector") or [],
        "injectedAnnotations": hook.get("injectedAnnotations") or {},
        "templates": templates,
    }
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"istio-sidecar-injector-{REVISION}", "namespace": NAMESPACE,
                         "labels": {"istio.io/rev": REVISION, "app.kubernetes.io/name": "istiod",
                                    "operator.istio.io/component": "Pilot"}},
            "data": {"config": yaml.safe_dump(config, sort_keys=False, width=1 << 20),
                     "values": json.dumps(injected, indent=2, sort_keys=True)}}


def install_istio_crds(kube: Kube, crds_file: str, timeout: float = 60.0) -> list[str]:
    """Server-side apply Istio's CRDs (what the Gloo Operator installs: CRDInstalled) and wait until Established."""
    with open(crds_file, encoding="utf-8") as fh:
        docs = [d for d in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                if d and d.get("kind") == "CustomResourceDefinition"]
    for doc in docs:
        kube.request("PATCH", CRDS.path(None, doc["metadata"]["name"]),
                     {"fieldManager": STAND_IN_MANAGER, "force": "true"}, doc,
                     content_type="application/apply-patch+yaml")
    names = [d["metadata"]["name"] for d in docs]
    deadline = time.monotonic() + timeout
    for name in names:
        while not any(c.get("type") == "Established" and c.get("status") == "True"
                      for c in ((kube.get(CRDS, name) or {}).get("status") or {}).get("conditions") or []):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Istio CRD {name} not Established after {timeout:.0f}s")
            time.sleep(0.1)
    return names


def default_revision_webhook(revision: str = REVISION, namespace: str = NAMESPACE) -> dict:
    """ValidatingWebhookConfiguration istiod-default-validator as upstream's base chart renders it
    with defaultRevision=<revision> (manifests/charts/base/templates/
    defaultrevision-validatingwebhookconfiguration.yaml).

    It is what makes a revisioned istiod "the default revision": pkg/revisions/tag_watcher.go
    IsMine gives istiod-gloo a Gateway without istio.io/rev (on it or its namespace) only when
    this object carries istio.io/rev=gloo or a tag "default" points at gloo. Without it,
    istiod-gloo deploys nothing for the collection's east-west Gateway.
    """
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "istiod-default-validator",
                     "labels": {"app": "istiod", "istio": "istiod", "istio.io/rev": revision,
                                "app.kubernetes.io/name": "istiod"}},
        "webhooks": [{
            "name": "validation.istio.io",
            "clientConfig": {"service": {"name": f"istiod-{revision}", "namespace": namespace, "path": "/validate"}},
            "rules": [{"operations": ["CREATE", "UPDATE"],
                       "apiGroups": ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
                                     "extensions.istio.io"],
                       "apiVersions": ["*"], "resources": ["*"]}],
            # The chart's first install: fail open until istiod patches caBundle and Fail in.
            "failurePolicy": "Ignore",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }],
    }


# -- kubelet's Secret volume -----------------------------------------------------------------------
class SecretVolume:
    """A Secret's keys as files in one folder, swapped atomically as kubelet does.

    Kubernetes' AtomicWriter (pkg/volume/util/atomic_writer.go): the payload goes into a new
    hidden timestamped folder, symlink ``..data_tmp`` pointing at it is renamed over ``..data``
    (the one atomic step), each key is a symlink ``<key> -> ..data/<key>``, then keys no longer in
    the payload and the old folder are removed. The rename is a Create event of ``..data`` in the
    folder: what istiod's fsnotify watch on ROOT_CA_DIR reacts to
    (pilot/pkg/bootstrap/istio_ca.go handleCACertsFileWatch, Write or Create).
    """

    def __init__(self, path: str):
        self.path = path
        self.version = None  # resourceVersion written last (None: nothing yet)
        os.makedirs(path, exist_ok=True)

    def keys(self) -> set[str]:
        return {n for n in os.listdir(self.path) if not n.startswith("..")}

    def write(self, data: dict[str, bytes]):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.%f")
        new_dir = os.path.join(self.path, stamp)
        os.mkdir(new_dir, 0o755)
        for key, value in data.items():
            with open(os.path.join(new_dir, key), "wb") as fh:
                fh.write(value)
            os.chmod(os.path.join(new_dir, key), 0o644)
        data_link = os.path.join(self.path, "..data")
        old_dir = os.readlink(data_link) if os.path.islink(data_link) else None
        tmp_link = os.path.join(self.path, "..data_tmp")
        if os.path.lexists(tmp_link):
            os.remove(tmp_link)
        os.symlink(stamp, tmp_link)
        os.replace(tmp_link, data_link)
        for key in data:
            link = os.path.join(self.path, key)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", key), link)
        for key in self.keys() - set(data):
            os.remove(os.path.join(self.path, key))
        if old_dir and old_dir != stamp:
            shutil.rmtree(os.path.join(self.path, old_dir), ignore_errors=True)

    def sync(self, secret: dict | None) -> bool:
        """Make the folder hold `secret` (None: absent, an empty folder); True when it changed."""
        version = (secret or {}).get("metadata", {}).get("resourceVersion") if secret else ""
        if version == self.version:
            return False
        self.write({k: base64.b64decode(v) for k, v in ((secret or {}).get("data") or {}).items()})
        self.version = version
        return True


# -- what a real cluster has and ours lacks --------------------------------------------------------
def _apply(kube: Kube, res: Resource, obj: dict, subresource=None) -> dict:
    meta = obj["metadata"]
    return kube.request("PATCH", res.path(meta.get("namespace"), meta["name"], subresource),
                        {"fieldManager": STAND_IN_MANAGER, "force": "true"}, obj,
                        content_type="application/apply-patch+yaml")


def _pod_ready(pod: dict) -> bool:
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def endpoint_slice(service: dict, pods: list[dict]) -> dict | None:
    """The EndpointSlice kube-controller-manager's EndpointSlice controller keeps for a Service
    with a selector (pkg/controller/endpointslice): ready pods matching it, the Service's ports
    by target port (a number, or a name looked up in the pod's container ports)."""
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector:
        return None
    meta = service["metadata"]
    matching = [p for p in pods if p["metadata"]["namespace"] == meta["namespace"]
                and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
                and not p["metadata"].get("deletionTimestamp")]
    ports = []
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            named = [cp.get("containerPort") for p in matching for c in (p.get("spec") or {}).get("containers") or []
                     for cp in c.get("ports") or [] if cp.get("name") == target]
            target = named[0] if named else None
        if target is None:
            continue
        entry = {"name": port.get("name", ""), "port": int(target), "protocol": port.get("protocol", "TCP")}
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        ports.append(entry)
    endpoints = [{
        "addresses": [p["status"]["podIP"]],
        "conditions": {"ready": _pod_ready(p), "serving": _pod_ready(p), "terminating": False},
        "nodeName": (p.get("spec") or {}).get("nodeName"),
        "targetRef": {"kind": "Pod", "namespace": p["metadata"]["namespace"], "name": p["metadata"]["name"],
                      "uid": p["metadata"]["uid"]},
    } for p in matching if (p.get("status") or {}).get("podIP")]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{meta['name']}-standin", "namespace": meta["namespace"],
                     "labels": {"kubernetes.io/service-name": meta["name"],
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                          "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
    }


class ClusterStandIns:
    """For one cluster, in one polling thread: kubelet's cacerts volume of istiod, the rollout of
    its Deployment (`on_deployment`, called with Deployment istiod-gloo or None), and (`services`)
    for the Services istiod's gateway deployment controller creates, the EndpointSlice controller and
    a cloud load balancer: `lb_address` is the ingress IP (None: pending forever), given as
    `lb_settings()` says (the cluster's `Simulators.settings`: at once, after a delay or never; see
    simulators/loadbalancer.py `wait_left`)."""

    def __init__(self, kube: Kube, volume: SecretVolume, lb_address: str | None, on_error, on_deployment=None,
                 services: bool = True, lb_settings=ClusterSettings):
        self.kube = kube
        self.volume = volume
        self.lb_address = lb_address
        self.lb_settings = lb_settings
        self.services = services
        self._on_error = on_error
        self._on_deployment = on_deployment
        self._stop = threading.Event()
        self._slices: dict[tuple[str, str], dict] = {}
        self._pending: dict[tuple[str, str], float] = {}  # LoadBalancer Services without an address: since
        self.thread = threading.Thread(target=self._run, name=f"istiod-standins-{kube.name}", daemon=True)

    def sync_secret(self) -> bool:
        return self.volume.sync(self.kube.get(SECRETS, CACERTS, NAMESPACE))

    def start(self):
        self.thread.start()

    def stop(self):
        self._stop.set()
        if self.thread.ident is not None:
            self.thread.join(5)

    def _run(self):
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.sync_secret()
                if self.services:
                    self._services()
                if self._on_deployment is not None:
                    self._on_deployment(self.kube.get(DEPLOYMENTS, DEPLOYMENT, NAMESPACE))
            except Exception as err:  # the API server may be frozen or restarting: try again
                self._on_error(err)

    def _services(self):
        services = self.kube.list(SERVICES, MANAGED_LABEL).get("items") or []
        if not services:
            return
        pods = self.kube.list(PODS).get("items") or []
        seen = set()
        for svc in services:
            meta = svc["metadata"]
            key = (meta["namespace"], meta["name"])
            seen.add(key)
            wanted = endpoint_slice(svc, pods)
            if wanted is not None and self._slices.get(key) != wanted:
                _apply(self.kube, ENDPOINTSLICES, wanted)
                self._slices[key] = wanted
            self._load_balance(key, svc)
        for key in set(self._slices) - seen:
            del self._slices[key]
        for key in set(self._pending) - seen:
            del self._pending[key]

    def _load_balance(self, key: tuple[str, str], svc: dict):
        spec = svc.get("spec") or {}
        if spec.get("type") != "LoadBalancer" or assigned(svc) or not self.lb_address:
            self._pending.pop(key, None)
            return
        now = time.monotonic()
        if wait_left(self.lb_settings(), self._pending.setdefault(key, now), now) != 0:
            return  # later (polled again), or never
        address = spec.get("loadBalancerIP") or self.lb_address
        _apply(self.kube, SERVICES, {"apiVersion": "v1", "kind": "Service",
                                     "metadata": {"name": key[1], "namespace": key[0]},
                                     "status": {"loadBalancer": {"ingress": [{"ip": address}]}}},
               subresource="status")


# -- one istiod --------------------------------------------------------------------------------------
@dataclasses.dataclass
class Ports:
    http: int        # --httpAddr: /ready, /debug/* (chart: 8080)
    https: int       # --httpsAddr: webhooks, with istiod's own DNS certificate (15017)
    grpc: int        # --grpcAddr: plain-text xDS (15010)
    secure_grpc: int  # --secureGRPCAddr: xDS and CA over TLS (15012)
    monitoring: int  # --monitoringAddr: /metrics (15014)
    ctrlz: int       # --ctrlz_port: ControlZ (9876)

    @classmethod
    def free(cls) -> "Ports":
        return cls(*(free_port() for _field in dataclasses.fields(cls)))


def _container_env(deployment: dict | None) -> dict[str, str]:
    containers = (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return {e["name"]: e.get("value", "") for c in containers[:1] for e in c.get("env") or [] if "value" in e}


def _hub_tag(deployment: dict | None) -> tuple[str, str]:
    """Image hub and tag from istiod's image (".../pilot:1.25.2-solo" -> (hub, tag))."""
    containers = (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    image = containers[0].get("image", "") if containers else ""
    match = re.fullmatch(r"(.+)/pilot:([^/]+)", image)
    return (match.group(1), match.group(2)) if match else ("", "")


class Istiod:
    """pilot-discovery for one cluster of a LocalControlPlane (see the module docstring)."""

    def __init__(self, cp, context: str, assets: IstiodAssets, env: dict | None = None,
                 cluster_id: str | None = None, lb_address: str | None = None, log_level: str = "default:info",
                 observe_only: bool = False, ca: bool = False, with_deployment: bool = False,
                 lb_settings=ClusterSettings):
        self.cp = cp
        self.observe_only = observe_only
        self.with_deployment = with_deployment
        self.ca = ca or not observe_only
        self.context = context
        self.assets = assets
        mode = {**OBSERVE_ENV, **(CA_ENV if ca else {})} if observe_only else {}
        self.extra_env = {**mode, **(env or {})}
        self.requested_cluster_id = cluster_id
        self.lb_address = lb_address
        self.lb_settings = lb_settings
        self.log_level = log_level
        self.dir = os.path.join(cp.workdir, context, "istiod")
        self.log_path = os.path.join(cp.workdir, context, "istiod.log")
        self.kubeconfig_path = os.path.join(self.dir, "kubeconfig")
        self.port_path = os.path.join(self.dir, "http-port")  # the running pod's --httpAddr port
        self.cert_dir = os.path.join(self.dir, "etc", "cacerts")
        self.ports = Ports.free()  # a new pod beside the old one gets its own (`_start_pod`)
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.argv: list[str] = []
        self.cluster_id = ""
        self.errors: list[str] = []
        self.template: str | None = None  # pod template hash of istiod-gloo it runs (None: no Deployment)
        self.secret_version: str | None = None  # of the cacerts it started with
        self.restarts = 0
        self.serving = False  # the process answered /ready since it started
        self._gates: dict[str, str] = {}  # READINESS_GATE status written, by pod name
        self._kube: Kube | None = None
        self._standins: ClusterStandIns | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0, wait: bool = True) -> "Istiod":
        """Write its files, start it and (wait) return once it answers /ready."""
        os.makedirs(self.dir, exist_ok=True)
        self._write_kubeconfig()
        self._kube = Kube(self.cp.api_client(self.context, simulator=True), self.context)
        deployment = self._kube.get(DEPLOYMENTS, DEPLOYMENT, NAMESPACE)
        # An observer leaves the cluster's Services to the simulators (whose east-west Services
        # carry the managed label too); without the CA it needs no cacerts either.
        if self.ca:
            self._standins = ClusterStandIns(self._kube, SecretVolume(self.cert_dir), self.lb_address, self._error,
                                             self._follow_rollout, services=not self.observe_only,
                                             lb_settings=self.lb_settings)
        if deployment is not None or not self.with_deployment:
            self._start_pod(deployment)
        if self._standins is not None:
            self._standins.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def _start_pod(self, deployment: dict | None, beside_old: bool = False):
        """Start the process as a new pod of `deployment` starts: with its env, and cacerts as the
        API server has it now (kubelet mounts the volumes before the container starts); beside_old:
        the old pod still runs, so the new one gets ports of its own."""
        pod_env = _container_env(deployment)
        self.cluster_id = self.requested_cluster_id or pod_env.get("CLUSTER_ID") or self.context
        self.template = template_hash(deployment["spec"]["template"]) if deployment else None
        if beside_old:
            self.ports = Ports.free()
        self.serving = False
        if self._standins is not None:
            self._standins.sync_secret()
            self.secret_version = self._standins.volume.version
        # An observer writes nothing (it may start before the install).
        if not self.observe_only:
            self._write_pod_surroundings(deployment, pod_env)
        self.env = {**BASE_ENV, **pod_env, **self.extra_env,
                    "CLUSTER_ID": self.cluster_id,
                    # One identity per pod template: a new pod takes the leader leases only once the
                    # old one released them (pilot/pkg/leaderelection: ReleaseOnCancel; 30 s TTL,
                    # retried every 7.5 s), as in a rollout. Before that, its view may be incomplete.
                    "POD_NAME": f"{DEPLOYMENT}-{self.template or 'none'}-{self.context}",
                    "ROOT_CA_DIR": self.cert_dir,
                    "KUBECONFIG": self.kubeconfig_path}
        self._spawn()

    def _follow_rollout(self, deployment: dict | None):
        """The rollout of istiod-gloo, from the standins' thread (see the module docstring): a new
        pod template replaces the process; one that exited starts again once cacerts changed."""
        if deployment is None:
            if self.with_deployment and self.running():  # the pod went with its Deployment
                terminate(self.proc, 15)
                self.template, self.serving = None, False
            return
        template = template_hash(deployment["spec"]["template"])
        crashed = not self.running() and self._standins.volume.version != self.secret_version
        if template != self.template or crashed:
            old = self.proc if self.running() else None
            self.restarts += self.template is not None
            self._start_pod(deployment, beside_old=old is not None)
            self._gate_pods(deployment)  # the new pod is not ready yet
            try:
                self._wait_ready(time.monotonic() + 60)
            finally:
                # The old pod goes once the new one is ready (the chart's rolling update, maxSurge 100%),
                # and releases its leader leases as it stops. (Where the new one fails, Kubernetes would
                # keep the old one; here neither runs.)
                if old is not None:
                    terminate(old, 15)
        self._gate_pods(deployment)

    def _gate_pods(self, deployment: dict):
        """READINESS_GATE on the pods of the template it runs, when the template asks for it."""
        gates = deployment["spec"]["template"]["spec"].get("readinessGates") or []
        if not any(g.get("conditionType") == READINESS_GATE for g in gates):
            return
        status = "True" if self.serving and self.running() else "False"
        for pod in self._kube.list(PODS, f"pod-template-hash={self.template}").get("items") or []:
            name = pod["metadata"]["name"]
            if pod["metadata"]["namespace"] != NAMESPACE or self._gates.get(name) == status:
                continue
            _apply(self._kube, PODS, {"apiVersion": "v1", "kind": "Pod",
                                      "metadata": {"name": name, "namespace": NAMESPACE},
                                      "status": {"conditions": [{"type": READINESS_GATE, "status": status}]}},
                   subresource="status")
            self._gates[name] = status

    def wait_rolled_out(self, timeout: float = 60.0):
        """Return once this istiod runs the current pod template of istiod-gloo and answers /ready
        (what the simulated Deployment status says at once)."""
        def current():
            dep = self._kube.get(DEPLOYMENTS, DEPLOYMENT, NAMESPACE)
            if dep is None or self.template != template_hash(dep["spec"]["template"]) or not self.running():
                return False
            try:
                return self._http("/ready", timeout=2)[0] == 200
            except OSError:
                return False
        try:
            wait_until(current, f"istiod of {self.context} running the current template of {DEPLOYMENT}",
                       timeout, interval=POLL_SECONDS)
        except AssertionError as err:
            raise AssertionError(f"{err}; errors {self.errors[-3:]}; log:\n{self.log_tail()}") from None

    def _write_pod_surroundings(self, deployment: dict | None, pod_env: dict):
        """What a pod of istiod-gloo finds in a cluster: its namespace and its injector ConfigMap."""
        namespace = self._kube.get(NAMESPACES, NAMESPACE)
        if namespace is None:  # a pod runs in an existing namespace: the install created it
            namespace = _apply(self._kube, NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": NAMESPACE}})
        network = ((namespace or {}).get("metadata", {}).get("labels") or {}).get(NETWORK_LABEL, "")
        hub, tag = _hub_tag(deployment)
        injector = injector_configmap(self.assets.chart, self.cluster_id, network, hub, tag,
                                      {**pod_env, **self.extra_env})
        if self._kube.get(CONFIGMAPS, injector["metadata"]["name"], NAMESPACE) is None:
            _apply(self._kube, CONFIGMAPS, injector)

    def _spawn(self, attempts: int = 3):
        for attempt in range(attempts):
            if attempt:
                self.ports = Ports.free()
            self.argv = self._argv()
            _write_text(self.port_path, f"{self.ports.http}\n")
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    self.argv, cwd=self.dir, env={**_base_process_env(), **self.env}, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent(signal.SIGKILL))
            time.sleep(0.5)
            if self.proc.poll() is None or attempt == attempts - 1 or \
                    not any(m in self.log_tail(30).lower() for m in _BIND_ERRORS):
                return
            # another process took a port between free_port() and bind(): new ports

    def _argv(self) -> list[str]:
        p = self.ports
        loopback = "127.0.0.1:{}".format
        return [
            self.assets.binary, "discovery",
            f"--kubeconfig={self.kubeconfig_path}",
            # Absent files: istiod reads ConfigMap istio-gloo (keys mesh, meshNetworks) itself.
            f"--meshConfig={os.path.join(self.dir, 'etc', 'istio', 'config', 'mesh')}",
            f"--networksConfig={os.path.join(self.dir, 'etc', 'istio', 'config', 'meshNetworks')}",
            f"--httpAddr={loopback(p.http)}",
            f"--httpsAddr={loopback(p.https)}",
            f"--grpcAddr={loopback(p.grpc)}",
            f"--secureGRPCAddr={loopback(p.secure_grpc)}",
            f"--monitoringAddr={loopback(p.monitoring)}",
            "--ctrlz_address=127.0.0.1", f"--ctrlz_port={p.ctrlz}",
            f"--domain={DOMAIN}",
            "--keepaliveMaxServerConnectionAge=30m",
            "--shutdownDuration=1s",
            f"--log_output_level={self.log_level}",
        ]

    def wait_ready(self, timeout: float = 120.0):
        """Return once /ready answers 200 (pilot/pkg/bootstrap/server.go istiodReadyHandler); on a
        crash or timeout, stop it and raise with the end of its log."""
        try:
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, deadline: float):
        if self.proc is None and self.with_deployment:
            return  # no pod yet: it starts with the Deployment (`_follow_rollout`)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"istiod of {self.context} exited with code {self.proc.returncode}; "
                                   f"{self.log_path} ends with:\n{self.log_tail()}")
            try:
                if self._http("/ready", timeout=2)[0] == 200:
                    self.serving = True
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"istiod of {self.context} not ready in time; {self.log_path} ends with:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.3)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0):
        if self._standins is not None:
            self._standins.stop()
        if self.running():
            terminate(self.proc, timeout)
        if self._kube is not None:
            self._kube.api_client.close()
            self._kube = None

    # -- reading it -------------------------------------------------------------------------------
    def _http(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{self.ports.http}{path}", timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def debug(self, path: str):
        """JSON of a debug endpoint, e.g. debug("networkz") (pilot/pkg/xds/debug.go AddDebugHandlers)."""
        status, body = self._http("/debug/" + path.lstrip("/"))
        if status != 200:
            raise RuntimeError(f"istiod of {self.context}: /debug/{path} answered {status}: {body[:300]!r}")
        return json.loads(body) if body.strip() else None

    def network_gateways(self) -> list[dict]:
        """/debug/networkz: the cross-network gateways istiod knows (see `network_gateways`)."""
        return network_gateways(self.ports.http)

    def network_summary(self) -> str:
        return network_summary(self.context, self.network_gateways())

    def wait_network_gateways(self, namespace: str, expected, timeout: float = 30.0) -> list[dict]:
        """Wait until the network gateways istiod made of the Gateways in `namespace` are exactly
        `expected`: (network, address, HBONE port) each, as istiod makes them of an istio-remote
        peer's HBONE listener (Port = HBONEPort = the listener's port, Cluster = this istiod's
        cluster). Raises AssertionError with /debug/networkz and the log's end otherwise."""
        wanted = sorted((str(n), str(a), int(p), int(p), self.cluster_id) for n, a, p in expected)
        found: list = []

        def matches():
            nonlocal found
            found = [g for g in self.network_gateways() if (g.get("ServiceAccount") or {}).get("Namespace") == namespace]
            return sorted((g["Network"], g["Addr"], g["Port"], g["HBONEPort"], g["Cluster"]) for g in found) == wanted
        deadline = time.monotonic() + timeout
        while not matches():
            if time.monotonic() > deadline:
                raise AssertionError(f"istiod of {self.context}: network gateways from namespace {namespace} are "
                                     f"{found}, expected (Network, Addr, Port, HBONEPort, Cluster) {wanted}\n"
                                     f"log:\n{self.log_tail()}")
            time.sleep(POLL_SECONDS)
        return found

    def mesh(self) -> dict:
        return self.debug("mesh") or {}

    def create_certificate(self, csr_pem: str, token: str, roots_pem: str, ttl: int = 3600,
                           timeout: float = 10.0) -> list[str]:
        """A workload certificate from this istiod's CA service, as istio-agent asks for one: gRPC
        CreateCertificate on the secure port (15012), istiod's certificate verified with `roots_pem`
        (istio-ca-root-cert: pkg/istio-agent/agent.go), `token` a service-account token of audience
        istio-ca as credential (security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go, a
        TokenReview). Returns cert_chain: the leaf, the CA chain, and the root bundle last
        (security/pkg/server/ca/server.go CreateCertificate). Needs grpcio (requirements-dev.txt)."""
        # The harness forks (subprocess) while calls may run: grpc's fork handlers only warn then.
        os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
        import grpc  # only the tests that ask for certificates need it

        credentials = grpc.ssl_channel_credentials(root_certificates=roots_pem.encode())
        # istiod's own certificate names its Service (pilot/pkg/bootstrap/certcontroller.go).
        options = [("grpc.ssl_target_name_override", f"{DEPLOYMENT}.{NAMESPACE}.svc")]
        with grpc.secure_channel(f"127.0.0.1:{self.ports.secure_grpc}", credentials, options) as channel:
            call = channel.unary_unary(CA_METHOD)  # no serializers: the messages are bytes
            answer = call(certificate_request(csr_pem, ttl), metadata=[("authorization", f"Bearer {token}")],
                          timeout=timeout)
        return certificate_chain(answer)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def _error(self, err: Exception):
        if len(self.errors) < 100:
            self.errors.append(f"{type(err).__name__}: {err}")

    def _write_kubeconfig(self):
        doc = self.cp.kubeconfig(SIMULATOR_USER)
        doc["current-context"] = self.context
        _write_text(self.kubeconfig_path, yaml.safe_dump(doc), mode=0o600)


def network_gateways(http_port: int, timeout: float = 5.0) -> list[dict]:
    """/debug/networkz of the istiod whose --httpAddr is 127.0.0.1:<http_port>: the cross-network
    gateways it knows (pilot/pkg/xds/debug.go networkz, model.NetworkGateway: Network, Cluster,
    Addr, Port, HBONEPort, ServiceAccount), from labelled Services and Gateways alike."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{http_port}/debug/networkz", timeout=timeout) as resp:
        body = resp.read()
    return (json.loads(body) if body.strip() else None) or []  # none known: "null"


# The CA service (istio.io/api security/v1alpha1/ca.proto, package istio.v1.auth), encoded by
# hand: IstioCertificateRequest {string csr = 1; int64 validity_duration = 3} and
# IstioCertificateResponse {repeated string cert_chain = 1}.
CA_METHOD = "/istio.v1.auth.IstioCertificateService/CreateCertificate"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def certificate_request(csr_pem: str, ttl: int) -> bytes:
    """IstioCertificateRequest: csr (field 1, length-delimited), validity_duration (field 3, varint)."""
    csr = csr_pem.encode()
    return _varint(1 << 3 | 2) + _varint(len(csr)) + csr + _varint(3 << 3) + _varint(ttl)


def certificate_chain(message: bytes) -> list[str]:
    """cert_chain of an IstioCertificateResponse (field 1, repeated string); other fields skipped."""
    chain, at = [], 0
    while at < len(message):
        key, at = _read_varint(message, at)
        if key & 7 != 2:
            raise ValueError(f"IstioCertificateResponse: field {key >> 3} has wire type {key & 7}, expected 2")
        size, at = _read_varint(message, at)
        if key >> 3 == 1:
            chain.append(message[at:at + size].decode())
        at += size
    return chain


def observer_writes(cp, mark: dict, ca: bool = False) -> list[str]:
    """Writes an observe_only istiod sent since `mark` (cp.audit_mark()) besides its leader election
    locks (and, `ca`, the istio-ca-root-cert ConfigMaps it publishes): what OBSERVE_ENV (and CA_ENV)
    promise to be none. Its requests carry user agent pilot-discovery. A TokenReview (the CA
    authenticating a caller) is a create that stores nothing: not a write."""
    found = []
    for event in cp.events_since(mark):
        ref = event.get("objectRef") or {}
        lock = ref.get("resource") in ("leases", "configmaps") and ref.get("namespace") == NAMESPACE \
            and (ref.get("name") or "").startswith(LEADER_LOCKS)
        published = ca and (ref.get("resource") == "tokenreviews" or (
            ref.get("resource") == "configmaps" and ref.get("name") == ROOT_CONFIGMAP))
        if event.get("verb") in MUTATING_VERBS and str(event.get("userAgent")).startswith("pilot-discovery") \
                and not (lock or published):
            found.append(f"{event['context']} {event['verb']} {event.get('requestURI')}")
    return found


def network_summary(context: str, gateways: list[dict]) -> str:
    """One line on what istiod itself reports, e.g. for the demo's verify output:
    "istiod cluster1: 2 network gateways: network2 198.51.100.11:15008 HBONE, network3 ...". The
    port is Port, or HBONEPort for a gateway that only takes HBONE (Port 0)."""
    items = ", ".join(f"{g['Network']} {g['Addr']}:{g['Port'] or g['HBONEPort']}" + (" HBONE" if g["HBONEPort"] else "")
                      for g in gateways)
    noun = "network gateway" if len(gateways) == 1 else "network gateways"
    return f"istiod {context}: {len(gateways)} {noun}" + (f": {items}" if items else "")


def _write_text(path: str, text: str, mode: int = 0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _base_process_env() -> dict[str, str]:
    """The test process's env without what would point istiod elsewhere (proxies, in-cluster config)."""
    drop = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "http_proxy", "https_proxy", "HTTP_PROXY",
            "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


# -- every cluster ---------------------------------------------------------------------------------
class IstiodFleet:
    """One Istiod per cluster; stop() ends them all."""

    def __init__(self, istiods: dict[str, Istiod]):
        self.istiods = istiods

    def __getitem__(self, context: str) -> Istiod:
        return self.istiods[context]

    def __iter__(self):
        return iter(self.istiods.values())

    def wait_ready(self, timeout: float = 180.0):
        """Wait until every one answers /ready (after start_istiods(wait=False)); on failure stop them all."""
        deadline = time.monotonic() + timeout
        try:
            for istiod in self.istiods.values():
                istiod.wait_ready(max(deadline - time.monotonic(), 1.0))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for istiod in self.istiods.values():
            istiod.stop()


def start_istiods(cp, contexts=None, env: dict | None = None,
                  install_crds: bool = False, default_revision: bool = True, timeout: float = 180.0,
                  observe_only: bool = False, ca: bool = False, with_deployment: bool = False,
                  wait: bool = True) -> IstiodFleet:
    """Start istiod for each cluster (all of cp's by default), in parallel; returns once every one is ready.

    The load balancer of istiod's gateway Services gives 198.51.100.(10 + index), as
    `Simulators.lb_address`, at once (with_deployment: as the cluster's simulators say).
    install_crds: apply Istio's CRDs first, as the Gloo Operator does (CRDInstalled). Off by
      default: istiod runs without them (its CRD watcher starts each informer once the CRD is
      there) and the API servers spend ~20 s each on their OpenAPI (measured: istiods ready in
      6 s without them, 40 s with them, on the loaded 2-core machine).
    default_revision: make gloo the default revision first (see default_revision_webhook).
    observe_only: istiods that only read (OBSERVE_ENV), beside simulators that still play istiod's
      writes; nothing is written before they start (no default revision, namespace or injector
      ConfigMap), so they may start before the install.
    ca: with observe_only, each is also its cluster's CA (CA_ENV; see the module docstring).
    with_deployment: each runs only while Deployment istiod-gloo exists, as its pod (it may start
      before the install) and, not observe_only, in place of the simulators' istiod
      (`Simulators.set_istiod(context, "upstream")`), its load balancer the cluster's
      (`Simulators.set_load_balancer`, followed as it changes: at once, slow or never).
    wait: False returns once the processes are started; fleet.wait_ready() waits (overlap it with work).
    Call it from a thread that outlives the processes (see the module docstring).
    """
    assets = find_istiod()
    contexts = list(contexts or cp.names)
    istiods = {}
    sims = cp.simulators if with_deployment and not observe_only else None
    for context in contexts:
        address = f"198.51.100.{10 + list(cp.names).index(context)}"
        lb_settings = ClusterSettings
        if sims is not None:
            sims.set_istiod(context, "upstream")
            address, lb_settings = sims.lb_address(context), functools.partial(sims.settings, context)
        istiods[context] = Istiod(cp, context, assets, env=env, lb_address=address, observe_only=observe_only,
                                  ca=ca, with_deployment=with_deployment, lb_settings=lb_settings)
    fleet = IstiodFleet(istiods)
    try:
        def prepare(context):
            with cp.api_client(context, simulator=True) as api:
                kube = Kube(api, context)
                if install_crds:
                    install_istio_crds(kube, assets.crds)
                if default_revision and not observe_only:
                    _apply(kube, VALIDATING_WEBHOOKS, default_revision_webhook())
        with concurrent.futures.ThreadPoolExecutor(len(contexts)) as pool:
            for future in [pool.submit(prepare, context) for context in contexts]:
                future.result()
        # Popen here (main thread) for PDEATHSIG; the readiness waits overlap.
        for istiod in istiods.values():
            istiod.start(wait=False)
    except BaseException:
        fleet.stop()
        raise
    return fleet.wait_ready(timeout) if wait else fleet


def start_with_control_plane(cp, **kwargs) -> IstiodFleet:
    """start_istiods(cp, ...), stopped first when cp.stop() is called."""
    fleet = start_istiods(cp, **kwargs)
    cp.stop_hooks.append(fleet.stop)
    cp.istiods = fleet
    return fleet


__all__ = ["IstiodUnavailable", "IstiodAssets", "Istiod", "IstiodFleet", "SecretVolume", "ClusterStandIns",
           "find_istiod", "start_istiods", "start_with_control_plane", "injector_configmap", "endpoint_slice",
           "network_gateways", "network_summary", "observer_writes", "certificate_request", "certificate_chain",
           "OBSERVE_ENV", "CA_ENV", "READINESS_GATE"]
