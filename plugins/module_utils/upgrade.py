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
  The one way back is a rollback: each cluster returns to the version it ran before upgrade_mesh
  changed it, which the servicemeshcontroller module recorded on the ServiceMeshController
  (annotation PREVIOUS_VERSION).
* The Gloo Operator that runs the target is at least the chart version Solo's procedure installs
  for it (OPERATOR_MINIMUM).
* istioctl_fetch can resolve the target's download (builders/istioctl.py resolve_url) when the run
  installs istioctl.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import istioctl
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import ANNOTATION_PREVIOUS_VERSION as PREVIOUS_VERSION
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

ISTIO_IN_PLACE = "https://istio.io/latest/docs/setup/upgrade/in-place/"
SOLO_MANAGED_UPGRADE = "https://docs.solo.io/gloo-mesh-enterprise/latest/setup/upgrade/gloo_mesh_managed_upgrade/"

PROCEDURE_OPERATOR = ("Solo's multicluster procedure, \"Deploy mesh components\" step 2 (helm install gloo-operator "
                      "--version 0.2.3) for Istio 1.24.3 or later (\"Version requirements\")")
PROCEDURE_TOOLS = "Solo's multicluster procedure, \"Set up tools\""
# (first Istio version, the least Gloo Operator chart version for it, source); a row per version
# Solo documents an operator for.
OPERATOR_MINIMUM = (((1, 24, 3), (0, 2, 3), PROCEDURE_OPERATOR),)

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


def operator_problem(cluster, target, deployed, wanted=None):
    """Why the Gloo Operator cannot run Istio ``target`` (IstioVersion) in ``cluster``, or None. The
    operator that will run it is ``wanted`` (gloomesh_operator_chart_version: the run upgrades the
    operator first) or else ``deployed`` (helm's record of release gloo-operator; None: not installed
    by helm, not checked)."""
    running = wanted or deployed
    if not running:
        return None
    try:
        parsed = validation.parse_chart_version(running, "gloomesh_operator_chart_version" if wanted else
                                                "Gloo Operator release chart version")
    except GloomeshError as exc:
        return "%s: %s" % (cluster, exc.message)
    rows = [row for row in OPERATOR_MINIMUM if row[0] <= tuple(target)]
    if rows and parsed < rows[-1][1]:
        least = ".".join(str(part) for part in rows[-1][1])
        return ("%s: Gloo Operator %s is too old for Istio %s: set gloomesh_operator_chart_version to %s or later "
                "(rule: Istio %s and later need Gloo Operator %s or later; source: %s)"
                % (cluster, running, target, least, ".".join(str(p) for p in rows[-1][0]), least, rows[-1][2]))
    return None


def istioctl_problem(target, install, repo_key=None, base_url=None, url=None):
    """Why istioctl_fetch cannot tell where to download istioctl ``target`` from (the run installs it
    when ``install``), or None. Its own resolver answers; the platform does not change the answer."""
    if not install:
        return None
    try:
        istioctl.resolve_url(target, "linux", "amd64", repo_key, base_url, url)
    except GloomeshError as exc:
        return ("gloomesh_istio_version %s: istioctl_fetch cannot resolve its download: %s (rule: istioctl of the "
                "target version is installed on the controller, gloomesh_install_istioctl; source: %s)"
                % (target, exc.message, PROCEDURE_TOOLS))
    return None


def _moves(current, target, rollback):
    """[(host, cluster, from, to, stage)] of every cluster and the refusals. An upgrade moves each to
    ``target``; a rollback moves each back to its recorded previous version (none recorded: no move)."""
    moves, problems = [], []
    for host, cluster, version, ready, previous in current:
        try:
            parsed = validation.parse_istio_version(version, "%s: spec.version" % cluster) if version else None
            to = target
            if rollback:
                to = validation.parse_istio_version(previous, "%s: %s" % (cluster, PREVIOUS_VERSION)) if previous else parsed
        except GloomeshError as exc:
            problems.append(exc.message)
            continue
        # A rollback returns to what ran before: the upgrade's rules do not apply to it.
        problem = None if rollback and version else step_problem(cluster, parsed, to)
        if problem:
            problems.append(problem)
            continue
        moves.append((host, cluster, parsed, to, CURRENT if parsed == to and ready else None))
    return moves, problems


def plan(current, target=None, canary=None, size=1, rollback=False, refusals=()):
    """The upgrade of the mesh to ``target``, or with ``rollback`` its return to the versions recorded.

    ``current`` lists (host, cluster, version text or None, ready, previous version text or None) in
    inventory order: the ServiceMeshController's spec.version, whether the operator reports it ready
    for that generation (a cluster halted mid-upgrade has the target version but is not ready: it is
    upgraded again, not skipped), and the version it ran before upgrade_mesh last changed it (the
    annotation PREVIOUS_VERSION). ``refusals`` are further problems found by the caller (the
    operator, istioctl). Returns {"target", "rollback", "steps": [{host, cluster, from, to, stage,
    batch}], "canary": [hosts], "batches": [[hosts]], "current": [hosts that stay], "versions": {host:
    to}}; raises GloomeshError naming every refused cluster (rule and source) before anything is written.
    """
    target = None if rollback else validation.check_multicluster_version(target, "gloomesh_istio_version")
    size = validation.upgrade_batch_size(size)
    canaries = validation.upgrade_canary(canary, [entry[0] for entry in current])
    moves, problems = _moves(current, target, rollback)
    problems.extend(refusals)
    if problems:
        raise GloomeshError("%s refused, nothing was changed: %s" % (_title(target, rollback), " | ".join(problems)),
                            problems=problems)
    steps = [{"host": host, "cluster": cluster, "from": str(parsed), "to": str(to),
              "stage": stage or (CANARY if host in canaries else BATCH)} for host, cluster, parsed, to, stage in moves]
    pending = [step["host"] for step in steps if step["stage"] == BATCH]
    batches = [pending[index:index + size] for index in range(0, len(pending), size)]
    for number, batch in enumerate(batches, 1):
        for step in steps:
            if step["host"] in batch:
                step["batch"] = number
    return {"target": None if rollback else str(target), "rollback": rollback, "steps": steps, "batch_size": size,
            "canary": [step["host"] for step in steps if step["stage"] == CANARY],
            "batches": batches, "current": [step["host"] for step in steps if step["stage"] == CURRENT],
            "versions": dict((step["host"], step["to"]) for step in steps)}


def operator_moves(result, operators, wanted):
    """The hosts whose Gloo Operator moves to chart version ``wanted`` before their Istio step: the
    moving clusters (not CURRENT) whose deployed chart version (``operators``, in the order of
    ``result``'s steps; None: unknown) differs. Each such step is noted with "from -> to"."""
    moving = []
    for step, deployed in zip(result["steps"], operators):
        if wanted and step["stage"] != CURRENT and deployed != wanted:
            step["operator"] = "%s -> %s" % (deployed or "unknown", wanted)
            moving.append(step["host"])
    return moving


def _title(target, rollback):
    return "rollback of the mesh to the versions recorded" if rollback else "upgrade to %s" % (target,)


def render(result):
    """The plan as lines for a person: one line per cluster in the order they move."""
    order = {CANARY: 0, BATCH: 1, CURRENT: 2}
    lines = ["Rollback of the mesh to the versions each cluster ran before upgrade_mesh" if result["rollback"]
             else "Upgrade of the mesh to Istio %s" % result["target"]]
    for step in sorted(result["steps"], key=lambda s: (order[s["stage"]], s.get("batch", 0))):
        if step["stage"] == CURRENT:
            what = "already at %s: no change" % step["to"]
        else:
            where = "canary" if step["stage"] == CANARY else "batch %d" % step["batch"]
            what = "%s: %s -> %s (%sServiceMeshController spec.version%s; then the whole mesh is verified)" % (
                where, step["from"], step["to"], "Gloo Operator %s, then " % step["operator"] if step.get("operator") else "",
                ", not ready yet: waits for it" if step["from"] == step["to"] else "")
        lines.append("  %-20s %s" % (step["cluster"], what))
    return lines
