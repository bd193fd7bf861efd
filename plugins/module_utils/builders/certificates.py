# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Istio plug-in CA certificates with ``cryptography``: build, serialize, verify, summarize.

Pure functions, no I/O. Defaults follow Istio's reference tooling (tools/certs): root
O=Istio CN=Root CA, intermediate O=Istio CN=Intermediate CA L=<cluster>, SHA-256.
Nothing here ever puts key material into a message or a summary.

``root-cert.pem`` may hold several roots (a bundle): istiod trusts every one of them and verifies
``ca-cert.pem`` against the whole set (security/pkg/pki/util/keycertbundle.go Verify), which is
what a root rotation relies on. The rotation's phases and its in-cluster record are in
rotation_records.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import re
import traceback

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError:
    # Modules check CRYPTOGRAPHY_IMPORT_ERROR first and fail with missing_required_lib().
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "ecdsa-p256", "ecdsa-p384")
ROOT_ORGANIZATION = "Istio"
ROOT_COMMON_NAME = "Root CA"
INTERMEDIATE_COMMON_NAME = "Intermediate CA"
ISTIOD_DNS_NAME = "istiod.istio-system.svc"
BUNDLE_KEYS = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")

# Certificates start a little in the past so clusters whose clocks lag the controller accept them.
BACKDATE = datetime.timedelta(minutes=5)


def _ca_key_usage():
    """Istio's CA keyUsage: digitalSignature, nonRepudiation, keyEncipherment, keyCertSign."""
    return x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def generate_key(key_type):
    """A new private key of one of KEY_TYPES."""
    if key_type in ("rsa2048", "rsa3072", "rsa4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    curves = {"ecdsa-p256": ec.SECP256R1, "ecdsa-p384": ec.SECP384R1}
    if key_type not in curves:
        raise ValueError("unsupported key type %r; allowed: %s" % (key_type, ", ".join(KEY_TYPES)))
    return ec.generate_private_key(curves[key_type]())


def _name(organization, common_name, locality=None):
    # Same attribute order as Istio's openssl configs: O, CN, L.
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                  x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if locality:
        attributes.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    return x509.Name(attributes)


def build_root(key, organization=ROOT_ORGANIZATION, common_name=ROOT_COMMON_NAME,
               validity_days=3650, now=None):
    """Self-signed root: CA:true (critical), Istio's keyUsage (critical), SHA-256."""
    now = now or utcnow()
    name = _name(organization, common_name)
    return (x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def intermediate_not_after(root_cert, validity_days, now=None):
    """When an intermediate issued now would expire: never after its root."""
    return min((now or utcnow()) + datetime.timedelta(days=validity_days), not_after(root_cert))


def build_intermediate(root_cert, root_key, key, cluster, validity_days=3650, now=None):
    """Cluster intermediate signed by the root: CA:true pathlen:0, SAN DNS:istiod.istio-system.svc."""
    now = now or utcnow()
    organization = _attribute(root_cert.subject, NameOID.ORGANIZATION_NAME) or ROOT_ORGANIZATION
    return (x509.CertificateBuilder()
            .subject_name(_name(organization, INTERMEDIATE_COMMON_NAME, cluster))
            .issuer_name(root_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(intermediate_not_after(root_cert, validity_days, now))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(ISTIOD_DNS_NAME)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256()))


def _attribute(name, oid):
    values = name.get_attributes_for_oid(oid)
    return values[0].value if values else None


# --- serialization -------------------------------------------------------------------------

def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key, passphrase=None):
    """PKCS#8 PEM, encrypted when a passphrase is given (what Istio and openssl 3 read)."""
    encryption = (serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption).decode("ascii")


def _as_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def load_certs(pem, what):
    """All certificates of a PEM text, in order. ValueError names ``what``, never the content."""
    try:
        certs = x509.load_pem_x509_certificates(_as_bytes(pem))
    except ValueError:
        certs = []
    if not certs:
        raise ValueError("%s holds no readable PEM certificate" % what)
    return certs


def load_key(pem, what, passphrase=None):
    """A PEM private key. ValueError names ``what``, never the content."""
    try:
        return serialization.load_pem_private_key(
            _as_bytes(pem), passphrase.encode("utf-8") if passphrase else None)
    except TypeError:
        raise ValueError("%s: the key is encrypted and no passphrase was given, or a passphrase "
                         "was given for an unencrypted key" % what)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("%s holds no readable PEM private key (or the passphrase is wrong)" % what)


def bundle_data(ca_chain, ca_key, root_cert):
    """The four cacerts entries as text: ca_chain[0] is this cluster's CA, then any certs up to the root."""
    return {
        "ca-cert.pem": cert_pem(ca_chain[0]),
        "ca-key.pem": key_pem(ca_key),
        "root-cert.pem": cert_pem(root_cert),
        "cert-chain.pem": "".join(cert_pem(c) for c in list(ca_chain) + [root_cert]),
    }


# --- verification --------------------------------------------------------------------------

def fingerprint(cert):
    """SHA-256 fingerprint as openssl prints it: upper-case hex pairs joined by colons."""
    return ":".join("%02X" % b for b in bytearray(cert.fingerprint(hashes.SHA256())))


def normalize_fingerprint(text):
    """Accept 'sha256:ab12..', 'AB:12:..' or 'ab12..'; return the fingerprint() form."""
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", re.sub(r"^\s*sha256:", "", text, flags=re.I))
    if len(hexdigits) != 64:
        raise ValueError("not a SHA-256 fingerprint (64 hex digits): %r" % text)
    return ":".join(hexdigits[i:i + 2].upper() for i in range(0, 64, 2))


def not_after(cert):
    value = getattr(cert, "not_valid_after_utc", None)  # cryptography >= 42
    return value if value is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def not_before(cert):
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def _public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert, key):
    return _public_der(cert.public_key()) == _public_der(key.public_key())


def same_key(key_a, key_b):
    """Two private keys are the same key pair when their public halves are equal."""
    return _public_der(key_a.public_key()) == _public_der(key_b.public_key())


def issued_by(cert, issuer):
    """True when ``issuer`` names and signed ``cert``."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def chain_problems(ca_chain, root_cert, now=None):
    """Why ca_chain (this cluster's CA first, then intermediates) does not lead to root_cert; [] if it does."""
    now = now or utcnow()
    problems = []
    if not issued_by(root_cert, root_cert):
        problems.append("the root certificate is not self-signed")
    chain = list(ca_chain)
    if len(chain) > 1 and fingerprint(chain[-1]) == fingerprint(root_cert):
        chain = chain[:-1]
    for position, cert in enumerate(chain):
        issuer = chain[position + 1] if position + 1 < len(chain) else root_cert
        label = "certificate %d of the chain (%s)" % (position + 1, cert.subject.rfc4514_string())
        if not issued_by(cert, issuer):
            problems.append("%s is not signed by %s" % (label, issuer.subject.rfc4514_string()))
        if not is_ca(cert):
            problems.append("%s is not a CA certificate (basicConstraints CA:true missing)" % label)
    for cert in chain + [root_cert]:
        if not_after(cert) <= now:
            problems.append("%s expired on %s" % (cert.subject.rfc4514_string(), iso(not_after(cert))))
        elif not_before(cert) > now:
            problems.append("%s is not valid before %s" % (cert.subject.rfc4514_string(),
                                                           iso(not_before(cert))))
    return problems


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(cert):
    """What --diff and results show about a certificate: never key material."""
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "fingerprint_sha256": fingerprint(cert),
        "serial_number": "%X" % cert.serial_number,
        "not_before": iso(not_before(cert)),
        "not_after": iso(not_after(cert)),
    }


def issuing_root(ca_chain, roots):
    """The root of ``roots`` that signed the last certificate of ``ca_chain`` (None: none did)."""
    if not ca_chain:
        return None
    last = ca_chain[-1]
    for root in roots:
        if fingerprint(last) == fingerprint(root) or issued_by(last, root):
            return root
    return None


def inspect_bundle(data, now=None):
    """Parse and check a cacerts bundle ({entry: PEM text}) without raising.

    Returns a dict with the parsed objects under ``root_certs`` (every root of root-cert.pem),
    ``ca_chain``, ``ca_key`` (None when unreadable), ``issuing_root`` (the root the chain leads
    to) and the verdicts ``chain_verifies``, ``key_matches``, ``problems``.
    """
    now = now or utcnow()
    report = {"root_certs": [], "ca_chain": [], "ca_key": None, "problems": [], "issuing_root": None,
              "chain_verifies": False, "key_matches": False}
    problems = report["problems"]
    for entry in BUNDLE_KEYS:
        if not data.get(entry):
            problems.append("%s is missing" % entry)
    try:
        if data.get("root-cert.pem"):
            report["root_certs"] = load_certs(data["root-cert.pem"], "root-cert.pem")
        if data.get("ca-cert.pem"):
            report["ca_chain"] = load_certs(data["ca-cert.pem"], "ca-cert.pem")
        if data.get("ca-key.pem"):
            report["ca_key"] = load_key(data["ca-key.pem"], "ca-key.pem")
        chain = load_certs(data["cert-chain.pem"], "cert-chain.pem") if data.get("cert-chain.pem") else []
    except ValueError as exc:
        problems.append(str(exc))
        return report
    roots, ca_chain, ca_key = report["root_certs"], report["ca_chain"], report["ca_key"]
    if ca_chain and ca_key is not None:
        report["key_matches"] = key_matches(ca_chain[0], ca_key)
        if not report["key_matches"]:
            problems.append("ca-key.pem does not match ca-cert.pem")
    if ca_chain and roots:
        # cert-chain.pem carries any CA between ca-cert.pem and the root (a Vault issuing CA).
        path = chain or ca_chain
        if len(path) > 1 and any(fingerprint(path[-1]) == fingerprint(r) for r in roots):
            path = path[:-1]
        root = issuing_root(path, roots)
        report["issuing_root"] = root
        chain_issues = [] if not chain or fingerprint(chain[0]) == fingerprint(ca_chain[0]) else [
            "cert-chain.pem does not start with ca-cert.pem"]
        if root is None:
            chain_issues.append("%s is not signed by any root of root-cert.pem (%s)" % (
                path[-1].subject.rfc4514_string(), ", ".join(fingerprint(r) for r in roots)))
        else:
            chain_issues.extend(chain_problems(path, root, now))
        report["chain_verifies"] = not chain_issues
        problems.extend(chain_issues)
    return report


def decode_secret(secret):
    """A Secret's data as {entry: text} (base64 decoded); {} for a missing Secret."""
    data = {}
    for entry, value in ((secret or {}).get("data") or {}).items():
        try:
            data[entry] = base64.b64decode(value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            data[entry] = ""
    return data


# --- root bundles and expiry ---------------------------------------------------------------

_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----\r?\n?", re.S)


def pem_blocks(text):
    """The certificate PEM blocks of ``text``, each exactly as written there."""
    return _PEM_BLOCK.findall(text or "")


def bundle_text_with(existing_text, root_cert):
    """``existing_text`` unchanged with ``root_cert`` appended: istiod takes a new root bundle only
    when one bundle contains the other byte for byte (pilot/pkg/bootstrap/istio_ca.go handleEvent)."""
    text = existing_text if existing_text.endswith("\n") else existing_text + "\n"
    return text + cert_pem(root_cert)


def bundle_text_without(existing_text, keep_fingerprint):
    """The PEM block of ``existing_text`` whose certificate has ``keep_fingerprint``, byte for byte
    (so that the bundle istiod runs with still contains it); None when it is not there."""
    for block in pem_blocks(existing_text):
        if fingerprint(load_certs(block, "root-cert.pem")[0]) == keep_fingerprint:
            return block if block.endswith("\n") else block + "\n"
    return None


def days_left(cert, now=None):
    """Whole days until ``cert`` expires (negative once expired)."""
    return (not_after(cert) - (now or utcnow())).days


def expiry(cert, role, now=None):
    """The expiry report of one certificate: its summary, ``role`` and ``days_left``."""
    entry = summary(cert)
    entry.update(role=role, days_left=days_left(cert, now))
    return entry
