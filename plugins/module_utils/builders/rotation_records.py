# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""A root rotation's phases and its in-cluster record: pure functions over certificate
fingerprints (certificates.py reads them from the PEM), no I/O.

A rotation from root A (old) to root B (new) moves every cluster's cacerts through four
contents; the phase number is the content, so verify can tell it from the Secret alone:
  0  root-cert.pem [A]     intermediate from A    (before)
  1  root-cert.pem [A, B]  intermediate from A    trust both roots
  2  root-cert.pem [A, B]  intermediate from B    intermediates reissued
  3  root-cert.pem [B]     intermediate from B    old root dropped (steady on B)
The old root stays first in a two-root bundle. A ConfigMap of ours records the last phase a
cluster *finished* (cacerts written, istiod serving it, published, workloads rolled).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

PHASES = ("trust_both", "reissue", "drop_old")
PHASE_TITLES = {0: "not started", 1: "both roots trusted", 2: "intermediates reissued",
                3: "old root dropped"}
RECORD_NAME = "gloomesh-root-rotation"
RECORD_PREVIOUS = "previous-root"
RECORD_NEW = "new-root"
RECORD_PHASE = "phase"


def phase_number(name):
    return PHASES.index(name) + 1


def content_phase(root_fingerprints, issuer_fingerprint, old, new):
    """The phase (0-3) a cacerts content is at in the rotation from ``old`` to ``new``, or None
    when it is no content of that rotation."""
    roots = list(root_fingerprints)
    if roots == [old] and issuer_fingerprint == old:
        return 0
    if sorted(roots) == sorted([old, new]) and len(roots) == 2:
        return {old: 1, new: 2}.get(issuer_fingerprint)
    if roots == [new] and issuer_fingerprint == new:
        return 3
    return None


def rotation_record(namespace, old, new, phase, labels):
    """The ConfigMap recording the last phase this cluster finished in the rotation old -> new."""
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": RECORD_NAME, "namespace": namespace, "labels": dict(labels)},
        "data": {RECORD_PREVIOUS: old, RECORD_NEW: new, RECORD_PHASE: str(phase)},
    }


def parse_rotation_record(configmap):
    """{"previous_root", "new_root", "phase"} from the record ConfigMap; None when absent or unreadable."""
    data = (configmap or {}).get("data") or {}
    try:
        phase = int(data.get(RECORD_PHASE, ""))
    except ValueError:
        return None
    if not (data.get(RECORD_PREVIOUS) and data.get(RECORD_NEW)) or not 0 <= phase <= 3:
        return None
    return {"previous_root": data[RECORD_PREVIOUS], "new_root": data[RECORD_NEW], "phase": phase}


def finished_phase(record, old, new):
    """The last phase a cluster finished in the rotation old -> new, from its record (0: none)."""
    if record and record["previous_root"] == old and record["new_root"] == new:
        return record["phase"]
    return 0


def cacerts_digest(root_fingerprints, intermediate_fingerprint):
    """A short digest of what istiod must serve (public fingerprints only), for the annotation
    that restarts istiod exactly once per cacerts content."""
    text = ",".join(list(root_fingerprints) + [intermediate_fingerprint or ""])
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def _short(fp):
    return fp[:11] + "..." if fp and len(fp) > 11 else fp


def mesh_rotation_phases(clusters):
    """Phase of every cluster in the rotation the mesh is in, from what each cluster's cacerts holds.

    ``clusters``: {name: {"roots": [fingerprints of root-cert.pem, in order], "issuer": fingerprint
    of the root the intermediate chains to, "record": parse_rotation_record() or None}}.
    Returns {"old", "new", "phases": {name: 0-3 or None}, "problems": {name: [message]}}: the
    rotation is the one a two-root bundle or a record of an unfinished rotation names (old root
    first); a cluster whose cacerts is no content of it gets None and a problem. With no rotation
    in sight old and new are None and every cluster is at phase 0. Two clusters more than one
    phase apart is a problem of both: the ones ahead and the ones behind no longer trust each
    other's workloads.
    """
    pairs = set()
    for info in clusters.values():
        roots = list(info.get("roots") or [])
        if len(roots) == 2:
            pairs.add(tuple(roots))
        record = info.get("record")
        if record and (record["phase"] < 3 or roots == [record["new_root"]]):
            pairs.add((record["previous_root"], record["new_root"]))
    if not pairs:
        return {"old": None, "new": None, "phases": dict((name, 0) for name in clusters), "problems": {}}
    # Finished rotations of the past leave records; the rotation at hand is the one whose new
    # root no cluster has left yet.
    current = [p for p in pairs if not any(p[1] == q[0] for q in pairs)]
    if len(current) != 1:
        text = "the clusters are in more than one root rotation at once: %s" % "; ".join(
            "%s to %s" % (_short(a), _short(b)) for a, b in sorted(pairs))
        return {"old": None, "new": None, "phases": dict((name, None) for name in clusters),
                "problems": dict((name, [text]) for name in clusters)}
    old, new = current[0]
    phases, problems = {}, {}
    for name, info in sorted(clusters.items()):
        phases[name] = content_phase(info.get("roots") or [], info.get("issuer"), old, new)
        if phases[name] is None:
            problems[name] = ["cacerts (roots %s) is no step of the rotation from %s to %s" % (
                ", ".join(_short(f) for f in info.get("roots") or []) or "none", _short(old), _short(new))]
    for name, phase in sorted(phases.items()):
        far = sorted(other for other, theirs in phases.items()
                     if phase is not None and theirs is not None and abs(theirs - phase) > 1)
        if far:
            problems.setdefault(name, []).append(
                "root rotation phase %d (%s) here, %s in %s: more than one phase apart, their workloads "
                "do not trust each other" % (phase, PHASE_TITLES[phase], ", ".join(
                    "%d" % phases[other] for other in far), ", ".join(far)))
    return {"old": old, "new": new, "phases": phases, "problems": problems}
