"""mesh_drift reads each host's step results (host variable <module>_result) under its cluster name."""
from __future__ import annotations

from ansible_collections.gloomesh.multicluster.plugins.action.mesh_drift import _clusters
from ansible_collections.gloomesh.multicluster.plugins.module_utils import drift


def test_each_host_s_step_results_under_its_cluster_name():
    hostvars = {"h1": {"cluster_name": "cluster1", "root_of_trust_result": {"changed": True}, "other_result": {}},
                "h2": {"cluster_name": "cluster2"}}
    clusters = _clusters(["h1", "h2"], hostvars)
    assert sorted(clusters) == ["cluster1", "cluster2"]
    assert set(clusters["cluster1"]) == set(drift.STEPS)
    assert clusters["cluster1"]["root_of_trust"] == {"changed": True}
    assert clusters["cluster2"]["mesh_link"] == {}


def test_a_host_without_a_cluster_name_is_reported_under_its_own_name():
    assert list(_clusters(["h3"], {})) == ["h3"]
