# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What root_of_trust does: load or create the shared root on the controller, then keep this
cluster's ``cacerts`` Secret holding an intermediate signed by that root; with ``rotation_phase``,
move this cluster through one phase of a root rotation (see builders/rotation_records.py for the
phases) and, at the end, retire the old root files on the controller.

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

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates, rotation_records
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ISTIOD_DEPLOYMENTS,
    MANAGED_BY,
    ROOT_OF_TRUST_SECRET as SECRET_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.files import (
    archive,
    exclusive_lock,
    move,
    write_atomic,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    apply_object,
    delete_object,
    ensure_namespace,
    get_object,
    list_objects,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import wait_for

# Shown instead of fingerprints of certificates a check-mode run only pretends to issue.
NOT_YET_ISSUED = "(issued when applied)"
# Check mode issues throw-away certificates for the server-side dry run only: fast keys suffice.
DRY_RUN_KEY_TYPE = "ecdsa-p256"

# Pod-template annotations: a new value rolls the pods out, the same value on a re-run does not.
ISTIOD_ANNOTATION = "gloomesh.multicluster/cacerts"
ROLL_ANNOTATION = "gloomesh.multicluster/root-rotation"
# istiod's namespace controller publishes its root bundle in this ConfigMap of every namespace
# (pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go reconcileCACert).
ROOT_CONFIGMAP = "istio-ca-root-cert"
ROOT_CONFIGMAP_KEY = "root-cert.pem"
# Namespaces of the mesh: ambient, sidecar injection, or a revision label.
MESH_LABELS = (("istio.io/dataplane-mode", "ambient"), ("istio-injection", "enabled"), ("istio.io/rev", None))
# istiod swaps in a changed root-cert.pem by itself only with this env set, since 1.20
# (pilot/pkg/bootstrap/istio_ca.go handleEvent; the flag: pilot/pkg/features/pilot.go MultiRootMesh).
MULTIROOT_ENV = "ISTIO_MULTIROOT_MESH"
ROOT_RELOAD_SINCE = (1, 20, 0)
_GO_TRUE = ("1", "t", "true")  # what Go's strconv.ParseBool takes as true (lower-cased)
ROLLED_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"))


# ---------------------------------------------------------------- roots on the controller

def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def load_root_cert(cert_path, option="root_cert_path"):
    """The root certificate: exactly one self-signed CA certificate."""
    try:
        certs = certificates.load_certs(_read(cert_path), "%s %s" % (option, cert_path))
    except (OSError, ValueError) as exc:
        raise GloomeshError(str(exc), **{option: cert_path})
    if len(certs) != 1:
        raise GloomeshError("%s %s holds %d certificates, expected exactly the root"
                            % (option, cert_path, len(certs)), **{option: cert_path})
    if not (certificates.is_ca(certs[0]) and certificates.issued_by(certs[0], certs[0])):
        raise GloomeshError("%s %s is not a self-signed CA certificate" % (option, cert_path),
                            **{option: cert_path})
    return certs[0]


def load_root_key(task, params, cert, prefix=""):
    """The key of a root (``prefix`` "new_" for the new root of a rotation), checked against its
    certificate. Loaded only to issue: an RSA 4096 key takes a noticeable fraction of a second."""
    key_option, cert_option = prefix + "root_key_path", prefix + "root_cert_path"
    key_path = params[key_option]
    try:
        key_bytes = _read(key_path)
        task.mask(key_bytes.decode("utf-8", "replace"))
        key = certificates.load_key(key_bytes, "%s %s" % (key_option, key_path), params[prefix + "root_key_passphrase"])
    except (OSError, ValueError) as exc:
        raise GloomeshError(str(exc), **{key_option: key_path})
    if not certificates.key_matches(cert, key):
        raise GloomeshError("%s %s is not the key of %s %s" % (key_option, key_path, cert_option, params[cert_option]),
                            **{key_option: key_path})
    if stat.S_IMODE(os.stat(key_path).st_mode) & 0o077:
        task.warn("%s %s is accessible to group or others; chmod 0600 it" % (key_option, key_path))
    return key


def _root_state(cert_path, key_path):
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


def load_or_create_root(task, params, cert_path, key_path, passphrase):
    """(cert, key, created). Generated under an exclusive lock so concurrent hosts make one root.

    ``key`` is only returned when generated now (see load_root_key). An existing root is only
    read: no lock file, no wait for another run's lock (a read-only directory works). In check
    mode nothing is locked or written; (None, None, True) means "would be generated".
    """
    try:
        present = _root_state(cert_path, key_path) == "present"
    except GloomeshError:
        if task.check_mode:
            raise
        present = False  # half a root may be another host between its two writes: decided under the lock
    if present:
        return load_root_cert(cert_path), None, False
    if task.check_mode:
        return None, None, True
    # exist_ok: the hosts of a run get here at the same time; one of them creates it.
    os.makedirs(os.path.dirname(os.path.abspath(key_path)), 0o700, exist_ok=True)
    try:
        with exclusive_lock(key_path + ".lock"):
            if _root_state(cert_path, key_path) == "present":
                return load_root_cert(cert_path), None, False
            key = certificates.generate_key(params["root_key_type"])
            subject = params["root_subject"]
            cert = certificates.build_root(key, subject["organization"], subject["common_name"],
                                           params["root_validity_days"])
            key_text = certificates.key_pem(key, passphrase)
            task.mask(key_text)
            # Key first: a crash in between leaves a key without a certificate, which
            # _root_state reports instead of silently starting another root.
            write_atomic(key_path, key_text.encode("ascii"), 0o600)
            write_atomic(cert_path, certificates.cert_pem(cert).encode("ascii"), 0o644)
            return cert, key, True
    except (OSError, TimeoutError) as exc:
        raise GloomeshError("cannot create the root CA files: %s" % exc,
                            root_cert_path=cert_path, root_key_path=key_path)


def _dry_run_root(params, now):
    """A throw-away root standing in, in check mode, for one that would be generated."""
    key = certificates.generate_key(DRY_RUN_KEY_TYPE)
    subject = params["root_subject"]
    return certificates.build_root(key, subject["organization"], subject["common_name"],
                                   params["root_validity_days"], now), key


# ---------------------------------------------------------------- the cacerts Secret

def _read_secret(task, secret):
    """Decoded data of our Secret (None when missing), its key masked in all output."""
    if secret is None:
        return None
    data = certificates.decode_secret(secret)
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
    """Why the intermediate in ``report`` cannot be kept under ``root_cert``; [] to keep it."""
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
        root_cert, root_key = _dry_run_root(params, now)
        placeholders.append(certificates.fingerprint(root_cert))
    key = certificates.generate_key(DRY_RUN_KEY_TYPE if task.check_mode else params["intermediate_key_type"])
    cert = certificates.build_intermediate(root_cert, root_key, key, params["cluster"],
                                           params["intermediate_validity_days"], now)
    if task.check_mode:
        placeholders.append(certificates.fingerprint(cert))
    data = certificates.bundle_data([cert], key, root_cert)
    task.mask(data["ca-key.pem"])
    return data, key, tuple(placeholders)


def _intermediate_under(task, params, report, root_cert, load_key, now):
    """(entries, key, reasons, placeholders) of an intermediate of ``root_cert``: the supplied one,
    the existing one when it can be kept, else a new one (reasons say why). ``load_key()`` gives
    the root key, loaded only when a new intermediate is issued."""
    if params["intermediate_cert"]:
        data, key = _supplied_bundle(task, params, root_cert, now)
        return data, key, [], ()
    reasons = _reasons_to_reissue(report, root_cert, params, now)
    if not reasons:
        data = certificates.bundle_data(report["ca_chain"][:1], report["ca_key"], root_cert)
        task.mask(data["ca-key.pem"])
        return data, report["ca_key"], reasons, ()
    data, key, placeholders = _issue(task, root_cert, load_key(), params, now)
    return data, key, reasons, placeholders


def _secret(namespace, data):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": SECRET_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "data": dict((entry, base64.b64encode(data[entry].encode("utf-8")).decode("ascii"))
                     for entry in certificates.BUNDLE_KEYS),
    }


def _foreign_root_error(existing_roots, root_cert, namespace):
    theirs = ", ".join(_fingerprints(existing_roots))
    return GloomeshError(
        "Secret %s/%s holds a different root (root-cert.pem SHA-256 %s) than ours (%s, %s); "
        "replacing it breaks trust with every workload of this cluster. Set force=true to replace it, "
        "or move the mesh to another root with the rotate_root_of_trust playbook."
        % (namespace, SECRET_NAME, theirs, certificates.fingerprint(root_cert), certificates.summary(root_cert)["subject"]),
        existing_root_fingerprints=_fingerprints(existing_roots),
        root_fingerprint=certificates.fingerprint(root_cert), namespace=namespace)


def _istiods(client, namespace):
    return [dep for dep in (get_object(client, "apps/v1", "Deployment", name, namespace)
                            for name in ISTIOD_DEPLOYMENTS) if dep is not None]


def _restart(task, client, namespace, changed):
    running = [dep["metadata"]["name"] for dep in _istiods(client, namespace)] if changed else []
    if running:
        task.warn("Secret %s/%s changed while istiod (Deployment %s) is running: restart istiod, then "
                  "roll out the workloads, for the new certificates to be used"
                  % (namespace, SECRET_NAME, ", ".join(running)))
    return bool(running)


def _root_fingerprints(data):
    return _fingerprints(certificates.load_certs(data["root-cert.pem"], "root-cert.pem"))


def _present(task, client, params):
    namespace = params["namespace"]
    now = certificates.utcnow()
    existing = _read_secret(task, get_object(client, "v1", "Secret", SECRET_NAME, namespace))
    report = certificates.inspect_bundle(existing or {}, now)
    theirs = _fingerprints(report["root_certs"])
    supplied = bool(params["intermediate_cert"])
    if supplied:
        if not os.path.exists(params["root_cert_path"]):
            raise GloomeshError("root_cert_path %s does not exist; it must hold the root that signed "
                                "intermediate_cert" % params["root_cert_path"])
        root_cert, root_key, root_created = load_root_cert(params["root_cert_path"]), None, False
    else:
        if theirs and not params["force"] and not os.path.exists(params["root_cert_path"]):
            # A new root could only be refused below: don't create one the mesh cannot use.
            raise GloomeshError(
                "Secret %s/%s already holds root %s and root_cert_path %s does not exist; point "
                "root_cert_path and root_key_path at that root, or set force=true to replace it"
                % (namespace, SECRET_NAME, ", ".join(theirs), params["root_cert_path"]),
                existing_root_fingerprints=theirs)
        root_cert, root_key, root_created = load_or_create_root(
            task, params, params["root_cert_path"], params["root_key_path"], params["root_key_passphrase"])
    if root_cert is not None and certificates.not_after(root_cert) - datetime.timedelta(days=params["renew_before"]) <= now:
        task.warn("the root CA expires on %s; plan a root rotation" % certificates.iso(certificates.not_after(root_cert)))
    ours = certificates.fingerprint(root_cert) if root_cert is not None else None
    if existing and theirs and ours and ours not in theirs and not params["force"]:
        raise _foreign_root_error(report["root_certs"], root_cert, namespace)
    # A bundle of several roots (a rotation under way) is kept as long as nothing else must change.
    rotating = bool(existing and ours in theirs and len(theirs) > 1 and not params["force"])
    # Supplied certificates are verified before the first write to the cluster.
    supplied_bundle = _supplied_bundle(task, params, root_cert, now) if supplied else None
    namespace_result = ensure_namespace(client, namespace, task.check_mode)

    def issuing_key():
        # None only in check mode for a root still to be generated (_issue stands one in).
        if root_key is not None or root_cert is None:
            return root_key
        return load_root_key(task, params, root_cert)

    if supplied:
        (desired, desired_key), reasons, placeholders = supplied_bundle, [], ()
    elif existing is None or (theirs != [ours] and not rotating):
        reasons = ["Secret %s/%s does not exist" % (namespace, SECRET_NAME) if existing is None
                   else "root-cert.pem is not the current root"]
        desired, desired_key, placeholders = _issue(task, root_cert, issuing_key(), params, now)
    else:
        desired, desired_key, reasons, placeholders = _intermediate_under(
            task, params, report, root_cert, issuing_key, now)
    if rotating:
        desired["root-cert.pem"] = existing["root-cert.pem"]
    desired = _prefer_existing(existing or {}, report["ca_key"], desired, desired_key)
    if rotating and any(desired[entry] != existing.get(entry) for entry in certificates.BUNDLE_KEYS):
        raise GloomeshError(
            "Secret %s/%s is in the middle of a root rotation (root-cert.pem holds %s) and would have to "
            "change (%s): finish the rotation with the rotate_root_of_trust playbook, or set force=true "
            "to replace it with root %s alone"
            % (namespace, SECRET_NAME, ", ".join(theirs), "; ".join(reasons) or "another intermediate", ours),
            existing_root_fingerprints=theirs)

    result = apply_object(client, _secret(namespace, desired), task.check_mode, force_conflicts=True)
    changed = result.changed or namespace_result.changed or root_created
    intermediate = certificates.load_certs(desired["ca-cert.pem"], "ca-cert.pem")[0]
    new_fingerprint = certificates.fingerprint(intermediate)
    out = {
        "changed": changed,
        "action": result.action,
        "namespace": namespace,
        "root_created": root_created,
        "root_fingerprint": ours,
        "root_fingerprints": [f for f in _root_fingerprints(desired) if f not in placeholders],
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


# ---------------------------------------------------------------- root rotation: one phase, one cluster

def _new_root(task, params, phase, now):
    """(cert, key or None, created, placeholder fingerprints) of the root the mesh moves to.

    Phase trust_both generates it (under the root lock) when neither file exists and a key path is
    given; later phases need it on disk. In check mode a root that would be generated is a
    throw-away stand-in whose fingerprint is a placeholder.
    """
    cert_path, key_path = params["new_root_cert_path"], params["new_root_key_path"]
    if phase == 1 and key_path and not params["intermediate_cert"]:
        cert, key, created = load_or_create_root(task, params, cert_path, key_path, params["new_root_key_passphrase"])
        if cert is None:
            cert, key = _dry_run_root(params, now)
            return cert, key, True, (certificates.fingerprint(cert),)
        return cert, key, created, ()
    if not os.path.exists(cert_path):
        raise GloomeshError("new_root_cert_path %s does not exist: it must hold the root the mesh moves to "
                            "(phase trust_both generates one when new_root_key_path is given)" % cert_path,
                            new_root_cert_path=cert_path)
    return load_root_cert(cert_path, "new_root_cert_path"), None, False, ()


def _phase_content(task, params, phase, existing, report, new, new_key, now):
    """(entries, key, reasons, placeholders): what cacerts holds once ``phase`` is written.

    1: root-cert.pem gets the new root after the old text (kept byte for byte), nothing else changes.
    2: an intermediate of the new root (kept when it already is one), root-cert.pem unchanged.
    3: root-cert.pem keeps only the new root's block, byte for byte as it stood in the bundle.
    """
    if phase == 1:
        data = dict((entry, existing[entry]) for entry in certificates.BUNDLE_KEYS)
        data["root-cert.pem"] = certificates.bundle_text_with(existing["root-cert.pem"], new)
        return data, report["ca_key"], [], ()
    if phase == 2:
        def load_key():
            return new_key or load_root_key(task, params, new, "new_")
        data, key, reasons, placeholders = _intermediate_under(task, params, report, new, load_key, now)
        data["root-cert.pem"] = existing["root-cert.pem"]
        return data, key, reasons, placeholders
    data = dict((entry, existing[entry]) for entry in certificates.BUNDLE_KEYS)
    data["root-cert.pem"] = certificates.bundle_text_without(existing["root-cert.pem"], certificates.fingerprint(new))
    return data, report["ca_key"], [], ()


def _container_env(dep):
    containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return dict((e.get("name"), e.get("value") or "") for c in containers for e in c.get("env") or [])


def _istiod_version(dep):
    """The Istio version of istiod's image tag (1.25.2 of .../pilot:1.25.2-solo), None when unknown."""
    containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    for container in containers:
        tag = (container.get("image") or "").rpartition(":")[2]
        try:
            return tuple(validation.parse_istio_version(tag))
        except GloomeshError:
            continue
    return None


def _istiod_action(dep, phase, mode):
    """("restart" | "reload", why) for one istiod in this phase."""
    if mode == "always":
        return "restart", "istiod_restart=always"
    if phase == 2:
        return "restart", ("istiod reloads a new intermediate by itself, but nothing in the Kubernetes API "
                           "shows when it serves it; a restart does")
    version = _istiod_version(dep)
    multiroot = _container_env(dep).get(MULTIROOT_ENV, "").strip().lower() in _GO_TRUE
    if multiroot and version is not None and version >= ROOT_RELOAD_SINCE:
        return "reload", "%s=true: istiod swaps in the changed root-cert.pem by itself" % MULTIROOT_ENV
    return "restart", "istiod ignores a changed root-cert.pem unless %s=true (Istio 1.20 or later)" % MULTIROOT_ENV


def _template_annotation(api_version, kind, name, namespace, key, value):
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"annotations": {key: value}}}}}


def _rolled_out(kind):
    """Predicate: every pod of the workload runs the current template (kubectl rollout status)."""
    def predicate(obj):
        if obj is None:
            return False, "%s does not exist" % kind
        status = obj.get("status") or {}
        if (status.get("observedGeneration") or 0) < (obj.get("metadata") or {}).get("generation", 0):
            return False, "the new template is not observed yet"
        if kind == "DaemonSet":
            wanted = status.get("desiredNumberScheduled") or 0
            updated, available, total = (status.get("updatedNumberScheduled") or 0, status.get("numberAvailable") or 0,
                                         status.get("currentNumberScheduled") or 0)
        else:
            wanted = (obj.get("spec") or {}).get("replicas", 1)
            updated, available, total = (status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0,
                                         status.get("replicas") or 0)
        if updated < wanted or available < wanted or total > wanted:
            return False, "%d/%d pods updated, %d available, %d in total" % (updated, wanted, available, total)
        return True, ""
    return predicate


def _wait_rolled_out(client, kind, name, namespace, timeout):
    wait_for(client, "apps/v1", kind, name, namespace, _rolled_out(kind), timeout,
             "the rollout of %s %s/%s" % (kind, namespace, name))


def _publishes(expected):
    """Predicate: istio-ca-root-cert holds exactly the roots ``expected`` (fingerprints, in order)."""
    def predicate(obj):
        if obj is None:
            return False, "not published yet"
        text = (obj.get("data") or {}).get(ROOT_CONFIGMAP_KEY) or ""
        try:
            published = _fingerprints(certificates.load_certs(text, ROOT_CONFIGMAP_KEY))
        except ValueError as exc:
            return False, str(exc)
        if published == expected:
            return True, ""
        return False, "holds %s, not %s" % (", ".join(published), ", ".join(expected))
    return predicate


def _mesh_namespaces(client, params):
    """Namespaces whose istio-ca-root-cert must show the bundle: the install namespace, labelled
    mesh namespaces and the ones named. A named namespace that does not exist is an error."""
    live = dict((ns["metadata"]["name"], ns) for ns in list_objects(client, "v1", "Namespace"))
    named = list(params["mesh_namespaces"]) + list(params["workload_namespaces"])
    missing = sorted(set(n for n in named if n not in live))
    if missing:
        raise GloomeshError("namespace %s does not exist (mesh_namespaces / workload_namespaces)" % ", ".join(missing),
                            missing=missing)
    chosen = set(named) | set([params["namespace"]])
    for name, ns in live.items():
        labels = (ns.get("metadata") or {}).get("labels") or {}
        if any(key in labels and (value is None or labels[key] == value) for key, value in MESH_LABELS):
            chosen.add(name)
    return sorted(n for n in chosen if n in live and not (live[n].get("metadata") or {}).get("deletionTimestamp"))


def _workloads(client, params):
    """Every Deployment and DaemonSet of workload_namespaces, as (api_version, kind, namespace, name, obj)."""
    found = []
    for namespace in params["workload_namespaces"]:
        for api_version, kind in ROLLED_KINDS:
            for obj in list_objects(client, api_version, kind, namespace):
                found.append((api_version, kind, namespace, obj["metadata"]["name"], obj))
    return sorted(found, key=lambda w: (w[2], w[1], w[3]))


def _template_annotations(obj):
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}


def _roll(task, client, params, value):
    """Roll the named namespaces' workloads, batch by batch, each batch waited for; names rolled."""
    rolled = []
    workloads = _workloads(client, params)
    size = params["workload_batch_size"]
    for start in range(0, len(workloads), size):
        batch = workloads[start:start + size]
        for api_version, kind, namespace, name, obj in batch:
            if _template_annotations(obj).get(ROLL_ANNOTATION) != value:
                apply_object(client, _template_annotation(api_version, kind, name, namespace, ROLL_ANNOTATION, value),
                             task.check_mode, force_conflicts=True)
                rolled.append("%s/%s/%s" % (namespace, kind, name))
        if not task.check_mode:
            # Also the ones annotated by an interrupted run: their rollout may not be over.
            for api_version, kind, namespace, name, obj in batch:
                _wait_rolled_out(client, kind, name, namespace, params["wait_timeout"])
    return rolled


def _rotate(task, client, params):
    namespace = params["namespace"]
    name = params["rotation_phase"]
    phase = rotation_records.phase_number(name)
    now = certificates.utcnow()
    old = load_root_cert(params["root_cert_path"])
    old_fp = certificates.fingerprint(old)
    # Everything that can refuse the run is read and checked before the first write, the
    # generation of the new root included.
    wait_namespaces = _mesh_namespaces(client, params)
    existing = _read_secret(task, get_object(client, "v1", "Secret", SECRET_NAME, namespace))
    if existing is None:
        raise GloomeshError("Secret %s/%s does not exist: there is no root of trust to rotate in this cluster"
                            % (namespace, SECRET_NAME))
    report = certificates.inspect_bundle(existing, now)
    roots = _fingerprints(report["root_certs"])
    issuer = certificates.fingerprint(report["issuing_root"]) if report["issuing_root"] is not None else None

    def stray(new_fp):
        return GloomeshError(
            "Secret %s/%s (root-cert.pem %s, intermediate from %s) is no step of the rotation from %s to %s; "
            "it is left as it is" % (namespace, SECRET_NAME, ", ".join(roots) or "unreadable",
                                     issuer or "no root of it", old_fp, new_fp), existing_root_fingerprints=roots)

    if not os.path.exists(params["new_root_cert_path"]) and (roots, issuer) != ([old_fp], old_fp):
        raise stray("a new root")
    new, new_key, created, placeholders = _new_root(task, params, phase, now)
    new_fp = certificates.fingerprint(new)
    if old_fp == new_fp:
        raise GloomeshError("new_root_cert_path %s is the current root %s: a rotation needs another root"
                            % (params["new_root_cert_path"], old_fp))
    at = rotation_records.content_phase(roots, issuer, old_fp, new_fp)
    if at is None:
        raise stray(new_fp)
    record = rotation_records.parse_rotation_record(
        get_object(client, "v1", "ConfigMap", rotation_records.RECORD_NAME, namespace))
    # Phase N is only written once N-1 finished here: the content vouches for it if the record is lost.
    done = max(rotation_records.finished_phase(record, old_fp, new_fp), at - 1)
    out = {
        "changed": created, "namespace": namespace, "root_created": created,
        "root_fingerprint": None if placeholders else new_fp, "previous_root_fingerprint": old_fp,
        "reissued": False, "reasons": [], "restart_required": False,
        "rotation": {"phase": phase, "phase_name": name, "finished_before": done, "cacerts_phase_before": at,
                     "istiod": [], "wait_namespaces": [], "rolled": [], "record": "unchanged"},
    }
    if done >= phase or at > phase:
        # Finished here already, or the cacerts is past this phase (its record comes with a later one).
        out.update(action="unchanged", root_fingerprints=roots,
                   intermediate_fingerprint=certificates.fingerprint(report["ca_chain"][0]))
        return out
    if done < phase - 1:
        raise GloomeshError(
            "phase %s cannot start in this cluster: its cacerts is at phase %d (%s) and the last phase it "
            "finished is %d; run the phases in order (the rotate_root_of_trust playbook does)"
            % (name, at, rotation_records.PHASE_TITLES[at], done))
    desired, desired_key, reasons, issued = _phase_content(task, params, phase, existing, report, new, new_key, now)
    placeholders = tuple(placeholders) + tuple(issued)
    desired = _prefer_existing(existing, report["ca_key"], desired, desired_key)
    secret = apply_object(client, _secret(namespace, desired), task.check_mode, force_conflicts=True)
    target_roots = _root_fingerprints(desired)
    intermediate = certificates.fingerprint(certificates.load_certs(desired["ca-cert.pem"], "ca-cert.pem")[0])
    changed = created or secret.changed

    istiods = _istiods(client, namespace)
    digest = rotation_records.cacerts_digest(target_roots, intermediate)
    for dep in istiods:
        action, why = _istiod_action(dep, phase, params["istiod_restart"])
        dep_name = dep["metadata"]["name"]
        if action == "restart":
            applied = apply_object(client, _template_annotation("apps/v1", "Deployment", dep_name, namespace,
                                                                ISTIOD_ANNOTATION, digest), task.check_mode,
                                   force_conflicts=True)
            changed = changed or applied.changed
            if not task.check_mode:
                _wait_rolled_out(client, "Deployment", dep_name, namespace, params["wait_timeout"])
        out["rotation"]["istiod"].append({"name": dep_name, "action": action, "why": why})
    if not istiods:
        task.warn("no istiod (Deployment %s) runs in %s: nothing publishes the new bundle yet"
                  % (" or ".join(ISTIOD_DEPLOYMENTS), namespace))
    elif not task.check_mode:
        for ns in wait_namespaces:
            wait_for(client, "v1", "ConfigMap", ROOT_CONFIGMAP, ns, _publishes(target_roots), params["wait_timeout"],
                     "istiod to publish roots %s in ConfigMap %s/%s" % (", ".join(target_roots), ns, ROOT_CONFIGMAP))
    out["rotation"]["wait_namespaces"] = wait_namespaces
    rolled = _roll(task, client, params, "%d-%s" % (phase, rotation_records.cacerts_digest([new_fp], None)))
    out["rotation"]["rolled"] = rolled
    recorded = apply_object(client, rotation_records.rotation_record(namespace, old_fp, new_fp, phase, MANAGED_BY),
                            task.check_mode, force_conflicts=True)
    out["rotation"]["record"] = recorded.action
    out.update(
        changed=changed or bool(rolled) or recorded.changed,
        action=secret.action,
        root_fingerprints=[f for f in target_roots if f not in placeholders],
        intermediate_fingerprint=None if intermediate in placeholders else intermediate,
        reissued=bool(reasons), reasons=reasons,
    )
    if task.diff:
        out["diff"] = {"before": _view(existing, report["key_matches"]),
                       "after": _view(desired, True, placeholders)}
    return out


# ---------------------------------------------------------------- root rotation: the controller's files

def _promote(task, client, params):
    """Once every cluster finished phase drop_old: the new root takes the place of the old one on
    the controller, the old one goes to retired/<fingerprint>/ beside it. Renames only (a key file
    is never rewritten); each step can be repeated after a crash."""
    cert_path, key_path = params["root_cert_path"], params["root_key_path"]
    new_cert_path, new_key_path = params["new_root_cert_path"], params["new_root_key_path"]
    out = {"changed": False, "namespace": params["namespace"], "action": "unchanged", "promoted": False,
           "restart_required": False}
    if not os.path.exists(new_cert_path):
        out["root_fingerprint"] = certificates.fingerprint(load_root_cert(cert_path)) if os.path.exists(cert_path) else None
        return out
    new = load_root_cert(new_cert_path, "new_root_cert_path")
    new_fp = certificates.fingerprint(new)
    secret = _read_secret(task, get_object(client, "v1", "Secret", SECRET_NAME, params["namespace"]))
    roots = _fingerprints(certificates.inspect_bundle(secret or {})["root_certs"])
    if roots != [new_fp]:
        raise GloomeshError("the old root is not dropped in this cluster yet (root-cert.pem holds %s): "
                            "finish phase drop_old everywhere first" % (", ".join(roots) or "nothing"))
    current = load_root_cert(cert_path) if os.path.exists(cert_path) else None
    retired = None
    if current is not None and certificates.fingerprint(current) != new_fp:
        retired = os.path.join(os.path.dirname(os.path.abspath(cert_path)), "retired",
                               certificates.fingerprint(current).replace(":", "")[:16])
    out.update(changed=True, promoted=True, action="promoted", root_fingerprint=new_fp, retired_dir=retired)
    if task.check_mode:
        return out
    try:
        with exclusive_lock(key_path + ".lock"):
            if retired is not None:
                archive(cert_path, retired)
                if os.path.exists(key_path) and not os.path.exists(os.path.join(retired, os.path.basename(key_path))):
                    archive(key_path, retired)
            retired_key = os.path.join(retired, os.path.basename(key_path)) if retired else None
            if new_key_path and os.path.exists(new_key_path):
                move(new_key_path, key_path)
            elif retired_key and os.path.exists(key_path) and os.path.samefile(key_path, retired_key):
                # An external CA issues the new intermediates: the new root has no key here.
                os.unlink(key_path)
            move(new_cert_path, cert_path)
            if new_key_path and os.path.exists(new_key_path + ".lock"):
                os.unlink(new_key_path + ".lock")  # of the generation; nothing locks it any more
            try:
                os.rmdir(os.path.dirname(os.path.abspath(new_cert_path)))
            except OSError:
                pass  # not empty (the user's own files): left alone
    except (OSError, TimeoutError) as exc:
        raise GloomeshError("cannot put the new root in place of the old one: %s" % exc,
                            root_cert_path=cert_path, new_root_cert_path=new_cert_path)
    return out


def require_cryptography():
    if certificates.CRYPTOGRAPHY_IMPORT_ERROR:
        raise GloomeshError(missing_required_lib("cryptography"), exception=certificates.CRYPTOGRAPHY_IMPORT_ERROR)


def run(task):
    params = task.params
    require_cryptography()
    validation.root_of_trust(params)
    client = task.client()
    if params["rotation_phase"] == "promote":
        return _promote(task, client, params)
    if params["rotation_phase"]:
        return _rotate(task, client, params)
    if params["state"] == "absent":
        return _absent(task, client, params)
    return _present(task, client, params)
