# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""root_of_trust with ``rotation_phase``: move this cluster through one phase of a root rotation
(builders/rotation_records.py has the phases and the record), istiod serving it, the mesh's
namespaces given the new bundle, the workloads rolled; and, at the end, ``promote``: the new root
takes the place of the old one on the controller. operations/root_of_trust.py hands these over.

Key material never leaves these files in a result, a diff or an error (cacerts.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.gloomesh.multicluster.plugins.module_utils import cacerts, root_files, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates, rotation_records
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ISTIOD_DEPLOYMENTS,
    MANAGED_BY,
    ROOT_OF_TRUST_SECRET as SECRET_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.files import archive, exclusive_lock, move
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    apply_object,
    get_object,
    list_objects,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import wait_for

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


def _new_root(invocation, params, phase, now):
    """(cert, key or None, created, placeholder fingerprints) of the root the mesh moves to.

    Phase trust_both generates it (under the root lock) when neither file exists and a key path is
    given; later phases need it on disk. In check mode a root that would be generated is a
    throw-away stand-in whose fingerprint is a placeholder.
    """
    cert_path, key_path = params["new_root_cert_path"], params["new_root_key_path"]
    if phase == 1 and key_path and not params["intermediate_cert"]:
        cert, key, created = root_files.load_or_create(invocation, params, cert_path, key_path, params["new_root_key_passphrase"])
        if cert is None:
            cert, key = root_files.dry_run_root(params, now)
            return cert, key, True, (certificates.fingerprint(cert),)
        return cert, key, created, ()
    if not os.path.exists(cert_path):
        raise GloomeshError("new_root_cert_path %s does not exist: it must hold the root the mesh moves to "
                            "(phase trust_both generates one when new_root_key_path is given)" % cert_path,
                            new_root_cert_path=cert_path)
    return root_files.read_cert(cert_path, "new_root_cert_path"), None, False, ()


def _phase_content(invocation, params, phase, existing, report, new, new_key, now):
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
            return new_key or root_files.read_root_key(invocation, params, new, "new_")
        data, key, reasons, placeholders = cacerts.intermediate_under(invocation, params, report, new, load_key, now)
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


def _wait_rolled_out(cluster, kind, name, namespace, timeout):
    wait_for(cluster, "apps/v1", kind, name, namespace, _rolled_out(kind), timeout,
             "the rollout of %s %s/%s" % (kind, namespace, name))


def _publishes(expected):
    """Predicate: istio-ca-root-cert holds exactly the roots ``expected`` (fingerprints, in order)."""
    def predicate(obj):
        if obj is None:
            return False, "not published yet"
        text = (obj.get("data") or {}).get(ROOT_CONFIGMAP_KEY) or ""
        try:
            published = cacerts.fingerprints(certificates.load_certs(text, ROOT_CONFIGMAP_KEY))
        except ValueError as exc:
            return False, str(exc)
        if published == expected:
            return True, ""
        return False, "holds %s, not %s" % (", ".join(published), ", ".join(expected))
    return predicate


def _mesh_namespaces(cluster, params):
    """Namespaces whose istio-ca-root-cert must show the bundle: the install namespace, labelled
    mesh namespaces and the ones named. A named namespace that does not exist is an error."""
    live = dict((ns["metadata"]["name"], ns) for ns in list_objects(cluster, "v1", "Namespace"))
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


def _workloads(cluster, params):
    """Every Deployment and DaemonSet of workload_namespaces, as (api_version, kind, namespace, name, obj)."""
    found = []
    for namespace in params["workload_namespaces"]:
        for api_version, kind in ROLLED_KINDS:
            for obj in list_objects(cluster, api_version, kind, namespace):
                found.append((api_version, kind, namespace, obj["metadata"]["name"], obj))
    return sorted(found, key=lambda w: (w[2], w[1], w[3]))


def _template_annotations(obj):
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}


def _roll(invocation, cluster, params, value):
    """Roll the named namespaces' workloads, batch by batch, each batch waited for; names rolled."""
    rolled = []
    workloads = _workloads(cluster, params)
    size = params["workload_batch_size"]
    for start in range(0, len(workloads), size):
        batch = workloads[start:start + size]
        for api_version, kind, namespace, name, obj in batch:
            if _template_annotations(obj).get(ROLL_ANNOTATION) != value:
                apply_object(cluster, _template_annotation(api_version, kind, name, namespace, ROLL_ANNOTATION, value),
                             invocation.check_mode, force_conflicts=True)
                rolled.append("%s/%s/%s" % (namespace, kind, name))
        if not invocation.check_mode:
            # Also the ones annotated by an interrupted run: their rollout may not be over.
            for api_version, kind, namespace, name, obj in batch:
                _wait_rolled_out(cluster, kind, name, namespace, params["wait_timeout"])
    return rolled


def _stray(namespace, roots, issuer, old_fp, new_fp):
    return GloomeshError(
        "Secret %s/%s (root-cert.pem %s, intermediate from %s) is no step of the rotation from %s to %s; "
        "it is left as it is" % (namespace, SECRET_NAME, ", ".join(roots) or "unreadable",
                                 issuer or "no root of it", old_fp, new_fp), existing_root_fingerprints=roots)


def _position(invocation, cluster, params, phase, now):
    """Where this cluster stands: its cacerts (``existing``, ``report``, ``roots``, ``issuer``), the
    old and the new root, the phase its content is at (``at``) and the last it finished (``done``).
    Everything that can refuse the run is read and checked before the first write, the generation
    of the new root included."""
    namespace = params["namespace"]
    old_fp = root_files.fingerprint_of(params["root_cert_path"])
    here = {"wait_namespaces": _mesh_namespaces(cluster, params), "old_fp": old_fp}
    existing = cacerts.read_secret(invocation, get_object(cluster, "v1", "Secret", SECRET_NAME, namespace))
    if existing is None:
        raise GloomeshError("Secret %s/%s does not exist: there is no root of trust to rotate in this cluster"
                            % (namespace, SECRET_NAME))
    report = certificates.inspect_bundle(existing, now)
    roots = cacerts.fingerprints(report["root_certs"])
    issuer = certificates.fingerprint(report["issuing_root"]) if report["issuing_root"] is not None else None
    if not os.path.exists(params["new_root_cert_path"]) and (roots, issuer) != ([old_fp], old_fp):
        raise _stray(namespace, roots, issuer, old_fp, "a new root")
    new, new_key, created, placeholders = _new_root(invocation, params, phase, now)
    new_fp = certificates.fingerprint(new)
    if old_fp == new_fp:
        raise GloomeshError("new_root_cert_path %s is the current root %s: a rotation needs another root"
                            % (params["new_root_cert_path"], old_fp))
    at = rotation_records.content_phase(roots, issuer, old_fp, new_fp)
    if at is None:
        raise _stray(namespace, roots, issuer, old_fp, new_fp)
    record = rotation_records.parse_rotation_record(
        get_object(cluster, "v1", "ConfigMap", rotation_records.RECORD_NAME, namespace))
    # Phase N is only written once N-1 finished here: the content vouches for it if the record is lost.
    done = max(rotation_records.finished_phase(record, old_fp, new_fp), at - 1)
    here.update(existing=existing, report=report, roots=roots, new=new, new_key=new_key, new_fp=new_fp,
                created=created, placeholders=tuple(placeholders), at=at, done=done)
    return here


def _serve(invocation, cluster, params, phase, target_roots, intermediate):
    """istiod serving the new cacerts (restarted or reloading it), then publishing its roots in the
    mesh's namespaces: (changed, [what each istiod did])."""
    namespace = params["namespace"]
    changed, done = False, []
    istiods = cacerts.istiods(cluster, namespace)
    digest = rotation_records.cacerts_digest(target_roots, intermediate)
    for dep in istiods:
        action, why = _istiod_action(dep, phase, params["istiod_restart"])
        dep_name = dep["metadata"]["name"]
        if action == "restart":
            applied = apply_object(cluster, _template_annotation("apps/v1", "Deployment", dep_name, namespace,
                                                                 ISTIOD_ANNOTATION, digest), invocation.check_mode,
                                   force_conflicts=True)
            changed = changed or applied.changed
            if not invocation.check_mode:
                _wait_rolled_out(cluster, "Deployment", dep_name, namespace, params["wait_timeout"])
        done.append({"name": dep_name, "action": action, "why": why})
    if not istiods:
        invocation.warn("no istiod (Deployment %s) runs in %s: nothing publishes the new bundle yet"
                        % (" or ".join(ISTIOD_DEPLOYMENTS), namespace))
    return changed, done


def _await_published(cluster, params, namespaces, target_roots):
    for ns in namespaces:
        wait_for(cluster, "v1", "ConfigMap", ROOT_CONFIGMAP, ns, _publishes(target_roots), params["wait_timeout"],
                 "istiod to publish roots %s in ConfigMap %s/%s" % (", ".join(target_roots), ns, ROOT_CONFIGMAP))


def _result(params, phase, here):
    """The result of a phase before it writes (unchanged when it has nothing to write here)."""
    placeholders, new_fp = here["placeholders"], here["new_fp"]
    return {
        "changed": here["created"], "namespace": params["namespace"], "root_created": here["created"],
        "root_fingerprint": None if placeholders else new_fp, "previous_root_fingerprint": here["old_fp"],
        "reissued": False, "reasons": [], "restart_required": False,
        "rotation": {"phase": phase, "phase_name": params["rotation_phase"], "finished_before": here["done"],
                     "cacerts_phase_before": here["at"], "istiod": [], "wait_namespaces": [], "rolled": [],
                     "record": "unchanged"},
    }


def rotate(invocation, cluster, params):
    """Phase ``rotation_phase`` in this cluster: its cacerts, istiod, the roots published, the
    workloads rolled, then the record that the phase finished here."""
    namespace, name = params["namespace"], params["rotation_phase"]
    phase, now = rotation_records.phase_number(name), certificates.utcnow()
    here = _position(invocation, cluster, params, phase, now)
    out, done, at = _result(params, phase, here), here["done"], here["at"]
    if done >= phase or at > phase:
        # Finished here already, or the cacerts is past this phase (its record comes with a later one).
        out.update(action="unchanged", root_fingerprints=here["roots"],
                   intermediate_fingerprint=certificates.fingerprint(here["report"]["ca_chain"][0]))
        return out
    if done < phase - 1:
        raise GloomeshError(
            "phase %s cannot start in this cluster: its cacerts is at phase %d (%s) and the last phase it "
            "finished is %d; run the phases in order (the rotate_root_of_trust playbook does)"
            % (name, at, rotation_records.PHASE_TITLES[at], done))
    existing, report = here["existing"], here["report"]
    desired, desired_key, reasons, issued = _phase_content(invocation, params, phase, existing, report, here["new"],
                                                           here["new_key"], now)
    placeholders = here["placeholders"] + tuple(issued)
    desired = cacerts.prefer_existing(existing, report["ca_key"], desired, desired_key)
    secret = apply_object(cluster, cacerts.secret(namespace, desired), invocation.check_mode, force_conflicts=True)
    target_roots = cacerts.root_fingerprints(desired)
    intermediate = certificates.fingerprint(certificates.load_certs(desired["ca-cert.pem"], "ca-cert.pem")[0])
    restarted, out["rotation"]["istiod"] = _serve(invocation, cluster, params, phase, target_roots, intermediate)
    if out["rotation"]["istiod"] and not invocation.check_mode:
        _await_published(cluster, params, here["wait_namespaces"], target_roots)
    out["rotation"]["wait_namespaces"] = here["wait_namespaces"]
    rolled = out["rotation"]["rolled"] = _roll(
        invocation, cluster, params, "%d-%s" % (phase, rotation_records.cacerts_digest([here["new_fp"]], None)))
    recorded = apply_object(cluster, rotation_records.rotation_record(namespace, here["old_fp"], here["new_fp"], phase,
                                                                      MANAGED_BY), invocation.check_mode, force_conflicts=True)
    out["rotation"]["record"] = recorded.action
    out.update(changed=here["created"] or secret.changed or restarted or bool(rolled) or recorded.changed,
               action=secret.action, root_fingerprints=[f for f in target_roots if f not in placeholders],
               intermediate_fingerprint=None if intermediate in placeholders else intermediate,
               reissued=bool(reasons), reasons=reasons)
    if invocation.diff:
        out["diff"] = {"before": cacerts.view(existing, report["key_matches"]),
                       "after": cacerts.view(desired, True, placeholders)}
    return out


# ---------------------------------------------------------------- root rotation: the controller's files

def promote(invocation, cluster, params):
    """Once every cluster finished phase drop_old: the new root takes the place of the old one on
    the controller, the old one goes to retired/<fingerprint>/ beside it. Renames only (a key file
    is never rewritten); each step can be repeated after a crash."""
    cert_path, key_path = params["root_cert_path"], params["root_key_path"]
    new_cert_path, new_key_path = params["new_root_cert_path"], params["new_root_key_path"]
    out = {"changed": False, "namespace": params["namespace"], "action": "unchanged", "promoted": False,
           "restart_required": False}
    if not os.path.exists(new_cert_path):
        out["root_fingerprint"] = certificates.fingerprint(root_files.read_cert(cert_path)) if os.path.exists(cert_path) else None
        return out
    new = root_files.read_cert(new_cert_path, "new_root_cert_path")
    new_fp = certificates.fingerprint(new)
    secret = cacerts.read_secret(invocation, get_object(cluster, "v1", "Secret", SECRET_NAME, params["namespace"]))
    roots = cacerts.fingerprints(certificates.inspect_bundle(secret or {})["root_certs"])
    if roots != [new_fp]:
        raise GloomeshError("the old root is not dropped in this cluster yet (root-cert.pem holds %s): "
                            "finish phase drop_old everywhere first" % (", ".join(roots) or "nothing"))
    current = root_files.read_cert(cert_path) if os.path.exists(cert_path) else None
    retired = None
    if current is not None and certificates.fingerprint(current) != new_fp:
        retired = os.path.join(os.path.dirname(os.path.abspath(cert_path)), "retired",
                               certificates.fingerprint(current).replace(":", "")[:16])
    out.update(changed=True, promoted=True, action="promoted", root_fingerprint=new_fp, retired_dir=retired)
    if invocation.check_mode:
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
