# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Planning a rolling Istio upgrade across the mesh: which version steps are supported, and in what
order the clusters move (a canary first, then batches). Pure: versions and names in, a plan out.

The rules and their sources (docs/upgrade.md):

* One minor at a time: Istio's in-place upgrade requires "the installed Istio version is no more
  than one minor version less than the upgrade version"
  (https://istio.io/latest/docs/setup/upgrade/in-place/).
* No downgrade: Solo's managed upgrades do not support downgrading, not even a patch
  (https://docs.solo.io/gloo-mesh-enterprise/latest/setup/upgrade/gloo_mesh_managed_upgrade/).
  The Gloo Operator changes istiod in place when ServiceMeshController spec.version changes; going
  back is a rollback this collection does not do yet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

ISTIO_IN_PLACE = "https://istio.io/latest/docs/setup/upgrade/in-place/"
SOLO_MANAGED_UPGRADE = "https://docs.solo.io/gloo-mesh-enterprise/latest/setup/upgrade/gloo_mesh_managed_upgrade/"

CANARY, BATCH, CURRENT = "canary", "batch", "current"


def step_problem(cluster, current, target):
    """Why ``cluster`` cannot move from ``current`` to ``target`` (IstioVersion; current None: no
    ServiceMeshController), or None (also when it is at the target already)."""
    if current is None:
        return ("%s: no ServiceMeshController to upgrade: install the mesh first (install_manual_link or "
                "install_automatic_link)" % cluster)
    if tuple(target) < tuple(current):
        return ("%s: downgrade from %s to %s refused: downgrades are not supported (rule: no downgrade; "
                "source: %s)" % (cluster, current, target, SOLO_MANAGED_UPGRADE))
    if target.major != current.major or target.minor > current.minor + 1:
        return ("%s: upgrade from %s to %s skips a minor version: upgrade to %d.%d.x first (rule: one minor "
                "version at a time; source: %s)"
                % (cluster, current, target, current.major, current.minor + 1, ISTIO_IN_PLACE))
    return None


def plan(current, target, canary=None, size=1):
    """The upgrade of the mesh to ``target``.

    ``current`` lists (host, cluster, version text or None, ready) in inventory order: the
    ServiceMeshController's spec.version and whether the operator reports it ready for that
    generation (a cluster halted mid-upgrade has the target version but is not ready: it is
    upgraded again, not skipped). Returns
    {"target", "steps": [{host, cluster, from, to, stage, batch}], "canary": [hosts],
    "batches": [[hosts]], "current": [hosts already at the target]}; raises GloomeshError naming
    every refused cluster (rule and source) before anything is written.
    """
    target = validation.check_multicluster_version(target, "gloomesh_istio_version")
    size = validation.upgrade_batch_size(size)
    canaries = validation.upgrade_canary(canary, [entry[0] for entry in current])
    steps, problems = [], []
    for host, cluster, version, ready in current:
        parsed = validation.parse_istio_version(version, "%s: spec.version" % cluster) if version else None
        problem = step_problem(cluster, parsed, target)
        if problem:
            problems.append(problem)
            continue
        stage = CURRENT if parsed == target and ready else (CANARY if host in canaries else BATCH)
        steps.append({"host": host, "cluster": cluster, "from": str(parsed), "to": str(target), "stage": stage})
    if problems:
        raise GloomeshError("upgrade to %s refused, nothing was changed: %s" % (target, " | ".join(problems)),
                            problems=problems)
    pending = [step["host"] for step in steps if step["stage"] == BATCH]
    batches = [pending[index:index + size] for index in range(0, len(pending), size)]
    for number, batch in enumerate(batches, 1):
        for step in steps:
            if step["host"] in batch:
                step["batch"] = number
    return {"target": str(target), "steps": steps, "batch_size": size,
            "canary": [step["host"] for step in steps if step["stage"] == CANARY],
            "batches": batches, "current": [step["host"] for step in steps if step["stage"] == CURRENT]}


def render(result):
    """The plan as lines for a person: one line per cluster in the order they move."""
    order = {CANARY: 0, BATCH: 1, CURRENT: 2}
    lines = ["Upgrade of the mesh to Istio %s" % result["target"]]
    for step in sorted(result["steps"], key=lambda s: (order[s["stage"]], s.get("batch", 0))):
        if step["stage"] == CURRENT:
            what = "already at %s: no change" % step["to"]
        else:
            where = "canary" if step["stage"] == CANARY else "batch %d" % step["batch"]
            what = "%s: %s -> %s (ServiceMeshController spec.version%s; then the whole mesh is verified)" % (
                where, step["from"], step["to"], ", not ready yet: waits for it" if step["from"] == step["to"] else "")
        lines.append("  %-20s %s" % (step["cluster"], what))
    return lines
