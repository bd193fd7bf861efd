"""module_utils/planning.py: the mesh a link plan is made from, and the link_to rule preflight and verify share."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import planning
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError


@pytest.mark.parametrize("link_to, message", [
    (["c1"], "mesh[0].link_to[0] 'c1' is the cluster itself: a cluster is never linked to itself"),
    (["c2", "c9"], "mesh[0].link_to[1] 'c9' is not a cluster of this mesh (known: c1, c2)"),
])
def test_link_to_names_another_cluster_of_the_mesh(link_to, message):
    with pytest.raises(GloomeshError) as err:
        planning.clusters([{"cluster": "c1", "link_to": link_to}, {"cluster": "c2", "link_to": None}])
    assert err.value.message == message and err.value.details["option"] == message.split(" ")[0]


def test_check_link_to_is_the_rule_for_any_option():
    planning.check_link_to("c1", "c2", {"c1": {}, "c2": {}}, "mesh_link_peers")
    with pytest.raises(GloomeshError, match=r"^mesh_link_peers 'c1' is the cluster itself"):
        planning.check_link_to("c1", "c1", {"c1": {}}, "mesh_link_peers")


def test_links_and_plan():
    mesh = planning.clusters([{"cluster": "a", "link_to": None}, {"cluster": "b", "link_to": ["a"]},
                              {"cluster": "c", "link_to": []}])
    assert planning.links_of(mesh, "a") == ["b", "c"] and planning.links_of(mesh, "c") == []
    assert planning.source_plan(mesh, "a", {"a"}) == {"link_to": ["b", "c"], "into": [("b", True), ("c", False)]}


def test_host_link_to_reads_the_earlier_name_only_when_the_new_one_is_unset():
    assert planning.host_link_to({}) == ("mesh_link_to", None)
    assert planning.host_link_to({"mesh_link_peers": ["a"]}) == ("mesh_link_peers", ["a"])
    assert planning.host_link_to({"mesh_link_to": [], "mesh_link_peers": ["a"]}) == ("mesh_link_to", [])
    # Another variable (mesh_verify's link_to_var) is read as given.
    assert planning.host_link_to({"mesh_link_peers": ["a"]}, "my_links") == ("my_links", None)
