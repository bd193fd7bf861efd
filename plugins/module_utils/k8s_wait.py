# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Watch-based waits whose timeout names what is still missing.

wait_for() lists the one object (field selector metadata.name) to get its state and a
resourceVersion, then watches from there: it returns on the first event that satisfies
the predicate, not at the next poll. An expired watch (410 Gone) is re-listed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_apply import (
    api_error,
    resource_for,
    describe,
)

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.watch import Watch
except ImportError:
    # gloomesh_module() has already failed with missing_required_lib(); stay importable.
    ApiException = Exception

# Options shared by every module that waits; documented by the gloomesh.multicluster.wait
# doc fragment (keep both in step).
WAIT_ARG_SPEC = {
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 300},
}

_STATUS_CHARS = 600


def compact_status(obj):
    """One-line JSON of obj.status, truncated, for error messages."""
    if obj is None:
        return "object not found"
    text = json.dumps(obj.get("status") or {}, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= _STATUS_CHARS else text[:_STATUS_CHARS] + "..."


# ---------------------------------------------------------------- predicates

def _conditions(obj):
    return ((obj or {}).get("status") or {}).get("conditions") or []


def _describe_condition(condition):
    text = "%s=%s" % (condition.get("type"), condition.get("status"))
    detail = condition.get("message") or condition.get("reason")
    return "%s (%s)" % (text, detail) if detail else text


def all_conditions_true(obj):
    """Done when the object has status conditions and every one is True."""
    if obj is None:
        return False, "object does not exist"
    conditions = _conditions(obj)
    if not conditions:
        return False, "no status conditions reported yet"
    pending = [c for c in conditions if c.get("status") != "True"]
    if pending:
        return False, "conditions not True: %s" % ", ".join(_describe_condition(c) for c in pending)
    return True, ""


def condition_true(condition_type):
    """Predicate: condition ``condition_type`` is True."""
    def predicate(obj):
        if obj is None:
            return False, "object does not exist"
        for condition in _conditions(obj):
            if condition.get("type") == condition_type:
                if condition.get("status") == "True":
                    return True, ""
                return False, "condition %s not True: %s" % (
                    condition_type, _describe_condition(condition))
        return False, "condition %s not reported yet" % condition_type
    return predicate


def gone(obj):
    """Done when the object no longer exists."""
    if obj is None:
        return True, ""
    return False, "object still exists"


def all_of(*predicates):
    """Predicate: every predicate done; ``missing`` joins what each one still lacks."""
    def predicate(obj):
        missing = [m for done, m in (p(obj) for p in predicates) if not done]
        return not missing, "; ".join(missing)
    return predicate


# ---------------------------------------------------------------- the wait

def _list(client, resource, kind, name, namespace):
    try:
        listing = client.client.get(resource, namespace=namespace,
                                    field_selector="metadata.name=%s" % name).to_dict()
    except ApiException as exc:
        raise api_error(exc, "reading", describe(kind, name, namespace))
    items = listing.get("items") or []
    return (items[0] if items else None), listing["metadata"]["resourceVersion"]


def wait_for(client, api_version, kind, name, namespace, predicate, timeout, what):
    """Wait until ``predicate(obj_or_None)`` returns (True, _); return the object (or None).

    ``predicate`` may raise GloomeshError to fail at once (e.g. a FAILED phase).
    On timeout: GloomeshError("timed out after Ns waiting for <what>: <missing>; last status: ...").
    """
    resource = resource_for(client, api_version, kind)
    deadline = time.monotonic() + timeout
    obj, version = _list(client, resource, kind, name, namespace)
    done, missing = predicate(obj)
    while not done:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise GloomeshError(
                "timed out after %ss waiting for %s: %s; last status: %s"
                % (timeout, what, missing, compact_status(obj)),
                missing=missing, status=(obj or {}).get("status"))
        watcher = Watch()
        try:
            for event in client.client.watch(resource, namespace=namespace, name=name,
                                             resource_version=version,
                                             timeout=max(1, int(math.ceil(remaining))),
                                             watcher=watcher):
                raw = event["raw_object"]
                version = raw.get("metadata", {}).get("resourceVersion", version)
                obj = None if event["type"] == "DELETED" else raw
                done, missing = predicate(obj)
                if done or time.monotonic() >= deadline:
                    watcher.stop()
                    break
        except ApiException as exc:
            if exc.status != 410:
                raise api_error(exc, "watching", describe(kind, name, namespace))
            # The resourceVersion expired: re-list and watch from the fresh state.
            obj, version = _list(client, resource, kind, name, namespace)
            done, missing = predicate(obj)
    return obj
