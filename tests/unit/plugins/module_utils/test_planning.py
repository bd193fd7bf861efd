"""module_utils/planning.py: the mesh a link plan is made from, and the peer rule preflight shares."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import planning
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError


@pytest.mark.parametrize("peers, message", [
    (["c1"], "mesh[0].peers[0] 'c1' is the cluster itself: a cluster is never linked to itself"),
    (["c2", "c9"], "mesh[0].peers[1] 'c9' is not a cluster of this mesh (known: c1, c2)"),
])
def test_a_peer_is_another_cluster_of_the_mesh(peers, message):
    with pytest.raises(GloomeshError) as err:
        planning.clusters([{"cluster": "c1", "peers": peers}, {"cluster": "c2", "peers": None}])
    assert err.value.message == message and err.value.details["option"] == message.split(" ")[0]


def test_check_peer_is_the_rule_for_any_option():
    planning.check_peer("c1", "c2", {"c1": {}, "c2": {}}, "mesh_link_peers")
    with pytest.raises(GloomeshError, match=r"^mesh_link_peers 'c1' is the cluster itself"):
        planning.check_peer("c1", "c1", {"c1": {}}, "mesh_link_peers")


def test_peers_and_plan():
    mesh = planning.clusters([{"cluster": "a", "peers": None}, {"cluster": "b", "peers": ["a"]},
                              {"cluster": "c", "peers": []}])
    assert planning.peers_of(mesh, "a") == ["b", "c"] and planning.peers_of(mesh, "c") == []
    assert planning.source_plan(mesh, "a", {"a"}) == {"peers": ["b", "c"], "into": [("b", True), ("c", False)]}
