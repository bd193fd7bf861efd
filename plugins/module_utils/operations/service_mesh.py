# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What the servicemeshcontroller module does: validate, apply the extensions ConfigMap and the
ServiceMeshController, wait for the Gloo Operator to report the current generation ready and for
istiod, the Istio CNI and ztunnel to run, report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import service_mesh
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    EXTENSIONS_CONFIGMAP,
    ISTIOD_DEPLOYMENTS,
    MESH_DAEMONSETS,
    SERVICE_MESH_API_VERSION,
    SERVICE_MESH_KIND,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    ApplyResult,
    apply_object,
    delete_object,
    describe,
    diff_of,
    ensure_namespace,
    get_object,
    is_managed_by_us,
    owns_field,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import (
    daemonset_ready,
    deployment_available,
    gone,
    wait_for,
)


def controller_ready(obj):
    """Wait predicate: ready as mesh_state.service_mesh_readiness says; phase FAILED for the current
    generation raises at once with the operator's message."""
    ready, missing, failed = mesh_state.service_mesh_readiness(obj)
    if failed:
        meta = obj["metadata"]
        status = obj.get("status") or {}
        raise GloomeshError("%s failed: %s" % (describe(SERVICE_MESH_KIND, meta["name"], meta.get("namespace")),
                                               missing),
                            phase="FAILED", conditions=status.get("conditions") or [])
    return ready, missing


def _public(obj):
    """The object as returned to the user: managedFields are bulky and say nothing useful."""
    if obj is None:
        return {}
    obj = dict(obj, metadata=dict(obj.get("metadata") or {}))
    obj["metadata"].pop("managedFields", None)
    return obj


def _extensions_absent(cluster, namespace, check_mode):
    """No extensions wanted: delete gloo-extensions-config if we created it, else leave it."""
    live = get_object(cluster, "v1", "ConfigMap", EXTENSIONS_CONFIGMAP, namespace)
    if live is None:
        return ApplyResult(False, None, None, "absent")
    if not is_managed_by_us(live):
        return ApplyResult(False, live, live, "unmanaged")
    return delete_object(cluster, "v1", "ConfigMap", EXTENSIONS_CONFIGMAP, namespace, check_mode)


def _report(invocation, results, controller, components=None):
    status = (controller or {}).get("status") or {}
    report = {
        "changed": any(result.changed for _what, result in results),
        "resource": _public(controller),
        "phase": status.get("phase"),
        "conditions": status.get("conditions") or [],
        "actions": dict((what, result.action) for what, result in results),
    }
    if components is not None:
        report["components"] = components
    if invocation.diff:
        diffs = []
        for what, result in results:
            if result.changed or what == "controller":
                diff = diff_of(result)
                diff["before_header"] = diff["after_header"] = what
                diffs.append(diff)
        report["diff"] = diffs
    return report


def _with_progress(exc, results):
    """The task still changed the cluster before a wait failed: say so in the error."""
    exc.details.setdefault("changed", any(result.changed for _what, result in results))
    exc.details["actions"] = dict((w, result.action) for w, result in results)
    return exc


def _wait_components(cluster, install_namespace, deadline):
    """Wait for istiod and the ambient DaemonSets the operator deployed (procedure, "Deploy mesh
    components" step 6); returns {object: state}."""
    istiod = next((name for name in ISTIOD_DEPLOYMENTS
                   if get_object(cluster, "apps/v1", "Deployment", name, install_namespace) is not None),
                  ISTIOD_DEPLOYMENTS[0])
    waits = [("Deployment", istiod, deployment_available)]
    waits += [("DaemonSet", name, daemonset_ready) for name in MESH_DAEMONSETS]
    components = {}
    for kind, name, predicate in waits:
        remaining = max(1, int(deadline - time.monotonic()))
        wait_for(cluster, "apps/v1", kind, name, install_namespace, predicate, remaining,
                 "%s to be ready" % describe(kind, name, install_namespace))
        components["%s %s" % (kind, name)] = "ready"
    return components


# Istio's cluster ID and the network: every peer knows the cluster by them, so they are no
# rename-in-place fields (a new name is a new cluster of the mesh).
IDENTITY_FIELDS = ("cluster", "network")


def refuse_identity_change(live, desired, allowed):
    """Refuse, before any write, to change spec.cluster or spec.network of an existing controller
    unless ``allowed`` (option allow_cluster_change); the error names the current and new values.

    Only values we applied count: a value another field manager wrote is a hand edit, which the
    apply refuses as a conflict (and force_conflicts takes back)."""
    spec = (live or {}).get("spec") or {}
    changes = ["spec.%s from %r to %r" % (field, spec[field], desired["spec"][field])
               for field in IDENTITY_FIELDS if spec.get(field) and spec[field] != desired["spec"][field]
               and owns_field(live, ("spec", field))]
    if changes and not allowed:
        meta = live["metadata"]
        raise GloomeshError(
            "%s already belongs to cluster %r; this task would change %s. Istio's cluster ID and network are "
            "not renamed in place (the other clusters know this one by them): is this host another name for a "
            "cluster of the mesh? Set allow_cluster_change=true to change them anyway"
            % (describe(SERVICE_MESH_KIND, meta["name"], meta.get("namespace")), spec.get("cluster"), " and ".join(changes)),
            option="cluster", current={"cluster": spec.get("cluster"), "network": spec.get("network")})


def present(invocation):
    params = invocation.params
    # Every validation error is raised here, before connecting.
    version, warnings = validation.service_mesh(params)
    plan = service_mesh.build(params, version)
    for warning in warnings:
        invocation.warn(warning)
    cluster = invocation.cluster()
    check_mode = invocation.check_mode
    namespace = params["namespace"]
    live = get_object(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND, params["name"], namespace)
    refuse_identity_change(live, plan["controller"], params["allow_cluster_change"])
    desired = service_mesh.previous_version(plan["controller"], live, params["record_previous_version"],
                                            mesh_state.service_mesh_readiness(live)[0])
    deadline = time.monotonic() + params["wait_timeout"]
    results = [("namespace", ensure_namespace(cluster, namespace, check_mode))]
    # Extensions first: the operator reads them when it reconciles the controller.
    if plan["extensions"] is None:
        results.append(("extensions_config", _extensions_absent(cluster, namespace, check_mode)))
    else:
        results.append(("extensions_config", apply_object(cluster, plan["extensions"], check_mode,
                                                          force_conflicts=params["force_conflicts"])))
    applied = apply_object(cluster, desired, check_mode, force_conflicts=params["force_conflicts"])
    results.append(("controller", applied))
    controller, components = applied.after, None
    if params["wait"] and not check_mode:
        try:
            controller = wait_for(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND, params["name"], namespace,
                                  controller_ready, params["wait_timeout"],
                                  "%s to be ready" % describe(SERVICE_MESH_KIND, params["name"], namespace))
            stale = mesh_state.stale_conditions(controller)
            if stale:
                invocation.warn("%s is ready; the operator left these conditions at an older generation: %s"
                                % (describe(SERVICE_MESH_KIND, params["name"], namespace), ", ".join(stale)))
            components = _wait_components(cluster, params["install_namespace"], deadline)
        except GloomeshError as exc:
            raise _with_progress(exc, results)
    return _report(invocation, results, controller, components)


def absent(invocation):
    params = invocation.params
    validation.service_mesh_names(params)
    cluster = invocation.cluster()
    check_mode = invocation.check_mode
    namespace = params["namespace"]
    deleted = delete_object(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND, params["name"], namespace,
                            check_mode)
    results = [("controller", deleted)]
    if deleted.changed and params["wait"] and not check_mode:
        # The operator uninstalls Istio before the object goes (finalizers).
        try:
            wait_for(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND, params["name"], namespace, gone,
                     params["wait_timeout"],
                     "%s to be deleted" % describe(SERVICE_MESH_KIND, params["name"], namespace))
        except GloomeshError as exc:
            raise _with_progress(exc, results)
    results.append(("extensions_config", _extensions_absent(cluster, namespace, check_mode)))
    return _report(invocation, results, None)


def run(invocation):
    """The module's one call: state present or absent."""
    if invocation.params["state"] == "absent":
        return absent(invocation)
    return present(invocation)
