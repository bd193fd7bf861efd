# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What the servicemeshcontroller module does: validate, apply the extensions ConfigMap and the
ServiceMeshController, wait for the Gloo Operator, report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils import servicemeshcontroller_builder as smcb
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_apply import (
    ApplyResult,
    apply_object,
    delete_object,
    describe,
    diff_of,
    ensure_namespace,
    get_object,
    is_managed_by_us,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_client import get_k8s_client
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_wait import (
    all_conditions_true,
    gone,
    wait_for,
)


def controller_ready(obj):
    """Wait predicate: status of the current generation, phase SUCCEEDED, every condition True.

    Phase FAILED (for the current generation) raises at once with the operator's message.
    """
    if obj is None:
        return False, "the ServiceMeshController does not exist"
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        # The previous status (maybe SUCCEEDED) says nothing about the new spec yet.
        return False, "the operator has not reconciled generation %s yet (status is for generation %s)" % (
            generation, observed)
    phase = status.get("phase")
    meta = obj["metadata"]
    if phase == "FAILED":
        _done, pending = all_conditions_true(obj)
        raise GloomeshError(
            "%s failed (phase FAILED): %s%s" % (
                describe(smcb.KIND, meta["name"], meta.get("namespace")),
                status.get("message") or "no message from the operator",
                "; " + pending if pending else ""),
            phase=phase, conditions=status.get("conditions") or [])
    done, missing = all_conditions_true(obj)
    if phase != "SUCCEEDED":
        phase_missing = "phase is %s, not SUCCEEDED" % (phase or "not reported yet")
        missing = "%s; %s" % (phase_missing, missing) if missing else phase_missing
        done = False
    return done, missing


def _public(obj):
    """The object as returned to the user: managedFields are bulky and say nothing useful."""
    if obj is None:
        return {}
    obj = dict(obj, metadata=dict(obj.get("metadata") or {}))
    obj["metadata"].pop("managedFields", None)
    return obj


def _extensions_absent(client, namespace, check_mode):
    """No extensions wanted: delete gloo-extensions-config if we created it, else leave it."""
    live = get_object(client, "v1", "ConfigMap", smcb.EXTENSIONS_NAME, namespace)
    if live is None:
        return ApplyResult(False, None, None, "absent")
    if not is_managed_by_us(live):
        return ApplyResult(False, live, live, "unmanaged")
    return delete_object(client, "v1", "ConfigMap", smcb.EXTENSIONS_NAME, namespace, check_mode)


def _report(module, results, controller):
    status = (controller or {}).get("status") or {}
    report = {
        "changed": any(result.changed for _what, result in results),
        "resource": _public(controller),
        "phase": status.get("phase"),
        "conditions": status.get("conditions") or [],
        "actions": dict((what, result.action) for what, result in results),
    }
    if module._diff:
        diffs = []
        for what, result in results:
            if result.changed or what == "controller":
                diff = diff_of(result)
                diff["before_header"] = diff["after_header"] = what
                diffs.append(diff)
        report["diff"] = diffs
    return report


def _wait(client, params, predicate, what, results):
    try:
        return wait_for(client, smcb.API_VERSION, smcb.KIND, params["name"], params["namespace"],
                        predicate, params["wait_timeout"], what)
    except GloomeshError as exc:
        # The task still changed the cluster before the wait failed: say so.
        exc.details.setdefault("changed", any(result.changed for _what, result in results))
        exc.details["actions"] = dict((w, result.action) for w, result in results)
        raise


def present(module, client=None):
    params = module.params
    plan = smcb.build(params)  # every validation error is raised here, before connecting
    for warning in plan["warnings"]:
        module.warn(warning)
    client = client or get_k8s_client(module)
    check_mode = module.check_mode
    namespace = params["namespace"]
    results = [("namespace", ensure_namespace(client, namespace, check_mode))]
    # Extensions first: the operator reads them when it reconciles the controller.
    if plan["extensions"] is None:
        results.append(("extensions_config", _extensions_absent(client, namespace, check_mode)))
    else:
        results.append(("extensions_config", apply_object(client, plan["extensions"], check_mode)))
    applied = apply_object(client, plan["controller"], check_mode)
    results.append(("controller", applied))
    controller = applied.after
    if params["wait"] and not check_mode:
        controller = _wait(client, params, controller_ready,
                           "%s to be ready" % describe(smcb.KIND, params["name"], namespace), results)
    return _report(module, results, controller)


def absent(module, client=None):
    params = module.params
    smcb.check_names(params)
    client = client or get_k8s_client(module)
    check_mode = module.check_mode
    namespace = params["namespace"]
    deleted = delete_object(client, smcb.API_VERSION, smcb.KIND, params["name"], namespace, check_mode)
    results = [("controller", deleted)]
    if deleted.changed and params["wait"] and not check_mode:
        # The operator uninstalls Istio before the object goes (finalizers).
        _wait(client, params, gone, "%s to be deleted" % describe(smcb.KIND, params["name"], namespace), results)
    results.append(("extensions_config", _extensions_absent(client, namespace, check_mode)))
    return _report(module, results, None)


def run(module):
    """The module's one call: state present or absent."""
    if module.params["state"] == "absent":
        return absent(module)
    return present(module)
