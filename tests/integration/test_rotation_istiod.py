"""Root rotation with upstream istiod as every cluster's CA (issue 19, item 3).

Three fresh local clusters. In each, the collection's root_of_trust writes Secret cacerts and a real
pilot-discovery plays the pod of Deployment istiod-gloo (tests/harness/istiod.py, ``observe_only``
with ``ca=True``: its CA and its istio-ca-root-cert publishing on, nothing else): it loads cacerts
through the harness's kubelet volume, takes the Deployment's env, and is restarted when the
Deployment's pod template changes (a rollout). The trust simulator stands aside in these clusters
(``Simulators.set_ca(context, "upstream")``); the workload simulator still writes the Deployment's
rollout status.

The rotation runs phase by phase, as the rotate_root_of_trust playbook orders it (root_of_trust with
``rotation_phase``, cluster after cluster), with ISTIO_MULTIROOT_MESH off and on. Before it and
after every step, for every cluster (`_check`): its istiod runs the Deployment's current template;
istio-ca-root-cert holds the roots of its cacerts; its istiod signs a workload CSR through its CA
service with the intermediate of its cacerts; and that certificate chain passes X.509 path
validation (trust.verifies) against every other cluster's published bundle.

Skipped, saying what to run, without pilot-discovery (hack/build-istiod.sh) or grpcio.
"""
from __future__ import annotations

import base64
import datetime
import importlib.util
import json
import os
import re
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from tests.harness.istiod import (CACERTS, DEPLOYMENT, NAMESPACE, READINESS_GATE, ROOT_CONFIGMAP, IstiodUnavailable,
                                  find_istiod, observer_writes, start_with_control_plane)
from tests.harness.module_runner import run_module
from tests.harness.poll import wait_until
from tests.harness.simulators import trust

if importlib.util.find_spec("grpc") is None:
    pytest.skip("grpcio is needed to ask istiod for certificates: pip install -r requirements-dev.txt",
                allow_module_level=True)

CLUSTERS = ("cluster1", "cluster2", "cluster3")
APP = "shop"  # an ambient namespace: the rotation awaits its istio-ca-root-cert
IDENTITY = f"spiffe://cluster.local/ns/{APP}/sa/default"
# The Istio version of the pinned pilot-discovery (the module's VERSION file: 1.31); the collection
# reads the image tag to decide reload or restart (operations/root_rotation.py _istiod_action).
ISTIOD_IMAGE = "docker.io/istio/pilot:1.31.0"
MULTIROOT = "ISTIO_MULTIROOT_MESH"
PHASES = ("trust_both", "reissue", "drop_old")
RELOADED = "Istiod has detected the newly added intermediate CA and updated its key and certs accordingly"


def _istiod_deployment(multiroot: bool) -> dict:
    labels = {"app": "istiod", "istio.io/rev": "gloo"}
    return {"metadata": {"name": DEPLOYMENT}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {
            # Ready when the real istiod playing the pod is (tests/harness/istiod.py READINESS_GATE).
            "readinessGates": [{"conditionType": READINESS_GATE}],
            "containers": [{"name": "discovery", "image": ISTIOD_IMAGE,
                            "env": [{"name": MULTIROOT, "value": str(multiroot).lower()}]}]}}}}


class Mesh:
    def __init__(self, cp, pki):
        self.cp = cp
        self.pki = pki
        self.istiods = None
        self.log: list[dict] = []  # what every check saw

    def path(self, *parts):
        return os.path.join(self.pki, *parts)

    def api(self, context):
        return self.cp.api_client(context, simulator=True)

    def install(self):
        """root_of_trust in every cluster, then what the Gloo Operator would run there."""
        for context in CLUSTERS:
            result = run_module("root_of_trust", dict(
                kubeconfig=self.cp.kubeconfig_path, context=context, cluster=context,
                root_cert_path=self.path("root-cert.pem"), root_key_path=self.path("root-key.pem"),
                root_key_type="ecdsa-p256", intermediate_key_type="ecdsa-p256"))
            assert result["changed"], result
            with self.api(context) as api:
                core = k8s.CoreV1Api(api)
                core.create_namespace({"metadata": {"name": APP, "labels": {"istio.io/dataplane-mode": "ambient"}}})
                # No controller-manager: the namespace's default ServiceAccount is created here.
                core.create_namespaced_service_account(APP, {"metadata": {"name": "default"}})
                k8s.AppsV1Api(api).create_namespaced_deployment(NAMESPACE, _istiod_deployment(False))

    # -- what the clusters hold --------------------------------------------------------------------
    def cacerts(self, context) -> dict[str, str]:
        with self.api(context) as api:
            secret = k8s.CoreV1Api(api).read_namespaced_secret(CACERTS, NAMESPACE)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def published(self, context) -> str:
        with self.api(context) as api:
            return k8s.CoreV1Api(api).read_namespaced_config_map(ROOT_CONFIGMAP, APP).data["root-cert.pem"]

    def token(self, context) -> str:
        with self.api(context) as api:
            answer = k8s.CoreV1Api(api).create_namespaced_service_account_token("default", APP, {
                "spec": {"audiences": ["istio-ca"], "expirationSeconds": 3600}})
        return answer.status.token

    def workload_chain(self, context, roots_pem) -> list[x509.Certificate]:
        """A workload certificate istiod signs through its CA service: leaf and CA chain (not the roots)."""
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
               .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(IDENTITY)]), critical=False)
               .sign(key, hashes.SHA256()))
        chain = self.istiods[context].create_certificate(csr.public_bytes(serialization.Encoding.PEM).decode(),
                                                         self.token(context), roots_pem)
        return [c for pem in chain[:-1] for c in x509.load_pem_x509_certificates(pem.encode())]

    # -- the collection ----------------------------------------------------------------------------
    def phase(self, context, phase):
        result = run_module("root_of_trust", dict(
            kubeconfig=self.cp.kubeconfig_path, context=context, cluster=context, rotation_phase=phase,
            root_cert_path=self.path("root-cert.pem"), root_key_path=self.path("root-key.pem"),
            new_root_cert_path=self.path("next", "root-cert.pem"), new_root_key_path=self.path("next", "root-key.pem"),
            root_key_type="ecdsa-p256", intermediate_key_type="ecdsa-p256", wait_timeout=60))
        assert not result.get("failed"), result
        return result

    def set_multiroot(self, multiroot: bool):
        """ISTIO_MULTIROOT_MESH in istiod's env, as gloo-extensions-config would set it: a rollout."""
        for context in CLUSTERS:
            with self.api(context) as api:
                env = [{"name": MULTIROOT, "value": str(multiroot).lower()}]
                k8s.AppsV1Api(api).patch_namespaced_deployment(DEPLOYMENT, NAMESPACE, {"spec": {"template": {"spec": {
                    "containers": [{"name": "discovery", "env": env}]}}}})
        for istiod in self.istiods:
            istiod.wait_rolled_out()
            assert istiod.env[MULTIROOT] == str(multiroot).lower()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    if os.environ.get("GLOOMESH_TEST_KUBECONFIG"):
        pytest.skip("runs pilot-discovery against fresh local clusters")
    try:
        find_istiod()
    except IstiodUnavailable as err:
        pytest.skip(f"upstream istiod not built: {err}")
    from tests.harness.controlplane import LocalControlPlane
    from tests.harness.simulators import Simulators

    cp = LocalControlPlane(CLUSTERS).start()  # no CRDs: nothing here needs them
    try:
        cp.simulators = Simulators(cp.simulator_kubeconfig_path, list(cp.names))
        for context in CLUSTERS:
            cp.simulators.set_ca(context, "upstream")
        cp.simulators.start()
        built = Mesh(cp, str(tmp_path_factory.mktemp("pki")))
        built.install()
        built.istiods = start_with_control_plane(cp, observe_only=True, ca=True)
        yield built
    finally:
        cp.stop()


def _names(certs) -> list[str]:
    return [certificates.fingerprint(c) for c in certs]


def _check(mesh, label):
    """Every cluster's istiod as the collection left it, and every cross-cluster pair (module docstring)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    published, chains, seen = {}, {}, {}
    for context in CLUSTERS:
        mesh.istiods[context].wait_rolled_out()
        cacerts = mesh.cacerts(context)
        roots = x509.load_pem_x509_certificates(cacerts["root-cert.pem"].encode())
        intermediate = x509.load_pem_x509_certificate(cacerts["ca-cert.pem"].encode())
        text = mesh.published(context)
        published[context] = x509.load_pem_x509_certificates(text.encode())
        assert _names(published[context]) == _names(roots), \
            f"{label}: istiod of {context} publishes {_names(published[context])}, its cacerts holds {_names(roots)}"
        chains[context] = mesh.workload_chain(context, text)
        assert certificates.issued_by(chains[context][0], intermediate), \
            f"{label}: istiod of {context} does not sign with the intermediate of its cacerts"
        seen[context] = {"published": [f[:11] for f in _names(published[context])],
                         "intermediate": certificates.fingerprint(intermediate)[:11]}
    for sender in CLUSTERS:
        for receiver in CLUSTERS:
            if sender != receiver:
                why = trust.verifies(chains[sender], published[receiver], now)
                assert why == "", f"{label}: {sender}'s workload is refused by {receiver}'s bundle: {why}"
    mesh.log.append({"step": label, **seen})


def _restarts(mesh) -> dict[str, int]:
    return {c: mesh.istiods[c].restarts for c in CLUSTERS}


def _reloads(mesh) -> dict[str, int]:
    return {c: mesh.istiods[c].log_text().count(RELOADED) for c in CLUSTERS}


@pytest.mark.parametrize("multiroot", [False, True], ids=["multiroot-off", "multiroot-on"])
def test_rotation_with_upstream_istiod(mesh, multiroot):
    """The whole rotation; what real istiod did differently with ISTIO_MULTIROOT_MESH on is
    counted per phase: restarts (the collection's annotation, followed by the harness) and reloads
    of the swapped files (istiod's own log)."""
    began = time.monotonic()
    mesh.set_multiroot(multiroot)
    mark = mesh.cp.audit_mark()
    _check(mesh, "before")
    with open(mesh.path("root-cert.pem"), "rb") as fh:
        old_fp = certificates.fingerprint(x509.load_pem_x509_certificate(fh.read()))
    done = {}
    for phase in PHASES:
        restarts, reloads = _restarts(mesh), _reloads(mesh)
        actions = []
        for context in CLUSTERS:
            result = mesh.phase(context, phase)
            actions += [i["action"] for i in result["rotation"]["istiod"]]
            _check(mesh, f"{phase} {context}")
        done[phase] = {"collection": sorted(set(actions)),
                       "restarts": sum(_restarts(mesh).values()) - sum(restarts.values()),
                       "reloads": sum(_reloads(mesh).values()) - sum(reloads.values())}
    promoted = run_module("root_of_trust", dict(
        kubeconfig=mesh.cp.kubeconfig_path, context=CLUSTERS[0], rotation_phase="promote",
        root_cert_path=mesh.path("root-cert.pem"), root_key_path=mesh.path("root-key.pem"),
        new_root_cert_path=mesh.path("next", "root-cert.pem"), new_root_key_path=mesh.path("next", "root-key.pem")))
    assert promoted["promoted"], promoted
    new_fp = promoted["root_fingerprint"]
    assert new_fp != old_fp and all(mesh.log[-1][c]["published"] == [new_fp[:11]] for c in CLUSTERS), mesh.log[-1]

    # The collection: reload with the flag (Istio >= 1.20), restart without; phase 2 always restarts.
    reload_or_restart = ["reload"] if multiroot else ["restart"]
    assert [done[p]["collection"] for p in PHASES] == [reload_or_restart, ["restart"], reload_or_restart], done
    # Real istiod: a restart per cluster wherever the collection asked for one, and none elsewhere:
    # with the flag, it swapped the new root bundle in by itself (phases 1 and 3).
    expected_restarts = [len(CLUSTERS) * (a == ["restart"]) for a in (done[p]["collection"] for p in PHASES)]
    assert [done[p]["restarts"] for p in PHASES] == expected_restarts, done
    if multiroot:
        assert done["trust_both"]["reloads"] >= len(CLUSTERS) and done["drop_old"]["reloads"] >= len(CLUSTERS), done
    # Its only writes: leader election locks and istio-ca-root-cert.
    assert observer_writes(mesh.cp, mark, ca=True) == []
    print(f"\nMEASURE upstream istiod rotation {MULTIROOT}={multiroot}: {time.monotonic() - began:.1f}s, "
          f"{len(mesh.log)} checks; per phase {json.dumps(done)}")
    mesh.log.clear()


def test_istiod_refuses_a_mismatched_cacerts_and_so_does_root_of_trust(mesh):
    """A ca-key.pem that is not the intermediate's key: root_of_trust refuses to write it (0 writes);
    written by hand, a running istiod keeps its CA and a new pod of it does not start (no fallback to
    a self-signed CA), nor does one given a bundle without cert-chain.pem; the trust simulator's
    rules say the same of the same files."""
    context = CLUSTERS[2]
    istiod = mesh.istiods[context]
    good = mesh.cacerts(context)
    stranger = certificates.key_pem(certificates.generate_key("ecdsa-p256"))
    mark = mesh.cp.audit_mark()
    refused = run_module("root_of_trust", dict(
        kubeconfig=mesh.cp.kubeconfig_path, context=context, cluster=context, root_cert_path=mesh.path("root-cert.pem"),
        intermediate_cert=good["ca-cert.pem"], intermediate_key=stranger))
    assert refused.get("failed") and "intermediate_key does not match" in refused["msg"], refused
    assert mesh.cp.writes_since(mark) == []

    bad = dict(good, **{"ca-key.pem": stranger})
    files = {k: v.encode() for k, v in bad.items()}
    now = datetime.datetime.now(datetime.timezone.utc)
    assert trust.load_ca(files, now) == (None, "the cert does not match the key")
    loaded, _why = trust.load_ca({k: v.encode() for k, v in good.items()}, now)
    assert trust.reload({"spec": {"template": {"spec": {"containers": [{"image": ISTIOD_IMAGE}]}}}}, loaded, files,
                        now)[1].startswith("Failed to update new Plug-in CA certs")

    with mesh.api(context) as api:
        core = k8s.CoreV1Api(api)
        core.patch_namespaced_secret(CACERTS, NAMESPACE, {"data": {
            "ca-key.pem": base64.b64encode(stranger.encode()).decode()}})
        kept = wait_until(lambda: re.search(r".*Failed to update new Plug-in CA certs.*", istiod.log_text()),
                          "istiod's refusal of the swapped files in its log", timeout=30)
        print(f"\nMEASURE a running istiod keeps its CA: {kept.group(0)[:300]}")
        _check(mesh, "mismatched key, running istiod")  # still signs with what it loaded

        apps = k8s.AppsV1Api(api)
        before = len(istiod.log_text())
        apps.patch_namespaced_deployment(DEPLOYMENT, NAMESPACE, {"spec": {"template": {"metadata": {
            "annotations": {"kubectl.kubernetes.io/restartedAt": "mismatched"}}}}})
        refusal = wait_until(lambda: not istiod.running() and re.search(
            r".*failed to create CA: .*the cert does not match the key.*", istiod.log_text()[before:]),
            "the new istiod pod to exit, refusing the key", timeout=60)
        assert "self-signed" not in istiod.log_text()[before:]
        # Its pod is not ready (READINESS_GATE): the rollout the collection would wait for never ends.
        wait_until(lambda: not (apps.read_namespaced_deployment(DEPLOYMENT, NAMESPACE).status.available_replicas or 0),
                   "istiod-gloo without an available pod", timeout=30)
        print(f"\nMEASURE a new istiod pod refuses the mismatched cacerts: {refusal.group(0)[:300]}")

        # The key back but cert-chain.pem gone: kubelet restarts the crashed container with the
        # files it refreshed, and this istiod (not 1.25.2, see trust.load_ca) exits again.
        before = len(istiod.log_text())
        core.patch_namespaced_secret(CACERTS, NAMESPACE, {"data": {
            "ca-key.pem": base64.b64encode(good["ca-key.pem"].encode()).decode(), "cert-chain.pem": None}})
        incomplete = wait_until(lambda: not istiod.running() and re.search(
            r".*incomplete signing CA bundle detected.*", istiod.log_text()[before:]),
            "the restarted istiod to exit on an incomplete bundle", timeout=60)
        without_chain = {k: v.encode() for k, v in good.items() if k != "cert-chain.pem"}
        assert trust.load_ca(without_chain, now, (1, 31, 0))[1].endswith("incomplete signing CA bundle detected")
        print(f"MEASURE cacerts without cert-chain.pem: {incomplete.group(0)[:200]}")

        core.patch_namespaced_secret(CACERTS, NAMESPACE, {"data": {"cert-chain.pem": base64.b64encode(
            good["cert-chain.pem"].encode()).decode()}})
        istiod.wait_rolled_out()  # started again with the whole bundle
    _check(mesh, "cacerts restored")


def test_istiod_with_multiroot_takes_a_reordered_root_bundle(mesh):
    """Where real istiod and the trust simulator (as it read Istio 1.25.2) disagreed: the pinned
    pilot-discovery compares a changed root-cert.pem with the loaded one as sets of certificates
    (pemBundleHasSubsetRelation), so [C, X] -> [X, C] is swapped in without a restart; 1.25.2's
    bytes.Contains refused it. trust.py now follows each by version (tests/harness/tests/test_trust.py).
    The collection never reorders (phase 1 appends, phase 3 keeps the new root's bytes)."""
    mesh.set_multiroot(True)
    context = CLUSTERS[0]
    istiod = mesh.istiods[context]
    good = mesh.cacerts(context)
    extra = certificates.cert_pem(certificates.build_root(certificates.generate_key("ecdsa-p256")))
    current, other = (certificates.fingerprint(x509.load_pem_x509_certificate(t.encode()))
                      for t in (good["root-cert.pem"], extra))
    restarts, logged = istiod.restarts, len(istiod.log_text())
    with mesh.api(context) as api:
        core = k8s.CoreV1Api(api)
        for text, expected in ((good["root-cert.pem"] + extra, [current, other]),
                               (extra + good["root-cert.pem"], [other, current]),
                               (good["root-cert.pem"], [current])):
            core.patch_namespaced_secret(CACERTS, NAMESPACE, {"data": {"root-cert.pem": base64.b64encode(
                text.encode()).decode()}})
            wait_until(lambda expected=expected: _names(x509.load_pem_x509_certificates(
                mesh.published(context).encode())) == expected, f"istiod to publish {expected}", timeout=30)
    assert istiod.restarts == restarts
    assert istiod.log_text()[logged:].count("\tUpdating new ROOT-CA\n") == 3, istiod.log_tail()
    _check(mesh, "root bundle reordered and restored")


def _profile(leaf: x509.Certificate) -> dict:
    """What a peer checks of a workload certificate: its extensions (value and criticality)."""
    return {ext.oid._name: (ext.critical, repr(ext.value)) for ext in leaf.extensions
            if ext.oid._name not in ("subjectKeyIdentifier", "authorityKeyIdentifier")}


def test_the_simulated_workload_certificate_is_the_one_istiod_signs(mesh):
    """trust.issue (what simulated workloads hold) against a certificate real istiod signed for the
    same identity with the same cacerts: the same extensions, and the same chain after the leaf."""
    context = CLUSTERS[1]
    cacerts = mesh.cacerts(context)
    chain = mesh.workload_chain(context, mesh.published(context))
    now = datetime.datetime.now(datetime.timezone.utc)
    loaded, why = trust.load_ca({k: v.encode() for k, v in cacerts.items()}, now)
    assert why == ""
    simulated = trust.issue(loaded, IDENTITY, now)
    assert _profile(simulated[0]) == _profile(chain[0])
    assert _names(simulated[1:]) == _names(chain[1:])
    assert simulated[0].subject == chain[0].subject
