# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Link planning across an inventory whose hosts are clusters: which ordered pairs exist, and what
a run over some of the clusters (all of them, or a ``--limit`` slice) writes so that every pair it
touches ends up as planned in both directions.

An ordered pair (A, B) is a peer Gateway describing B written into A. A cluster links to the
clusters its ``peers`` list names (``mesh_link_peers``: asymmetric linking), or to every other
cluster when that list is unset (full mesh).

What a run writes, for each cluster S of the run:

* into S: its peers, exactly (stale ones of ours removed) - pairs (S, *);
* into each cluster T outside the run: the one pair (T, S) - present when T links to S, absent
  otherwise. Pairs between two clusters outside the run are never touched.

Pairs (S, S') between two clusters of the run are written by S alone, so no two hosts of a run
write one object, and two runs over different slices write one object only with the same content
(both plan from the same inventory). Pure: names in, plans out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation


def _option(index, key):
    return "mesh[%d].%s" % (index, key)


def clusters(entries):
    """{cluster name: entry} of a mesh, refusing what no plan can be made from.

    ``entries`` are dicts with at least ``cluster`` and ``peers`` (None: every other cluster).
    Names are unique and valid; a ``peers`` list names other clusters of the mesh only.
    """
    by_name = {}
    for index, entry in enumerate(entries):
        name = validation.cluster_name(entry.get("cluster"), _option(index, "cluster"))
        if name in by_name:
            validation.fail(_option(index, "cluster"), name,
                            "is listed twice: every cluster of a mesh has its own name")
        by_name[name] = entry
    for index, entry in enumerate(entries):
        peers = entry.get("peers")
        if peers is None:
            continue
        for position, peer in enumerate(peers):
            check_peer(entry["cluster"], peer, by_name, "%s[%d]" % (_option(index, "peers"), position))
    return by_name


def check_peer(cluster, peer, known, option):
    """Refuses ``peer`` as a cluster ``cluster`` links to: itself, or not among ``known`` (the names
    of the mesh). mesh_link's ``mesh`` option and preflight's ``mesh_link_peers`` both use it."""
    if peer == cluster:
        validation.fail(option, peer, "is the cluster itself: a cluster is never linked to itself")
    if peer not in known:
        validation.fail(option, peer, "is not a cluster of this mesh (known: %s)" % ", ".join(sorted(known)))


def peers_of(mesh, source):
    """Sorted names of the clusters ``source`` links to."""
    listed = mesh[source].get("peers")
    if listed is None:
        return sorted(name for name in mesh if name != source)
    return sorted(set(listed))


def source_plan(mesh, source, run):
    """What the run's host for ``source`` writes.

    ``run`` holds the names of the clusters of the run (``source`` among them). Returns
    ``{"peers": [...], "into": [(target, linked), ...]}``: the clusters ``source`` links to, and for
    each cluster outside the run whether it links to ``source`` (its peer for ``source`` is then
    written, else ours is removed).
    """
    into = [(target, source in peers_of(mesh, target))
            for target in sorted(mesh) if target != source and target not in run]
    return {"peers": peers_of(mesh, source), "into": into}
