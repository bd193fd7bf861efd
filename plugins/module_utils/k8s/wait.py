# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Watch-based waits whose timeout names what is still missing.

wait_for() lists the one object (field selector metadata.name) to get its state and a
resourceVersion, then watches from there: it returns on the first event that satisfies
the predicate, not at the next poll. Watches ask for bookmarks; an expired watch (410 Gone)
is re-listed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    api_error,
    describe,
    resource_for,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import CONNECT_TIMEOUT

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.watch import Watch
    from urllib3.exceptions import HTTPError as TransportError
except ImportError:
    # run_module() has already failed naming the missing library; stay importable.
    class ApiException(Exception):  # pylint: disable=missing-class-docstring
        pass

    class TransportError(Exception):  # pylint: disable=missing-class-docstring
        pass

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


def condition_in(conditions, condition_type):
    """The condition ``condition_type`` of a status.conditions list, or None when not reported."""
    return next((c for c in conditions if c.get("type") == condition_type), None)


def condition_of(obj, condition_type):
    """The status condition ``condition_type`` of ``obj``, or None when not reported."""
    return condition_in(_conditions(obj), condition_type)


def describe_condition(condition):
    """One condition as messages show it: ``Type=Status (Reason: message)``."""
    text = "%s=%s" % (condition.get("type"), condition.get("status"))
    detail = ": ".join(filter(None, (condition.get("reason"), condition.get("message"))))
    return "%s (%s)" % (text, detail) if detail else text


def condition_not_true(condition, condition_type):
    """Why ``condition`` (of type ``condition_type``, None when not reported) is not True, or None."""
    if condition is None:
        return "condition %s not reported yet" % condition_type
    if condition.get("status") == "True":
        return None
    return "condition %s not True: %s" % (condition_type, describe_condition(condition))


def condition_true(condition_type):
    """Predicate: condition ``condition_type`` is True."""
    def predicate(obj):
        if obj is None:
            return False, "object does not exist"
        why = condition_not_true(condition_of(obj, condition_type), condition_type)
        return why is None, why or ""
    return predicate


def _generation_current(obj):
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    return observed is None or observed >= (obj.get("metadata") or {}).get("generation", 0)


def deployment_available(obj):
    """Done when the Deployment's controller has seen its spec and every replica is available."""
    if obj is None:
        return False, "Deployment does not exist"
    status = obj.get("status") or {}
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    available = status.get("availableReplicas") or 0
    if not _generation_current(obj) or available < wanted:
        return False, "%d/%d replicas available" % (available, wanted)
    return True, ""


def daemonset_ready(obj):
    """Done when the DaemonSet runs a ready pod on every node it is scheduled to (at least one)."""
    if obj is None:
        return False, "DaemonSet does not exist"
    status = obj.get("status") or {}
    desired = status.get("desiredNumberScheduled") or 0
    ready = status.get("numberReady") or 0
    if not _generation_current(obj) or desired < 1 or ready < desired:
        return False, "%d/%d pods ready" % (ready, desired)
    return True, ""


def exists(obj):
    """wait_for predicate: the object is there."""
    return obj is not None, "it does not exist yet"


def gone(obj):
    """Done when the object no longer exists."""
    if obj is None:
        return True, ""
    return False, "object still exists"


# ---------------------------------------------------------------- the wait

# The server ends each watch after this long (or sooner, at the deadline); a new watch then
# resumes from the last resourceVersion. Short windows also bound how long a frozen server, whose
# stream simply goes silent, can keep a wait from noticing.
WATCH_WINDOW = 30


def _list(cluster, resource, what, namespace, field_selector):
    try:
        listing = cluster.api.get(resource, namespace=namespace, field_selector=field_selector).to_dict()
    except ApiException as exc:
        raise api_error(exc, "reading", what)
    objects = dict(((o["metadata"].get("namespace"), o["metadata"]["name"]), o) for o in listing.get("items") or [])
    return objects, listing["metadata"]["resourceVersion"]


def watch_until(cluster, resource, what, check, timeout, namespace=None, field_selector=None):
    """List the objects of ``resource`` (``what`` names them in errors), then watch them until
    ``check(objects)`` returns (True, state) or ``timeout`` seconds have passed; ``objects`` maps
    (namespace, name) to each live object. Returns (objects, done, state) of the last check.

    ``check`` may raise GloomeshError to fail at once. The watch runs in windows of WATCH_WINDOW
    seconds, resuming from the last resourceVersion (a fresh list when it expired); a stream silent
    past its window and request_timeout fails naming the cluster, the only way a frozen server shows.
    """
    deadline = time.monotonic() + timeout
    objects, version = _list(cluster, resource, what, namespace, field_selector)
    done, state = check(objects)
    while not done and time.monotonic() < deadline:
        window = max(1, int(math.ceil(min(deadline - time.monotonic(), WATCH_WINDOW))))
        watcher = Watch()
        heard = time.monotonic()  # the stream's last sign of life: a silent one fails read_timeout later
        try:
            # Bookmarks move the resourceVersion on while nothing we watch changes, so the next
            # window resumes where this one ended instead of re-listing after a 410.
            for event in watcher.stream(resource.get, namespace=namespace, field_selector=field_selector,
                                        resource_version=version, timeout_seconds=window, serialize=False,
                                        allow_watch_bookmarks=True,
                                        _request_timeout=(CONNECT_TIMEOUT, window + cluster.timeout)):
                heard = time.monotonic()
                raw = event["raw_object"]
                version = raw.get("metadata", {}).get("resourceVersion", version)
                if event["type"] == "BOOKMARK":
                    continue
                key = (raw["metadata"].get("namespace"), raw["metadata"]["name"])
                if event["type"] == "DELETED":
                    objects.pop(key, None)
                else:
                    objects[key] = raw
                done, state = check(objects)
                if done or time.monotonic() >= deadline:
                    watcher.stop()
                    break
        except ApiException as exc:
            if exc.status != 410:
                raise api_error(exc, "watching", what)
            objects, version = _list(cluster, resource, what, namespace, field_selector)
            done, state = check(objects)
        except TransportError as exc:
            raise cluster.unreachable(exc, "watching %s" % what, read_timeout=window + cluster.timeout,
                                      unanswered=time.monotonic() - heard)
    return objects, done, state


def _timeout_error(timeout, what, missing, obj):
    return GloomeshError(
        "timed out after %ss waiting for %s: %s; last status: %s"
        % (timeout, what, missing, compact_status(obj)),
        missing=missing, status=(obj or {}).get("status"))


def wait_for(cluster, api_version, kind, name, namespace, predicate, timeout, what):
    """Wait until ``predicate(obj_or_None)`` returns (True, _); return the object (or None).

    ``predicate`` may raise GloomeshError to fail at once (e.g. a FAILED phase).
    On timeout: GloomeshError("timed out after Ns waiting for <what>: <missing>; last status: ...").
    A server that stops answering fails the wait at once, naming the cluster.
    """
    def check(objects):
        obj = next(iter(objects.values()), None)
        done, missing = predicate(obj)
        return done, (obj, missing)

    _objects, done, (obj, missing) = watch_until(
        cluster, resource_for(cluster, api_version, kind), describe(kind, name, namespace), check, timeout,
        namespace=namespace, field_selector="metadata.name=%s" % name)
    if not done:
        raise _timeout_error(timeout, what, missing, obj)
    return obj
