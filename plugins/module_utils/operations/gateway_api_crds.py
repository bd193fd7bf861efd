# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What gateway_api_crds does: decide from the installed CRDs' annotations, install only what is
missing or older, never downgrade, never take fields from another manager unless told to.

A cluster already on the pinned bundle costs one metadata-only list of the CRDs and a discovery
lookup: the manifest (about 600 KB of schemas) is neither downloaded nor read nor parsed. Only
when CRDs must be installed is it read (a local file, or the release URL downloaded once to the
controller's cache), dry-run applied as a whole so that a conflict or a refusal stops the install
before its first write, then applied (server-side apply, field manager gloomesh) and waited for.
The rules on versions, channels and providers are in builders/gateway_api_crds.py, with their
upstream sources.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.gloomesh.multicluster.plugins.module_utils import files, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway_api_crds as bundle
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    api_error,
    apply_object,
    describe,
    resource_for,
    served,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import condition_true, wait_for

try:
    import yaml
    from kubernetes.dynamic.exceptions import DynamicApiError
except ImportError:
    # run_module() has already failed naming the missing library; stay importable.
    yaml = None
    DynamicApiError = Exception

# Metadata only (no schemas): what the decision needs, at a fraction of the bytes. Plain JSON when a
# server cannot answer in that form.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
MANIFEST_NAME = "standard-install.yaml"
# A socket that stays silent this long fails the download instead of hanging the run.
DOWNLOAD_TIMEOUT = 60
# How long a host waits for another host that downloads the same manifest.
DOWNLOAD_LOCK_TIMEOUT = 300
# Conflicting fields listed per field manager in a message (all of them are in the result).
FIELDS_SHOWN = 3
_MANAGER = re.compile(r'conflict with "([^"]*)"')
# libyaml when available: the pure-Python parser takes seconds over a release manifest.
_LOADER = getattr(yaml, "CSafeLoader", None) or getattr(yaml, "SafeLoader", None)


def run(invocation):
    params = invocation.params
    pinned = validation.gateway_api_version(params["version"], "version")
    if params["wait_timeout"] < 1:
        raise GloomeshError("wait_timeout must be at least 1 (seconds), got %s" % params["wait_timeout"],
                            option="wait_timeout")
    url = validation.url(params["url"], "url") if params["url"] else bundle.RELEASE_URL % pinned

    cluster = invocation.cluster()
    plan = bundle.plan(_installed_crds(cluster), pinned)
    result = {"changed": False, "policy": params["policy"], "version": str(pinned), "left_alone": plan.left_alone,
              "message": plan.message, "crds": _report(plan), "conflicts": [], "manifest_read": False}

    if params["policy"] == "skip":
        _require_served(cluster, plan, "gateway_api_crds policy is skip: install the Gateway API CRDs (standard "
                        "channel, %s or later) yourself, or set the policy to install" % pinned)
        older = [s.detail for s in plan.states.values() if s.state == bundle.OLDER]
        if older:
            invocation.warn("policy skip: Gateway API CRDs older than the pinned %s are left as they are: %s"
                            % (pinned, "; ".join(sorted(older))))
        result.update(action="skipped", message="policy skip: " + plan.message)
        return result
    if not plan.install:
        if plan.left_alone:
            invocation.warn("cluster %s: %s" % (cluster.name, plan.message))
        _require_served(cluster, plan, plan.message)
        result["action"] = "left_alone" if plan.left_alone else "unchanged"
        return result

    source, objects = _manifest(invocation, params, pinned, url)
    result.update(manifest_read=True, manifest=source)
    selected = bundle.select_documents(objects, plan)
    force = params["force_conflicts"]
    predicted, conflicts = _dry_run(cluster, selected, force)
    result["conflicts"] = conflicts
    if conflicts:
        _report_conflicts(invocation, cluster, conflicts, force)
    if invocation.check_mode:
        outcome = predicted
    else:
        outcome = [apply_object(cluster, obj, False, force_conflicts=force) for obj in selected]
    result.update(changed=any(r.changed for r in outcome), action="applied",
                  crds=_report(plan, applied=selected), objects=_objects(outcome))
    if invocation.diff:
        result["diff"] = _diff(outcome)
    if not invocation.check_mode and params["wait"]:
        _wait_established(cluster, [o for o in selected if o["kind"] == bundle.CRD_KIND], params["wait_timeout"])
    return result


# ---------------------------------------------------------------- reading the cluster

def _installed_crds(cluster):
    """Metadata (name, labels, annotations, managedFields) of every CRD, in one request."""
    resource = resource_for(cluster, bundle.CRD_API_VERSION, bundle.CRD_KIND)
    try:
        response = cluster.api.get(resource, serialize=False, header_params={"Accept": METADATA_LIST})
    except DynamicApiError as exc:
        raise api_error(exc, "listing", "CustomResourceDefinitions")
    return json.loads(response.data).get("items") or []


def _require_served(cluster, plan, why):
    """Fail unless the required CRDs exist and the API server serves their kinds at v1."""
    api_version = bundle.GATEWAY_API_VERSION
    missing = [kind for kind, plural in bundle.REQUIRED_KINDS
               if plan.states[bundle.crd_name(plural)].state == bundle.MISSING or not served(cluster, api_version, kind)]
    if missing:
        raise GloomeshError(
            "cluster %s does not serve %s %s, which the mesh needs (%s)" % (
                cluster.name, api_version, ", ".join(missing), why),
            context=cluster.name, missing=missing, left_alone=plan.left_alone)


def _report(plan, applied=()):
    """One entry per CRD: what happens to it, its version before and after."""
    applied = set(o["metadata"]["name"] for o in applied if o.get("kind") == bundle.CRD_KIND)
    actions = {bundle.MISSING: "created", bundle.OLDER: "upgraded", bundle.CURRENT: "unchanged"}
    report = []
    for name in sorted(set(plan.states) | applied):
        state = plan.states.get(name) or bundle.CrdState(name, bundle.MISSING)
        if name in applied:
            action, after = actions[state.state], str(plan.pinned)
        elif state.state in (bundle.MISSING, bundle.OLDER):
            # Missing from the manifest too (an absent required CRD was refused earlier).
            action, after = "unchanged", state.version
        else:
            action, after = actions.get(state.state, "left_alone"), state.version
        report.append({"name": name, "action": action, "version_before": state.version,
                       "version_after": after, "channel": state.channel, "state": state.state})
    return report


# ---------------------------------------------------------------- the manifest

def _manifest(invocation, params, pinned, url):
    """(where it came from, its objects), checked to be the standard bundle ``pinned``."""
    if params["src"]:
        source = os.path.expanduser(params["src"])
        option = "src"
        text = _read(source, option)
    else:
        option = "url"
        source = os.path.join(os.path.expanduser(params["cache_dir"]), str(pinned), MANIFEST_NAME)
        text = _cached_download(url, source, invocation.check_mode)
    try:
        objects = bundle.flatten(yaml.load_all(text, Loader=_LOADER))
    except (yaml.YAMLError, ValueError) as exc:
        raise GloomeshError("the Gateway API manifest %s (option %s) is not valid YAML: %s" % (source, option, exc),
                            option=option)
    problems = bundle.manifest_problems(objects, pinned, source)
    if problems:
        raise GloomeshError("the Gateway API manifest is not the standard bundle %s: %s"
                            % (pinned, "; ".join(problems)), option=option, problems=problems)
    return source, objects


def _read(path, option):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise GloomeshError("cannot read the Gateway API manifest %s (option %s): %s"
                            % (path, option, exc.strerror or exc), option=option)


def _cached_download(url, path, check_mode):
    """The manifest at ``path``, downloaded from ``url`` when not there yet (once: hosts that need
    it at the same time wait for the first one's download). Check mode keeps it in memory only."""
    if os.path.isfile(path):
        return _read(path, "url")
    if check_mode:
        return _download(url)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with files.exclusive_lock(path + ".lock", timeout=DOWNLOAD_LOCK_TIMEOUT):
            if not os.path.isfile(path):
                files.write_atomic(path, _download(url), 0o644)
    except (IOError, OSError, TimeoutError) as exc:
        raise GloomeshError("cannot keep the Gateway API manifest in %s: %s" % (path, exc), option="cache_dir")
    return _read(path, "url")


def _download(url):
    try:
        response = open_url(url, timeout=DOWNLOAD_TIMEOUT)
        try:
            return response.read()
        finally:
            response.close()
    except HTTPError as exc:
        raise _download_error(url, "HTTP %s %s" % (exc.code, exc.reason))
    except (URLError, SSLValidationError, HTTPException, IOError, OSError) as exc:
        raise _download_error(url, getattr(exc, "reason", None) or exc)


def _download_error(url, reason):
    return GloomeshError("downloading the Gateway API manifest from %s failed: %s (for an air-gapped controller, "
                         "give a local copy with option src)" % (url, reason), option="url", url=url)


# ---------------------------------------------------------------- applying

def _dry_run(cluster, objects, force):
    """Server-side dry run of every object before any write: a refusal (conflict, admission
    policy, schema) stops the install with nothing written. Returns the predicted ApplyResults
    and the fields other managers own (taken over when ``force``)."""
    predicted, conflicts = [], []
    for obj in objects:
        try:
            predicted.append(apply_object(cluster, obj, True))
        except GloomeshError as exc:
            if exc.details.get("status") != 409:
                raise
            what = describe(obj["kind"], obj["metadata"]["name"])
            for cause in exc.details.get("conflicts") or []:
                match = _MANAGER.search(cause.get("manager") or "")
                conflicts.append({"object": what, "manager": match.group(1) if match else cause.get("manager"),
                                  "field": cause.get("field")})
            if force:
                predicted.append(apply_object(cluster, obj, True, force_conflicts=True))
    return predicted, conflicts


def _report_conflicts(invocation, cluster, conflicts, force):
    by_manager = {}
    for conflict in conflicts:
        by_manager.setdefault(conflict["manager"], []).append("%s %s" % (conflict["object"], conflict["field"]))
    owned = "; ".join("field manager %r owns %s%s" % (
        manager, ", ".join(fields[:FIELDS_SHOWN]),
        " and %d more" % (len(fields) - FIELDS_SHOWN) if len(fields) > FIELDS_SHOWN else "")
        for manager, fields in sorted(by_manager.items()))
    if force:
        invocation.warn("cluster %s: taking over Gateway API CRD fields (force_conflicts): %s" % (cluster.name, owned))
        return
    raise GloomeshError(
        "cluster %s: installing the Gateway API CRDs would change fields another field manager owns, so "
        "nothing was written: %s. Set force_conflicts (role variable gateway_api_crds_force_conflicts) to "
        "take them over, or have that manager upgrade the CRDs" % (cluster.name, owned),
        context=cluster.name, conflicts=conflicts)


def _version_of(obj):
    return ((obj or {}).get("metadata", {}).get("annotations") or {}).get(bundle.BUNDLE_VERSION_ANNOTATION)


def _objects(outcome):
    return [{"object": describe(r.after["kind"], r.after["metadata"]["name"]), "action": r.action,
             "version_before": _version_of(r.before), "version_after": _version_of(r.after)} for r in outcome]


def _diff(outcome):
    """Which objects are created or upgraded, by bundle version: not their schemas."""
    before, after = {}, {}
    for result in outcome:
        if not result.changed:
            continue
        key = "%s/%s" % (result.after["kind"], result.after["metadata"]["name"])
        if result.before is not None:
            before[key] = _version_of(result.before) or "(no bundle version)"
        after[key] = _version_of(result.after) or "(no bundle version)"
    return {"before": before, "after": after}


def _wait_established(cluster, crds, timeout):
    """Wait, within one deadline for all, until every applied CRD is Established."""
    deadline = time.monotonic() + timeout
    for crd in crds:
        name = crd["metadata"]["name"]
        remaining = max(1, int(deadline - time.monotonic()))
        wait_for(cluster, bundle.CRD_API_VERSION, bundle.CRD_KIND, name, None, condition_true("Established"),
                 remaining, "%s to be Established" % describe(bundle.CRD_KIND, name))
