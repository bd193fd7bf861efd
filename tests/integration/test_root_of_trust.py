"""root_of_trust and root_of_trust_info against the local API servers: one root, per-cluster cacerts."""
from __future__ import annotations

import base64
import json
import multiprocessing
import os
import stat
import sys
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from kubernetes import client as k8s

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from tests.harness.locks import lock_held_elsewhere
from tests.harness.module_runner import run_module
from tests.harness.playbook_run import run_playbook

CLUSTERS = ("cluster1", "cluster2", "mgmt")
FAST = {"root_key_type": "ecdsa-p256", "intermediate_key_type": "ecdsa-p256"}


# --- helpers ------------------------------------------------------------------------------------

def new_namespace():
    return "gm-ca-" + uuid.uuid4().hex[:8]


def no_key_material(obj):
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    assert "PRIVATE KEY" not in text
    return True


def read_secret(control_plane, context, namespace):
    with control_plane.api_client(context) as api:
        try:
            secret = k8s.CoreV1Api(api).read_namespaced_secret("cacerts", namespace)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
    assert secret.type == "Opaque"
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def namespace_exists(control_plane, context, namespace):
    with control_plane.api_client(context) as api:
        try:
            k8s.CoreV1Api(api).read_namespace(namespace)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return False
            raise
    return True


def verify_bundle(data, root_cert):
    """Independent check with cryptography: the Secret is a sound plug-in CA of root_cert."""
    assert sorted(data) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
    assert x509.load_pem_x509_certificate(data["root-cert.pem"]) == root_cert
    intermediate = x509.load_pem_x509_certificate(data["ca-cert.pem"])
    intermediate.verify_directly_issued_by(root_cert)
    key = serialization.load_pem_private_key(data["ca-key.pem"], None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, spki) == \
        intermediate.public_key().public_bytes(serialization.Encoding.DER, spki)
    assert x509.load_pem_x509_certificates(data["cert-chain.pem"]) == [intermediate, root_cert]
    basic = intermediate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    return intermediate


def load_root(pki_dir):
    with open(os.path.join(pki_dir, "root-cert.pem"), "rb") as fh:
        return x509.load_pem_x509_certificate(fh.read())


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def pki_dir(tmp_path):
    return str(tmp_path / "pki")


@pytest.fixture
def root_of_trust(kubeconfig, pki_dir):
    """run_module('root_of_trust') with this test's kubeconfig and root paths; keywords override."""
    def run(context="cluster1", check_mode=False, diff=True, **args):
        params = dict(kubeconfig=kubeconfig, context=context, cluster=context,
                      root_cert_path=os.path.join(pki_dir, "root-cert.pem"),
                      root_key_path=os.path.join(pki_dir, "root-key.pem"))
        params.update(args)
        result = run_module("root_of_trust", {k: v for k, v in params.items() if v is not None},
                            check_mode=check_mode, diff=diff)
        assert no_key_material(result)
        return result
    return run


@pytest.fixture
def root_of_trust_info(kubeconfig):
    def run(context="cluster1", **args):
        result = run_module("root_of_trust_info", dict(kubeconfig=kubeconfig, context=context, **args))
        assert no_key_material(result)
        return result
    return run


# --- three clusters, one root ----------------------------------------------------------------------

def test_three_clusters_share_one_root_with_istio_defaults(control_plane, audit, root_of_trust, root_of_trust_info, pki_dir):
    """Istio's reference defaults (RSA 4096 root and intermediates) in istio-system of every cluster."""
    timings = {}
    start = time.monotonic()
    key = certificates.generate_key("rsa4096")
    certificates.build_root(key)
    timings["rsa4096 root generation (pki only)"] = time.monotonic() - start

    results = {}
    start = time.monotonic()
    for context in CLUSTERS:
        t0 = time.monotonic()
        results[context] = root_of_trust(context)
        timings["root_of_trust %s (first run)" % context] = time.monotonic() - t0
    timings["3 clusters, first run, total"] = time.monotonic() - start
    try:
        assert [r["root_created"] for r in results.values()] == [True, False, False]
        root_cert = load_root(pki_dir)
        assert root_cert.subject.rfc4514_string() == "CN=Root CA,O=Istio"
        assert root_cert.public_key().key_size == 4096
        assert mode_of(os.path.join(pki_dir, "root-key.pem")) == 0o600
        assert mode_of(os.path.join(pki_dir, "root-cert.pem")) == 0o644
        assert sorted(os.listdir(pki_dir)) == ["root-cert.pem", "root-key.pem", "root-key.pem.lock"]

        intermediates = set()
        for context, result in results.items():
            assert result["changed"] and result["action"] == "created"
            assert result["root_fingerprint"] == certificates.fingerprint(root_cert)
            assert result["reasons"] == ["Secret istio-system/cacerts does not exist"]
            data = read_secret(control_plane, context, "istio-system")
            intermediate = verify_bundle(data, root_cert)
            assert intermediate.public_key().key_size == 4096
            assert intermediate.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == context
            assert result["intermediate_fingerprint"] == certificates.fingerprint(intermediate)
            assert result["not_after"] == certificates.iso(certificates.not_after(intermediate))
            intermediates.add(result["intermediate_fingerprint"])
            after = result["diff"]["after"]
            assert after["ca-cert.pem"][0]["subject"] == "L=%s,CN=Intermediate CA,O=Istio" % context
            assert after["ca-key.pem"] == "(private key, matches ca-cert.pem)"
            assert result["diff"]["before"] == {}
        assert len(intermediates) == 3

        # Re-run: nothing changes, not one write request.
        mark = audit.mark()
        start = time.monotonic()
        for context in CLUSTERS:
            again = root_of_trust(context)
            assert not again["changed"] and again["action"] == "unchanged" and not again["reissued"]
            assert again["intermediate_fingerprint"] == results[context]["intermediate_fingerprint"]
            assert again["diff"]["before"] == again["diff"]["after"]
        timings["3 clusters, re-run, total"] = time.monotonic() - start
        writes = audit.writes(mark)
        timings["re-run write requests"] = len(writes)
        assert writes == []

        for context in CLUSTERS:
            info = root_of_trust_info(context, root_cert_path=os.path.join(pki_dir, "root-cert.pem"))
            assert info["valid"] and info["root_matches"] and info["chain_verifies"] and info["key_matches"]
            assert info["root_fingerprint"] == certificates.fingerprint(root_cert)
            assert info["intermediate_fingerprint"] == results[context]["intermediate_fingerprint"]
            assert info["problems"] == [] and not info["changed"]
    finally:
        # Other tests of the session may install istiod here: leave istio-system as we found it.
        for context in CLUSTERS:
            root_of_trust(context, state="absent", force=True)
        print("\nMEASURE root_of_trust: " + json.dumps(
            {k: round(v, 2) if isinstance(v, float) else v for k, v in timings.items()}))


def test_fast_key_types_timing(root_of_trust, pki_dir):
    """Issuing three intermediates with ECDSA keys (the fast alternative), timed."""
    namespace = new_namespace()
    start = time.monotonic()
    for context in CLUSTERS:
        result = root_of_trust(context, namespace=namespace, **FAST)
        assert result["changed"]
    elapsed = time.monotonic() - start
    root_cert = load_root(pki_dir)
    assert root_cert.public_key().curve.name == "secp256r1"
    print("\nMEASURE root_of_trust ecdsa-p256 root + 3 intermediates: %.2fs" % elapsed)


# --- check mode, diff, validation ----------------------------------------------------------------

def test_check_mode_writes_nothing_and_shows_no_key(control_plane, audit, root_of_trust, pki_dir):
    namespace = new_namespace()
    mark = audit.mark()
    result = root_of_trust(namespace=namespace, check_mode=True, diff=True, **FAST)
    assert result["changed"] and result["root_created"] and result["reissued"]
    assert result["root_fingerprint"] is None and result["intermediate_fingerprint"] is None
    after = result["diff"]["after"]
    assert after["root-cert.pem"][0]["fingerprint_sha256"] == "(issued when applied)"
    assert after["ca-cert.pem"][0]["subject"] == "L=cluster1,CN=Intermediate CA,O=Istio"
    assert not os.path.exists(pki_dir)  # no root files, not even the lock file
    assert audit.writes(mark) == []
    assert not namespace_exists(control_plane, "cluster1", namespace)

    created = root_of_trust(namespace=namespace, **FAST)
    assert created["changed"] and created["action"] == "created"

    # Root exists now: check mode reports the real root, a placeholder for the intermediate.
    other = new_namespace()
    mark = audit.mark()
    planned = root_of_trust(namespace=other, check_mode=True, **FAST)
    assert planned["changed"] and not planned["root_created"]
    assert planned["root_fingerprint"] == created["root_fingerprint"]
    assert planned["diff"]["after"]["root-cert.pem"][0]["fingerprint_sha256"] == created["root_fingerprint"]
    assert audit.writes(mark) == []

    mark = audit.mark()
    unchanged = root_of_trust(namespace=namespace, check_mode=True, **FAST)
    assert not unchanged["changed"] and unchanged["intermediate_fingerprint"] == created["intermediate_fingerprint"]
    assert audit.writes(mark) == []


@pytest.mark.parametrize("args,message", [
    ({"renew_before": 3650}, "renew_before must be between 0 and intermediate_validity_days - 1 (3649), got 3650"),
    ({"intermediate_validity_days": 0}, "intermediate_validity_days must be at least 1 (days), got 0"),
    ({"cluster": None}, "cluster must be set to issue this cluster's intermediate"),
    ({"root_key_path": None}, "root_key_path must be set to issue this cluster's intermediate"),
    ({"root_key_type": "dsa"}, "root_key_type must be one of: rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384"),
    ({"intermediate_key": "x"}, "parameters are required together: intermediate_cert, intermediate_key"),
])
def test_bad_input_rejected_before_any_write(control_plane, audit, root_of_trust, pki_dir, args, message):
    namespace = new_namespace()
    mark = audit.mark()
    result = root_of_trust(namespace=namespace, **dict(FAST, **args))
    assert result.get("failed") and message in result["msg"], result["msg"]
    assert audit.writes(mark) == []
    assert not os.path.exists(pki_dir)


def test_encrypted_root_key(root_of_trust, pki_dir):
    """A passphrase-protected root: written encrypted, needed (and checked) to issue."""
    first = root_of_trust(namespace=new_namespace(), root_key_passphrase="correct horse", **FAST)
    assert first["changed"] and first["root_created"]
    with open(os.path.join(pki_dir, "root-key.pem")) as fh:
        assert fh.read().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    second = root_of_trust("cluster2", namespace=new_namespace(), root_key_passphrase="correct horse", **FAST)
    assert second["changed"] and second["root_fingerprint"] == first["root_fingerprint"]
    wrong = root_of_trust("mgmt", namespace=new_namespace(), root_key_passphrase="not-it-42", **FAST)
    assert wrong["failed"] and "root_key_path" in wrong["msg"] and "passphrase is wrong" in wrong["msg"]
    assert "correct horse" not in json.dumps(wrong)


def test_half_root_is_never_completed(root_of_trust, pki_dir):
    os.makedirs(pki_dir)
    with open(os.path.join(pki_dir, "root-key.pem"), "w") as fh:
        fh.write("placeholder")
    result = root_of_trust(namespace=new_namespace(), **FAST)
    assert result["failed"] and "refusing to generate a new root over half of an existing one" in result["msg"]
    assert not os.path.exists(os.path.join(pki_dir, "root-cert.pem"))


# --- renewal, foreign roots, restart ---------------------------------------------------------------

def test_expiring_intermediate_is_renewed(control_plane, audit, root_of_trust, pki_dir):
    namespace = new_namespace()
    short = root_of_trust(namespace=namespace, intermediate_validity_days=10, renew_before=5, **FAST)
    assert short["changed"]
    mark = audit.mark()
    kept = root_of_trust(namespace=namespace, renew_before=5, **FAST)
    assert not kept["changed"] and kept["intermediate_fingerprint"] == short["intermediate_fingerprint"]
    assert audit.writes(mark) == []

    planned = root_of_trust(namespace=namespace, renew_before=30, check_mode=True, **FAST)
    assert planned["changed"] and planned["action"] == "updated" and planned["reissued"]
    assert planned["intermediate_fingerprint"] is None
    assert planned["diff"]["after"]["ca-cert.pem"][0]["fingerprint_sha256"] == "(issued when applied)"
    assert planned["diff"]["before"]["ca-cert.pem"][0]["fingerprint_sha256"] == short["intermediate_fingerprint"]
    assert audit.writes(mark) == []

    renewed = root_of_trust(namespace=namespace, renew_before=30, **FAST)
    assert renewed["changed"] and renewed["action"] == "updated" and renewed["reissued"]
    assert renewed["reasons"] == ["ca-cert.pem expires on %s, within renew_before (30 days)" % short["not_after"]]
    assert renewed["intermediate_fingerprint"] != short["intermediate_fingerprint"]
    assert renewed["root_fingerprint"] == short["root_fingerprint"]
    assert renewed["not_after"] > short["not_after"]
    diff = renewed["diff"]
    assert diff["before"]["ca-cert.pem"][0]["fingerprint_sha256"] == short["intermediate_fingerprint"]
    assert diff["after"]["ca-cert.pem"][0]["fingerprint_sha256"] == renewed["intermediate_fingerprint"]
    data = read_secret(control_plane, "cluster1", namespace)
    assert certificates.fingerprint(verify_bundle(data, load_root(pki_dir))) == renewed["intermediate_fingerprint"]
    assert len(audit.writes(mark)) == 1  # the Secret apply, nothing else

    mark = audit.mark()
    assert not root_of_trust(namespace=namespace, renew_before=30, **FAST)["changed"]
    assert audit.writes(mark) == []


def test_foreign_root_refused_then_forced(control_plane, audit, root_of_trust, tmp_path):
    namespace = new_namespace()
    ours = dict(root_cert_path=str(tmp_path / "a" / "root-cert.pem"), root_key_path=str(tmp_path / "a" / "root-key.pem"))
    theirs = dict(root_cert_path=str(tmp_path / "b" / "root-cert.pem"), root_key_path=str(tmp_path / "b" / "root-key.pem"))
    first = root_of_trust(namespace=namespace, **ours, **FAST)
    root_of_trust(namespace=new_namespace(), **theirs, **FAST)  # another mesh's root, already on disk

    mark = audit.mark()
    refused = root_of_trust(namespace=namespace, **theirs, **FAST)
    assert refused["failed"]
    new_root = certificates.fingerprint(load_root(str(tmp_path / "b")))
    assert first["root_fingerprint"] in refused["msg"] and new_root in refused["msg"]
    assert "force=true" in refused["msg"]
    assert refused["existing_root_fingerprints"] == [first["root_fingerprint"]]
    assert audit.writes(mark) == []

    # No root on the controller yet: refused before a root the mesh cannot use is generated.
    nowhere = dict(root_cert_path=str(tmp_path / "c" / "root-cert.pem"), root_key_path=str(tmp_path / "c" / "root-key.pem"))
    adopt = root_of_trust(namespace=namespace, **nowhere, **FAST)
    assert adopt["failed"] and "already holds root %s" % first["root_fingerprint"] in adopt["msg"]
    assert not os.path.exists(str(tmp_path / "c"))
    assert audit.writes(mark) == []

    refused_delete = root_of_trust(namespace=namespace, state="absent", **theirs)
    assert refused_delete["failed"] and first["root_fingerprint"] in refused_delete["msg"]

    forced = root_of_trust(namespace=namespace, force=True, **theirs, **FAST)
    assert forced["changed"] and forced["action"] == "updated"
    assert forced["root_fingerprint"] == new_root
    assert forced["reasons"] == ["root-cert.pem is not the current root"]
    assert forced["diff"]["before"]["root-cert.pem"][0]["fingerprint_sha256"] == first["root_fingerprint"]
    data = read_secret(control_plane, "cluster1", namespace)
    verify_bundle(data, load_root(str(tmp_path / "b")))

    mark = audit.mark()
    assert not root_of_trust(namespace=namespace, force=True, **theirs, **FAST)["changed"]
    assert audit.writes(mark) == []


def test_restart_required_when_istiod_runs(control_plane, root_of_trust):
    namespace = new_namespace()
    root_of_trust(namespace=namespace, intermediate_validity_days=10, renew_before=5, **FAST)
    with control_plane.api_client("cluster1") as api:
        k8s.AppsV1Api(api).create_namespaced_deployment(namespace, {
            "metadata": {"name": "istiod-gloo"},
            "spec": {"selector": {"matchLabels": {"app": "istiod"}},
                     "template": {"metadata": {"labels": {"app": "istiod"}},
                                  "spec": {"containers": [{"name": "discovery", "image": "istio/pilot"}]}}}})
    unchanged = root_of_trust(namespace=namespace, renew_before=5, **FAST)
    assert not unchanged["changed"] and not unchanged["restart_required"]
    assert not unchanged.get("warnings")

    renewed = root_of_trust(namespace=namespace, renew_before=30, **FAST)
    assert renewed["changed"] and renewed["restart_required"]
    assert any("restart istiod" in w and "istiod-gloo" in w for w in renewed["warnings"])

    deleted = root_of_trust(namespace=namespace, state="absent")
    assert deleted["changed"] and deleted["restart_required"]


# --- user-supplied intermediates ----------------------------------------------------------------

def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def test_user_supplied_intermediates(control_plane, audit, root_of_trust, root_of_trust_info, tmp_path):
    """A Vault-like flow: root key elsewhere, issuing CA in between, only certs + key given."""
    root_key = certificates.generate_key("ecdsa-p256")
    root_cert = certificates.build_root(root_key, organization="Corp", common_name="Corp Root")
    root_path = _write(str(tmp_path / "root-cert.pem"), certificates.cert_pem(root_cert))
    issuing_key = certificates.generate_key("ecdsa-p256")
    issuing = certificates.build_root(issuing_key, "Corp", "Vault CA")  # re-signed below by the root
    issuing = (x509.CertificateBuilder().subject_name(issuing.subject).issuer_name(root_cert.subject)
               .public_key(issuing_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(certificates.not_before(issuing)).not_valid_after(certificates.not_after(issuing))
               .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
               .sign(root_key, certificates.hashes.SHA256()))
    namespace = new_namespace()
    supplied = {}
    for context in ("cluster1", "cluster2"):
        key = certificates.generate_key("ecdsa-p256")
        cert = certificates.build_intermediate(issuing, issuing_key, key, context, 365)
        supplied[context] = (cert, key)
        result = root_of_trust(
            context, namespace=namespace, root_cert_path=root_path, root_key_path=None, cluster=None,
            intermediate_cert=certificates.cert_pem(cert) + certificates.cert_pem(issuing),
            intermediate_key=certificates.key_pem(key))
        assert result["changed"] and result["action"] == "created" and not result["reissued"]
        assert result["intermediate_fingerprint"] == certificates.fingerprint(cert)
        assert result["root_fingerprint"] == certificates.fingerprint(root_cert)
        data = read_secret(control_plane, context, namespace)
        assert x509.load_pem_x509_certificates(data["cert-chain.pem"]) == [cert, issuing, root_cert]
        assert data["ca-key.pem"].decode() == certificates.key_pem(key)
        info = root_of_trust_info(context, namespace=namespace, expected_root_fingerprint=certificates.fingerprint(root_cert))
        assert info["valid"] and info["root_matches"], info["problems"]

    mark = audit.mark()
    cert, key = supplied["cluster1"]
    again = root_of_trust(
        namespace=namespace, root_cert_path=root_path, root_key_path=None, cluster=None,
        intermediate_cert=certificates.cert_pem(cert) + certificates.cert_pem(issuing), intermediate_key=certificates.key_pem(key))
    assert not again["changed"]
    assert audit.writes(mark) == []

    # Wrong key, a chain that does not reach the root: refused before any write, no key echoed.
    other_key = certificates.generate_key("ecdsa-p256")
    fresh = new_namespace()
    mark = audit.mark()
    wrong_key = root_of_trust(
        namespace=fresh, root_cert_path=root_path, root_key_path=None, cluster=None,
        intermediate_cert=certificates.cert_pem(cert) + certificates.cert_pem(issuing),
        intermediate_key=certificates.key_pem(other_key))
    assert wrong_key["failed"] and "intermediate_key does not match" in wrong_key["msg"]
    no_chain = root_of_trust(
        namespace=fresh, root_cert_path=root_path, root_key_path=None, cluster=None,
        intermediate_cert=certificates.cert_pem(cert), intermediate_key=certificates.key_pem(key))
    assert no_chain["failed"] and "is not signed by CN=Corp Root,O=Corp" in no_chain["msg"]
    assert audit.writes(mark) == []
    assert not namespace_exists(control_plane, "cluster1", fresh)


# --- root_of_trust_info problems ----------------------------------------------------------------------

def test_mesh_ca_info_reports_problems(control_plane, root_of_trust, root_of_trust_info, pki_dir):
    namespace = new_namespace()
    missing = root_of_trust_info(namespace=namespace)
    assert not missing["exists"] and not missing["valid"]
    assert missing["problems"] == ["Secret cacerts does not exist"]

    created = root_of_trust(namespace=namespace, **FAST)
    mismatch = root_of_trust_info(namespace=namespace, expected_root_fingerprint="sha256:" + "00" * 32)
    assert mismatch["root_matches"] is False and not mismatch["valid"]
    assert mismatch["problems"] == ["root-cert.pem (%s) does not hold the expected root %s"
                                    % (created["root_fingerprint"], ":".join(["00"] * 32))]

    # Break the key behind the module's back (as the simulator user would not: use admin).
    with control_plane.api_client("cluster1") as api:
        core = k8s.CoreV1Api(api)
        other = certificates.key_pem(certificates.generate_key("ecdsa-p256"))
        core.patch_namespaced_secret("cacerts", namespace, {"data": {"ca-key.pem": base64.b64encode(
            other.encode()).decode()}})
    broken = root_of_trust_info(namespace=namespace, root_cert_path=os.path.join(pki_dir, "root-cert.pem"))
    assert broken["root_matches"] and broken["chain_verifies"] and not broken["key_matches"]
    assert broken["problems"] == ["ca-key.pem does not match ca-cert.pem"]

    # root_of_trust repairs it: the key does not match, so a new intermediate is issued.
    repaired = root_of_trust(namespace=namespace, **FAST)
    assert repaired["changed"] and repaired["reasons"] == ["ca-key.pem does not match ca-cert.pem"]
    assert root_of_trust_info(namespace=namespace)["valid"]

    bad = root_of_trust_info(namespace=namespace, expected_root_fingerprint="AB:CD")
    assert bad["failed"] and "expected_root_fingerprint: not a SHA-256 fingerprint" in bad["msg"]


# --- several roots and rotation phases, one cluster (the three-cluster proof is test_rotation.py) --

def _roots(result):
    return [(r["fingerprint_sha256"], r["role"]) for r in result["roots"]]


def test_rotation_phases_in_one_cluster(control_plane, audit, root_of_trust, root_of_trust_info, pki_dir, tmp_path):
    """trust_both, reissue, drop_old and promote through the module, in a namespace without istiod;
    a multi-root cacerts as root_of_trust and root_of_trust_info see it on the way."""
    namespace = new_namespace()
    first = root_of_trust(namespace=namespace, **FAST)
    old = first["root_fingerprint"]
    new_dir = str(tmp_path / "next")
    rotation = dict(namespace=namespace, new_root_cert_path=os.path.join(new_dir, "root-cert.pem"),
                    new_root_key_path=os.path.join(new_dir, "root-key.pem"), root_key_type="ecdsa-p256",
                    intermediate_key_type="ecdsa-p256", wait_timeout=10)

    # Bad input fails before any write, naming the option.
    mark = audit.mark()
    for bad, message in ((dict(workload_namespaces=["no-such-ns"]), "namespace no-such-ns does not exist"),
                         (dict(workload_namespaces=["Bad_NS"]), "workload_namespaces 'Bad_NS' must be a namespace name"),
                         (dict(new_root_cert_path=None), "new_root_cert_path must be set with rotation_phase"),
                         (dict(wait_timeout=0), "wait_timeout must be at least 1")):
        failed = root_of_trust(rotation_phase="trust_both", **dict(rotation, **bad))
        assert failed.get("failed") and message in failed["msg"], failed["msg"]
    out_of_order = root_of_trust(rotation_phase="reissue",
                                 **dict(rotation, new_root_cert_path=os.path.join(pki_dir, "root-cert.pem")))
    assert out_of_order["failed"] and "is the current root" in out_of_order["msg"]
    assert audit.writes(mark) == [] and not os.path.exists(new_dir)

    # Check mode: the plan, no write, no root generated.
    planned = root_of_trust(rotation_phase="trust_both", check_mode=True, **rotation)
    assert planned["changed"] and planned["root_created"] and planned["root_fingerprint"] is None
    assert planned["rotation"]["phase"] == 1 and planned["rotation"]["finished_before"] == 0
    assert planned["root_fingerprints"] == [old]  # the new one is a placeholder
    assert [e["fingerprint_sha256"] for e in planned["diff"]["after"]["root-cert.pem"]] == [old, "(issued when applied)"]
    assert audit.writes(mark) == [] and not os.path.exists(new_dir)

    trusting = root_of_trust(rotation_phase="trust_both", **rotation)
    new = trusting["root_fingerprint"]
    assert trusting["changed"] and trusting["root_created"] and trusting["root_fingerprints"] == [old, new]
    assert trusting["intermediate_fingerprint"] == first["intermediate_fingerprint"]  # unchanged
    assert trusting["rotation"]["record"] == "created" and trusting["rotation"]["istiod"] == []
    assert any("no istiod" in w for w in trusting["warnings"])
    assert stat.S_IMODE(os.stat(os.path.join(new_dir, "root-key.pem")).st_mode) == 0o600
    data = read_secret(control_plane, "cluster1", namespace)
    assert data["root-cert.pem"].startswith(certificates.cert_pem(load_root(pki_dir)).encode())

    # Mid-rotation, the plain module keeps the two-root bundle, and refuses to reissue without force.
    mark = audit.mark()
    kept = root_of_trust(namespace=namespace, **FAST)
    assert not kept["changed"] and kept["root_fingerprints"] == [old, new]
    assert audit.writes(mark) == []
    with control_plane.api_client("cluster1") as api:
        core = k8s.CoreV1Api(api)
        stray = base64.b64encode(certificates.key_pem(certificates.generate_key("ecdsa-p256")).encode()).decode()
        core.patch_namespaced_secret("cacerts", namespace, {"data": {"ca-key.pem": stray}})
        mark = audit.mark()
        refused = root_of_trust(namespace=namespace, **FAST)
        assert refused["failed"] and "in the middle of a root rotation" in refused["msg"]
        assert "ca-key.pem does not match ca-cert.pem" in refused["msg"] and audit.writes(mark) == []
        core.patch_namespaced_secret("cacerts", namespace, {"data": {"ca-key.pem": base64.b64encode(
            data["ca-key.pem"]).decode()}})
    mark = audit.mark()
    info = root_of_trust_info(namespace=namespace, root_cert_path=os.path.join(pki_dir, "root-cert.pem"),
                              new_root_cert_path=rotation["new_root_cert_path"], expiry_threshold_days=5000)
    assert info["valid"] and info["problems"] == [] and info["root_fingerprints"] == [old, new]
    assert _roots(info) == [(old, "root"), (new, "root")] and info["issuing_root_fingerprint"] == old
    assert info["rotation"]["phase"] == 1 and info["rotation"]["finished_phase"] == 1
    assert info["min_days_left"] <= 3650 and len(info["expiring"]) == 3

    again = root_of_trust(rotation_phase="trust_both", **rotation)
    assert not again["changed"] and again["rotation"]["finished_before"] == 1
    assert audit.writes(mark) == []

    reissued = root_of_trust(rotation_phase="reissue", **rotation)
    assert reissued["changed"] and reissued["reissued"] and reissued["root_fingerprints"] == [old, new]
    assert reissued["intermediate_fingerprint"] != first["intermediate_fingerprint"]
    info = root_of_trust_info(namespace=namespace, expected_root_fingerprint=old)
    assert info["valid"] and info["issuing_root_fingerprint"] == new and info["rotation"]["phase"] == 2

    dropped = root_of_trust(rotation_phase="drop_old", **rotation)
    assert dropped["changed"] and dropped["root_fingerprints"] == [new]
    assert dropped["intermediate_fingerprint"] == reissued["intermediate_fingerprint"]
    mark = audit.mark()
    for phase in ("trust_both", "reissue", "drop_old"):
        assert not root_of_trust(rotation_phase=phase, **rotation)["changed"]
    assert audit.writes(mark) == []

    promoted = root_of_trust(rotation_phase="promote", **rotation)
    assert promoted["changed"] and promoted["promoted"] and promoted["root_fingerprint"] == new
    assert certificates.fingerprint(load_root(pki_dir)) == new and not os.path.exists(new_dir)
    assert sorted(os.listdir(promoted["retired_dir"])) == ["root-cert.pem", "root-key.pem"]
    assert not root_of_trust(rotation_phase="promote", **rotation)["changed"]
    # The plain module goes on with the new root files as if nothing happened.
    assert not root_of_trust(namespace=namespace, **FAST)["changed"]
    assert root_of_trust_info(namespace=namespace, root_cert_path=os.path.join(pki_dir, "root-cert.pem"))[
        "rotation"]["finished_to_expected"]


# --- state absent --------------------------------------------------------------------------------

def test_state_absent(control_plane, audit, root_of_trust, pki_dir):
    namespace = new_namespace()
    root_of_trust(namespace=namespace, **FAST)
    mark = audit.mark()
    planned = root_of_trust(namespace=namespace, state="absent", check_mode=True)
    assert planned["changed"] and planned["action"] == "deleted"
    assert planned["diff"]["before"]["ca-key.pem"] == "(private key, matches ca-cert.pem)"
    assert audit.writes(mark) == []
    assert read_secret(control_plane, "cluster1", namespace) is not None

    deleted = root_of_trust(namespace=namespace, state="absent")
    assert deleted["changed"] and deleted["action"] == "deleted" and not deleted["restart_required"]
    assert read_secret(control_plane, "cluster1", namespace) is None
    assert os.path.exists(os.path.join(pki_dir, "root-key.pem"))  # the root is never deleted

    mark = audit.mark()
    for check_mode in (True, False):
        gone = root_of_trust(namespace=namespace, state="absent", check_mode=check_mode)
        assert not gone["changed"] and gone["action"] == "absent"
    assert audit.writes(mark) == []


# --- concurrency ---------------------------------------------------------------------------------

def _concurrent_run(kubeconfig, pki_dir, namespace, queue):
    result = run_module("root_of_trust", dict(
        kubeconfig=kubeconfig, context="cluster1", cluster="cluster1", namespace=namespace,
        root_cert_path=os.path.join(pki_dir, "root-cert.pem"), root_key_path=os.path.join(pki_dir, "root-key.pem"),
        intermediate_key_type="ecdsa-p256"))
    queue.put(result)


def test_concurrent_processes_create_one_root(kubeconfig, pki_dir):
    """Five processes at once (as Ansible forks would), RSA 4096 root: exactly one root is generated."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_concurrent_run, args=(kubeconfig, pki_dir, new_namespace(), queue))
                 for number in range(5)]
    start = time.monotonic()
    for process in processes:
        process.start()
    results = [queue.get(timeout=300) for process in processes]
    for process in processes:
        process.join(60)
    elapsed = time.monotonic() - start
    assert all(not r.get("failed") for r in results), [r.get("msg") for r in results]
    assert sum(r["root_created"] for r in results) == 1
    assert {r["root_fingerprint"] for r in results} == {certificates.fingerprint(load_root(pki_dir))}
    assert mode_of(os.path.join(pki_dir, "root-key.pem")) == 0o600
    assert sorted(os.listdir(pki_dir)) == ["root-cert.pem", "root-key.pem", "root-key.pem.lock"]
    print("\nMEASURE 5 concurrent root_of_trust processes (rsa4096 root): %.2fs" % elapsed)


PLAYBOOK = """
- name: Plug-in CA for every cluster
  hosts: clusters
  gather_facts: false
  module_defaults:
    group/gloomesh.multicluster.gloomesh:
      kubeconfig: "{{ kubeconfig }}"
      context: "{{ context }}"
  tasks:
    - name: Shared root, one intermediate per cluster
      gloomesh.multicluster.root_of_trust:
        namespace: "{{ ns }}"
        cluster: "{{ inventory_hostname }}"
        root_cert_path: "{{ pki_dir }}/root-cert.pem"
        root_key_path: "{{ pki_dir }}/root-key.pem"
        intermediate_key_type: ecdsa-p256
      register: ca

    - name: Verify
      gloomesh.multicluster.root_of_trust_info:
        namespace: "{{ ns }}"
        root_cert_path: "{{ pki_dir }}/root-cert.pem"
      register: info

    - name: Sound and shared
      ansible.builtin.assert:
        that:
          - info.valid
          - info.root_matches
          - info.intermediate_fingerprint == ca.intermediate_fingerprint

    - name: A supplied intermediate (no_log option) on one cluster
      gloomesh.multicluster.root_of_trust:
        namespace: "{{ ns }}-supplied"
        root_cert_path: "{{ pki_dir }}/root-cert.pem"
        intermediate_cert: "{{ lookup('file', supplied_dir + '/cert.pem') }}"
        intermediate_key: "{{ lookup('file', supplied_dir + '/key.pem') }}"
      when: inventory_hostname == 'cluster1'
"""


def test_playbook_forks_vvv_diff_show_no_key_material(control_plane, audit, kubeconfig, tmp_path):
    """Three hosts in parallel forks with -vvv --diff: one root, no PEM private key in the output."""
    pki_dir = str(tmp_path / "pki")
    supplied_dir = str(tmp_path / "supplied")
    playbook = _write(str(tmp_path / "ca.yml"), PLAYBOOK)
    namespace = new_namespace()
    inventory = {"all": {"children": {"clusters": {"hosts": {
        name: {"context": name, "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        for name in CLUSTERS}}}}}
    extra = {"kubeconfig": kubeconfig, "pki_dir": pki_dir, "ns": namespace, "supplied_dir": supplied_dir}

    # The supplied intermediate needs the root: issue it from a root made here, written to pki_dir.
    root_key = certificates.generate_key("rsa4096")
    root_cert = certificates.build_root(root_key)
    _write(os.path.join(pki_dir, "root-cert.pem"), certificates.cert_pem(root_cert))
    _write(os.path.join(pki_dir, "root-key.pem"), certificates.key_pem(root_key))
    os.chmod(os.path.join(pki_dir, "root-key.pem"), 0o600)
    key = certificates.generate_key("ecdsa-p256")
    _write(os.path.join(supplied_dir, "cert.pem"),
           certificates.cert_pem(certificates.build_intermediate(root_cert, root_key, key, "cluster1", 365)))
    _write(os.path.join(supplied_dir, "key.pem"), certificates.key_pem(key))

    env = {"ANSIBLE_FORKS": "3"}
    run = run_playbook(playbook, inventory, extra, diff=True, verbosity=3, env=env)
    assert run["rc"] == 0, run["stdout"][-3000:] + run["stderr"][-3000:]
    assert {h: r["changed"] for h, r in run["recap"].items()} == {"cluster1": 2, "cluster2": 1, "mgmt": 1}
    output = run["stdout"] + run["stderr"]
    assert "PRIVATE KEY" not in output
    assert "intermediate_fingerprint" in output and "Intermediate CA" in output  # -vvv did print results

    mark = audit.mark()
    again = run_playbook(playbook, inventory, extra, diff=True, verbosity=3, env=env)
    assert again["rc"] == 0
    assert all(r["changed"] == 0 for r in again["recap"].values()), again["recap"]
    assert "PRIVATE KEY" not in again["stdout"] + again["stderr"]
    assert audit.writes(mark) == []


def test_playbook_forks_generate_one_root(control_plane, kubeconfig, tmp_path):
    """Real ansible-playbook forks racing on a missing RSA 4096 root: one root for all hosts."""
    pki_dir = str(tmp_path / "pki")
    playbook = _write(str(tmp_path / "ca.yml"), PLAYBOOK.split("    - name: Verify", maxsplit=1)[0])
    inventory = {"all": {"children": {"clusters": {"hosts": {
        name: {"context": name, "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        for name in CLUSTERS}}}}}
    extra = {"kubeconfig": kubeconfig, "pki_dir": pki_dir, "ns": new_namespace()}
    run = run_playbook(playbook, inventory, extra, env={"ANSIBLE_FORKS": "3"})
    assert run["rc"] == 0, run["stdout"][-3000:]
    root_cert = load_root(pki_dir)
    for context in CLUSTERS:
        data = read_secret(control_plane, context, extra["ns"])
        verify_bundle(data, root_cert)


def test_an_existing_root_is_used_without_its_lock(root_of_trust, pki_dir):
    """Issue 22 item 5: a suspended run holding the root lock does not hold up a run that only reads
    the root, and a read-only PKI directory works (no lock file is created)."""
    assert root_of_trust(namespace=new_namespace(), **FAST)["root_created"] is True
    lock = os.path.join(pki_dir, "root-key.pem.lock")
    with lock_held_elsewhere(lock, suspended=True):
        started = time.monotonic()
        result = root_of_trust(context="cluster2", namespace=new_namespace(), **FAST)
        assert not result.get("failed") and result["root_created"] is False, result
        assert time.monotonic() - started < 30
    os.unlink(lock)
    os.chmod(pki_dir, 0o500)
    try:
        result = root_of_trust(context="mgmt", namespace=new_namespace(), **FAST)
    finally:
        os.chmod(pki_dir, 0o700)
    assert not result.get("failed") and result["root_created"] is False, result
    assert sorted(os.listdir(pki_dir)) == ["root-cert.pem", "root-key.pem"]
