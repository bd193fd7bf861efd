# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What root_of_trust does: load or create the shared root on the controller, then keep this
cluster's ``cacerts`` Secret holding an intermediate signed by that root.

Key material never leaves this file in a result, a diff or an error: diffs are built from
certificate summaries, and every private key PEM (and its base64 form) is registered in
``task.no_log_values`` so Ansible masks it should it show up anywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import os
import stat

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ISTIOD_DEPLOYMENTS,
    MANAGED_BY,
    ROOT_OF_TRUST_SECRET as SECRET_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.files import (
    exclusive_lock,
    write_atomic,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    apply_object,
    delete_object,
    ensure_namespace,
    get_object,
)

# Shown instead of fingerprints of certificates a check-mode run only pretends to issue.
NOT_YET_ISSUED = "(issued when applied)"
# Check mode issues throw-away certificates for the server-side dry run only: fast keys suffice.
DRY_RUN_KEY_TYPE = "ecdsa-p256"


# ---------------------------------------------------------------- validation

def validate(params):
    """Reject bad input before anything is read or written."""
    for option in ("root_validity_days", "intermediate_validity_days"):
        if params[option] < 1:
            raise GloomeshError("%s must be at least 1 (days), got %d" % (option, params[option]))
    if not 0 <= params["renew_before"] < params["intermediate_validity_days"]:
        raise GloomeshError(
            "renew_before must be between 0 and intermediate_validity_days - 1 (%d), got %d; a "
            "larger value would reissue the intermediate on every run"
            % (params["intermediate_validity_days"] - 1, params["renew_before"]))
    if params["state"] == "absent" or params["intermediate_cert"]:
        return
    missing = [option for option in ("root_key_path", "cluster") if not params[option]]
    if missing:
        raise GloomeshError("%s must be set to issue this cluster's intermediate (or give "
                            "intermediate_cert and intermediate_key instead)" % " and ".join(missing))


# ---------------------------------------------------------------- the root on the controller

def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def load_root_cert(cert_path):
    """The root certificate: exactly one self-signed CA certificate."""
    try:
        certs = certificates.load_certs(_read(cert_path), "root_cert_path %s" % cert_path)
    except (OSError, ValueError) as exc:
        raise GloomeshError(str(exc), root_cert_path=cert_path)
    if len(certs) != 1:
        raise GloomeshError("root_cert_path %s holds %d certificates, expected exactly the root"
                            % (cert_path, len(certs)), root_cert_path=cert_path)
    if not (certificates.is_ca(certs[0]) and certificates.issued_by(certs[0], certs[0])):
        raise GloomeshError("root_cert_path %s is not a self-signed CA certificate" % cert_path,
                            root_cert_path=cert_path)
    return certs[0]


def load_root_key(task, params, cert):
    """The root key, checked against the root certificate. Loaded only to issue: an RSA 4096
    key takes a noticeable fraction of a second to load and validate."""
    key_path = params["root_key_path"]
    try:
        key_bytes = _read(key_path)
        task.mask(key_bytes.decode("utf-8", "replace"))
        key = certificates.load_key(key_bytes, "root_key_path %s" % key_path, params["root_key_passphrase"])
    except (OSError, ValueError) as exc:
        raise GloomeshError(str(exc), root_key_path=key_path)
    if not certificates.key_matches(cert, key):
        raise GloomeshError("root_key_path %s is not the key of root_cert_path %s"
                            % (key_path, params["root_cert_path"]), root_key_path=key_path)
    if stat.S_IMODE(os.stat(key_path).st_mode) & 0o077:
        task.warn("root_key_path %s is accessible to group or others; chmod 0600 it" % key_path)
    return key


def _root_state(cert_path, key_path):
    """'present', 'absent', or an error for a half-written root (never completed by generating)."""
    cert_exists = os.path.exists(cert_path)
    key_exists = key_path is not None and os.path.exists(key_path)
    if cert_exists and (key_exists or key_path is None):
        return "present"
    if cert_exists or key_exists:
        raise GloomeshError(
            "only one of root_cert_path %s and root_key_path %s exists; refusing to generate a new "
            "root over half of an existing one: restore the missing file (or remove both to start a "
            "new root of trust, which every cluster must then receive)" % (cert_path, key_path),
            root_cert_path=cert_path, root_key_path=key_path)
    return "absent"


def load_or_create_root(task, params):
    """(cert, key, created). Generated under an exclusive lock so concurrent hosts make one root.

    ``key`` is only returned when generated now (see load_root_key). In check mode nothing is
    locked or written; (None, None, True) means "would be generated".
    """
    cert_path, key_path = params["root_cert_path"], params["root_key_path"]
    if task.check_mode:
        if _root_state(cert_path, key_path) == "present":
            return load_root_cert(cert_path), None, False
        return None, None, True
    directory = os.path.dirname(os.path.abspath(key_path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    try:
        with exclusive_lock(key_path + ".lock"):
            if _root_state(cert_path, key_path) == "present":
                return load_root_cert(cert_path), None, False
            key = certificates.generate_key(params["root_key_type"])
            subject = params["root_subject"]
            cert = certificates.build_root(key, subject["organization"], subject["common_name"],
                                  params["root_validity_days"])
            key_text = certificates.key_pem(key, params["root_key_passphrase"])
            task.mask(key_text)
            # Key first: a crash in between leaves a key without a certificate, which
            # _root_state reports instead of silently starting another root.
            write_atomic(key_path, key_text.encode("ascii"), 0o600)
            write_atomic(cert_path, certificates.cert_pem(cert).encode("ascii"), 0o644)
            return cert, key, True
    except (OSError, TimeoutError) as exc:
        raise GloomeshError("cannot create the root CA files: %s" % exc,
                            root_cert_path=cert_path, root_key_path=key_path)


# ---------------------------------------------------------------- the cacerts Secret

def decode_secret(secret):
    """Secret data as {entry: text}."""
    data = {}
    for entry, value in ((secret or {}).get("data") or {}).items():
        try:
            data[entry] = base64.b64decode(value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            data[entry] = ""
    return data


def _read_secret(task, secret):
    """Decoded data of our Secret (None when missing), its key masked in all output."""
    if secret is None:
        return None
    data = decode_secret(secret)
    if data.get("ca-key.pem"):
        task.mask(data["ca-key.pem"])
    return data


def _fingerprints(certs):
    return [certificates.fingerprint(c) for c in certs]


def _view(data, key_matches, placeholders=()):
    """--diff view of a bundle: certificate summaries per entry, the key only as a verdict."""
    if data is None:
        return {}
    view = {"secret": SECRET_NAME}
    for entry in ("root-cert.pem", "ca-cert.pem", "cert-chain.pem"):
        try:
            certs = certificates.load_certs(data[entry], entry) if data.get(entry) else []
        except ValueError as exc:
            view[entry] = str(exc)
            continue
        summaries = [certificates.summary(c) for c in certs]
        for summary in summaries:
            if summary["fingerprint_sha256"] in placeholders:
                summary.update(fingerprint_sha256=NOT_YET_ISSUED, serial_number=NOT_YET_ISSUED)
        view[entry] = summaries
    if not data.get("ca-key.pem"):
        view["ca-key.pem"] = "(missing)"
    else:
        view["ca-key.pem"] = "(private key, %s ca-cert.pem)" % ("matches" if key_matches else "does not match")
    return view


def _prefer_existing(existing, existing_key, desired, desired_key):
    """Keep each existing entry's text when it encodes the same thing (openssl's PKCS#1 keys,
    comments, line endings): rewriting equivalent text would look like a change and ask for an
    istiod restart for nothing."""
    merged = dict(desired)
    for entry, text in desired.items():
        old = existing.get(entry)
        if not old:
            continue
        if entry == "ca-key.pem":
            same = existing_key is not None and certificates.same_key(existing_key, desired_key)
        else:
            try:
                same = _fingerprints(certificates.load_certs(old, entry)) == _fingerprints(certificates.load_certs(text, entry))
            except ValueError:
                same = False
        if same:
            merged[entry] = old
    return merged


def _reasons_to_reissue(report, root_cert, params, now):
    """Why the intermediate in ``report`` (a Secret signed by our root) cannot be kept; [] to keep it."""
    reasons = []
    ca_chain, ca_key = report["ca_chain"], report["ca_key"]
    if not ca_chain:
        reasons.append("ca-cert.pem is missing or unreadable")
    elif not certificates.issued_by(ca_chain[0], root_cert):
        reasons.append("ca-cert.pem is not signed by the current root")
    if ca_key is None:
        reasons.append("ca-key.pem is missing or unreadable")
    elif ca_chain and not certificates.key_matches(ca_chain[0], ca_key):
        reasons.append("ca-key.pem does not match ca-cert.pem")
    if ca_chain and not reasons:
        expires = certificates.not_after(ca_chain[0])
        renew_at = expires - datetime.timedelta(days=params["renew_before"])
        # Only renew when a new intermediate would actually live longer (it never outlives the root).
        if renew_at <= now and certificates.intermediate_not_after(
                root_cert, params["intermediate_validity_days"], now) > expires:
            reasons.append("ca-cert.pem expires on %s, within renew_before (%d days)"
                           % (certificates.iso(expires), params["renew_before"]))
    return reasons


def _supplied_bundle(task, params, root_cert, now):
    """cacerts entries from the user's intermediate_cert/intermediate_key, verified against the root."""
    try:
        chain = certificates.load_certs(params["intermediate_cert"], "intermediate_cert")
        key = certificates.load_key(params["intermediate_key"], "intermediate_key")
    except ValueError as exc:
        raise GloomeshError(str(exc))
    if certificates.fingerprint(chain[-1]) == certificates.fingerprint(root_cert) and len(chain) > 1:
        chain = chain[:-1]
    problems = certificates.chain_problems(chain, root_cert, now)
    if not certificates.key_matches(chain[0], key):
        problems.append("intermediate_key does not match the first certificate of intermediate_cert")
    if problems:
        raise GloomeshError("the supplied intermediate cannot be used with root %s: %s"
                            % (certificates.fingerprint(root_cert), "; ".join(problems)), problems=problems)
    expires = certificates.not_after(chain[0])
    if expires - datetime.timedelta(days=params["renew_before"]) <= now:
        task.warn("intermediate_cert expires on %s, within renew_before (%d days); supply a renewed one"
                    % (certificates.iso(expires), params["renew_before"]))
    data = certificates.bundle_data(chain, key, root_cert)
    data["ca-key.pem"] = params["intermediate_key"].strip() + "\n"
    task.mask(data["ca-key.pem"])
    return data, key


def _issue(task, root_cert, root_key, params, now):
    """(entries, key, fingerprints of certificates that only exist for a check-mode dry run)."""
    placeholders = []
    if root_key is None:  # check mode, root not generated yet
        root_key = certificates.generate_key(DRY_RUN_KEY_TYPE)
        subject = params["root_subject"]
        root_cert = certificates.build_root(root_key, subject["organization"], subject["common_name"],
                                   params["root_validity_days"], now)
        placeholders.append(certificates.fingerprint(root_cert))
    key = certificates.generate_key(DRY_RUN_KEY_TYPE if task.check_mode else params["intermediate_key_type"])
    cert = certificates.build_intermediate(root_cert, root_key, key, params["cluster"],
                                  params["intermediate_validity_days"], now)
    if task.check_mode:
        placeholders.append(certificates.fingerprint(cert))
    data = certificates.bundle_data([cert], key, root_cert)
    task.mask(data["ca-key.pem"])
    return data, key, tuple(placeholders)


def _generated_bundle(task, params, existing, report, root_cert, root_key, now):
    """(entries, key, reasons, placeholders): the existing intermediate when it can be kept,
    else a new one (reasons say why)."""
    if existing is None:
        reasons = ["Secret %s/%s does not exist" % (params["namespace"], SECRET_NAME)]
    elif root_cert is None or _fingerprints(report["root_certs"]) != [certificates.fingerprint(root_cert)]:
        reasons = ["root-cert.pem is not the current root"]
    else:
        reasons = _reasons_to_reissue(report, root_cert, params, now)
    if not reasons:
        data = certificates.bundle_data(report["ca_chain"][:1], report["ca_key"], root_cert)
        task.mask(data["ca-key.pem"])
        return data, report["ca_key"], reasons, ()
    if root_key is None and root_cert is not None:
        root_key = load_root_key(task, params, root_cert)
    data, key, placeholders = _issue(task, root_cert, root_key, params, now)
    return data, key, reasons, placeholders


def _secret(namespace, data):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": SECRET_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "data": dict((entry, base64.b64encode(text.encode("utf-8")).decode("ascii"))
                     for entry, text in sorted(data.items())),
    }


def _foreign_root_error(existing_roots, root_cert, namespace):
    theirs = ", ".join(_fingerprints(existing_roots))
    return GloomeshError(
        "Secret %s/%s holds a different root (root-cert.pem SHA-256 %s) than ours (%s, %s); "
        "replacing it breaks trust with every workload of this cluster. Set force=true to replace it."
        % (namespace, SECRET_NAME, theirs, certificates.fingerprint(root_cert), certificates.summary(root_cert)["subject"]),
        existing_root_fingerprints=_fingerprints(existing_roots),
        root_fingerprint=certificates.fingerprint(root_cert))


def _istiod_running(client, namespace):
    return [name for name in ISTIOD_DEPLOYMENTS
            if get_object(client, "apps/v1", "Deployment", name, namespace) is not None]


def _restart(task, client, namespace, changed):
    running = _istiod_running(client, namespace) if changed else []
    if running:
        task.warn("Secret %s/%s changed while istiod (Deployment %s) is running: restart istiod, then "
                    "roll out the workloads, for the new certificates to be used"
                    % (namespace, SECRET_NAME, ", ".join(running)))
    return bool(running)


def _present(task, client, params):
    namespace = params["namespace"]
    now = certificates.utcnow()
    existing = _read_secret(task, get_object(client, "v1", "Secret", SECRET_NAME, namespace))
    report = certificates.inspect_bundle(existing or {}, now)
    supplied = bool(params["intermediate_cert"])
    if supplied:
        if not os.path.exists(params["root_cert_path"]):
            raise GloomeshError("root_cert_path %s does not exist; it must hold the root that signed "
                                "intermediate_cert" % params["root_cert_path"])
        root_cert, root_key, root_created = load_root_cert(params["root_cert_path"]), None, False
    else:
        if report["root_certs"] and not params["force"] and not os.path.exists(params["root_cert_path"]):
            # A new root could only be refused below: don't create one the mesh cannot use.
            raise GloomeshError(
                "Secret %s/%s already holds root %s and root_cert_path %s does not exist; point "
                "root_cert_path and root_key_path at that root, or set force=true to replace it"
                % (namespace, SECRET_NAME, ", ".join(_fingerprints(report["root_certs"])),
                   params["root_cert_path"]), existing_root_fingerprints=_fingerprints(report["root_certs"]))
        root_cert, root_key, root_created = load_or_create_root(task, params)
    if root_cert is not None and certificates.not_after(root_cert) - datetime.timedelta(days=params["renew_before"]) <= now:
        task.warn("the root CA expires on %s; plan a root rotation" % certificates.iso(certificates.not_after(root_cert)))
    ours = [certificates.fingerprint(root_cert)] if root_cert is not None else None
    if existing and report["root_certs"] and ours and _fingerprints(report["root_certs"]) != ours \
            and not params["force"]:
        raise _foreign_root_error(report["root_certs"], root_cert, namespace)
    # Supplied certificates are verified before the first write to the cluster.
    supplied_bundle = _supplied_bundle(task, params, root_cert, now) if supplied else None
    namespace_result = ensure_namespace(client, namespace, task.check_mode)

    if supplied:
        (desired, desired_key), reasons, placeholders = supplied_bundle, [], ()
    else:
        desired, desired_key, reasons, placeholders = _generated_bundle(
            task, params, existing, report, root_cert, root_key, now)
    desired = _prefer_existing(existing or {}, report["ca_key"], desired, desired_key)

    result = apply_object(client, _secret(namespace, desired), task.check_mode, force_conflicts=True)
    changed = result.changed or namespace_result.changed or root_created
    intermediate = certificates.load_certs(desired["ca-cert.pem"], "ca-cert.pem")[0]
    new_fingerprint = certificates.fingerprint(intermediate)
    out = {
        "changed": changed,
        "action": result.action,
        "namespace": namespace,
        "root_created": root_created,
        "root_fingerprint": certificates.fingerprint(root_cert) if root_cert is not None else None,
        "intermediate_fingerprint": None if new_fingerprint in placeholders else new_fingerprint,
        "not_after": certificates.iso(certificates.not_after(intermediate)),
        "reissued": bool(reasons),
        "reasons": reasons,
        "restart_required": _restart(task, client, namespace, result.changed),
    }
    if task.diff:
        out["diff"] = {"before": _view(existing, report["key_matches"]),
                       "after": _view(desired, True, placeholders)}
    return out


def _absent(task, client, params):
    namespace = params["namespace"]
    existing_secret = get_object(client, "v1", "Secret", SECRET_NAME, namespace)
    existing = _read_secret(task, existing_secret)
    report = certificates.inspect_bundle(existing or {})
    if existing and report["root_certs"] and os.path.exists(params["root_cert_path"]) and not params["force"]:
        root_cert = load_root_cert(params["root_cert_path"])
        if _fingerprints(report["root_certs"]) != [certificates.fingerprint(root_cert)]:
            raise _foreign_root_error(report["root_certs"], root_cert, namespace)
    result = delete_object(client, "v1", "Secret", SECRET_NAME, namespace, task.check_mode)
    out = {
        "changed": result.changed,
        "action": result.action,
        "namespace": namespace,
        "restart_required": _restart(task, client, namespace, result.changed),
    }
    if task.diff:
        out["diff"] = {"before": _view(existing, report["key_matches"]), "after": {}}
    return out


def require_cryptography():
    if certificates.CRYPTOGRAPHY_IMPORT_ERROR:
        raise GloomeshError(missing_required_lib("cryptography"), exception=certificates.CRYPTOGRAPHY_IMPORT_ERROR)


def run(task):
    params = task.params
    require_cryptography()
    validate(params)
    client = task.client()
    if params["state"] == "absent":
        return _absent(task, client, params)
    return _present(task, client, params)
