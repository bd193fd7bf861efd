"""istiod as Istio's plug-in CA, and simulated workloads holding the certificates it issues.

Paths are in istio/istio (read at 1.25.2; the rules hold from the version each one names).

istiod (Deployment istiod-gloo or istiod; the one in istio-system first):

- Each ready istiod pod loads Secret `cacerts` of its namespace as the API server has it when the
  pod starts (the kubelet mounts it at /etc/cacerts). A bundle with ca-key.pem is a plugged-in CA
  (pilot/pkg/bootstrap/istio_ca.go createIstioCA). From 1.31 (the pinned master, where real istiod
  was seen to do it; checkCABundleCompleteness came with istio/istio PR 55696 of 2025-05, the first
  release with it not checked here) only a bundle of all four files is one: some of them without
  the others make istiod exit ("incomplete signing CA bundle detected"), none is the self-signed
  CA. A plugged-in CA must verify: ca-cert.pem chains through
  cert-chain.pem to one of the roots of root-cert.pem, which may hold several, and the key matches
  (security/pkg/pki/util/keycertbundle.go Verify). A bundle that does not is a pod whose CA failed
  to start: it serves nothing. Without cacerts istiod makes its own self-signed CA, which is not
  simulated (nothing is published, no workload gets a certificate).
- A changed Secret reaches a running pod's files after the kubelet's sync (Kubernetes
  documentation, "Secrets", "Mounted Secrets are updated automatically"): `secret_sync_delay`
  seconds here. istiod then reacts as handleCACertsFileWatch / handleEvent in
  pilot/pkg/bootstrap/istio_ca.go do: no watcher before 1.12, only with
  AUTO_RELOAD_PLUGIN_CERTS=true in 1.12-1.17, on by default in 1.18 and always from 1.19
  (istio_ca.go createIstioCA, initCACertsWatcher); a root-cert.pem whose bytes changed is ignored
  (and the whole event with it) unless the version is 1.20 or later, ISTIO_MULTIROOT_MESH is true
  (pilot/pkg/features/pilot.go MultiRootMesh, default false) and one bundle contains the other:
  byte for byte (bytes.Contains) before 1.31, as sets of certificates (DER, any order or PEM
  layout: pemBundleHasSubsetRelation, istio/istio PR 59909 of 2026-04, in the pinned master whose
  VERSION is 1.31; whether a 1.30 patch release carries it is not checked here, so 1.30 keeps the
  byte rule); a bundle that does not verify is refused and the loaded CA kept
  (keycertbundle.go UpdateVerifiedKeyCertBundleFromFile). Otherwise only a restart (a new pod)
  loads the new Secret. The version is the tag of istiod's image (1.25.2 of ...:1.25.2-solo).
- The namespace controller of the oldest ready pod (it runs under leader election) writes the
  loaded root bundle, bytes as loaded, to ConfigMap istio-ca-root-cert (data root-cert.pem, label
  istio.io/config=true) of every namespace but kube-public, kube-node-lease and
  local-path-storage and Terminating ones, and rewrites one that differs
  (pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go reconcileCACert,
  security/pkg/k8s/configutil.go InsertDataToConfigMap, pkg/kube/inject/initializer.go
  IgnoredNamespaces).

Workloads (pods of the workload simulator in namespaces labelled istio.io/dataplane-mode=ambient,
istio-injection=enabled or istio.io/rev):

- A workload gets its certificate once, when its pod is ready and its cluster's istiod serves a
  CA (the oldest ready one answers): a leaf for spiffe://<trust domain>/ns/<ns>/sa/<sa> signed by
  the loaded intermediate, sent with cert-chain.pem, and as trust bundle the CA's root bundle
  (security/pkg/server/ca/server.go CreateCertificate appends the root bundle to the chain;
  security/pkg/nodeagent/cache/secretcache.go generateNewSecret takes it as the roots since
  citadel's GetRootCertBundle returns none). Istio renews at half of a 24 h lifetime, so within a
  test a workload keeps its certificate and bundle until its pod is replaced; trust anchors pushed
  by ISTIO_MULTIROOT_MESH (PCDS) are not simulated. Leaf keys are ECDSA P-256 (Istio's default is
  RSA 2048; the chain checks do not depend on it).
- Two workloads of different clusters are connected while each one's chain verifies against the
  other's bundle: X.509 path validation by `cryptography` (x509.verification, client profile),
  the sender's chain as intermediates. `TrustSimulator.check_pairs()` checks every such pair;
  `monitor()` checks them after every change of any workload or istiod CA and keeps every
  failure it saw.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import re
import threading
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from .base import DEPLOYMENTS, NAMESPACES, PODS, Resource, marked, owner_of
from .eastwest import cluster_trust_domain

SECRETS = Resource("v1", "Secret", "secrets")
COMPONENT = "istiod-ca"
MANAGER = "gloomesh-sim-istiod-ca"
ISTIODS = ("istiod-gloo", "istiod")
CACERTS = "cacerts"
ROOT_CONFIGMAP = "istio-ca-root-cert"
ROOT_KEY = "root-cert.pem"
IGNORED_NAMESPACES = ("kube-public", "kube-node-lease", "local-path-storage")
MESH_LABELS = (("istio.io/dataplane-mode", "ambient"), ("istio-injection", "enabled"), ("istio.io/rev", None))
WORKLOAD_TTL = datetime.timedelta(hours=24)
_TRUE = ("1", "t", "true")
_VERSION = re.compile(r":(\d+)\.(\d+)\.(\d+)")
NEWEST = (1, 99, 0)
ROOTS_AS_SETS_SINCE = (1, 31, 0)
COMPLETE_BUNDLE_SINCE = (1, 31, 0)
BUNDLE_FILES = ("ca-key.pem", "ca-cert.pem", "root-cert.pem", "cert-chain.pem")


# -- the plugged-in CA ---------------------------------------------------------------------------
@dataclasses.dataclass
class LoadedCA:
    """What one istiod pod signs with: its intermediate, key, cert-chain.pem and root bundle bytes."""

    cert: x509.Certificate
    key: object
    chain: list
    roots_pem: bytes

    @property
    def roots(self) -> list:
        return x509.load_pem_x509_certificates(self.roots_pem)


def _signed_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def load_ca(files: dict[str, bytes] | None, now: datetime.datetime,
            version: tuple[int, int, int] = NEWEST) -> tuple[LoadedCA | None, str]:
    """(CA, "") from the mounted cacerts files, or (None, why istiod has no plugged-in CA)."""
    present = [name for name in BUNDLE_FILES if name in (files or {})]
    if version >= COMPLETE_BUNDLE_SINCE and 0 < len(present) < len(BUNDLE_FILES):
        return None, "failed to create an istiod CA: incomplete signing CA bundle detected"
    if not files or not files.get("ca-key.pem"):
        return None, "no plugged-in CA (cacerts without ca-key.pem): self-signed CA, not simulated"
    try:
        cert = x509.load_pem_x509_certificate(files.get("ca-cert.pem") or b"")
        key = serialization.load_pem_private_key(files["ca-key.pem"], None)
        chain = x509.load_pem_x509_certificates(files.get("cert-chain.pem") or files.get("ca-cert.pem"))
        roots = x509.load_pem_x509_certificates(files.get(ROOT_KEY) or b"")
    except ValueError as exc:
        return None, f"cacerts unreadable: {exc}"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            key.public_key().public_bytes(serialization.Encoding.DER, spki):
        return None, "the cert does not match the key"
    # ca-cert.pem, then the CAs of cert-chain.pem, up to any root of the bundle.
    path, current = [cert], cert
    pool = [c for c in chain if c != cert and c not in roots]
    while not any(_signed_by(current, root) for root in roots):
        parent = next((c for c in pool if c not in path and _signed_by(current, c)), None)
        if parent is None:
            return None, "cannot verify the cert with the provided root chain and cert pool"
        path.append(parent)
        current = parent
    for link in path:
        if not link.not_valid_before_utc <= now <= link.not_valid_after_utc:
            return None, f"{link.subject.rfc4514_string()} is not valid now"
    return LoadedCA(cert, key, chain, files[ROOT_KEY]), ""


def _version(dep: dict) -> tuple[int, int, int]:
    for container in dep["spec"]["template"]["spec"].get("containers") or []:
        match = _VERSION.search(container.get("image") or "")
        if match:
            return tuple(int(p) for p in match.groups())
    return NEWEST


def _env(dep: dict) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for c in dep["spec"]["template"]["spec"].get("containers") or []
            for e in c.get("env") or []}


def watches_cacerts(dep: dict) -> bool:
    """Whether this istiod has the cacerts file watcher (istio_ca.go createIstioCA, by version)."""
    version, flag = _version(dep), _env(dep).get("AUTO_RELOAD_PLUGIN_CERTS", "").lower()
    if version < (1, 12, 0):
        return False
    if version < (1, 18, 0):
        return flag in _TRUE
    if version < (1, 19, 0):
        return flag not in ("0", "f", "false")
    return True


def reload(dep: dict, ca: LoadedCA, files: dict[str, bytes], now) -> tuple[LoadedCA, str]:
    """What handleEvent does with changed files: (the CA istiod signs with next, what happened)."""
    new_roots = files.get(ROOT_KEY) or b""
    if new_roots != ca.roots_pem:
        if _version(dep) < (1, 20, 0):
            return ca, "Updating new ROOT-CA not supported"
        if _env(dep).get("ISTIO_MULTIROOT_MESH", "").lower() not in _TRUE:
            return ca, "Multi root is disabled, updating new ROOT-CA not supported"
        if not _one_contains_the_other(ca.roots_pem, new_roots, _version(dep) >= ROOTS_AS_SETS_SINCE):
            return ca, "Updating new ROOT-CA not supported"
    loaded, why = load_ca(files, now)
    if loaded is None:
        return ca, f"Failed to update new Plug-in CA certs: {why}"
    return loaded, "Istiod has detected the newly added intermediate CA and updated its key and certs accordingly"


def _one_contains_the_other(current: bytes, new: bytes, as_sets: bool) -> bool:
    """handleEvent's rule for a changed root bundle (see the module docstring): bytes, or certificate sets."""
    if not as_sets:
        return new in current or current in new
    try:
        mine, theirs = ({c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(b)}
                        for b in (current, new))
    except ValueError:
        return False  # no certificate in one of them: an empty set is no subset (pemBundleHasSubsetRelation)
    return mine <= theirs or theirs <= mine


@dataclasses.dataclass
class IstiodPod:
    name: str
    created: str
    files: dict[str, bytes] | None   # what the pod's /etc/cacerts holds
    version: int                     # resourceVersion of the Secret it holds
    ca: LoadedCA | None
    status: str
    changed_at: float | None = None   # when the Secret last differed from the files


# -- workloads -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Workload:
    cluster: str
    namespace: str
    pod: str
    identity: str
    chain: list          # leaf first, then the CAs istiod sent
    bundle: list         # the roots it trusts
    issued_by: str       # istiod pod

    @property
    def name(self) -> str:
        return f"{self.cluster}/{self.namespace}/{self.pod}"


def issue(ca: LoadedCA, identity: str, now: datetime.datetime) -> list:
    """A workload certificate for ``identity`` and the chain istiod sends with it."""
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(min(now + WORKLOAD_TTL, ca.cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return [leaf] + list(ca.chain)


def verifies(chain: list, bundle: list, now: datetime.datetime) -> str:
    """"" when ``chain`` (leaf first) validates against the roots ``bundle``, else why not."""
    try:
        verifier = verification.PolicyBuilder().store(verification.Store(bundle)).time(now).build_client_verifier()
        verifier.verify(chain[0], chain[1:])
    except verification.VerificationError as exc:
        return str(exc)
    return ""


@dataclasses.dataclass
class Monitor:
    """Every cross-cluster pair checked after every change while active."""

    rounds: int = 0
    verifications: int = 0
    broken: list = dataclasses.field(default_factory=list)   # (round, a, b, why)


class TrustSimulator:
    """istiod's plug-in CA and the workloads' certificates, for every cluster of a Simulators."""

    def __init__(self, sims, secret_sync_delay: float = 0.5):
        self.sims = sims
        self.secret_sync_delay = secret_sync_delay
        self._lock = threading.RLock()
        self._istiods: dict[str, dict[str, IstiodPod]] = {}
        self._workloads: dict[str, dict[tuple[str, str], Workload]] = {}
        self._monitors: list[Monitor] = []

    # -- public ----------------------------------------------------------------------------------
    def workloads(self, context: str | None = None) -> list[Workload]:
        with self._lock:
            return [w for name, found in sorted(self._workloads.items()) if context in (None, name)
                    for _key, w in sorted(found.items())]

    def istiod_pods(self, context: str) -> list[IstiodPod]:
        with self._lock:
            return list(self._istiods.get(context, {}).values())

    def check_pairs(self) -> tuple[int, list]:
        """(verifications made, [(workload a, workload b, why)]) over every cross-cluster pair."""
        now = datetime.datetime.now(datetime.timezone.utc)
        with self._lock:
            everyone = self.workloads()
        count, broken = 0, []
        for i, a in enumerate(everyone):
            for b in everyone[i + 1:]:
                if a.cluster == b.cluster:
                    continue
                for sender, receiver in ((a, b), (b, a)):
                    count += 1
                    why = verifies(sender.chain, receiver.bundle, now)
                    if why:
                        broken.append((sender.name, receiver.name, why))
        return count, broken

    @contextlib.contextmanager
    def monitor(self):
        """Check every cross-cluster pair after every change of a workload or an istiod CA."""
        watch = Monitor()
        with self._lock:
            self._monitors.append(watch)
            self._checked(watch)
        try:
            yield watch
        finally:
            with self._lock:
                self._monitors.remove(watch)

    # -- reconcile -------------------------------------------------------------------------------
    def reconcile(self, cluster):
        if self.sims.settings(cluster.name).ca != "simulated":
            with self._lock:  # a real istiod is this cluster's CA (Simulators.set_ca)
                self._istiods.pop(cluster.name, None)
                self._workloads.pop(cluster.name, None)
            return None
        now = datetime.datetime.now(datetime.timezone.utc)
        with self._lock:
            changed, later = self._istiod(cluster, now)
            changed = self._workload_certs(cluster, now) or changed
            if changed:
                for watch in self._monitors:
                    self._checked(watch)
        self._publish(cluster)
        return later

    def _checked(self, watch: Monitor):
        count, broken = self.check_pairs()
        watch.rounds += 1
        watch.verifications += count
        watch.broken.extend((watch.rounds,) + item for item in broken)

    def _istiod_deployment(self, cluster) -> dict | None:
        found = [d for d in cluster.items(DEPLOYMENTS) if d["metadata"]["name"] in ISTIODS
                 and not d["metadata"].get("deletionTimestamp")]
        found.sort(key=lambda d: (d["metadata"]["namespace"] != "istio-system", d["metadata"]["namespace"],
                                  ISTIODS.index(d["metadata"]["name"])))
        return found[0] if found else None

    def _istiod(self, cluster, now) -> tuple[bool, float | None]:
        dep = self._istiod_deployment(cluster)
        pods = self._istiods.setdefault(cluster.name, {})
        if dep is None:
            changed = bool(pods)
            pods.clear()
            return changed, None
        namespace = dep["metadata"]["namespace"]
        owner = f"Deployment/{namespace}/{dep['metadata']['name']}"
        secret = cluster.cached(SECRETS, CACERTS, namespace)
        live = {p["metadata"]["name"]: p for p in cluster.items(PODS)
                if owner_of(p) == owner and _ready(p) and not p["metadata"].get("deletionTimestamp")}
        changed = False
        for name in list(pods):
            if name not in live:
                del pods[name]
                changed = True
        later = None
        clock = time.monotonic()
        mounted = None
        for name, pod in sorted(live.items()):
            state = pods.get(name)
            if state is None:
                # The kubelet mounts the Secret as the API server has it when the pod starts; the
                # watch cache may not have the latest write yet.
                mounted = mounted or [cluster.kube.get(SECRETS, CACERTS, namespace)]
                files = _files(mounted[0])
                ca, why = load_ca(files, now, _version(dep))
                pods[name] = IstiodPod(name, pod["metadata"].get("creationTimestamp") or "", files, _rv(mounted[0]),
                                       ca, "serving" if ca else why)
                changed = True
                continue
            files = _files(secret)
            if files is None or _rv(secret) <= state.version or files == state.files:
                state.changed_at = None
                continue
            if state.changed_at is None:
                state.changed_at = clock
            due = state.changed_at + self.secret_sync_delay - clock
            if due > 0:
                later = due if later is None else min(later, due)
                continue
            state.files, state.version, state.changed_at = files, _rv(secret), None
            if state.ca is not None and watches_cacerts(dep):
                ca, state.status = reload(dep, state.ca, files, now)
                changed = changed or ca is not state.ca
                state.ca = ca
        return changed, later

    def _serving(self, cluster) -> IstiodPod | None:
        pods = [p for p in self._istiods.get(cluster.name, {}).values() if p.ca is not None]
        return min(pods, key=lambda p: (p.created, p.name)) if pods else None

    def _publish(self, cluster):
        with self._lock:
            leader = self._serving(cluster)
            roots = leader.ca.roots_pem.decode() if leader is not None else None
        if roots is None:
            return
        for ns in cluster.items(NAMESPACES):
            name = ns["metadata"]["name"]
            if name in IGNORED_NAMESPACES or (ns.get("status") or {}).get("phase") == "Terminating" \
                    or ns["metadata"].get("deletionTimestamp"):
                continue
            cluster.ensure(marked({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": ROOT_CONFIGMAP, "namespace": name,
                                                "labels": {"istio.io/config": "true"}},
                                   "data": {ROOT_KEY: roots}}, COMPONENT, "istiod"), MANAGER)

    def _workload_certs(self, cluster, now) -> bool:
        found = self._workloads.setdefault(cluster.name, {})
        mesh = {ns["metadata"]["name"] for ns in cluster.items(NAMESPACES) if _in_mesh(ns)}
        live = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in cluster.items(PODS)
                if p["metadata"]["namespace"] in mesh and _ready(p) and not p["metadata"].get("deletionTimestamp")}
        changed = False
        for key in list(found):
            if key not in live:
                del found[key]
                changed = True
        serving = self._serving(cluster)
        if serving is None:
            return changed
        domain = cluster_trust_domain(cluster)
        for key, pod in sorted(live.items()):
            if key in found:
                continue
            account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
            identity = f"spiffe://{domain}/ns/{key[0]}/sa/{account}"
            found[key] = Workload(cluster.name, key[0], key[1], identity, issue(serving.ca, identity, now),
                                  serving.ca.roots, serving.name)
            changed = True
        return changed


def _files(secret: dict | None) -> dict[str, bytes] | None:
    if secret is None:
        return None
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _rv(obj: dict | None) -> int:
    return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)


def _ready(pod: dict) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _in_mesh(ns: dict) -> bool:
    labels = ns["metadata"].get("labels") or {}
    return any(key in labels and (value is None or labels[key] == value) for key, value in MESH_LABELS)
