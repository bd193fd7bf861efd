"""Which clusters' Gloo Operator moves first (module_utils/upgrade.py), and the refusals upgrade_plan's action
hands to the plan."""
from __future__ import annotations

from ansible_collections.gloomesh.multicluster.plugins.action import upgrade_plan
from ansible_collections.gloomesh.multicluster.plugins.module_utils import upgrade

CURRENT = [("c1", "cluster1", "1.25.2", True, None), ("c2", "cluster2", "1.26.2", True, "1.25.2"),
           ("c3", "cluster3", "1.25.2", True, None)]
OPERATORS = ["0.2.3", "0.2.3", "0.2.4"]


def args(**overrides):
    return dict({"rollback": False, "version": "1.26.2", "operator_chart_version": None, "istioctl": {}}, **overrides)


def test_the_operator_moves_first_on_moving_clusters_whose_release_differs():
    plan = upgrade.plan(CURRENT, "1.26.2")
    assert upgrade.operator_moves(plan, OPERATORS, "0.2.4") == ["c1"]  # c2 stays, c3 has it already
    assert plan["steps"][0]["operator"] == "0.2.3 -> 0.2.4"
    assert "Gloo Operator 0.2.3 -> 0.2.4, then ServiceMeshController spec.version" in upgrade.render(plan)[1]
    assert upgrade.operator_moves(upgrade.plan(CURRENT, "1.26.2"), OPERATORS, None) == []


def test_refusals_of_an_upgrade_not_of_a_rollback():
    states = [{"operator": "0.2.1"}, {}, {"operator": "0.2.3"}]
    refusals = upgrade_plan._refusals(args(istioctl={"install": True}), CURRENT, states)
    assert [r.split(":")[0] for r in refusals] == ["cluster1", "gloomesh_istio_version 1.26.2"]
    assert upgrade_plan._refusals(args(rollback=True, istioctl={"install": True}), CURRENT, states) == []
