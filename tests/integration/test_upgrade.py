"""The rolling Istio upgrade of the whole mesh (issue 25): playbooks/upgrade_mesh.yml on four local
clusters with simulators, one mesh for the module and one scenario, each test going on from where the
previous one left the mesh (so they run in this order, and a failure makes the later ones fail too):

1. refusals (a skipped minor, an operator too old, a target istioctl_fetch cannot resolve) write nothing;
2. --check prints the plan and writes nothing;
3. the canary, then batch 1, each followed by the whole-mesh verify of a mesh of mixed versions, then
   a failure in batch 2 halts naming the cluster, with no write to the cluster not reached;
4. a re-run resumes: the clusters at the target are skipped, the last one moves;
5. a re-run after success writes nothing;
6. the rollback returns every cluster to the version it had: the canary, then two batches, each
   followed by the whole-mesh verify; run again, it writes nothing;
7. with --limit the plan covers the limited clusters: a failure on its canary halts, the other
   cluster of the limit gets no write.
"""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import ANNOTATION_PREVIOUS_VERSION
from ansible_collections.gloomesh.multicluster.plugins.module_utils.mesh_state import service_mesh_readiness

from tests.conftest import EXTERNAL_KUBECONFIG
from tests.harness.playbook_run import failures, fresh_mesh
from tests.harness.poll import wait_until

NAMES = ("cluster1", "cluster2", "cluster3", "cluster4")
SMC = ("operator.gloo.solo.io", "v1", "servicemeshcontrollers", "gloo-mesh")
BEFORE, TARGET = "1.25.2", "1.26.2"
VERIFIED = "Mesh verified: 4 clusters"

pytestmark = pytest.mark.skipif(bool(EXTERNAL_KUBECONFIG), reason="injects operator faults and reads audit logs")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with fresh_mesh(NAMES, tmp_path_factory.mktemp("upgrade")) as built:
        assert set(versions(built).values()) == {BEFORE}
        yield built


def ok(result, what):
    assert result["rc"] == 0, f"{what} failed (rc={result['rc']}):\n{failures(result)}\n{result['stderr'][-3000:]}"


def written(result):
    """The clusters the run sent write requests to."""
    return {entry["context"] for entry in result["writes"]}


def no_writes(result):
    assert result["writes"] == [], [f"{e['context']} {e['verb']} {e['requestURI']}" for e in result["writes"]]


def controllers(run):
    return {name: run.custom(name, *SMC)[0] for name in NAMES}


def versions(run):
    return {name: smc["spec"]["version"] for name, smc in controllers(run).items()}


def upgrade(run, target=TARGET, size=1, **kwargs):
    extra = {"gloomesh_istio_version": target, "upgrade_batch_size": size, **kwargs.pop("extra", {})}
    return run.play("upgrade_mesh", extra=extra, **kwargs)


def plan_lines(result, *lines):
    stdout = result["stdout"]
    shown = stdout[stdout.find("Upgrade of the mesh"):][:1500] if "Upgrade of the mesh" in stdout else stdout[-3000:]
    for line in lines:
        assert line in stdout, f"{line!r} not in the plan:\n{shown}"


def verified(result):
    """How many whole-mesh verifies the run passed (verify prints its summary on a line of its own)."""
    return sum(line.startswith(VERIFIED) for line in result["stdout"].splitlines())


def halted_on(result, host, before=BEFORE, target=TARGET):
    """The run stopped at the failing cluster's service mesh step, and the report names it."""
    assert result["rc"] != 0, result["stdout"][-3000:]
    fatal = [line for line in result["stdout"].splitlines() if line.startswith("fatal:")]
    assert fatal and all(line.startswith(f"fatal: [{host}]") for line in fatal), fatal
    assert f"upgrade of Istio from {before} to {target} failed" in fatal[0]


def recovered(run, name):
    """The fault is gone: the operator tries the upgrade again and reports it ready."""
    run.cp.simulators.set_operator_upgrade(name, "succeed")
    wait_until(lambda: service_mesh_readiness(run.custom(name, *SMC)[0])[0], f"{name} upgraded", timeout=60)


def test_refusals_name_rule_and_source_and_write_nothing(run):
    result = upgrade(run, "1.27.1", extra={"gloomesh_operator_chart_version": "0.2.2", "gloomesh_install_istioctl": True})
    assert result["rc"] != 0, result["stdout"][-3000:]
    for said in ("cluster4: upgrade from 1.25.2 to 1.27.1 skips a minor version: upgrade to 1.26.x first (rule: one "
                 "minor version at a time; source: https://istio.io/",
                 "cluster1: Gloo Operator 0.2.2 is too old for Istio 1.27.1: set gloomesh_operator_chart_version to "
                 "0.2.3 or later (rule: Istio 1.24.3 and later need Gloo Operator 0.2.3 or later; source: Solo's",
                 "gloomesh_istio_version 1.27.1: istioctl_fetch cannot resolve its download: repo_key is required"):
        assert said in result["stdout"], result["stdout"][-3000:]
    no_writes(result)


def test_check_prints_the_plan_and_writes_nothing(run):
    result = upgrade(run, check=True)
    ok(result, "check mode")
    no_writes(result)
    plan_lines(result, "cluster1             canary: 1.25.2 -> 1.26.2 (ServiceMeshController spec.version",
               "cluster2             batch 1: 1.25.2 -> 1.26.2", "cluster3             batch 2: 1.25.2 -> 1.26.2",
               "cluster4             batch 3: 1.25.2 -> 1.26.2")
    assert set(versions(run).values()) == {BEFORE}


def test_canary_then_batches_verified_then_a_failure_in_batch_2_halts(run):
    run.cp.simulators.set_operator_upgrade("cluster3", "fail")
    result = upgrade(run)
    halted_on(result, "cluster3")
    # The canary and batch 1 were each followed by the verify of the whole mesh, of mixed versions.
    assert verified(result) == 2, result["stdout"][-3000:]
    assert written(result) == {"cluster1", "cluster2", "cluster3"}
    live = controllers(run)
    assert {name: smc["spec"]["version"] for name, smc in live.items()} == dict(
        cluster1=TARGET, cluster2=TARGET, cluster3=TARGET, cluster4=BEFORE)
    # What rollback returns to, recorded with the change.
    assert {name: (smc["metadata"].get("annotations") or {}).get(ANNOTATION_PREVIOUS_VERSION)
            for name, smc in live.items()} == dict(cluster1=BEFORE, cluster2=BEFORE, cluster3=BEFORE, cluster4=None)


def test_a_rerun_resumes_with_the_clusters_not_at_the_target(run):
    recovered(run, "cluster3")
    result = upgrade(run)
    ok(result, "resumed upgrade")
    plan_lines(result, "cluster1             already at 1.26.2: no change", "cluster3             already at 1.26.2",
               "cluster4             batch 1: 1.25.2 -> 1.26.2")
    assert written(result) == {"cluster4"}
    assert verified(result) == 1
    assert set(versions(run).values()) == {TARGET}


def test_a_rerun_after_success_writes_nothing(run):
    result = upgrade(run)
    ok(result, "re-run after success")
    no_writes(result)
    assert not {h: c["changed"] for h, c in result["recap"].items() if c["changed"]}, result["recap"]


def test_rollback_canary_then_two_batches_each_verified(run):
    result = upgrade(run, size=2, extra={"upgrade_rollback": True})
    ok(result, "rollback")
    plan_lines(result, "cluster1             canary: 1.26.2 -> 1.25.2", "cluster2             batch 1: 1.26.2 -> 1.25.2",
               "cluster3             batch 1: 1.26.2 -> 1.25.2", "cluster4             batch 2: 1.26.2 -> 1.25.2")
    assert verified(result) == 3, result["stdout"][-3000:]
    assert written(result) == set(NAMES)
    assert set(versions(run).values()) == {BEFORE}
    again = upgrade(run, extra={"upgrade_rollback": True})
    ok(again, "rollback again")
    no_writes(again)


def test_limit_plans_the_limited_clusters_and_a_canary_failure_halts(run):
    run.cp.simulators.set_operator_upgrade("cluster2", "fail")
    result = upgrade(run, limit="cluster2,cluster3")
    halted_on(result, "cluster2")
    plan_lines(result, "cluster2             canary: 1.25.2 -> 1.26.2")
    assert "cluster1             " not in result["stdout"] and "PLAY [Upgrade the other clusters" not in result["stdout"]
    assert written(result) == {"cluster2"}
    assert versions(run) == dict(cluster1=BEFORE, cluster2=TARGET, cluster3=BEFORE, cluster4=BEFORE)
