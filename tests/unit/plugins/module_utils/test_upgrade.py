"""upgrade.py: the version steps Istio and Solo support, and the order the clusters move in."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import upgrade
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.validation import (
    parse_istio_version, upgrade_batch_size, upgrade_canary)

HOSTS = ["c1", "c2", "c3", "c4"]


def mesh(*versions, ready=True, previous=None):
    return [(host, "cluster-" + host, version, ready, previous) for host, version in zip(HOSTS, versions)]


def refusal(current, target, **kwargs):
    with pytest.raises(GloomeshError) as err:
        upgrade.plan(current, target, **kwargs)
    assert err.value.message.startswith("upgrade to %s refused, nothing was changed: " % (parse_istio_version(target),))
    return err.value


@pytest.mark.parametrize("current, target", [("1.25.2", "1.25.3"), ("1.25.2", "1.26.2"), ("1.25.2-solo", "1.26.2-solo"),
                                             ("1.25.9", "1.26.0"), ("1.25.2", "1.25.2")])
def test_supported_steps(current, target):
    assert upgrade.step_problem("c", parse_istio_version(current), parse_istio_version(target)) is None


def test_downgrade_names_rule_and_source():
    err = refusal(mesh("1.25.2", "1.25.3"), "1.25.2")
    assert err.details["problems"] == [
        "cluster-c2: downgrade from 1.25.3 to 1.25.2 refused: downgrades are not supported (rule: no downgrade; "
        "source: %s)" % upgrade.SOLO_MANAGED_UPGRADE]


@pytest.mark.parametrize("current, target, first", [("1.24.3", "1.26.2", "1.25.x"), ("1.25.2", "2.0.0", "1.26.x")])
def test_skipping_a_minor_names_rule_and_source(current, target, first):
    err = refusal(mesh(current, current), target)
    assert len(err.details["problems"]) == 2
    assert "skips a minor version: upgrade to %s first (rule: one minor version at a time; source: %s)" % (
        first, upgrade.ISTIO_IN_PLACE) in err.details["problems"][0]


def test_every_refusal_at_once_and_no_mesh():
    err = refusal(mesh("1.26.2", None, "1.23.5"), "1.25.2")
    problems = err.details["problems"]
    assert [p.split(":")[0] for p in problems] == ["cluster-c1", "cluster-c2", "cluster-c3"]
    assert "no ServiceMeshController to upgrade" in problems[1]


def test_target_must_be_a_multicluster_version():
    with pytest.raises(GloomeshError) as err:
        upgrade.plan(mesh("1.25.2"), "1.26.1")
    assert err.value.details["option"] == "gloomesh_istio_version"


def test_canary_then_batches_in_inventory_order():
    result = upgrade.plan(mesh("1.25.2", "1.25.2", "1.25.2", "1.25.2"), "1.26.2", size=2)
    assert result["canary"] == ["c1"]
    assert result["batches"] == [["c2", "c3"], ["c4"]]
    assert result["current"] == []
    assert result["target"] == "1.26.2"
    assert [(s["host"], s["from"], s["to"], s["stage"], s.get("batch")) for s in result["steps"]] == [
        ("c1", "1.25.2", "1.26.2", "canary", None), ("c2", "1.25.2", "1.26.2", "batch", 1),
        ("c3", "1.25.2", "1.26.2", "batch", 1), ("c4", "1.25.2", "1.26.2", "batch", 2)]


def test_named_canaries_and_resume_skips_clusters_at_the_target():
    result = upgrade.plan(mesh("1.26.2", "1.25.2", "1.25.2", "1.26.2"), "1.26.2", canary=["c3", "c1"], size="1")
    assert result["canary"] == ["c3"]  # c1 is at the target already
    assert result["batches"] == [["c2"]]
    assert result["current"] == ["c1", "c4"]


def test_a_cluster_at_the_target_but_not_ready_is_upgraded_again():
    current = mesh("1.26.2", "1.25.2") + [("c3", "cluster-c3", "1.26.2", False, "1.25.2")]
    result = upgrade.plan(current, "1.26.2")
    assert (result["canary"], result["batches"], result["current"]) == ([], [["c2"], ["c3"]], ["c1"])
    assert "batch 2: 1.26.2 -> 1.26.2 (ServiceMeshController spec.version, not ready yet: waits for it" \
        in upgrade.render(result)[2]


def test_same_version_everywhere_is_a_no_op():
    result = upgrade.plan(mesh("1.26.2", "1.26.2-solo"), "1.26.2-solo")
    assert (result["canary"], result["batches"], result["current"]) == ([], [], ["c1", "c2"])
    assert upgrade.render(result)[1:] == ["  cluster-c1           already at 1.26.2: no change",
                                          "  cluster-c2           already at 1.26.2: no change"]


def test_render_lists_the_order():
    lines = upgrade.render(upgrade.plan(mesh("1.25.2", "1.25.2", "1.26.2"), "1.26.2", canary="c2"))
    assert lines[0] == "Upgrade of the mesh to Istio 1.26.2"
    assert [line.split()[:2] for line in lines[1:]] == [
        ["cluster-c2", "canary:"], ["cluster-c1", "batch"], ["cluster-c3", "already"]]


@pytest.mark.parametrize("value, expected", [(1, 1), ("3", 3), (" 2 ", 2)])
def test_batch_size(value, expected):
    assert upgrade_batch_size(value) == expected


@pytest.mark.parametrize("value", [0, -1, "two", None, True, 1.5, ""])
def test_batch_size_refused_naming_the_option(value):
    with pytest.raises(GloomeshError) as err:
        upgrade_batch_size(value)
    assert err.value.details == {"option": "upgrade_batch_size"}
    assert "must be a whole number of clusters, 1 or more" in err.value.message


def test_canary_rules():
    assert upgrade_canary(None, HOSTS) == ["c1"]
    assert upgrade_canary("c2", HOSTS) == ["c2"]
    assert upgrade_canary(["c4", "c2"], HOSTS) == ["c2", "c4"]
    for bad, said in (("c9", "upgrade_canary 'c9' must name hosts of the mesh (known: c1, c2, c3, c4)"),
                      ({"c1": 1}, "must be a host name or a list of host names")):
        with pytest.raises(GloomeshError) as err:
            upgrade_canary(bad, HOSTS)
        assert said in err.value.message


# ---------------------------------------------------------------- rollback

def test_rollback_returns_each_cluster_to_its_recorded_version():
    current = [("c1", "cluster-c1", "1.26.2", True, "1.25.2"), ("c2", "cluster-c2", "1.26.2", False, "1.25.3"),
               ("c3", "cluster-c3", "1.25.2", True, None), ("c4", "cluster-c4", "1.25.2", True, "1.25.2")]
    result = upgrade.plan(current, None, size=2, rollback=True)
    assert (result["canary"], result["batches"], result["current"]) == (["c1"], [["c2"]], ["c3", "c4"])
    assert result["versions"] == {"c1": "1.25.2", "c2": "1.25.3", "c3": "1.25.2", "c4": "1.25.2"}
    lines = upgrade.render(result)
    assert lines[0] == "Rollback of the mesh to the versions each cluster ran before upgrade_mesh"
    assert lines[1].startswith("  cluster-c1           canary: 1.26.2 -> 1.25.2 (ServiceMeshController spec.version")


def test_rollback_needs_a_service_mesh_controller_and_a_readable_record():
    err = refusal_of_rollback([("c1", "cluster-c1", None, False, None), ("c2", "cluster-c2", "1.26.2", True, "x")])
    assert "cluster-c1: no ServiceMeshController to upgrade" in err.details["problems"][0]
    assert "cluster-c2: %s: 'x' is not an Istio version" % upgrade.PREVIOUS_VERSION in err.details["problems"][1]


def refusal_of_rollback(current):
    with pytest.raises(GloomeshError) as err:
        upgrade.plan(current, None, rollback=True)
    return err.value


# ---------------------------------------------------------------- the operator and istioctl

V1262 = parse_istio_version("1.26.2")


@pytest.mark.parametrize("deployed, wanted", [("0.2.3", None), ("0.2.2", "0.2.3"), ("v0.3.0-rc.1", None), (None, None)])
def test_operator_new_enough_or_unknown(deployed, wanted):
    assert upgrade.operator_problem("c1", V1262, deployed, wanted) is None


def test_operator_too_old_names_rule_and_source():
    said = upgrade.operator_problem("c1", V1262, "0.2.3", "0.2.2")
    assert said == ("c1: Gloo Operator 0.2.2 is too old for Istio 1.26.2: set gloomesh_operator_chart_version to 0.2.3 "
                    "or later (rule: Istio 1.24.3 and later need Gloo Operator 0.2.3 or later; source: %s)"
                    % upgrade.PROCEDURE_OPERATOR)
    assert "Gloo Operator 0.1.9 is too old" in upgrade.operator_problem("c1", V1262, "0.1.9")
    assert "gloomesh_operator_chart_version 'latest' must be a chart version" in upgrade.operator_problem(
        "c1", V1262, "0.2.3", "latest")


def test_operator_too_old_refuses_the_upgrade_with_the_others():
    err = refusal(mesh("1.25.2"), "1.26.2", refusals=["c1: Gloo Operator 0.2.2 is too old"])
    assert err.details["problems"] == ["c1: Gloo Operator 0.2.2 is too old"]


def test_istioctl_resolution_is_istioctl_fetchs():
    assert upgrade.istioctl_problem(V1262, False) is None
    assert upgrade.istioctl_problem(V1262, True, repo_key="k") is None
    assert upgrade.istioctl_problem(V1262, True, url="https://mirror.example/istioctl.tar.gz") is None
    assert upgrade.istioctl_problem(parse_istio_version("1.29.0"), True) is None
    said = upgrade.istioctl_problem(V1262, True)
    assert said.startswith("gloomesh_istio_version 1.26.2: istioctl_fetch cannot resolve its download: repo_key is "
                           "required for Istio 1.26")
    assert said.endswith("source: %s)" % upgrade.PROCEDURE_TOOLS)
    assert "base_url must be an absolute URL" in upgrade.istioctl_problem(V1262, True, "k", base_url="mirror")
