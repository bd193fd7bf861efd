"""Gloo Operator simulator, and what the gloo-operator Helm chart installs.

Stands in for Solo.io's closed-source Gloo Operator (chart gloo-operator 0.2.3). "Procedure"
below is Solo's multicluster procedure, cited by section title; the reference table is its
"ServiceMeshController reference".

- It runs only in clusters where the gloo-operator Deployment (label
  app.kubernetes.io/name=gloo-operator) is available ("Deploy mesh components" steps 2-3), and
  installs only into gloo-system, gloo-mesh, istio-system or a namespace listed in its
  WATCH_NAMESPACES env (reference table, installNamespace).
- For each ServiceMeshController, after a configurable delay (so callers' waits are real), it
  installs Istio revision `gloo` into spec.installNamespace (created if missing, labelled
  topology.istio.io/network=<spec.network>): Deployment istiod-gloo (istio.io/rev=gloo, env
  CLUSTER_ID=<spec.cluster>, replicas and resources from scalingProfile), DaemonSets
  istio-cni-node and ztunnel (ambient components appear even for a sidecar mesh: procedure,
  "Components"), MutatingWebhookConfiguration istio-sidecar-injector-gloo, the mesh ConfigMap
  istio-gloo (data key `mesh`, top-level trustDomain = spec.trustDomain, else spec.cluster, else
  cluster.local: reference table, trustDomain) and the GatewayClasses istio-eastwest and
  istio-remote (as soon as the Gateway API CRDs exist: "Deploy mesh components" step 8). How the
  mesh ConfigMap is written follows `Simulators.set_mesh_configmap` ("full" or "absent"); the
  trust domain istiod uses stays the one above.
- Once istiod, CNI and ztunnel pods are ready it reports, as "Deploy mesh components" step 5
  shows, conditions Initialized, CRDInstalled, ControlPlaneDeployed, CNIDeployed,
  WebhookDeployed and Ready, each with observedGeneration, and phase SUCCEEDED; nothing else (no
  top-level observedGeneration or message).
- Unsupported input ends in phase FAILED with a top-level message and False conditions carrying
  it: no or an unparsable version (including a `-solo` suffix, which the operator adds itself),
  a version below 1.24.3 ("Version requirements"), trafficCaptureMode InitContainer without
  dataplaneMode Sidecar (reference table), an install namespace it does not watch, or Istio
  resources of someone else with onConflict Abort (reference table, onConflict).
- `Simulators.set_operator_conditions(context, "reevaluated")`: on a new generation only the
  conditions a change re-evaluates (the deployments and Ready) move to it; Initialized and
  CRDInstalled keep their older observedGeneration (see success_status). The operator's own
  notion of the generation it reconciled is its Ready condition's.
- A new generation is picked up only after the delay: until then the previous status stays,
  conditions carrying the old observedGeneration, and the new generation is reported once its
  install is ready. A changed gloo-extensions-config (key values.istiod, its `env:` applied to
  istiod-gloo, e.g. PEERING_AUTOMATIC_LOCAL_GATEWAY: "Deploy mesh components" step 5 of
  "Automatically link clusters") is likewise applied after the delay, and only when the env it
  yields differs from what istiod runs with: rewriting the ConfigMap unchanged, or changing
  keys that do not reach istiod, rolls nothing out. The status does not change for it (the
  ServiceMeshController's generation is the same).
- A changed spec.version is an in-place upgrade of revision `gloo` (the images of istiod, CNI and
  ztunnel move to the new tag; no second revision): the status keeps the previous generation
  until the new one's install is ready, then reports the conditions above for the new
  generation. Solo documents no upgrade procedure for the Gloo Operator that we found; its
  managed upgrades (IstioLifecycleManager, "Upgrade Gloo-managed service meshes") upgrade a
  revisioned install in place for a patch change and refuse downgrades. Fault:
  `Simulators.set_operator_upgrade(context, "fail")` ends such a change in phase FAILED
  (reason UpgradeFailed) and leaves the installed version running; set back to "succeed", the
  operator tries the change again (a controller requeues what failed).
- Deleting the ServiceMeshController uninstalls what it created (the namespace and its label stay).
"""
from __future__ import annotations

import os
import re
import time

import yaml

from .base import (BY_KIND, CONFIGMAPS, CRDS, DAEMONSETS, DEPLOYMENTS, GATEWAYCLASSES, MUTATING_WEBHOOKS,
                   SERVICEACCOUNTS, SMCS, Kube, component_of, marked, merge_conditions, owner_of, redact)

SMC_CRD_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "fixtures", "crds", "servicemeshcontroller.yaml")
COMPONENT = "gloo-operator"
MANAGER = "gloomesh-sim-gloo-operator"
OPERATOR_LABEL = ("app.kubernetes.io/name", "gloo-operator")
DEFAULT_WATCHED = ("gloo-system", "gloo-mesh", "istio-system")
REVISION = "gloo"
ISTIOD = "istiod-gloo"
WEBHOOK = "istio-sidecar-injector-gloo"
MESH_CONFIGMAP = "istio-gloo"
EXTENSIONS_CONFIGMAP = "gloo-extensions-config"
NETWORK_LABEL = "topology.istio.io/network"
MIN_VERSION = (1, 24, 3)
DEFAULT_REPOSITORY = "us-docker.pkg.dev/soloio-img/istio"
GATEWAY_CLASSES = {"istio-eastwest": "istio.io/eastwest-controller", "istio-remote": "istio.io/unmanaged-gateway"}
SCALING = {  # istiod replicas and resources per scalingProfile (reference table), canonical quantities
    "Default": (2, {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}),
    "Demo": (1, {"requests": {"cpu": "250m"}}),
    "Large": (4, {"requests": {"cpu": "4", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}}),
}
CONDITION_MODES = ("all", "reevaluated")
UPGRADE_MODES = ("succeed", "fail")
# What the "reevaluated" mode re-stamps on a change: the deployments and Ready (our choice, see success_status).
REEVALUATED = ("ControlPlaneDeployed", "CNIDeployed", "WebhookDeployed", "Ready")
SUCCESS = [  # (type, reason, message) as in the procedure's `kubectl describe` example
    ("Initialized", "ManifestsInitialized", "Manifests initialized"),
    ("CRDInstalled", "CRDInstalled", "CRDs installed"),
    ("ControlPlaneDeployed", "DeploymentSucceeded", "Deployment succeeded"),
    ("CNIDeployed", "DeploymentSucceeded", "Deployment succeeded"),
    ("WebhookDeployed", "DeploymentSucceeded", "Deployment succeeded"),
    ("Ready", "SystemReady", "All conditions are met"),
]


# -- pure parts --------------------------------------------------------------------------------
def parse_version(text) -> tuple[int, int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", str(text or ""))
    return tuple(int(p) for p in match.groups()) if match else None


def install_namespace(spec: dict) -> str:
    return spec.get("installNamespace") or "istio-system"


def trust_domain(spec: dict) -> str:
    return spec.get("trustDomain") or spec.get("cluster") or "cluster.local"


def validate(spec: dict, watched: set[str]) -> str | None:
    """Why the operator refuses this spec, or None."""
    version = spec.get("version")
    if not version:
        return "spec.version is required"
    parsed = parse_version(version)
    if parsed is None:
        return (f'unsupported version "{version}": expected an Istio patch version such as 1.25.2 '
                "(written without -solo; the operator adds it)")
    if parsed < MIN_VERSION:
        return f"unsupported version {version}: the Gloo Operator installs Istio 1.24.3 or later"
    if spec.get("trafficCaptureMode") == "InitContainer" and spec.get("dataplaneMode", "Ambient") != "Sidecar":
        return "trafficCaptureMode InitContainer can only be used when dataplaneMode is Sidecar"
    namespace = install_namespace(spec)
    if namespace not in watched:
        return (f"installNamespace {namespace} is not watched by the operator: install it with "
                f"manager.env.WATCH_NAMESPACES={namespace}")
    return None


def extension_env(configmap: dict | None) -> dict[str, str]:
    """istiod env from gloo-extensions-config's `values.istiod` document (`env:` map or list)."""
    text = ((configmap or {}).get("data") or {}).get("values.istiod")
    try:
        doc = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return {}
    env = (doc or {}).get("env") if isinstance(doc, dict) else None
    if isinstance(env, dict):
        return {str(k): str(v) for k, v in env.items()}
    if isinstance(env, list):
        return {str(e["name"]): str(e.get("value", "")) for e in env if isinstance(e, dict) and "name" in e}
    return {}


def _images(spec: dict) -> dict[str, str]:
    repo = ((spec.get("image") or {}).get("repository") or DEFAULT_REPOSITORY).rstrip("/")
    tag = f"{spec['version']}-solo" + ("-fips" if spec.get("distribution") == "FIPS" else "")
    return {name: f"{repo}/{name}:{tag}" for name in ("pilot", "install-cni", "ztunnel", "proxyv2")}


def _pull_secrets(spec: dict) -> list[dict]:
    return [{"name": s} for s in (spec.get("image") or {}).get("secrets") or []]


def _workload(kind, name, namespace, labels, container, spec, replicas=None) -> dict:
    pod_spec = {"serviceAccountName": container.pop("serviceAccount"), "containers": [container]}
    if _pull_secrets(spec):
        pod_spec["imagePullSecrets"] = _pull_secrets(spec)
    body = {"selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec}}
    if replicas is not None:
        body = {"replicas": replicas, **body}
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)}, "spec": body}


def desired_objects(smc: dict, ext_env: dict[str, str], mesh_configmap: str = "full") -> list[dict]:
    """Every object the operator creates for a valid ServiceMeshController (unmarked).

    mesh_configmap: "full" or "absent" (no mesh ConfigMap), see `Simulators.set_mesh_configmap`.
    """
    spec = smc.get("spec") or {}
    ns = install_namespace(spec)
    images = _images(spec)
    replicas, resources = SCALING[spec.get("scalingProfile") or "Default"]
    cluster = spec.get("cluster") or "Kubernetes"  # istiod's CLUSTER_ID default
    env = {"REVISION": REVISION, "CLUSTER_ID": cluster, "PILOT_ENABLE_AMBIENT": "true"}
    env.update(ext_env)
    istiod_labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": REVISION}
    mesh = {"trustDomain": trust_domain(spec), "rootNamespace": ns,
            "defaultConfig": {"discoveryAddress": f"{ISTIOD}.{ns}.svc:15012"}}
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}
        for name in (ISTIOD, "istio-cni", "ztunnel")
    ]
    if mesh_configmap != "absent":
        objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": MESH_CONFIGMAP, "namespace": ns, "labels": {"istio.io/rev": REVISION}},
                        "data": {"mesh": yaml.safe_dump(mesh, sort_keys=False), "meshNetworks": "networks: {}\n"}})
    objects += [
        _workload("Deployment", ISTIOD, ns, istiod_labels, {
            "name": "discovery", "image": images["pilot"], "serviceAccount": ISTIOD,
            "ports": [{"containerPort": 15012, "name": "grpc-xds"}, {"containerPort": 15017, "name": "https-webhooks"}],
            "env": [{"name": k, "value": v} for k, v in env.items()], "resources": resources,
        }, spec, replicas),
        _workload("DaemonSet", "istio-cni-node", ns, {"k8s-app": "istio-cni-node"}, {
            "name": "install-cni", "image": images["install-cni"], "serviceAccount": "istio-cni",
        }, spec),
        _workload("DaemonSet", "ztunnel", ns, {"app": "ztunnel"}, {
            "name": "istio-proxy", "image": images["ztunnel"], "serviceAccount": "ztunnel",
            "env": [{"name": "CLUSTER_ID", "value": cluster}],
        }, spec),
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": WEBHOOK, "labels": {"istio.io/rev": REVISION, "app": "sidecar-injector"}},
         "webhooks": [{
             "name": "rev.namespace.sidecar-injector.istio.io",
             "clientConfig": {"service": {"name": ISTIOD, "namespace": ns, "path": "/inject", "port": 443}},
             "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
             "namespaceSelector": {"matchExpressions": [
                 {"key": "istio.io/rev", "operator": "In", "values": [REVISION]}]},
             # Ignore (the real one fails closed): nothing answers behind this Service here.
             "failurePolicy": "Ignore", "timeoutSeconds": 2,
             "sideEffects": "None", "admissionReviewVersions": ["v1"],
         }]},
    ]
    return objects


def gateway_classes() -> list[dict]:
    return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": name},
             "spec": {"controllerName": controller, "description": "The Istio GatewayClass " + name}}
            for name, controller in GATEWAY_CLASSES.items()]


def success_status(smc: dict, conditions_mode: str = "all") -> dict:
    """Conditions (each with observedGeneration) and phase, nothing else ("Deploy mesh components" step 5).

    conditions_mode "reevaluated": a condition that was True already and is not one a change re-evaluates
    (REEVALUATED) keeps the observedGeneration it had. Nothing public says whether the real operator
    re-stamps every condition; this is the less tidy operator readiness must also cope with.
    """
    gen = smc["metadata"].get("generation", 1)
    before = {c.get("type"): c for c in (smc.get("status") or {}).get("conditions") or []}

    def observed(condition_type):
        kept = before.get(condition_type) or {}
        if conditions_mode == "reevaluated" and condition_type not in REEVALUATED and kept.get("status") == "True":
            return kept.get("observedGeneration", gen)
        return gen
    conditions = [{"type": t, "status": "True", "reason": r, "message": m, "observedGeneration": observed(t)}
                  for t, r, m in SUCCESS]
    return {"phase": "SUCCEEDED",
            "conditions": merge_conditions((smc.get("status") or {}).get("conditions"), conditions)}


def failed_status(smc: dict, reason: str, message: str) -> dict:
    gen = smc["metadata"].get("generation", 1)
    conditions = [
        {"type": "Initialized", "status": "False", "reason": reason, "message": message, "observedGeneration": gen},
        {"type": "Ready", "status": "False", "reason": "InstallFailed", "message": message, "observedGeneration": gen},
    ]
    return {"phase": "FAILED", "message": message,
            "conditions": merge_conditions((smc.get("status") or {}).get("conditions"), conditions)}


def observed_generation(status: dict) -> int | None:
    """The generation the operator has reconciled: its Ready condition's observedGeneration (every
    status it writes has Ready), else a top-level observedGeneration."""
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return ready.get("observedGeneration", status.get("observedGeneration"))


def owner_id(smc: dict) -> str:
    return f"ServiceMeshController/{smc['metadata']['namespace']}/{smc['metadata']['name']}"


# -- controller --------------------------------------------------------------------------------
_OWNED_KINDS = (DEPLOYMENTS, DAEMONSETS, CONFIGMAPS, SERVICEACCOUNTS, MUTATING_WEBHOOKS, GATEWAYCLASSES)


class OperatorSimulator:
    def __init__(self, sims, delay: float):
        self.sims = sims
        self.delay = delay
        # (cluster, uid) -> (what changed: a generation or an extension env, when first seen)
        self._seen: dict[tuple[str, str], tuple[object, float]] = {}
        self._env_seen: dict[tuple[str, str], tuple[object, float]] = {}
        self._applied_env: dict[tuple[str, str], dict[str, str]] = {}  # the extension env istiod runs with
        self._installed: dict[tuple[str, str], str] = {}  # the version the last SUCCEEDED install runs

    @staticmethod
    def operator(cluster) -> dict | None:
        """The available gloo-operator Deployment of this cluster, if any."""
        key, value = OPERATOR_LABEL
        for dep in cluster.items(DEPLOYMENTS):
            if ((dep["metadata"].get("labels") or {}).get(key) == value
                    and ((dep.get("status") or {}).get("availableReplicas") or 0) >= 1):
                return dep
        return None

    @staticmethod
    def watched_namespaces(operator: dict) -> set[str]:
        watched = set(DEFAULT_WATCHED)
        for container in operator["spec"]["template"]["spec"].get("containers") or []:
            for env in container.get("env") or []:
                if env.get("name") == "WATCH_NAMESPACES":
                    watched.update(n.strip() for n in (env.get("value") or "").split(",") if n.strip())
        return watched

    def _wait(self, table, key, token, now) -> float:
        """Seconds until the change `token` of `key`, first seen now or earlier, is picked up."""
        seen = table.get(key)
        if seen is None or seen[0] != token:
            seen = table[key] = (token, now)
        return seen[1] + self.delay - now

    def reconcile(self, cluster) -> float | None:
        operator = self.operator(cluster)
        if operator is None or not cluster.served(SMCS):
            return None
        watched = self.watched_namespaces(operator)
        live, desired, due = set(), {}, []
        now = time.monotonic()
        keys = set()
        for smc in cluster.items(SMCS):
            if smc["metadata"].get("deletionTimestamp"):
                continue
            owner = owner_id(smc)
            live.add(owner)
            key = (cluster.name, smc["metadata"]["uid"])
            keys.add(key)
            gen = smc["metadata"].get("generation", 1)
            status = smc.get("status") or {}
            env = self._ext_env(cluster, smc)
            applied = self._applied_env.setdefault(key, env)
            if observed_generation(status) == gen and status.get("phase") in ("SUCCEEDED", "FAILED") \
                    and not self._retry_upgrade(cluster, status):
                if status["phase"] == "SUCCEEDED":
                    if env != applied:
                        remaining = self._wait(self._env_seen, key, sorted(env.items()), now)
                        if remaining > 0:
                            due.append(remaining)
                        else:
                            applied = self._applied_env[key] = env
                    desired[owner] = self._install(cluster, smc, applied, takeover=False)
                continue
            remaining = self._wait(self._seen, key, gen, now)
            if remaining > 0:
                due.append(remaining)
                continue
            error = validate(smc.get("spec") or {}, watched)
            if error:
                cluster.ensure_status(smc, failed_status(smc, "InvalidConfiguration", error), MANAGER)
                continue
            conflict = self._conflict(cluster, smc)
            if conflict and (smc.get("spec") or {}).get("onConflict") != "Force":
                cluster.ensure_status(smc, failed_status(smc, "ConflictDetected", conflict), MANAGER)
                continue
            failed = self._upgrade_fault(cluster, smc, key)
            if failed:
                cluster.ensure_status(smc, failed_status(smc, "UpgradeFailed", failed), MANAGER)
                continue
            self._applied_env[key] = env
            desired[owner] = self._install(cluster, smc, env, takeover=True)
            if self._workloads_ready(cluster, install_namespace(smc.get("spec") or {})):
                cluster.ensure_status(smc, success_status(smc, self.sims.operator_conditions(cluster.name)), MANAGER)
                self._installed[key] = smc["spec"]["version"]
        for table in (self._seen, self._env_seen, self._applied_env, self._installed):
            for key in [k for k in table if k[0] == cluster.name and k not in keys]:
                del table[key]
        self._cleanup(cluster, live, desired)
        return min(due) if due else None

    def _retry_upgrade(self, cluster, status) -> bool:
        """A failed upgrade is tried again once the fault is gone (a controller requeues its errors)."""
        initialized = next((c for c in status.get("conditions") or [] if c.get("type") == "Initialized"), {})
        return (status.get("phase") == "FAILED" and initialized.get("reason") == "UpgradeFailed"
                and self.sims.operator_upgrade(cluster.name) == "succeed")

    def _upgrade_fault(self, cluster, smc, key) -> str | None:
        """The message of an injected upgrade failure (set_operator_upgrade "fail"), or None."""
        installed, version = self._installed.get(key), smc["spec"]["version"]
        if installed in (None, version) or self.sims.operator_upgrade(cluster.name) != "fail":
            return None
        return f"upgrade of Istio from {installed} to {version} failed: istiod-gloo did not become ready (injected)"

    def _ext_env(self, cluster, smc) -> dict[str, str]:
        return extension_env(cluster.cached(CONFIGMAPS, EXTENSIONS_CONFIGMAP, smc["metadata"]["namespace"]))

    def _install(self, cluster, smc, env: dict[str, str], takeover: bool) -> set[tuple[str, str, str]]:
        """Apply what this controller installs; returns the (kind, namespace, name) it owns."""
        owner = owner_id(smc)
        spec = smc.get("spec") or {}
        ns = install_namespace(spec)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        if spec.get("network"):
            namespace["metadata"]["labels"] = {NETWORK_LABEL: spec["network"]}
        cluster.ensure(namespace, MANAGER)
        objects = desired_objects(smc, env, self.sims.mesh_configmap(cluster.name))
        if cluster.served(GATEWAYCLASSES):
            objects += gateway_classes()
        keys = set()
        for obj in objects:
            meta = obj["metadata"]
            key = (obj["kind"], meta.get("namespace", ""), meta["name"])
            current = cluster.cached(BY_KIND[obj["kind"]], meta["name"], meta.get("namespace", ""))
            current_owner = owner_of(current) if current else None
            if not takeover and current_owner not in (None, owner):
                continue  # another controller took it over with onConflict: Force
            cluster.ensure(marked(obj, COMPONENT, owner), MANAGER)
            keys.add(key)
        return keys

    @staticmethod
    def _conflict(cluster, smc) -> str | None:
        owner = owner_id(smc)
        ns = install_namespace(smc.get("spec") or {})
        for res, name, namespace in ((DEPLOYMENTS, ISTIOD, ns), (MUTATING_WEBHOOKS, WEBHOOK, "")):
            current = cluster.cached(res, name, namespace)
            if current is not None and owner_of(current) != owner:
                where = f"{namespace}/{name}" if namespace else name
                return (f"conflicting Istio resources: {res.kind} {where} is not managed by this "
                        "ServiceMeshController (set onConflict: Force to take it over)")
        return None

    @staticmethod
    def _workloads_ready(cluster, ns) -> bool:
        istiod = cluster.cached(DEPLOYMENTS, ISTIOD, ns)
        if istiod is None:
            return False
        status = istiod.get("status") or {}
        if status.get("observedGeneration") != istiod["metadata"].get("generation") or \
                (status.get("availableReplicas") or 0) < istiod["spec"].get("replicas", 1):
            return False
        for name in ("istio-cni-node", "ztunnel"):
            ds = cluster.cached(DAEMONSETS, name, ns)
            if ds is None or ((ds.get("status") or {}).get("numberReady") or 0) < 1:
                return False
        return True

    @staticmethod
    def _cleanup(cluster, live: set[str], desired: dict[str, set]):
        for res in _OWNED_KINDS:
            if not cluster.served(res):
                continue
            for obj in cluster.items(res):
                owner = owner_of(obj)
                if component_of(obj) != COMPONENT or not (owner or "").startswith("ServiceMeshController/"):
                    continue
                meta = obj["metadata"]
                key = (res.kind, meta.get("namespace", ""), meta["name"])
                if owner not in live or (owner in desired and key not in desired[owner]):
                    cluster.remove(res, meta["name"], meta.get("namespace", ""))


def servicemeshcontroller_crd() -> dict:
    with open(SMC_CRD_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# -- what the Helm chart installs ----------------------------------------------------------------
def install_gloo_operator(api_client, namespace="gloo-mesh", env=None):
    """Create what `helm install gloo-operator ... -n <namespace> --create-namespace` creates.

    The namespace, the ServiceMeshController CRD (when missing), ServiceAccount and Deployment
    `gloo-operator` (label app.kubernetes.io/name=gloo-operator) whose manager container carries
    `env` (a {name: value} dict or a list of EnvVar dicts, e.g. SOLO_ISTIO_LICENSE_KEY or
    WATCH_NAMESPACES). Its pod and status come from the running simulators (there is no kubelet).
    Env values never appear in errors or logs. Idempotent (server-side apply, manager `helm`).
    """
    kube = Kube(api_client)
    if isinstance(env, dict):
        env = [{"name": str(k), "value": str(v)} for k, v in env.items()]
    env = list(env or [])
    labels = {"app.kubernetes.io/name": "gloo-operator", "app.kubernetes.io/instance": "gloo-operator"}
    chart_labels = {**labels, "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "gloo-operator-0.2.3"}
    container = {"name": "manager", "image": "us-docker.pkg.dev/solo-public/gloo-operator/gloo-operator:0.2.3",
                 "args": ["--metrics-bind-address=:8080"], "ports": [{"containerPort": 8080, "name": "metrics"}]}
    if env:
        container["env"] = env
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "gloo-operator", "namespace": namespace, "labels": chart_labels,
                      "annotations": {"meta.helm.sh/release-name": "gloo-operator",
                                      "meta.helm.sh/release-namespace": namespace}}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "gloo-operator", "namespace": namespace, "labels": chart_labels,
                      "annotations": {"meta.helm.sh/release-name": "gloo-operator",
                                      "meta.helm.sh/release-namespace": namespace}},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"serviceAccountName": "gloo-operator", "containers": [container]}}}},
    ]
    crd = servicemeshcontroller_crd()
    if kube.get(CRDS, crd["metadata"]["name"]) is None:
        objects.insert(0, crd)
    for obj in objects:
        try:
            kube.apply(obj, "helm")
        except Exception as err:  # the message may quote the object: mask the env values
            raise RuntimeError(f"install_gloo_operator: {obj['kind']} {obj['metadata']['name']}: "
                               f"{redact(str(err), env and {'env': env})}") from None
