# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""The drift verdict (one home for drift rules): what an install would change, per cluster, from
the results the install steps registered in check mode with --diff.

Pure functions over those results, no I/O; mesh_drift runs ``report`` once on the controller.
One row per field of a changed object (an object to create or remove is one row), one row for a
step that cannot be predicted (its message), one for each peer Gateway someone else wrote for a
cluster that is no peer. The rows are built from the results' structured fields (objects' kind and
metadata, a diff's ``target`` cluster, the root_of_trust result's namespace), never from message
text, and hold what the diffs hold: certificate summaries, never key material.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    INSTALL_NAMESPACE,
    ROOT_OF_TRUST_SECRET,
)

# The install steps of a manually linked cluster, in order: the modules whose results (registered
# by their roles as <module>_result) the report reads.
STEPS = ("root_of_trust", "gloo_operator", "service_mesh", "gateway_api_crds", "eastwest_gateway", "mesh_link")
# The table: cluster, object, field, current, desired (the last two cut to these widths).
ROW_FORMAT = "%-12s %-58s %-28s %-30s %s"
CURRENT_WIDTH, DESIRED_WIDTH = 30, 60


def _row(obj, field, current, desired):
    return {"object": obj, "field": field, "current": current, "desired": desired}


def _walk(obj, path, current, desired, rows):
    """A row per leaf where ``current`` and ``desired`` differ (mappings are walked, lists are leaves)."""
    if isinstance(current, dict) and isinstance(desired, dict):
        for key in sorted(set(current) | set(desired)):
            _walk(obj, path + ("." if path else "") + key, current.get(key), desired.get(key), rows)
    elif current != desired:
        rows.append(_row(obj, path, current, desired))


def cacerts_object(result):
    """``Secret <namespace>/cacerts`` of a root_of_trust result: its namespace, else its options'."""
    options = (result.get("invocation") or {}).get("module_args") or {}
    namespace = result.get("namespace") or options.get("namespace") or INSTALL_NAMESPACE
    return "Secret %s/%s" % (namespace, ROOT_OF_TRUST_SECRET)


def _object_of(step, result, diff, cluster):
    """What a diff is about: ``<Kind> <namespace>/<name>``, and the cluster when it is another one."""
    if step == "root_of_trust":
        return cacerts_object(result)
    shown = diff.get("after") or diff.get("before") or {}
    meta = shown.get("metadata") or {}
    name = "/".join(part for part in (meta.get("namespace"), meta.get("name")) if part)
    obj = "%s %s" % (shown.get("kind") or step, name)
    target = diff.get("target") or cluster
    return obj if target == cluster else "%s in cluster %s" % (obj, target)


def _diff_rows(step, result, cluster):
    diffs = result.get("diff") or []
    rows = []
    for diff in [diffs] if isinstance(diffs, dict) else diffs:
        live, wanted = diff.get("before") or {}, diff.get("after") or {}
        obj = _object_of(step, result, diff, cluster)
        if not live or not wanted:
            rows.append(_row(obj, "-", "present" if live else "absent", "present" if wanted else "absent"))
        else:
            _walk(obj, "", live, wanted, rows)
    return rows


def _foreign_peers(result):
    return [_row("Gateway %s/%s" % (peer["namespace"], peer["name"]), "-",
                 "peer for %s, not created by gloomesh.multicluster" % peer["cluster"],
                 "absent: %s is not a peer of this cluster" % peer["cluster"])
            for peer in result.get("peers") or [] if peer.get("action") == "foreign"]


def step_rows(step, result, cluster):
    """The rows of one step's result (a module's check-mode result) in ``cluster``."""
    result = result or {}
    if result.get("existing_root_fingerprints") is not None:
        # root_of_trust refuses a cacerts of another root: the roots are the drift.
        rows = [_row(cacerts_object(result), "root-cert.pem (SHA-256)",
                     ", ".join(result["existing_root_fingerprints"]), result.get("root_fingerprint"))]
    elif result.get("failed"):
        obj = cacerts_object(result) if step == "root_of_trust" else step
        rows = [_row(obj, "-", "cannot be predicted", result.get("msg") or "failed")]
    elif result.get("changed"):
        rows = _diff_rows(step, result, cluster)
    else:
        rows = []
    return rows + _foreign_peers(result)


def report(clusters):
    """``clusters``: {cluster: {step: its result}}. {"drifted": bool, "clusters": {cluster: [row]}}."""
    rows = dict((cluster, [row for step in STEPS for row in step_rows(step, results.get(step), cluster)])
                for cluster, results in clusters.items())
    return {"drifted": any(rows.values()), "clusters": rows}


def drifted_clusters(drift):
    return sorted(cluster for cluster, rows in drift["clusters"].items() if rows)


def _cut(value, width):
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def render(drift):
    """The report as table lines, for a person."""
    lines = [ROW_FORMAT % ("CLUSTER", "OBJECT", "FIELD", "CURRENT", "DESIRED")]
    for cluster, rows in sorted(drift["clusters"].items()):
        lines.extend(ROW_FORMAT % (cluster, row["object"], row["field"], _cut(row["current"], CURRENT_WIDTH),
                                   _cut(row["desired"], DESIRED_WIDTH)) for row in rows)
        if not rows:
            lines.append("%-12s %s" % (cluster, "(no drift)"))
    return lines
