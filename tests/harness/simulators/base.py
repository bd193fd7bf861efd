"""Plumbing shared by the controller simulators: REST calls, informers (list + watch) and workers.

Each simulated cluster gets one `Cluster`: a `Kube` REST client (as the kubeconfig's user, i.e.
`gloomesh-simulator`), one `Informer` thread per resource type that keeps a cache current with
the watch API, and one worker thread that runs the simulators' level-based reconcile whenever a
cache changed (or a simulator asked to be called back later, e.g. for the operator's delay).
Reconciles read caches and write only what differs, so an idle cluster costs no requests and
no CPU: threads sleep in watch reads and in `Condition.wait`.
"""
from __future__ import annotations

import copy
import datetime
import json
import logging
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass

import urllib3

log = logging.getLogger("gloomesh.simulators")

# Every object a simulator writes carries these, so tests and cleanups can tell them apart.
COMPONENT_LABEL = "simulator.gloomesh.io/component"
OWNER_ANNOTATION = "simulator.gloomesh.io/owner"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

WATCH_SECONDS = (240, 330)      # server-side watch timeout, randomised like client-go's reflector
RETRY_SECONDS = (0.2, 5.0)      # back-off after a failed list/watch (server restarting, ...)
# A pooled keep-alive connection the server closed fails the next request before any response:
# retry that (applies and deletes are idempotent), never HTTP error statuses.
_RETRIES = urllib3.Retry(total=2, connect=2, read=2, status=0, redirect=0, other=0, allowed_methods=None,
                         backoff_factor=0.1, raise_on_status=False)


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def builtin(self) -> bool:
        """Served by every API server (as opposed to a CRD that may not be installed yet)."""
        group = self.api_version.rpartition("/")[0]
        return group in ("", "apps", "admissionregistration.k8s.io", "apiextensions.k8s.io")

    def path(self, namespace=None, name=None, subresource=None) -> str:
        parts = ["/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"]
        if self.namespaced and namespace:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
SERVICES = Resource("v1", "Service", "services")
SERVICEACCOUNTS = Resource("v1", "ServiceAccount", "serviceaccounts")
PODS = Resource("v1", "Pod", "pods")
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
DAEMONSETS = Resource("apps/v1", "DaemonSet", "daemonsets")
MUTATING_WEBHOOKS = Resource("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                             "mutatingwebhookconfigurations", namespaced=False)
CRDS = Resource("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions",
                namespaced=False)
GATEWAYS = Resource("gateway.networking.k8s.io/v1", "Gateway", "gateways")
GATEWAYCLASSES = Resource("gateway.networking.k8s.io/v1", "GatewayClass", "gatewayclasses", namespaced=False)
SMCS = Resource("operator.gloo.solo.io/v1", "ServiceMeshController", "servicemeshcontrollers")

BY_KIND = {r.kind: r for r in (NAMESPACES, CONFIGMAPS, SERVICES, SERVICEACCOUNTS, PODS, DEPLOYMENTS,
                               DAEMONSETS, MUTATING_WEBHOOKS, CRDS, GATEWAYS, GATEWAYCLASSES, SMCS)}


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta["name"]


def redact(text: str, obj) -> str:
    """`text` with every env var value found in `obj` masked (license keys must never be logged)."""
    secrets = set()

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("env"), list):
                secrets.update(str(e["value"]) for e in node["env"] if isinstance(e, dict) and e.get("value"))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)
    collect(obj)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


def _empty(value) -> bool:
    return value is None or value == 0 or value is False or value == "" or value == [] or value == {}


def is_subset(desired, actual) -> bool:
    """True when `actual` already holds everything in `desired` (server defaults may add more).

    An empty desired value matches a missing key: the API server drops zero-valued `omitempty`
    fields (e.g. a Deployment's readyReplicas: 0), and we must not rewrite them forever.
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return _empty(desired) and actual is None
        return all(is_subset(v, actual.get(k)) if k in actual else _empty(v) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(actual, list):
            return not desired and actual is None
        return len(desired) == len(actual) and all(is_subset(d, a) for d, a in zip(desired, actual))
    return desired == actual


def conditions_held(status: dict, actual: dict) -> bool:
    """is_subset, with `status`'s conditions looked up by type among `actual`'s (which may hold more)."""
    held = {c.get("type"): c for c in actual.get("conditions") or []}
    rest = {k: v for k, v in status.items() if k != "conditions"}
    return is_subset(rest, actual) and all(is_subset(c, held.get(c["type"])) for c in status.get("conditions") or [])


def merge_conditions(existing, desired: list[dict]) -> list[dict]:
    """Desired conditions keeping lastTransitionTime (and lastUpdateTime) while a status is unchanged."""
    old = {c.get("type"): c for c in existing or []}
    merged = []
    for cond in desired:
        cond = dict(cond)
        previous = old.get(cond["type"])
        stamp = now_iso()
        if previous and previous.get("status") == cond["status"] and previous.get("lastTransitionTime"):
            stamp = previous["lastTransitionTime"]
        cond["lastTransitionTime"] = stamp
        if "lastUpdateTime" in cond:
            cond["lastUpdateTime"] = (previous or {}).get("lastUpdateTime") or stamp
        merged.append(cond)
    return merged


def condition(obj: dict | None, cond_type: str) -> dict | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == cond_type:
            return cond
    return None


class Kube:
    """Minimal REST client for one cluster on top of a kubernetes ApiClient (its TLS and auth)."""

    def __init__(self, api_client, name: str = ""):
        self.api_client = api_client
        self.name = name or api_client.configuration.host
        self._pool = api_client.rest_client.pool_manager

    def _headers(self, method, path, content_type=None) -> dict:
        headers = {"Accept": "application/json", "User-Agent": "gloomesh-simulator"}
        if content_type:
            headers["Content-Type"] = content_type
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"], path, method, None)
        return headers

    def _url(self, path, query=None) -> str:
        url = self.api_client.configuration.host + path
        return url + ("?" + urllib.parse.urlencode(query) if query else "")

    def request(self, method, path, query=None, body=None, content_type="application/json", timeout=30.0):
        data = json.dumps(body).encode() if body is not None else None
        resp = self._pool.request(method, self._url(path, query), body=data,
                                  headers=self._headers(method, path, content_type if data else None),
                                  timeout=urllib3.Timeout(connect=5.0, read=timeout), retries=_RETRIES)
        payload = resp.data
        if resp.status >= 300:
            try:
                status = json.loads(payload)
                message, reason = status.get("message", ""), status.get("reason", "")
            except ValueError:
                message, reason = payload.decode(errors="replace")[:300], ""
            raise ApiError(resp.status, reason, redact(message, body))
        return json.loads(payload) if payload else None

    def get(self, res: Resource, name, namespace=None):
        try:
            return self.request("GET", res.path(namespace, name))
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(self, res: Resource, label_selector=None) -> dict:
        query = {"labelSelector": label_selector} if label_selector else None
        return self.request("GET", res.path(), query)

    def apply(self, obj: dict, manager: str, subresource=None) -> dict:
        """Server-side apply (force: a simulator owns what it writes)."""
        res = BY_KIND[obj["kind"]]
        namespace, name = key_of(obj)
        return self.request("PATCH", res.path(namespace, name, subresource),
                            {"fieldManager": manager, "force": "true"}, obj,
                            content_type="application/apply-patch+yaml")

    def delete(self, res: Resource, name, namespace=None, grace_seconds=None) -> bool:
        options = {"propagationPolicy": "Background"}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        try:
            self.request("DELETE", res.path(namespace, name), body=options)
            return True
        except ApiError as err:
            if err.status == 404:
                return False
            raise

    def open_watch(self, res: Resource, resource_version, label_selector=None):
        query = {"watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(random.randint(*WATCH_SECONDS))}
        if label_selector:
            query["labelSelector"] = label_selector
        path = res.path()
        # No read timeout: stop() shuts the socket down to end the read at once.
        return self._pool.request("GET", self._url(path, query), headers=self._headers("GET", path),
                                  preload_content=False, retries=False,
                                  timeout=urllib3.Timeout(connect=5.0, read=None))


def _rv(obj) -> int:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return 0


class Informer:
    """Cache of one resource type in one cluster, kept current with list + watch.

    Resumes a watch that ends (server timeout, connection loss) from the last resourceVersion
    and relists on 410 Gone. A CRD-backed type that is not served yet counts as synced and empty;
    the informer retries when a CustomResourceDefinition changes.
    """

    def __init__(self, cluster: "Cluster", res: Resource, label_selector=None):
        self.cluster = cluster
        self.res = res
        self.label_selector = label_selector
        self.served = True
        self.synced = threading.Event()
        self._cache: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()
        self._resp = None
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"gloomesh-sim-{cluster.name}-{res.plural}")

    # -- cache -------------------------------------------------------------------------------
    def items(self) -> list[dict]:
        with self._lock:
            return list(self._cache.values())

    def get(self, name, namespace="") -> dict | None:
        with self._lock:
            return self._cache.get((namespace or "", name))

    def store(self, obj: dict):
        """Write-through after our own write, so the next reconcile does not write it again."""
        key = key_of(obj)
        with self._lock:
            if _rv(obj) >= _rv(self._cache.get(key)):
                self._cache[key] = obj

    def forget(self, name, namespace=""):
        with self._lock:
            self._cache.pop((namespace or "", name), None)

    # -- list + watch -----------------------------------------------------------------------
    def _run(self):
        stop = self.cluster.stop_event
        delay = RETRY_SECONDS[0]
        rv = None
        while not stop.is_set():
            crd_generation = self.cluster.crd_generation
            try:
                if rv is None:
                    rv = self._relist()
                rv = self._watch(rv)
                delay = RETRY_SECONDS[0]
            except ApiError as err:
                rv = None
                if err.status == 404 and not self.res.builtin:
                    self._not_served()
                    self.cluster.wait_for_crd_change(crd_generation)
                    continue
                self._retry_later(err, delay)
                delay = min(delay * 2, RETRY_SECONDS[1])
            except Exception as err:  # connection refused/reset: the server may be restarting
                if stop.is_set():
                    return
                self._retry_later(err, delay)
                delay = min(delay * 2, RETRY_SECONDS[1])

    def _retry_later(self, err, delay):
        log.debug("%s/%s: list/watch failed (%s), retrying in %.1fs", self.cluster.name, self.res.plural, err, delay)
        self.cluster.stop_event.wait(delay)

    def _not_served(self):
        with self._lock:
            had = bool(self._cache)
            self._cache = {}
            self.served = False
        self.synced.set()
        if had:
            self.cluster.changed(self.res)

    def _relist(self) -> str:
        listing = self.cluster.kube.list(self.res, self.label_selector)
        kind = self.res.kind
        fresh = {}
        for item in listing.get("items") or []:
            item.setdefault("apiVersion", self.res.api_version)
            item.setdefault("kind", kind)
            fresh[key_of(item)] = item
        with self._lock:
            self._cache = fresh
            self.served = True
        self.synced.set()
        self.cluster.changed(self.res)
        return listing["metadata"]["resourceVersion"]

    def _watch(self, rv: str) -> str | None:
        """Stream events until the server ends the watch; returns the resourceVersion to resume from."""
        resp = self.cluster.kube.open_watch(self.res, rv, self.label_selector)
        self._resp = resp
        try:
            if self.cluster.stop_event.is_set():
                return rv
            if resp.status >= 300:
                body = resp.read()
                try:
                    status = json.loads(body)
                except ValueError:
                    status = {}
                raise ApiError(resp.status, status.get("reason", ""), status.get("message", ""))
            buffer = b""
            for chunk in resp.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        rv = self._handle(json.loads(line), rv)
                        if rv is None:
                            return None
            return rv
        finally:
            self._resp = None
            resp.release_conn()

    def _handle(self, event: dict, rv: str) -> str | None:
        """Apply one watch event to the cache; None means the caller must relist (410 Gone)."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                return None
            raise ApiError(obj.get("code") or 500, obj.get("reason", ""), obj.get("message", ""))
        new_rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
        if kind == "BOOKMARK":
            return new_rv
        key = key_of(obj)
        with self._lock:
            if kind == "DELETED":
                self._cache.pop(key, None)
            else:
                self._cache[key] = obj
        self.cluster.changed(self.res)
        return new_rv

    def interrupt(self):
        """Unblock a watch read at once (called by stop())."""
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()
            except Exception:  # already closed
                pass


class Cluster:
    """One simulated cluster: its REST client, informers and reconcile worker."""

    def __init__(self, name: str, index: int, kube: Kube, stop_event: threading.Event, on_change):
        self.name = name
        self.index = index
        self.kube = kube
        self.stop_event = stop_event
        self._on_change = on_change
        self.informers: dict[Resource, Informer] = {}
        self._cond = threading.Condition()
        self._dirty = True
        self._due: float | None = None
        self.crd_generation = 0
        self._crd_cond = threading.Condition()
        self.reconcilers = []
        self._write_failed = False
        self._failed_passes = 0
        self.worker = threading.Thread(target=self._work, daemon=True, name=f"gloomesh-sim-{name}-worker")
        self.passes = 0

    def watch(self, res: Resource, label_selector=None):
        self.informers[res] = Informer(self, res, label_selector)

    # -- caches ------------------------------------------------------------------------------
    def items(self, res: Resource) -> list[dict]:
        return self.informers[res].items()

    def cached(self, res: Resource, name, namespace="") -> dict | None:
        return self.informers[res].get(name, namespace)

    def served(self, res: Resource) -> bool:
        return self.informers[res].served

    # -- writes ------------------------------------------------------------------------------
    def ensure(self, desired: dict, manager: str, exact_metadata: bool = False) -> dict | None:
        """Apply `desired` unless the cached object already holds it; returns the current object.

        exact_metadata: also apply when `manager` set labels or annotations that `desired` lacks,
        so that they go away (e.g. what istiod copied from a Gateway that has since lost a label).
        """
        res = BY_KIND[desired["kind"]]
        namespace, name = key_of(desired)
        current = self.cached(res, name, namespace)
        body = {k: v for k, v in desired.items() if k != "status"}
        if current is not None and is_subset(body, current) \
                and not (exact_metadata and _dropped_metadata(body, current, manager)):
            return current
        return self._write(res, body, manager)

    def ensure_status(self, current: dict, status: dict, manager: str, own_conditions: bool = False) -> dict | None:
        """Apply `status` unless the object holds it already.

        own_conditions: `status` holds only this writer's conditions and another writer owns the
        others (server-side apply merges a Gateway's status.conditions by type: it is a list-map
        keyed on type in the Gateway API CRDs), so conditions are compared type by type.
        """
        if (conditions_held if own_conditions else is_subset)(status, current.get("status") or {}):
            return current
        namespace, name = key_of(current)
        body = {"apiVersion": current["apiVersion"], "kind": current["kind"],
                "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
                "status": status}
        # Before 1.22 managedFields do not record the subresource: applying status as the manager
        # that applied the object would drop its labels and spec. Status gets its own manager.
        return self._write(BY_KIND[current["kind"]], body, manager + "-status", "status")

    def _write(self, res, body, manager, subresource=None):
        namespace = key_of(body)[0]
        if namespace and ((self.cached(NAMESPACES, namespace) or {}).get("status") or {}).get("phase") == "Terminating":
            return None  # without a namespace controller it stays Terminating: nothing can be created there
        try:
            obj = self.kube.apply(body, manager, subresource)
        except Exception as err:  # e.g. a namespace a test deleted (Terminating forever here)
            self._write_failed = True
            if not self.stop_event.is_set():
                log.warning("%s: %s %s/%s%s not written: %s", self.name, res.kind, *key_of(body),
                            f" ({subresource})" if subresource else "", err)
            return None
        self.informers[res].store(obj)
        return obj

    def remove(self, res: Resource, name, namespace="", grace_seconds=None):
        try:
            self.kube.delete(res, name, namespace or None, grace_seconds)
        except Exception as err:
            self._write_failed = True
            if not self.stop_event.is_set():
                log.warning("%s: %s %s/%s not deleted: %s", self.name, res.kind, namespace, name, err)
            return
        self.informers[res].forget(name, namespace)

    # -- scheduling --------------------------------------------------------------------------
    def changed(self, res: Resource):
        if res is CRDS:
            with self._crd_cond:
                self.crd_generation += 1
                self._crd_cond.notify_all()
        self.wake()
        self._on_change(self, res)

    def wait_for_crd_change(self, seen: int):
        with self._crd_cond:
            self._crd_cond.wait_for(lambda: self.crd_generation != seen or self.stop_event.is_set())

    def wake(self):
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def call_later(self, seconds: float):
        with self._cond:
            due = time.monotonic() + max(seconds, 0.0)
            self._due = due if self._due is None else min(self._due, due)
            self._cond.notify()

    def interrupt(self):
        with self._cond:
            self._cond.notify_all()
        with self._crd_cond:
            self._crd_cond.notify_all()
        for informer in self.informers.values():
            informer.interrupt()

    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers.values())

    def _work(self):
        while not self.stop_event.is_set():
            with self._cond:
                while not self.stop_event.is_set():
                    if self._dirty and self.synced():
                        break
                    if self._due is not None and time.monotonic() >= self._due and self.synced():
                        break
                    timeout = None if self._due is None else max(self._due - time.monotonic(), 0.01)
                    self._cond.wait(timeout)
                if self.stop_event.is_set():
                    return
                self._dirty = False
                self._due = None
            self.passes += 1
            self._write_failed = False
            for reconciler in self.reconcilers:
                try:
                    later = reconciler(self)
                except Exception:
                    if self.stop_event.is_set():
                        return
                    log.exception("%s: reconcile failed", self.name)
                    self._write_failed = True
                    later = None
                if later is not None:
                    self.call_later(later)
            # Failed writes are retried with back-off even when no watch event comes.
            self._failed_passes = self._failed_passes + 1 if self._write_failed else 0
            if self._failed_passes:
                self.call_later(min(0.25 * 2 ** self._failed_passes, 30.0))


def _dropped_metadata(desired: dict, current: dict, manager: str) -> bool:
    """True when `manager` owns (per managedFields) a label or annotation that `desired` lacks."""
    want = desired.get("metadata") or {}
    for entry in (current.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        owned = ((entry.get("fieldsV1") or {}).get("f:metadata") or {})
        for key in ("labels", "annotations"):
            if {f[2:] for f in owned.get(f"f:{key}") or {} if f.startswith("f:")} - set(want.get(key) or {}):
                return True
    return False


def owned_by(obj: dict, owner: str) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(OWNER_ANNOTATION) == owner


def owner_of(obj: dict) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(OWNER_ANNOTATION)


def component_of(obj: dict) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL)


def marked(obj: dict, component: str, owner: str) -> dict:
    """`obj` with the simulator's component label and owner annotation added."""
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})[COMPONENT_LABEL] = component
    meta.setdefault("annotations", {})[OWNER_ANNOTATION] = owner
    return obj
