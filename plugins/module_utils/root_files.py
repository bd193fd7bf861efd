# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""The root of trust's files on the controller: the one home for reading a root (its certificate
and its key) and for generating one, used by root_of_trust (install and rotation),
root_of_trust_info, mesh_verify and preflight alike.

One policy: a root certificate file holds exactly one self-signed CA certificate; a key file
holds a readable PEM private key (with its passphrase) that is the key of that certificate. Errors
name the option and the path, never the content. Key text read here is handed to ``mask`` (an
operation's ``invocation.mask``) so Ansible masks it should it show up anywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.files import exclusive_lock, write_atomic

# Check mode issues throw-away certificates for the server-side dry run only: fast keys suffice.
DRY_RUN_KEY_TYPE = "ecdsa-p256"


def require_cryptography():
    if certificates.CRYPTOGRAPHY_IMPORT_ERROR:
        raise GloomeshError(missing_required_lib("cryptography"), exception=certificates.CRYPTOGRAPHY_IMPORT_ERROR)


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def read_cert(path, option="root_cert_path"):
    """The root certificate of ``path``: exactly one self-signed CA certificate."""
    try:
        certs = certificates.load_certs(_read(path), "%s %s" % (option, path))
    except (OSError, ValueError) as exc:
        raise GloomeshError(str(exc), **{option: path})
    if len(certs) != 1:
        raise GloomeshError("%s %s holds %d certificates, expected exactly the root"
                            % (option, path, len(certs)), **{option: path})
    if not (certificates.is_ca(certs[0]) and certificates.issued_by(certs[0], certs[0])):
        raise GloomeshError("%s %s is not a self-signed CA certificate" % (option, path), **{option: path})
    return certs[0]


def fingerprint_of(path, option="root_cert_path"):
    """The SHA-256 fingerprint of the root certificate of ``path`` (read_cert's rules)."""
    return certificates.fingerprint(read_cert(path, option))


def read_key(path, cert, passphrase=None, option="root_key_path", cert_option="root_cert_path", cert_path=None,
             mask=None):
    """The key of ``path``, checked against its root ``cert``. Loaded only to issue or check: an RSA
    4096 key takes a noticeable fraction of a second."""
    try:
        key_bytes = _read(path)
        if mask is not None:
            mask(key_bytes.decode("utf-8", "replace"))
        key = certificates.load_key(key_bytes, "%s %s" % (option, path), passphrase)
    except (OSError, ValueError) as exc:
        raise GloomeshError(str(exc), **{option: path})
    if not certificates.key_matches(cert, key):
        raise GloomeshError("%s %s is not the key of %s %s" % (option, path, cert_option, cert_path), **{option: path})
    return key


def read_root_key(invocation, params, cert, prefix=""):
    """read_key for an operation: the root key its options ``params`` name (``prefix`` "new_" for the
    new root of a rotation), its text masked, a warning when group or others may read it."""
    key_option, cert_option = prefix + "root_key_path", prefix + "root_cert_path"
    path = params[key_option]
    key = read_key(path, cert, params[prefix + "root_key_passphrase"], key_option, cert_option, params[cert_option],
                   mask=invocation.mask)
    if stat.S_IMODE(os.stat(path).st_mode) & 0o077:
        invocation.warn("%s %s is accessible to group or others; chmod 0600 it" % (key_option, path))
    return key


def state(cert_path, key_path):
    """'present', 'absent', or an error for a half-written root (never completed by generating)."""
    cert_exists = os.path.exists(cert_path)
    key_exists = key_path is not None and os.path.exists(key_path)
    if cert_exists and (key_exists or key_path is None):
        return "present"
    if cert_exists or key_exists:
        raise GloomeshError(
            "only one of %s and %s exists; refusing to generate a new root over half of an existing "
            "one: restore the missing file (or remove both to start a new root of trust, which every "
            "cluster must then receive)" % (cert_path, key_path), root_cert_path=cert_path, root_key_path=key_path)
    return "absent"


def _generate(invocation, params, cert_path, key_path, passphrase):
    key = certificates.generate_key(params["root_key_type"])
    subject = params["root_subject"]
    cert = certificates.build_root(key, subject["organization"], subject["common_name"], params["root_validity_days"])
    key_text = certificates.key_pem(key, passphrase)
    invocation.mask(key_text)
    # Key first: a crash in between leaves a key without a certificate, which state() reports
    # instead of silently starting another root.
    write_atomic(key_path, key_text.encode("ascii"), 0o600)
    write_atomic(cert_path, certificates.cert_pem(cert).encode("ascii"), 0o644)
    return cert, key


def load_or_create(invocation, params, cert_path, key_path, passphrase):
    """(cert, key, created). Generated under an exclusive lock so concurrent hosts make one root.

    ``key`` is only returned when generated now (see read_key). An existing root is only read: no
    lock file, no wait for another run's lock (a read-only directory works). In check mode nothing
    is locked or written; (None, None, True) means "would be generated".
    """
    try:
        present = state(cert_path, key_path) == "present"
    except GloomeshError:
        if invocation.check_mode:
            raise
        present = False  # half a root may be another host between its two writes: decided under the lock
    if present:
        return read_cert(cert_path), None, False
    if invocation.check_mode:
        return None, None, True
    # exist_ok: the hosts of a run get here at the same time; one of them creates it.
    os.makedirs(os.path.dirname(os.path.abspath(key_path)), 0o700, exist_ok=True)
    try:
        with exclusive_lock(key_path + ".lock"):
            if state(cert_path, key_path) == "present":
                return read_cert(cert_path), None, False
            cert, key = _generate(invocation, params, cert_path, key_path, passphrase)
            return cert, key, True
    except (OSError, TimeoutError) as exc:
        raise GloomeshError("cannot create the root CA files: %s" % exc, root_cert_path=cert_path, root_key_path=key_path)


def dry_run_root(params, now):
    """A throw-away root standing in, in check mode, for one that would be generated."""
    key = certificates.generate_key(DRY_RUN_KEY_TYPE)
    subject = params["root_subject"]
    return certificates.build_root(key, subject["organization"], subject["common_name"],
                                   params["root_validity_days"], now), key
