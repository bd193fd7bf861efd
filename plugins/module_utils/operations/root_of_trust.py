# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What root_of_trust does: load or create the shared root on the controller, then keep this
cluster's ``cacerts`` Secret holding an intermediate signed by that root. With ``rotation_phase``
the module moves this cluster through one phase of a root rotation instead: ``run`` hands it to
operations/root_rotation.py (the one operation another calls: one module, two state machines).

Key material never leaves these files in a result, a diff or an error (cacerts.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible_collections.gloomesh.multicluster.plugins.module_utils import cacerts, root_files, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ROOT_OF_TRUST_SECRET as SECRET_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    apply_object,
    delete_object,
    ensure_namespace,
    get_object,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import root_rotation


def _foreign_root_error(existing_roots, root_cert, namespace):
    theirs = ", ".join(cacerts.fingerprints(existing_roots))
    return GloomeshError(
        "Secret %s/%s holds a different root (root-cert.pem SHA-256 %s) than ours (%s, %s); "
        "replacing it breaks trust with every workload of this cluster. Set force=true to replace it, "
        "or move the mesh to another root with the rotate_root_of_trust playbook."
        % (namespace, SECRET_NAME, theirs, certificates.fingerprint(root_cert), certificates.summary(root_cert)["subject"]),
        existing_root_fingerprints=cacerts.fingerprints(existing_roots),
        root_fingerprint=certificates.fingerprint(root_cert), namespace=namespace)


def _restart(invocation, cluster, namespace, changed):
    running = [dep["metadata"]["name"] for dep in cacerts.istiods(cluster, namespace)] if changed else []
    if running:
        invocation.warn("Secret %s/%s changed while istiod (Deployment %s) is running: restart istiod, then "
                        "roll out the workloads, for the new certificates to be used"
                        % (namespace, SECRET_NAME, ", ".join(running)))
    return bool(running)


def _our_root(invocation, params, theirs, now):
    """(cert, key, created) of the root on the controller: the one that signed a supplied
    intermediate, else the root read or generated now (its key only when generated)."""
    cert_path = params["root_cert_path"]
    if params["intermediate_cert"]:
        if not os.path.exists(cert_path):
            raise GloomeshError("root_cert_path %s does not exist; it must hold the root that signed "
                                "intermediate_cert" % cert_path)
        root = root_files.read_cert(cert_path), None, False
    else:
        if theirs and not params["force"] and not os.path.exists(cert_path):
            # A new root could only be refused below: don't create one the mesh cannot use.
            raise GloomeshError(
                "Secret %s/%s already holds root %s and root_cert_path %s does not exist; point "
                "root_cert_path and root_key_path at that root, or set force=true to replace it"
                % (params["namespace"], SECRET_NAME, ", ".join(theirs), cert_path),
                existing_root_fingerprints=theirs)
        root = root_files.load_or_create(invocation, params, cert_path, params["root_key_path"], params["root_key_passphrase"])
    if root[0] is not None and certificates.not_after(root[0]) - datetime.timedelta(days=params["renew_before"]) <= now:
        invocation.warn("the root CA expires on %s; plan a root rotation" % certificates.iso(certificates.not_after(root[0])))
    return root


def _desired(invocation, params, existing, report, root, supplied_bundle, now):
    """(entries, reasons, placeholders): what cacerts holds under ``root`` (cert, key, created).
    A bundle of several roots (a rotation under way) is kept as long as nothing else must change."""
    namespace, root_cert, root_key = params["namespace"], root[0], root[1]
    theirs = cacerts.fingerprints(report["root_certs"])
    ours = certificates.fingerprint(root_cert) if root_cert is not None else None
    rotating = bool(existing and ours in theirs and len(theirs) > 1 and not params["force"])

    def issuing_key():
        # None only in check mode for a root still to be generated (cacerts.issue stands one in).
        if root_key is not None or root_cert is None:
            return root_key
        return root_files.read_root_key(invocation, params, root_cert)

    if supplied_bundle is not None:
        (desired, desired_key), reasons, placeholders = supplied_bundle, [], ()
    elif existing is None or (theirs != [ours] and not rotating):
        reasons = ["Secret %s/%s does not exist" % (namespace, SECRET_NAME) if existing is None
                   else "root-cert.pem is not the current root"]
        desired, desired_key, placeholders = cacerts.issue(invocation, root_cert, issuing_key(), params, now)
    else:
        desired, desired_key, reasons, placeholders = cacerts.intermediate_under(
            invocation, params, report, root_cert, issuing_key, now)
    if rotating:
        desired["root-cert.pem"] = existing["root-cert.pem"]
    desired = cacerts.prefer_existing(existing or {}, report["ca_key"], desired, desired_key)
    if rotating and any(desired[entry] != existing.get(entry) for entry in certificates.BUNDLE_KEYS):
        raise GloomeshError(
            "Secret %s/%s is in the middle of a root rotation (root-cert.pem holds %s) and would have to "
            "change (%s): finish the rotation with the rotate_root_of_trust playbook, or set force=true "
            "to replace it with root %s alone"
            % (namespace, SECRET_NAME, ", ".join(theirs), "; ".join(reasons) or "another intermediate", ours),
            existing_root_fingerprints=theirs)
    return desired, reasons, placeholders


def _present(invocation, cluster, params):
    namespace = params["namespace"]
    now = certificates.utcnow()
    existing = cacerts.read_secret(invocation, get_object(cluster, "v1", "Secret", SECRET_NAME, namespace))
    report = certificates.inspect_bundle(existing or {}, now)
    theirs = cacerts.fingerprints(report["root_certs"])
    root = _our_root(invocation, params, theirs, now)
    ours = certificates.fingerprint(root[0]) if root[0] is not None else None
    if existing and theirs and ours and ours not in theirs and not params["force"]:
        raise _foreign_root_error(report["root_certs"], root[0], namespace)
    # Supplied certificates are verified before the first write to the cluster.
    supplied_bundle = cacerts.supplied_bundle(invocation, params, root[0], now) if params["intermediate_cert"] else None
    namespace_result = ensure_namespace(cluster, namespace, invocation.check_mode)
    desired, reasons, placeholders = _desired(invocation, params, existing, report, root, supplied_bundle, now)
    result = apply_object(cluster, cacerts.secret(namespace, desired), invocation.check_mode, force_conflicts=True)
    intermediate = certificates.load_certs(desired["ca-cert.pem"], "ca-cert.pem")[0]
    new_fingerprint = certificates.fingerprint(intermediate)
    out = {
        "changed": result.changed or namespace_result.changed or root[2],
        "action": result.action,
        "namespace": namespace,
        "root_created": root[2],
        "root_fingerprint": ours,
        "root_fingerprints": [f for f in cacerts.root_fingerprints(desired) if f not in placeholders],
        "intermediate_fingerprint": None if new_fingerprint in placeholders else new_fingerprint,
        "not_after": certificates.iso(certificates.not_after(intermediate)),
        "reissued": bool(reasons),
        "reasons": reasons,
        "restart_required": _restart(invocation, cluster, namespace, result.changed),
    }
    if invocation.diff:
        out["diff"] = {"before": cacerts.view(existing, report["key_matches"]),
                       "after": cacerts.view(desired, True, placeholders)}
    return out


def _absent(invocation, cluster, params):
    namespace = params["namespace"]
    existing_secret = get_object(cluster, "v1", "Secret", SECRET_NAME, namespace)
    existing = cacerts.read_secret(invocation, existing_secret)
    report = certificates.inspect_bundle(existing or {})
    if existing and report["root_certs"] and os.path.exists(params["root_cert_path"]) and not params["force"]:
        root_cert = root_files.read_cert(params["root_cert_path"])
        if cacerts.fingerprints(report["root_certs"]) != [certificates.fingerprint(root_cert)]:
            raise _foreign_root_error(report["root_certs"], root_cert, namespace)
    result = delete_object(cluster, "v1", "Secret", SECRET_NAME, namespace, invocation.check_mode)
    out = {
        "changed": result.changed,
        "action": result.action,
        "namespace": namespace,
        "restart_required": _restart(invocation, cluster, namespace, result.changed),
    }
    if invocation.diff:
        out["diff"] = {"before": cacerts.view(existing, report["key_matches"]), "after": {}}
    return out


# ---------------------------------------------------------------- root rotation: one phase, one cluster


def run(invocation):
    params = invocation.params
    root_files.require_cryptography()
    validation.root_of_trust(params)
    cluster = invocation.cluster()
    if params["rotation_phase"] == "promote":
        return root_rotation.promote(invocation, cluster, params)
    if params["rotation_phase"]:
        return root_rotation.rotate(invocation, cluster, params)
    if params["state"] == "absent":
        return _absent(invocation, cluster, params)
    return _present(invocation, cluster, params)
