# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What the gloo_operator module does.

present: the license goes into a Secret of ours (never to helm), the release is compared with
helm's own record of it and helm runs only when chart or values differ, then the operator
Deployment is waited for. A release a killed helm left pending (helm then refuses every change) is
first rolled back, or uninstalled when it was never deployed (helm.pending_recovery). With
``reuse_values`` the same path keeps another Gloo release's values and merges settings into them
(automatic peering). absent: ``helm uninstall`` when a record exists, and our license Secret
removed.

Nothing secret reaches a result, a diff, a warning or an error: the license key, every no_log
option and every value held under a secret-looking key of a release (e.g. a Gloo Platform
release's ``licensing.glooMeshLicenseKey``) are masked, and helm's output is redacted of them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils import helm, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.helm_release import (
    chart_name,
    decode_release,
    differences,
    merge_values,
    normalized,
    redact_values,
    secret_values,
    summary,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import MANAGED_BY
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    ApplyResult,
    apply_object,
    delete_object,
    diff_of,
    ensure_namespace,
    get_object,
    is_managed_by_us,
    list_objects,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import AUTH_ARG_SPEC
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import (
    deployment_available,
    gone,
    wait_for,
)

# Procedure, "Deploy mesh components" step 2: the chart, its version, and the value that points
# the operator at a Secret holding the license instead of the key itself.
OPERATOR_CHART = "oci://us-docker.pkg.dev/solo-public/gloo-operator-helm/gloo-operator"
OPERATOR_CHART_VERSION = "0.2.3"
LICENSE_REF_ENV = "SOLO_ISTIO_LICENSE_KEY_SECRET_REF"
# Procedure, "ServiceMeshController reference", installNamespace.
WATCH_ENV = "WATCH_NAMESPACES"
# Procedure, "Deploy mesh components" step 3: how the operator pod is found.
OPERATOR_CHART_NAME = "gloo-operator"
OPERATOR_SELECTOR = "app.kubernetes.io/name=gloo-operator"


# ---------------------------------------------------------------- validation

def validate(params):
    """Reject bad input before anything is read or written."""
    validation.helm_release_name(params["release"], "release")
    validation.namespace(params["namespace"], "namespace")
    validation.namespace(params["install_namespace"], "install_namespace")
    for index, name in enumerate(params["watched_by_default"]):
        validation.namespace(name, "watched_by_default[%d]" % index)
    validation.object_name(params["license_secret_name"], "license_secret_name")
    validation.data_key(params["license_secret_key"], "license_secret_key")
    for option in ("helm_timeout", "wait_timeout"):
        if params[option] < 1:
            validation.fail(option, params[option], "must be at least 1 (seconds)")
    if params["chart_version"] is not None and not params["chart_version"].strip():
        validation.fail("chart_version", params["chart_version"], "must be a chart version, e.g. 0.2.3")
    present = params["state"] == "present"
    if params["reuse_values"]:
        if not present:
            validation.fail("reuse_values", True, "applies to state=present only")
        for option in ("license_key", "license_secret_ref"):
            if params[option]:
                validation.fail(option, None, "cannot be combined with reuse_values=true, which keeps the "
                                              "release's own values and adds only the given values")
    elif present and params["helm"]:
        problems = validation.license_problems(params["license_key"], params["license_secret_ref"])
        if problems:
            raise GloomeshError("license_key / license_secret_ref: " + "; ".join(problems), option="license_key")
    if params["helm"]:
        unsupported = helm.unsupported_auth(params)
        if unsupported:
            validation.fail(unsupported[0], None, "cannot be passed to helm (it takes kubeconfig, context, host, "
                                                  "api_key, ca_cert, validate_certs and impersonation); use a "
                                                  "kubeconfig instead")


# ---------------------------------------------------------------- what we build

def license_secret(namespace, name, data_key, license_key):
    """The Secret of ours that holds the license the chart is pointed at."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
            "data": {data_key: base64.b64encode(license_key.encode("utf-8")).decode("ascii")}}


def operator_values(license_ref, install_namespace, watched_by_default, extra):
    """The chart values: the license reference, WATCH_NAMESPACES when needed, then ``extra``."""
    env = {LICENSE_REF_ENV: license_ref}
    if install_namespace not in watched_by_default:
        env[WATCH_ENV] = install_namespace
    return merge_values({"manager": {"env": env}}, extra)


def default_deployment_name(release):
    """The operator Deployment's name by the usual chart convention (release name, suffixed with
    the chart name unless it already contains it); used only while no Deployment carries the label."""
    if OPERATOR_CHART_NAME in release:
        return release
    return ("%s-%s" % (release, OPERATOR_CHART_NAME))[:63].rstrip("-")


# ---------------------------------------------------------------- steps

def _auth(params):
    return dict((key, params.get(key)) for key in AUTH_ARG_SPEC)


def _delete_our_secret(invocation, cluster, namespace, name):
    """Remove the license Secret we created, if any; someone else's Secret of that name stays."""
    live = get_object(cluster, "v1", "Secret", name, namespace)
    if live is None:
        return ApplyResult(False, None, None, "absent")
    for value in (live.get("data") or {}).values():
        invocation.mask(base64.b64decode(value).decode("utf-8", "replace"))
    if not is_managed_by_us(live):
        return ApplyResult(False, live, live, "unmanaged")
    return delete_object(cluster, "v1", "Secret", name, namespace, invocation.check_mode)


def _license_ref(params, license_key):
    """The Secret reference the chart gets: ours when a key is given, else the user's, untouched."""
    if license_key:
        return "%s/%s" % (params["namespace"], params["license_secret_name"])
    return params["license_secret_ref"]


def _license_secret(invocation, cluster, license_key):
    """Write the key to our Secret; with the user's Secret instead, remove ours if an earlier key
    left it (unless the user's reference names it), so the key is not kept where nothing reads it."""
    params = invocation.params
    namespace, name = params["namespace"], params["license_secret_name"]
    if license_key:
        secret = license_secret(namespace, name, params["license_secret_key"], license_key)
        return apply_object(cluster, secret, invocation.check_mode)
    if params["license_secret_ref"] == "%s/%s" % (namespace, name):
        return ApplyResult(False, None, None, "unchanged")
    return _delete_our_secret(invocation, cluster, namespace, name)


def _wanted(invocation, cluster, deployed, license_ref):
    """(chart reference, chart version, values) the release should run."""
    params = invocation.params
    if params["reuse_values"]:
        if deployed is None:
            raise GloomeshError(
                "Helm release %s not found in namespace %s of cluster %s (no deployed record "
                "sh.helm.release.v1.%s.v<N>); install it first"
                % (params["release"], params["namespace"], cluster.name, params["release"]),
                release=params["release"])
        metadata = (deployed.get("chart") or {}).get("metadata") or {}
        values = merge_values(deployed.get("config") or {}, params["values"])
        return (params["chart"] or metadata.get("name"), params["chart_version"] or metadata.get("version"),
                normalized(values))
    values = operator_values(license_ref, params["install_namespace"], params["watched_by_default"], params["values"])
    return (params["chart"] or OPERATOR_CHART, params["chart_version"] or OPERATOR_CHART_VERSION,
            normalized(values))


def _chart_of(release):
    metadata = ((release or {}).get("chart") or {}).get("metadata") or {}
    return metadata.get("name"), metadata.get("version")


def _plan_release(invocation, cluster, records, license_ref, report):
    """Compare Helm's record of the release (among its ``records``) with what it should run; no
    write, no helm.

    Returns the helm call to make (a dict of upgrade_install's arguments), or None when the
    release is up to date. Fills the report's release, values_changed and diff.
    """
    params = invocation.params
    namespace, release = params["namespace"], params["release"]
    record = helm.deployed_record(records)
    deployed = decode_release(record) if record is not None else None
    before = normalized((deployed or {}).get("config"))
    chart, version, values = _wanted(invocation, cluster, deployed, license_ref)
    for secret in secret_values(before) + secret_values(values):
        invocation.mask(secret)
    secrets = sorted(invocation.no_log_values)
    wanted_chart = (chart_name(chart, version), version)
    report["values_changed"] = differences(before, values)
    report["release"] = summary(deployed) if deployed is not None else None
    if deployed is not None and not report["values_changed"] and _chart_of(deployed) == wanted_chart:
        report["actions"]["release"] = "unchanged"
        return None
    report["actions"]["release"] = "upgraded" if deployed is not None else "installed"
    if invocation.diff:
        header = "release %s/%s" % (namespace, release)
        before_state = {} if deployed is None else {"chart": "%s-%s" % _chart_of(deployed),
                                                    "values": redact_values(before, secrets)}
        report["diff"].append({"before": before_state, "before_header": header, "after_header": header,
                               "after": {"chart": "%s-%s" % wanted_chart, "values": redact_values(values, secrets)}})
    return {"release": release, "chart": chart, "namespace": namespace, "values": values, "version": version,
            "repo_url": params["chart_repo_url"], "timeout": params["helm_timeout"], "secrets": secrets,
            "what": "helm upgrade --install of release %s/%s in cluster %s" % (namespace, release, cluster.name)}


def _pending(invocation, cluster, records):
    """The plan for a release a killed helm left pending, from its ``records`` (helm.pending_recovery),
    or None. Fails, before any write, while a helm may still be running it: helm refuses any change
    until then."""
    params = invocation.params
    namespace, release = params["namespace"], params["release"]
    settle = helm.settle_seconds(params["helm_timeout"], params["request_timeout"])
    plan = helm.pending_recovery(records, time.time(), settle)
    if plan is not None and plan["action"] == "wait":
        retry_in = settle - plan["age"]
        raise GloomeshError(
            "Helm release %s/%s in cluster %s is %s (revision %d, begun %ss ago): a helm may still be running it, "
            "and until it ends helm refuses any change (\"another operation (install/upgrade/rollback) is in "
            "progress\"). Run again in %ss: a pending revision older than "
            "helm_timeout + request_timeout + %ss (%ss) is taken as left by a killed helm and rolled back, or "
            "uninstalled when no revision was deployed"
            % (namespace, release, cluster.name, plan["status"], plan["revision"], plan["age"], retry_in,
               2 * helm.KILL_GRACE, settle),
            release=release, pending=plan, retry_in=retry_in)
    return plan


def _recover(invocation, cluster, binary, plan):
    """Unblock a pending release: helm rollback to its deployed revision, else helm uninstall."""
    params = invocation.params
    namespace, release = params["namespace"], params["release"]
    where = "release %s/%s in cluster %s" % (namespace, release, cluster.name)
    rollback = plan["action"] == "rollback"
    done = ("rolled back to revision %s" % plan["to_revision"] if rollback
            else "uninstalled (no revision of it was ever deployed)")
    since = "at an unknown time" if plan["age"] is None else "%ss ago" % plan["age"]
    invocation.warn("Helm %s was left %s at revision %d %s, by a helm that was killed: %s%s, so that helm "
                    "accepts changes again" % (where, plan["status"], plan["revision"], since,
                                               "it would be " if invocation.check_mode else "it was ", done))
    if not invocation.check_mode:
        common = {"timeout": params["helm_timeout"], "secrets": sorted(invocation.no_log_values), "cluster": cluster}
        if rollback:
            helm.rollback(binary, _auth(params), release, namespace, plan["to_revision"],
                          what="helm rollback of %s" % where, **common)
        else:
            helm.uninstall(binary, _auth(params), release, namespace, what="helm uninstall of %s" % where, **common)
    return "rolled_back" if rollback else "uninstalled"


def _wait_operator(invocation, cluster):
    """Wait until every Deployment labelled as the operator is available (not in check mode)."""
    params = invocation.params
    deadline = time.monotonic() + params["wait_timeout"]
    namespace = params["namespace"]
    found = list_objects(cluster, "apps/v1", "Deployment", namespace, label_selector=OPERATOR_SELECTOR)
    states = []
    for obj in found or [None]:
        name = obj["metadata"]["name"] if obj else default_deployment_name(params["release"])
        available = obj is not None and deployment_available(obj)[0]
        if not available and not invocation.check_mode:
            wait_for(cluster, "apps/v1", "Deployment", name, namespace, deployment_available,
                     max(1, int(deadline - time.monotonic())),
                     "Deployment %s/%s (label %s) to be available" % (namespace, name, OPERATOR_SELECTOR))
            available = True
        if obj is not None or not invocation.check_mode:
            states.append({"name": name, "available": available})
    return states


def _new_report():
    return {"changed": False, "actions": {}, "release": None, "values_changed": [], "deployments": [],
            "diff": []}


def _add(report, invocation, what, result, redact=()):
    report["actions"][what] = result.action
    if result.changed:
        report["changed"] = True
        if invocation.diff:
            diff = diff_of(result, redact=redact)
            diff["before_header"] = diff["after_header"] = what
            report["diff"].append(diff)


def _finish(invocation, report):
    if not invocation.diff:
        report.pop("diff")
    return report


def present(invocation):
    params = invocation.params
    license_key = (params["license_key"] or "").strip() or None
    invocation.mask(license_key)
    cluster = invocation.cluster()
    report = _new_report()
    try:
        if params["helm"]:
            records = helm.release_records(cluster, params["namespace"], params["release"])
            pending = _pending(invocation, cluster, records)
            license_ref = None if params["reuse_values"] else _license_ref(params, license_key)
            call = _plan_release(invocation, cluster, records, license_ref, report)
            # Found before the first write, and in check mode (which predicts the failure): a missing
            # helm fails the task with nothing changed. Not needed when nothing changes.
            binary = helm.find_binary(params["binary_path"]) if call or pending else None
            if not params["reuse_values"]:
                _add(report, invocation, "namespace", ensure_namespace(cluster, params["namespace"], invocation.check_mode))
                _add(report, invocation, "license_secret", _license_secret(invocation, cluster, license_key), redact=[("data", "*")])
                report["license_secret_ref"] = license_ref
            if pending:
                report["actions"]["pending_release"] = _recover(invocation, cluster, binary, pending)
            if call and not invocation.check_mode:
                helm.upgrade_install(binary, _auth(params), cluster=cluster, **call)
            if call or pending:
                report["changed"] = True
                if not invocation.check_mode:
                    deployed = helm.deployed_release(cluster, params["namespace"], params["release"])
                    report["release"] = summary(deployed) if deployed is not None else None
        else:
            report["actions"]["release"] = "skipped"
        if params["wait"] and not params["reuse_values"]:
            report["deployments"] = _wait_operator(invocation, cluster)
    except GloomeshError as exc:
        # Say what was done before the failure.
        exc.details.setdefault("changed", report["changed"])
        exc.details["actions"] = report["actions"]
        raise
    return _finish(invocation, report)


def absent(invocation):
    params = invocation.params
    cluster = invocation.cluster()
    namespace, release = params["namespace"], params["release"]
    report = _new_report()
    action = "skipped"
    if params["helm"]:
        action = "absent"
        if helm.release_records(cluster, namespace, release):
            action = "uninstalled"
            report["changed"] = True
            binary = helm.find_binary(params["binary_path"])
            if not invocation.check_mode:
                helm.uninstall(binary, _auth(params), release, namespace, cluster=cluster,
                               timeout=params["helm_timeout"], secrets=sorted(invocation.no_log_values),
                               what="helm uninstall of release %s/%s in cluster %s" % (namespace, release, cluster.name))
            if invocation.diff:
                report["diff"].append({"before": {"release": "%s/%s" % (namespace, release)}, "after": {},
                                       "before_header": "release", "after_header": "release"})
    report["actions"]["release"] = action
    _add(report, invocation, "license_secret", _delete_our_secret(invocation, cluster, namespace, params["license_secret_name"]),
         redact=[("data", "*")])
    if action == "uninstalled" and params["wait"] and not invocation.check_mode:
        for obj in list_objects(cluster, "apps/v1", "Deployment", namespace, label_selector=OPERATOR_SELECTOR):
            name = obj["metadata"]["name"]
            wait_for(cluster, "apps/v1", "Deployment", name, namespace, gone, params["wait_timeout"],
                     "Deployment %s/%s to be deleted" % (namespace, name))
    return _finish(invocation, report)


def run(invocation):
    """The module's one call: state present or absent."""
    validate(invocation.params)
    if invocation.params["state"] == "absent":
        return absent(invocation)
    return present(invocation)
