# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Server-side apply / delete with check mode, diff and write-free re-runs.

Every object is applied with field manager ``gloomesh``. Whether an apply is needed is
decided from one GET, without writing (not even a dry run):

* the desired object must be a deep subset of the live one, and
* no field that ``gloomesh`` owns on the live object (its Apply entry in
  ``metadata.managedFields``) may be missing from the desired object; otherwise a label or
  optional field we stopped setting would never be removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    FIELD_MANAGER,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

try:
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
except ImportError:
    # run_module() has already failed naming the missing library; stay importable.
    DynamicApiError = ResourceNotFoundError = Exception

REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"

# Server-maintained metadata: never part of "did the object change" nor of a diff.
NOISE_METADATA = ("resourceVersion", "generation", "managedFields", "creationTimestamp",
                  "uid", "selfLink")


class ApplyResult(object):
    """Outcome of apply_object / delete_object / ensure_namespace.

    action: created | updated | unchanged | deleted | absent
    """

    __slots__ = ("changed", "before", "after", "action")

    def __init__(self, changed, before, after, action):
        self.changed = changed
        self.before = before
        self.after = after
        self.action = action

    def __repr__(self):
        return "ApplyResult(changed=%r, action=%r)" % (self.changed, self.action)


def is_managed_by_us(obj, manager=FIELD_MANAGER):
    """True when we manage ``obj``: our managed-by label, applied by our own field manager.

    The label alone is no proof: automatic peering copies the east-west Gateway's labels
    (ours included) onto the peer Gateways istiod creates, so ownership of the label in
    managedFields is what tells our objects apart.
    """
    metadata = (obj or {}).get("metadata") or {}
    if (metadata.get("labels") or {}).get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
        return False
    for entry in metadata.get("managedFields") or []:
        if entry.get("manager") != manager:
            continue
        labels = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:labels") or {}
        if "f:" + MANAGED_BY_LABEL in labels:
            return True
    return False


def describe(kind, name, namespace=None):
    """'Gateway istio-eastwest/istio-eastwest' — how objects are named in messages."""
    return "%s %s" % (kind, "%s/%s" % (namespace, name) if namespace else name)


# ---------------------------------------------------------------- pure comparison logic

def strip_noise(obj):
    """A copy of ``obj`` without status and server-maintained metadata (None stays None)."""
    if obj is None:
        return None
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict):
        for key in NOISE_METADATA:
            metadata.pop(key, None)
    return clean


def _empty(value):
    return value is None or value == {} or value == []


def _scalar_equal(desired, live):
    # True == 1 in Python; a bool must still match a bool.
    return desired == live and isinstance(desired, bool) == isinstance(live, bool)


def subset_mismatch(desired, live, path=""):
    """First path where ``desired`` is not a deep subset of ``live``, or None.

    Maps: every desired key must match (an empty/None desired value matches an absent
    key, as the server drops empty maps). A list whose elements all have a ``name`` is a
    list keyed by name (``x-kubernetes-list-type: map``, e.g. Gateway listeners, container
    ports): each desired element must match the live one of its name, and elements another
    field manager added are theirs. Other lists are atomic: element by element, same length.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return path or "."
        for key, value in desired.items():
            child = "%s.%s" % (path, key)
            if key not in live:
                if _empty(value):
                    continue
                return child
            mismatch = subset_mismatch(value, live[key], child)
            if mismatch:
                return mismatch
        return None
    if isinstance(desired, list) and desired and isinstance(live, list) and all(
            isinstance(element, dict) and "name" in element for element in desired):
        by_name = {element.get("name"): element for element in live if isinstance(element, dict)}
        for want in desired:
            child = "%s[name=%s]" % (path, want["name"])
            if want["name"] not in by_name:
                return child
            mismatch = subset_mismatch(want, by_name[want["name"]], child)
            if mismatch:
                return mismatch
        return None
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return path or "."
        for index, (want, have) in enumerate(zip(desired, live)):
            mismatch = subset_mismatch(want, have, "%s[%d]" % (path, index))
            if mismatch:
                return mismatch
        return None
    return None if _scalar_equal(desired, live) else (path or ".")


def _list_element(desired, key_json):
    keys = json.loads(key_json)
    for element in desired:
        if isinstance(element, dict) and all(
                element.get(k) == v for k, v in keys.items()):
            return element
    return None


def _missing_owned(fields, desired, path):
    """First path in a managedFields fieldsV1 tree that ``desired`` no longer sets, or None."""
    for key, sub in fields.items():
        if key == ".":
            continue
        prefix, _sep, rest = key.partition(":")
        if prefix == "f":
            child_path = "%s.%s" % (path, rest)
            if not isinstance(desired, dict) or rest not in desired:
                return child_path
            child = desired[rest]
        elif prefix == "k":
            child_path = "%s[%s]" % (path, rest)
            child = _list_element(desired, rest) if isinstance(desired, list) else None
            if child is None:
                return child_path
        elif prefix == "v":
            if not isinstance(desired, list) or json.loads(rest) not in desired:
                return "%s[=%s]" % (path, rest)
            continue
        elif prefix == "i":
            child_path = "%s[%s]" % (path, rest)
            if not isinstance(desired, list) or int(rest) >= len(desired):
                return child_path
            child = desired[int(rest)]
        else:
            continue
        if sub:
            missing = _missing_owned(sub, child, child_path)
            if missing:
                return missing
    return None


def _applied_fields(live, manager):
    """The fieldsV1 trees ``manager`` applied on ``live`` (server-side apply, not via a subresource)."""
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            yield entry.get("fieldsV1") or {}


def owns_field(live, path, manager=FIELD_MANAGER):
    """True when ``manager`` applied the field at ``path`` (keys, e.g. ("spec", "network")) of ``live``."""
    return any(_lookup(fields, ["f:" + key for key in path]) is not None for fields in _applied_fields(live, manager))


def owned_field_missing(desired, live, manager=FIELD_MANAGER):
    """A field ``manager`` applied on ``live`` that ``desired`` no longer contains, or None."""
    for fields in _applied_fields(live, manager):
        missing = _missing_owned(fields, desired, "")
        if missing:
            return missing
    return None


def apply_needed(desired, live, manager=FIELD_MANAGER):
    """Why ``desired`` must be applied over ``live`` (a short reason), or None when up to date."""
    if live is None:
        return "object does not exist"
    mismatch = subset_mismatch(desired, live)
    if mismatch:
        return "field %s differs" % mismatch
    missing = owned_field_missing(desired, live, manager)
    if missing:
        return "field %s set by %s is no longer desired" % (missing, manager)
    return None


def _lookup(obj, keys):
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _redact(before, after, path):
    parents = (_lookup(before, path[:-1]), _lookup(after, path[:-1]))
    last = path[-1]
    names = set()
    for parent in parents:
        if isinstance(parent, dict):
            names.update(parent if last == "*" else [last] if last in parent else [])
    old_parent, new_parent = parents
    for name in names:
        old_value = old_parent.get(name) if isinstance(old_parent, dict) else None
        if isinstance(old_parent, dict) and name in old_parent:
            old_parent[name] = REDACTED
        if isinstance(new_parent, dict) and name in new_parent:
            same = isinstance(old_parent, dict) and new_parent[name] == old_value
            new_parent[name] = REDACTED if same else REDACTED_CHANGED


def diff_of(result, redact=()):
    """{'before': ..., 'after': ...} for --diff, without noise and with secrets masked.

    ``redact`` holds key paths (tuples, e.g. ``("data", "ca-key.pem")``); a last element
    ``"*"`` masks every key of that mapping (``("data", "*")`` for a Secret). A masked
    value that changed shows as ``<redacted, changed>`` so the diff still says so.
    """
    before = strip_noise(result.before) or {}
    after = strip_noise(result.after) or {}
    for path in redact:
        _redact(before, after, tuple(path))
    return {"before": before, "after": after}


# ---------------------------------------------------------------- API calls

def resource_for(cluster, api_version, kind):
    """The discovered API resource; an unserved kind (CRD missing) is a GloomeshError."""
    try:
        return cluster.resource(kind, api_version)
    except ResourceNotFoundError:
        raise GloomeshError(
            "the API server does not serve %s %s; is its CustomResourceDefinition installed?"
            % (api_version, kind), api_version=api_version, kind=kind)


def served(cluster, api_version, kind):
    """Whether the API server serves the kind (its CustomResourceDefinition is installed)."""
    try:
        cluster.resource(kind, api_version)
    except ResourceNotFoundError:
        return False
    return True


def _status_body(exc):
    try:
        return json.loads(exc.body)
    except (TypeError, ValueError):
        return {}


def api_error(exc, doing, what):
    """GloomeshError '<doing> <what> failed: <server message>' from an ApiException."""
    message = _status_body(exc).get("message") or "%s %s" % (exc.status, exc.reason)
    return GloomeshError("%s %s failed: %s" % (doing, what, message), status=exc.status)


def _get(cluster, resource, kind, name, namespace):
    try:
        return cluster.api.get(resource, name=name, namespace=namespace).to_dict()
    except DynamicApiError as exc:
        if exc.status == 404:
            return None
        raise api_error(exc, "reading", describe(kind, name, namespace))


def get_object(cluster, api_version, kind, name, namespace=None):
    """The live object as a dict, or None when it does not exist."""
    return _get(cluster, resource_for(cluster, api_version, kind), kind, name, namespace)


def list_objects(cluster, api_version, kind, namespace=None, label_selector=None):
    """Objects of a kind as dicts (every namespace when ``namespace`` is None)."""
    resource = resource_for(cluster, api_version, kind)
    try:
        listing = cluster.api.get(resource, namespace=namespace, label_selector=label_selector)
    except DynamicApiError as exc:
        where = "namespace %s" % namespace if namespace else "all namespaces"
        raise api_error(exc, "listing", "%s in %s" % (kind, where))
    return listing.to_dict().get("items") or []


def _conflict_error(exc, what):
    body = _status_body(exc)
    causes = ((body.get("details") or {}).get("causes")) or []
    conflicts = [{"manager": c.get("message", ""), "field": c.get("field", "")} for c in causes]
    return GloomeshError(
        "applying %s failed: another field manager owns fields we set: %s; set the option "
        "force_conflicts (in the roles, the variable gloomesh_force_conflicts) to take them over"
        % (what, body.get("message") or exc.reason),
        status=exc.status, conflicts=conflicts)


def _namespace_missing(exc, namespace):
    details = _status_body(exc).get("details") or {}
    return details.get("kind") == "namespaces" and details.get("name") == namespace


def apply_object(cluster, desired, check_mode, force_conflicts=False, take_ownership=False, listed=None):
    """Server-side apply ``desired`` (field manager gloomesh) unless it is already in place.

    Up to date: one GET and nothing else; no GET when ``listed`` (the live object as a LIST of
    this run just returned it) is given. ``take_ownership`` (adopting someone else's
    object) always applies, with force, so the object becomes ours even when its values
    already match. Check mode: a server-side dry run, ``after``
    being what the server would store (predicted from ``desired`` when the namespace does
    not exist yet, since the server cannot dry-run into a missing namespace).
    """
    api_version, kind = desired["apiVersion"], desired["kind"]
    name = desired["metadata"]["name"]
    namespace = desired["metadata"].get("namespace")
    what = describe(kind, name, namespace)
    resource = resource_for(cluster, api_version, kind)
    before = listed if listed is not None else _get(cluster, resource, kind, name, namespace)
    if not take_ownership and before is not None and apply_needed(desired, before) is None:
        return ApplyResult(False, before, before, "unchanged")
    try:
        after = cluster.api.server_side_apply(
            resource, body=desired, name=name, namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True if (force_conflicts or take_ownership) else None,
            dry_run="All" if check_mode else None,
        ).to_dict()
    except DynamicApiError as exc:
        if exc.status == 409:
            raise _conflict_error(exc, what)
        if not (exc.status == 404 and check_mode and namespace and _namespace_missing(exc, namespace)):
            raise api_error(exc, "applying", what)
        after = copy.deepcopy(desired)
    changed = take_ownership or strip_noise(before) != strip_noise(after)
    if before is None:
        action = "created"
    else:
        action = "updated" if changed else "unchanged"
    return ApplyResult(changed, before, after, action)


def delete_object(cluster, api_version, kind, name, namespace=None, check_mode=False):
    """Delete the object (server-side dry run in check mode).

    Missing, or already being deleted (deletionTimestamp set, waiting on finalizers):
    action ``absent``, no write.
    """
    resource = resource_for(cluster, api_version, kind)
    before = _get(cluster, resource, kind, name, namespace)
    if before is None or (before.get("metadata") or {}).get("deletionTimestamp"):
        return ApplyResult(False, before, None, "absent")
    try:
        cluster.api.delete(resource, name=name, namespace=namespace,
                           dry_run="All" if check_mode else None)
    except DynamicApiError as exc:
        if exc.status == 404:  # deleted meanwhile
            return ApplyResult(False, before, None, "absent")
        raise api_error(exc, "deleting", describe(kind, name, namespace))
    return ApplyResult(True, before, None, "deleted")


def ensure_namespace(cluster, name, check_mode):
    """Create namespace ``name`` (labelled managed-by gloomesh) when missing; never edit one.

    A namespace stuck in Terminating is an error: nothing can be created in it.
    """
    live = get_object(cluster, "v1", "Namespace", name)
    if live is not None:
        if (live.get("metadata") or {}).get("deletionTimestamp"):
            raise GloomeshError(
                "namespace %s is being deleted (Terminating); objects cannot be created in it "
                "until its deletion completes" % name, namespace=name)
        return ApplyResult(False, live, live, "unchanged")
    desired = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": dict(MANAGED_BY)}}
    return apply_object(cluster, desired, check_mode)
