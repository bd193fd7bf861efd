"""mesh_link's plan (operations/mesh_link.py _plan): what it deletes, applies and adopts, from one listing."""
from __future__ import annotations

import copy

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway as gb
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import FIELD_MANAGER
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations.mesh_link import _plan


def _peer(cluster):
    return validation.peer({"cluster": cluster, "network": "net-" + cluster, "address": "198.51.100.7"})


def _live(peer, manager=FIELD_MANAGER, namespace=None):
    """The peer Gateway as a LIST returns it, applied by `manager`."""
    gw = copy.deepcopy(gb.peer_gateway(peer))
    gw["metadata"]["labels"][MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    if namespace:
        gw["metadata"]["namespace"] = namespace
    gw["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply", "fieldsV1": {
        "f:metadata": {"f:labels": {"f:" + MANAGED_BY_LABEL: {}}}}}]
    return gw


def test_each_application_carries_the_listed_gateway_at_its_target():
    b, c = _peer("b"), _peer("c")
    ours = _live(b)
    deletions, applications, refusals = _plan([b, c], {"b": [ours]}, "present", adopt=False, exclusive=False)
    assert (deletions, refusals) == ([], [])
    assert [(p["cluster"], adopted, listed) for p, _desired, adopted, listed in applications] == [
        ("b", None, ours), ("c", None, None)]


def test_a_foreign_gateway_at_the_target_is_adopted_and_a_stray_of_ours_deleted():
    b = _peer("b")
    foreign = _live(b, manager="pilot-discovery")
    stray = _live(b, namespace="old-ns")
    deletions, applications, _refusals = _plan([b], {"b": [foreign, stray]}, "present", adopt=True,
                                               exclusive=False)
    assert deletions == [stray]
    assert [(adopted, listed) for _p, _d, adopted, listed in applications] == [(foreign, foreign)]


def test_a_foreign_gateway_is_refused_without_adopt_and_exclusive_removes_the_unlisted():
    b, c = _peer("b"), _peer("c")
    deletions, applications, refusals = _plan(
        [b], {"b": [_live(b, manager="pilot-discovery")], "c": [_live(c)]}, "present", adopt=False, exclusive=True)
    assert applications == [] and len(refusals) == 1 and "set adopt=true" in refusals[0]
    assert [gb.peer_cluster_of(g) for g in deletions] == ["c"]
