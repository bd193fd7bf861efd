# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""A root rotation's plan (one home for rotation rules of a run): from where every cluster of the
mesh stands (each cluster's root_of_trust_info result), what this run of the root_rotation role
does. Pure functions, no I/O; root_rotation_plan runs ``plan`` once on the controller.

Phases are global barriers: the run starts at the first phase some cluster has not finished and
stops after ``until``. Check mode predicts one phase only, the next one, since the phases after it
depend on writes check mode does not make; promotion (the controller's files) comes once every
cluster finished the last phase.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import rotation_records

PROMOTE = len(rotation_records.PHASES) + 1


def _stray_message(states, strays):
    """Why the run stops: the clusters whose cacerts is no step of the rotation, and what each holds."""
    first = states[0][1] if states else {}
    parts = ["%s: cacerts holds %s with an intermediate of %s; " % (
        host, ", ".join(state.get("root_fingerprints") or []) or "no root",
        state.get("issuing_root_fingerprint") or "none of them") for host, state in states if host in strays]
    return "%sthe rotation goes from %s (the controller's root) to %s, and changes nothing in a cluster it does not know." % (
        "".join(parts), first.get("expected_root_fingerprint"),
        ((first.get("rotation") or {}).get("new_root_fingerprint")) or "a new root")


def plan(states, new_root_exists, until, again=False, check_mode=False):
    """What this run does.

    ``states``: [(host, its root_of_trust_info result)] for every cluster of the mesh, in order;
    ``new_root_exists``: whether the new root's certificate is on the controller; ``until``: the
    last phase to run (a name of PHASES); ``again``: start the next rotation after a finished one.
    Returns ``strays`` (hosts whose cacerts is no step of the rotation) and ``stray_message``,
    ``finished`` (the mesh finished its rotation to the controller's root), ``start``, ``next``
    (the first phase some cluster has not finished), ``until`` (its number) and ``run``: {phase
    name or "promote": whether this run runs it}.
    """
    states = [(host, state or {}) for host, state in states]
    positions = [(host, state.get("rotation") or {}) for host, state in states]
    strays = [host for host, position in positions if position.get("phase") is None]
    finished = (not new_root_exists and any(p.get("finished_to_expected") for _h, p in positions)
                and all(p.get("phase") == 0 for _h, p in positions))
    start = not finished or bool(again)
    first = min([p.get("finished_phase") or 0 for _h, p in positions] or [0]) + 1
    last = rotation_records.phase_number(until)
    run = dict((name, start and first <= number <= last and (not check_mode or first == number))
               for number, name in enumerate(rotation_records.PHASES, 1))
    run["promote"] = start and last == len(rotation_records.PHASES) and (not check_mode or first == PROMOTE)
    return {"strays": strays, "stray_message": _stray_message(states, strays) if strays else "",
            "finished": finished, "start": start, "next": first, "until": last, "run": run}
