"""Unit tests for the plug-in CA builders and verifiers (no cluster)."""
from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
ISTIO_KEY_USAGE = dict(digital_signature=True, content_commitment=True, key_encipherment=True,
                       key_cert_sign=True, crl_sign=False, data_encipherment=False, key_agreement=False)


@pytest.fixture(scope="module")
def root():
    key = certificates.generate_key("ecdsa-p256")
    return certificates.build_root(key, validity_days=3650, now=NOW), key


def _intermediate(root, cluster="cluster1", days=3650, now=NOW, key_type="ecdsa-p256"):
    root_cert, root_key = root
    key = certificates.generate_key(key_type)
    return certificates.build_intermediate(root_cert, root_key, key, cluster, days, now=now), key


def _key_usage(cert):
    ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ext.critical
    return {name: getattr(ext.value, name) for name in ISTIO_KEY_USAGE}


@pytest.mark.parametrize("key_type,cls,size", [
    ("rsa2048", rsa.RSAPrivateKey, 2048), ("rsa3072", rsa.RSAPrivateKey, 3072),
    ("rsa4096", rsa.RSAPrivateKey, 4096), ("ecdsa-p256", ec.EllipticCurvePrivateKey, 256),
    ("ecdsa-p384", ec.EllipticCurvePrivateKey, 384)])
def test_generate_key_types(key_type, cls, size):
    key = certificates.generate_key(key_type)
    assert isinstance(key, cls)
    assert key.key_size == size


def test_generate_key_rejects_unknown_type():
    with pytest.raises(ValueError, match="allowed: rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384"):
        certificates.generate_key("dsa1024")


def test_root_has_istio_reference_shape(root):
    cert, key = root
    assert cert.subject.rfc4514_string() == "CN=Root CA,O=Istio"
    assert cert.issuer == cert.subject
    assert certificates.not_after(cert) - NOW == datetime.timedelta(days=3650)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length is None
    assert _key_usage(cert) == ISTIO_KEY_USAGE
    assert cert.signature_hash_algorithm.name == "sha256"
    assert certificates.issued_by(cert, cert)
    assert certificates.key_matches(cert, key)


def test_root_subject_is_configurable():
    key = certificates.generate_key("ecdsa-p256")
    cert = certificates.build_root(key, organization="Example", common_name="Mesh Root", validity_days=10, now=NOW)
    assert cert.subject.rfc4514_string() == "CN=Mesh Root,O=Example"
    assert certificates.not_after(cert) == NOW + datetime.timedelta(days=10)


def test_intermediate_has_istio_reference_shape(root):
    cert, key = _intermediate(root, "cluster1", days=365)
    root_cert = root[0]
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Istio"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Intermediate CA"
    assert cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "cluster1"
    assert cert.issuer == root_cert.subject
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    assert _key_usage(cert) == ISTIO_KEY_USAGE
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc"]
    assert cert.signature_hash_algorithm.name == "sha256"
    assert certificates.not_after(cert) == NOW + datetime.timedelta(days=365)
    assert certificates.issued_by(cert, root_cert)
    assert certificates.key_matches(cert, key) and not certificates.key_matches(cert, root[1])
    assert certificates.chain_problems([cert], root_cert, now=NOW) == []


def test_intermediate_never_outlives_its_root():
    root_key = certificates.generate_key("ecdsa-p256")
    root_cert = certificates.build_root(root_key, validity_days=100, now=NOW)
    cert = certificates.build_intermediate(root_cert, root_key, certificates.generate_key("ecdsa-p256"), "c", 3650, now=NOW)
    assert certificates.not_after(cert) == certificates.not_after(root_cert)


def test_rsa_root_signs_ecdsa_intermediate():
    root_key = certificates.generate_key("rsa2048")
    root_cert = certificates.build_root(root_key, now=NOW)
    cert = _intermediate((root_cert, root_key))[0]
    assert certificates.chain_problems([cert], root_cert, now=NOW) == []


def test_chain_problems_detects_foreign_root_non_ca_and_expiry(root):
    cert = _intermediate(root, days=30)[0]
    other_key = certificates.generate_key("ecdsa-p256")
    other_root = certificates.build_root(other_key, now=NOW)
    assert any("is not signed by" in p for p in certificates.chain_problems([cert], other_root, now=NOW))
    later = NOW + datetime.timedelta(days=31)
    assert any("expired on 2026-01-31T00:00:00Z" in p for p in certificates.chain_problems([cert], root[0], now=later))
    leaf = (x509.CertificateBuilder().subject_name(certificates._name("Istio", "leaf")).issuer_name(root[0].subject)
            .public_key(other_key.public_key()).serial_number(1).not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(days=1)).sign(root[1], certificates.hashes.SHA256()))
    assert any("is not a CA certificate" in p for p in certificates.chain_problems([leaf], root[0], now=NOW))


def test_multi_level_chain_verifies(root):
    """A Vault-like flow: root -> issuing CA (pathlen 1) -> cluster CA, chain given without the root."""
    root_cert, root_key = root
    mid_key = certificates.generate_key("ecdsa-p256")
    mid = (x509.CertificateBuilder().subject_name(certificates._name("Vault", "Vault CA")).issuer_name(root_cert.subject)
           .public_key(mid_key.public_key()).serial_number(2).not_valid_before(NOW)
           .not_valid_after(NOW + datetime.timedelta(days=50))
           .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
           .sign(root_key, certificates.hashes.SHA256()))
    cluster_cert = certificates.build_intermediate(mid, mid_key, certificates.generate_key("ecdsa-p256"), "c1", 10, now=NOW)
    assert certificates.chain_problems([cluster_cert, mid], root_cert, now=NOW) == []
    assert certificates.chain_problems([cluster_cert, mid, root_cert], root_cert, now=NOW) == []
    assert certificates.chain_problems([cluster_cert], root_cert, now=NOW) != []
    cluster_key = certificates.generate_key("ecdsa-p256")
    cluster_cert = certificates.build_intermediate(mid, mid_key, cluster_key, "c1", 10, now=NOW)
    data = certificates.bundle_data([cluster_cert, mid], cluster_key, root_cert)
    assert certificates.load_certs(data["cert-chain.pem"], "x") == [cluster_cert, mid, root_cert]
    assert certificates.load_certs(data["ca-cert.pem"], "x") == [cluster_cert]
    report = certificates.inspect_bundle(data, now=NOW)  # the issuing CA is found in cert-chain.pem
    assert report["problems"] == [] and report["chain_verifies"] and report["key_matches"]


def test_fingerprints():
    key = certificates.generate_key("ecdsa-p256")
    cert = certificates.build_root(key, now=NOW)
    fp = certificates.fingerprint(cert)
    assert len(fp) == 95 and fp.count(":") == 31 and fp == fp.upper()
    bare = fp.replace(":", "").lower()
    assert certificates.normalize_fingerprint(bare) == fp
    assert certificates.normalize_fingerprint("sha256:" + bare) == fp
    assert certificates.normalize_fingerprint("SHA256:" + fp) == fp
    with pytest.raises(ValueError, match="64 hex digits"):
        certificates.normalize_fingerprint("AB:CD")


def test_bundle_round_trip_and_inspection(root):
    cert, key = _intermediate(root)
    data = certificates.bundle_data([cert], key, root[0])
    assert sorted(data) == sorted(certificates.BUNDLE_KEYS)
    assert certificates.load_certs(data["cert-chain.pem"], "chain") == [cert, root[0]]
    assert certificates.load_certs(data["ca-cert.pem"], "ca") == [cert]
    assert "BEGIN PRIVATE KEY" in data["ca-key.pem"]
    report = certificates.inspect_bundle(data, now=NOW)
    assert report["problems"] == []
    assert report["chain_verifies"] and report["key_matches"]
    assert report["root_certs"] == [root[0]] and report["ca_chain"] == [cert]


def test_inspect_bundle_reports_problems_without_key_material(root):
    cert, key = _intermediate(root)
    other_cert, other_key = _intermediate(root, "cluster2")
    data = certificates.bundle_data([cert], key, root[0])

    wrong_key = dict(data, **{"ca-key.pem": certificates.key_pem(other_key)})
    report = certificates.inspect_bundle(wrong_key, now=NOW)
    assert not report["key_matches"] and "ca-key.pem does not match ca-cert.pem" in report["problems"]

    wrong_chain = dict(data, **{"cert-chain.pem": certificates.cert_pem(other_cert) + certificates.cert_pem(root[0])})
    report = certificates.inspect_bundle(wrong_chain, now=NOW)
    assert not report["chain_verifies"]
    assert "cert-chain.pem does not start with ca-cert.pem" in report["problems"]

    garbage_key = fake_pem("PRIVATE KEY", "garbage")
    partial = {"ca-cert.pem": data["ca-cert.pem"], "ca-key.pem": garbage_key}
    report = certificates.inspect_bundle(partial, now=NOW)
    assert "root-cert.pem is missing" in report["problems"]
    assert "cert-chain.pem is missing" in report["problems"]
    assert "ca-key.pem holds no readable PEM private key (or the passphrase is wrong)" in report["problems"]
    assert not any("garbage" in p or "PRIVATE KEY" in p for p in report["problems"])


def fake_pem(label, body):
    """PEM armour around a non-key body (no key material is ever committed, not even fake)."""
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, body, label)


def test_load_errors_never_echo_content():
    secret = fake_pem("PRIVATE KEY", "TOPSECRET")
    with pytest.raises(ValueError) as info:
        certificates.load_key(secret, "intermediate_key")
    assert "TOPSECRET" not in str(info.value) and "intermediate_key" in str(info.value)
    with pytest.raises(ValueError, match="intermediate_cert holds no readable PEM certificate"):
        certificates.load_certs("TOPSECRET", "intermediate_cert")


def test_encrypted_key_round_trip():
    key = certificates.generate_key("ecdsa-p256")
    pem = certificates.key_pem(key, passphrase="s3cret")
    assert "ENCRYPTED PRIVATE KEY" in pem
    assert certificates.load_key(pem, "k", passphrase="s3cret").private_numbers() == key.private_numbers()
    with pytest.raises(ValueError, match="encrypted and no passphrase"):
        certificates.load_key(pem, "k")
    with pytest.raises(ValueError, match="passphrase is wrong"):
        certificates.load_key(pem, "k", passphrase="nope")


def test_summary_has_no_key_material(root):
    cert = _intermediate(root, "cluster9", days=10)[0]
    summary = certificates.summary(cert)
    assert summary == {
        "subject": "L=cluster9,CN=Intermediate CA,O=Istio",
        "issuer": "CN=Root CA,O=Istio",
        "fingerprint_sha256": certificates.fingerprint(cert),
        "serial_number": "%X" % cert.serial_number,
        "not_before": "2025-12-31T23:55:00Z",
        "not_after": "2026-01-11T00:00:00Z",
    }


# --- several roots, expiry, rotation ---------------------------------------------------------------

@pytest.fixture(scope="module")
def other_root():
    key = certificates.generate_key("ecdsa-p256")
    return certificates.build_root(key, common_name="Next Root CA", now=NOW), key


def _bundle(issuing_root, roots_text):
    cert, key = _intermediate(issuing_root)
    data = certificates.bundle_data([cert], key, issuing_root[0])
    data["root-cert.pem"] = roots_text
    return data


def test_inspect_bundle_accepts_several_roots(root, other_root):
    both = certificates.cert_pem(root[0]) + certificates.cert_pem(other_root[0])
    for issuing in (root, other_root):
        report = certificates.inspect_bundle(_bundle(issuing, both), now=NOW)
        assert report["problems"] == [] and report["chain_verifies"]
        assert report["root_certs"] == [root[0], other_root[0]]
        assert report["issuing_root"] == issuing[0]
    stray = certificates.inspect_bundle(_bundle(other_root, certificates.cert_pem(root[0])), now=NOW)
    assert stray["issuing_root"] is None and not stray["chain_verifies"]
    assert any("is not signed by any root of root-cert.pem (%s)" % certificates.fingerprint(root[0]) in p
               for p in stray["problems"])


def test_bundle_texts_keep_bytes_for_istiods_containment_rule(root, other_root):
    """istiod reloads a new root-cert.pem only when one contains the other byte for byte."""
    old_text = certificates.cert_pem(root[0]).replace("\n", "\r\n").rstrip("\r\n")  # odd, but someone's
    both = certificates.bundle_text_with(old_text, other_root[0])
    assert both.startswith(old_text) and certificates.cert_pem(other_root[0]) in both
    assert [certificates.fingerprint(c) for c in certificates.load_certs(both, "b")] == [
        certificates.fingerprint(root[0]), certificates.fingerprint(other_root[0])]
    only_new = certificates.bundle_text_without(both, certificates.fingerprint(other_root[0]))
    assert only_new == certificates.cert_pem(other_root[0]) and only_new in both
    assert certificates.bundle_text_without(both, "00") is None
    assert len(certificates.pem_blocks(both)) == 2


def test_expiry_and_days_left(root):
    cert = _intermediate(root, days=10)[0]
    assert certificates.days_left(cert, NOW) == 10
    assert certificates.days_left(cert, NOW + datetime.timedelta(days=11)) == -1
    entry = certificates.expiry(cert, "intermediate", NOW)
    assert entry["role"] == "intermediate" and entry["days_left"] == 10
    assert entry["fingerprint_sha256"] == certificates.fingerprint(cert)


def test_decode_secret():
    import base64
    secret = {"data": {"root-cert.pem": base64.b64encode(b"text").decode(), "bad": "%%%"}}
    assert certificates.decode_secret(secret) == {"root-cert.pem": "text", "bad": ""}
    assert certificates.decode_secret(None) == {}
