# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Link planning across an inventory whose hosts are clusters: which ordered pairs exist, and what
a run over some of the clusters (all of them, or a ``--limit`` slice) writes so that every pair it
touches ends up as planned in both directions.

An ordered pair (A, B) is a peer Gateway describing B written into A. A cluster links to the
clusters its ``link_to`` list names (the inventory's ``mesh_link_to``: asymmetric linking), or to
every other cluster when that list is unset (full mesh). A ``peer`` is a descriptor (what
eastwest_gateway_info reads); ``link_to`` holds cluster names only.

What a run writes, for each cluster S of the run:

* into S: the peers of its link_to clusters, exactly (stale ones of ours removed) - pairs (S, *);
* into each cluster T outside the run: the one pair (T, S) - present when T links to S, absent
  otherwise. Pairs between two clusters outside the run are never touched.

Pairs (S, S') between two clusters of the run are written by S alone, so no two hosts of a run
write one object, and two runs over different slices write one object only with the same content
(both plan from the same inventory). Pure: names in, plans out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError


# The inventory variable of a host's link_to list, and its name before 0.2.0 (still read).
LINK_TO_VARIABLE = "mesh_link_to"
LINK_TO_OLD_VARIABLE = "mesh_link_peers"


def host_link_to(host_vars, variable=LINK_TO_VARIABLE):
    """(variable, value): a host's list of clusters it links to (None: every other cluster), and the
    name the inventory gave it, so messages name what the user wrote. ``mesh_link_peers`` is read
    when ``mesh_link_to`` is not set."""
    value = host_vars.get(variable)
    if value is None and variable == LINK_TO_VARIABLE and host_vars.get(LINK_TO_OLD_VARIABLE) is not None:
        return LINK_TO_OLD_VARIABLE, host_vars[LINK_TO_OLD_VARIABLE]
    return variable, value


def _option(index, key):
    return "mesh[%d].%s" % (index, key)


def clusters(entries):
    """{cluster name: entry} of a mesh, refusing what no plan can be made from.

    ``entries`` are dicts with at least ``cluster`` and ``link_to`` (None: every other cluster).
    Names are unique and valid; a ``link_to`` list names other clusters of the mesh only.
    """
    by_name = {}
    for index, entry in enumerate(entries):
        name = validation.cluster_name(entry.get("cluster"), _option(index, "cluster"))
        if name in by_name:
            validation.fail(_option(index, "cluster"), name,
                            "is listed twice: every cluster of a mesh has its own name")
        by_name[name] = entry
    for index, entry in enumerate(entries):
        for position, target in enumerate(entry.get("link_to") or []):
            check_link_to(entry["cluster"], target, by_name, "%s[%d]" % (_option(index, "link_to"), position))
    return by_name


def check_link_to(cluster, target, known, option):
    """Refuses ``target`` as a cluster ``cluster`` links to: itself, or not among ``known`` (the names
    of the mesh). mesh_link's ``mesh`` option, preflight and verify (``mesh_link_to``) all use it."""
    if target == cluster:
        validation.fail(option, target, "is the cluster itself: a cluster is never linked to itself")
    if target not in known:
        validation.fail(option, target, "is not a cluster of this mesh (known: %s)" % ", ".join(sorted(known)))


def link_to_problems(cluster, link_to, known, option):
    """What check_link_to refuses in the list ``link_to`` of ``cluster``, as messages (preflight and
    verify report every one rather than stop at the first)."""
    problems = []
    for target in link_to if isinstance(link_to, list) else []:
        try:
            check_link_to(cluster, target, known, option)
        except GloomeshError as exc:
            problems.append(exc.message)
    return problems


def links_of(mesh, source):
    """Sorted names of the clusters ``source`` links to."""
    listed = mesh[source].get("link_to")
    if listed is None:
        return sorted(name for name in mesh if name != source)
    return sorted(set(listed))


def source_plan(mesh, source, run):
    """What the run's host for ``source`` writes.

    ``run`` holds the names of the clusters of the run (``source`` among them). Returns
    ``{"link_to": [...], "into": [(target, linked), ...]}``: the clusters ``source`` links to, and for
    each cluster outside the run whether it links to ``source`` (its peer for ``source`` is then
    written, else ours is removed).
    """
    into = [(target, source in links_of(mesh, target))
            for target in sorted(mesh) if target != source and target not in run]
    return {"link_to": links_of(mesh, source), "into": into}
