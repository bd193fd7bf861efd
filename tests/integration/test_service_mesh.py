"""service_mesh against a real API server and the Gloo Operator simulator.

kubernetes.core's checklist (create, create again, modify, modify again, delete, delete a
missing object; each in check mode and for real) plus the extensions ConfigMap, the FAILED
phase, the wait timeout and validation. Every test has its own controller name and namespace
on cluster2; the istiod it installs (istio-system, and the cluster-wide sidecar-injector
webhook that makes one installation per cluster the rule) is uninstalled before the next test.
"""
from __future__ import annotations

import time
import uuid

import pytest
import yaml

from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s import apply as ka
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import get_cluster
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import gone, wait_for
from tests.harness.module_runner import run_module

CONTEXT = "cluster2"
SMC_API = "operator.gloo.solo.io/v1"
SMC = "ServiceMeshController"
MANAGED_BY = {"app.kubernetes.io/managed-by": "gloomesh.multicluster"}


@pytest.fixture
def client(kubeconfig):
    return get_cluster({"kubeconfig": kubeconfig, "context": CONTEXT})


def uninstalled(client, timeout=60):
    """Wait until no Gloo-operator istiod is left in cluster2 (the previous controller is gone)."""
    wait_for(client, "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
             "istio-sidecar-injector-gloo", None, gone, timeout, "the previous Istio installation to go")
    wait_for(client, "apps/v1", "Deployment", "istiod-gloo", "istio-system", gone, timeout,
             "istiod-gloo to be uninstalled")


@pytest.fixture
def smc(kubeconfig, client):
    """Module args for a controller of this test only; it is deleted (and Istio uninstalled) afterwards."""
    uninstalled(client)
    suffix = uuid.uuid4().hex[:6]
    args = {"kubeconfig": kubeconfig, "context": CONTEXT, "name": "smc-" + suffix,
            "namespace": "gm-smc-" + suffix, "cluster": CONTEXT, "version": "1.25.2-solo",
            "scaling_profile": "Demo", "wait_timeout": 60}
    yield args
    for name in (args["name"],):
        ka.delete_object(client, SMC_API, SMC, name, args["namespace"])
    ka.delete_object(client, "v1", "ConfigMap", "gloo-extensions-config", args["namespace"])
    uninstalled(client)


def run(args, check_mode=False, diff=False, **overrides):
    return run_module("servicemeshcontroller", dict(args, **overrides), check_mode=check_mode, diff=diff)


def live_smc(client, args):
    return ka.get_object(client, SMC_API, SMC, args["name"], args["namespace"])


def assert_ready(result):
    assert result["phase"] == "SUCCEEDED"
    assert result["conditions"] and all(c["status"] == "True" for c in result["conditions"])
    assert result["resource"]["status"]["phase"] == "SUCCEEDED"


# --- kubernetes.core's checklist ------------------------------------------------------------

def test_lifecycle_check_mode_and_real(smc, client, audit):
    # create, check mode: predicted, nothing written
    mark = audit.mark()
    result = run(smc, check_mode=True, diff=True)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["actions"] == {"namespace": "created", "extensions_config": "absent", "controller": "created"}
    assert result["resource"]["spec"] == {"cluster": CONTEXT, "network": CONTEXT, "dataplaneMode": "Ambient",
                                          "installNamespace": "istio-system", "version": "1.25.2",
                                          "scalingProfile": "Demo"}
    assert result["phase"] is None and result["conditions"] == []
    assert audit.writes(mark, CONTEXT) == []
    assert ka.get_object(client, "v1", "Namespace", smc["namespace"]) is None

    # create, for real: namespace + controller, waits for the operator
    mark = audit.mark()
    result = run(smc, diff=True)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["actions"] == {"namespace": "created", "extensions_config": "absent", "controller": "created"}
    assert_ready(result)
    assert result["resource"]["metadata"]["labels"] == {"app.kubernetes.io/name": smc["name"], **MANAGED_BY}
    assert "managedFields" not in result["resource"]["metadata"]
    writes = audit.writes(mark, CONTEXT)
    assert [(w["verb"], w["objectRef"]["resource"]) for w in writes] == [
        ("patch", "namespaces"), ("patch", "servicemeshcontrollers")]
    controller_diff = [d for d in result["diff"] if d["before_header"] == "controller"][0]
    assert controller_diff["before"] == {} and controller_diff["after"]["spec"]["version"] == "1.25.2"
    assert "status" not in controller_diff["after"]
    assert "resourceVersion" not in controller_diff["after"]["metadata"]
    # what the operator did with it: istiod of revision gloo, CLUSTER_ID = cluster
    istiod = ka.get_object(client, "apps/v1", "Deployment", "istiod-gloo", "istio-system")
    env = {e["name"]: e.get("value") for e in istiod["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CLUSTER_ID"] == CONTEXT

    # create again: no change, no write, in both modes
    for check_mode in (True, False):
        mark = audit.mark()
        result = run(smc, check_mode=check_mode)
        assert result["changed"] is False, result
        assert result["actions"] == {"namespace": "unchanged", "extensions_config": "absent",
                                     "controller": "unchanged"}
        assert result["phase"] == "SUCCEEDED"
        assert audit.writes(mark, CONTEXT) == []

    # modify, check mode: predicted, nothing written
    mark = audit.mark()
    result = run(smc, check_mode=True, diff=True, scaling_profile="Large", trust_domain="c2.example")
    assert result["changed"] is True and result["actions"]["controller"] == "updated"
    controller_diff = [d for d in result["diff"] if d["before_header"] == "controller"][0]
    assert controller_diff["before"]["spec"]["scalingProfile"] == "Demo"
    assert controller_diff["after"]["spec"]["scalingProfile"] == "Large"
    assert controller_diff["after"]["spec"]["trustDomain"] == "c2.example"
    assert [d["before_header"] for d in result["diff"]] == ["controller"]
    assert audit.writes(mark, CONTEXT) == []
    assert live_smc(client, smc)["spec"]["scalingProfile"] == "Demo"

    # modify, for real: waits for the operator to reconcile the new generation
    mark = audit.mark()
    result = run(smc, scaling_profile="Large", trust_domain="c2.example")
    assert result["changed"] is True and result["actions"]["controller"] == "updated"
    assert_ready(result)
    assert {c["observedGeneration"] for c in result["resource"]["status"]["conditions"]} == {2}
    assert result["resource"]["metadata"]["generation"] == 2
    assert len(audit.writes(mark, CONTEXT)) == 1
    mesh = yaml.safe_load(ka.get_object(client, "v1", "ConfigMap", "istio-gloo", "istio-system")["data"]["mesh"])
    assert mesh["trustDomain"] == "c2.example"

    # modify again: nothing to do, in both modes
    for check_mode in (True, False):
        mark = audit.mark()
        result = run(smc, check_mode=check_mode, scaling_profile="Large", trust_domain="c2.example")
        assert result["changed"] is False and result["actions"]["controller"] == "unchanged"
        assert audit.writes(mark, CONTEXT) == []

    # dropping an option we set removes the field (the operator default applies again)
    result = run(smc, scaling_profile="Large")
    assert result["changed"] is True
    assert "trustDomain" not in live_smc(client, smc)["spec"]

    # delete, check mode: reported, nothing written
    mark = audit.mark()
    result = run(smc, check_mode=True, diff=True, state="absent")
    assert result["changed"] is True and result["actions"] == {"controller": "deleted", "extensions_config": "absent"}
    assert result["diff"][0]["after"] == {} and result["diff"][0]["before"]["spec"]["scalingProfile"] == "Large"
    assert live_smc(client, smc) is not None
    assert audit.writes(mark, CONTEXT) == []

    # delete, for real
    mark = audit.mark()
    result = run(smc, state="absent")
    assert result["changed"] is True and result["actions"]["controller"] == "deleted"
    assert result["resource"] == {} and result["phase"] is None
    assert live_smc(client, smc) is None
    assert [(w["verb"], w["objectRef"]["resource"]) for w in audit.writes(mark, CONTEXT)] == [
        ("delete", "servicemeshcontrollers")]

    # delete a missing object: nothing to do, in both modes
    for check_mode in (True, False):
        mark = audit.mark()
        result = run(smc, check_mode=check_mode, state="absent")
        assert result["changed"] is False and result["actions"] == {"controller": "absent",
                                                                    "extensions_config": "absent"}
        assert audit.writes(mark, CONTEXT) == []


def test_dropped_label_is_removed(smc, client, audit):
    assert run(smc, labels={"team": "mesh", "tier": "platform"}, wait=False)["changed"] is True
    mark = audit.mark()
    result = run(smc, labels={"team": "mesh"}, wait=False)
    assert result["changed"] is True and result["actions"]["controller"] == "updated"
    assert live_smc(client, smc)["metadata"]["labels"] == {"team": "mesh", **MANAGED_BY}
    assert len(audit.writes(mark, CONTEXT)) == 1


# --- extensions -------------------------------------------------------------------------------

def test_extensions_configmap_lifecycle(smc, client, audit):
    extensions = {"peering": "automatic",
                  "stable": {"serviceMeshController": {"istiod": {"discoverySelectors": [
                      {"matchLabels": {"mesh": "on"}}]}}}}
    mark = audit.mark()
    result = run(smc, check_mode=True, extensions=extensions)
    assert result["actions"]["extensions_config"] == "created"
    assert audit.writes(mark, CONTEXT) == []

    result = run(smc, extensions=extensions)
    assert result["actions"] == {"namespace": "created", "extensions_config": "created", "controller": "created"}
    assert_ready(result)
    cm = ka.get_object(client, "v1", "ConfigMap", "gloo-extensions-config", smc["namespace"])
    assert cm["metadata"]["labels"] == MANAGED_BY
    assert yaml.safe_load(cm["data"]["beta"]) == {"serviceMeshController": {"multiClusterMode": "Peering"}}
    assert yaml.safe_load(cm["data"]["values.istiod"]) == {"env": {"PEERING_AUTOMATIC_LOCAL_GATEWAY": "true"}}
    assert yaml.safe_load(cm["data"]["stable"]) == extensions["stable"]
    # the operator hands values.istiod's env to istiod
    istiod = ka.get_object(client, "apps/v1", "Deployment", "istiod-gloo", "istio-system")
    env = {e["name"]: e.get("value") for e in istiod["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PEERING_AUTOMATIC_LOCAL_GATEWAY"] == "true"

    mark = audit.mark()
    assert run(smc, extensions=extensions)["changed"] is False
    assert audit.writes(mark, CONTEXT) == []

    # modify: drop the stable document -> the data key goes
    smaller = {"peering": "automatic"}
    result = run(smc, extensions=smaller)
    assert result["changed"] is True and result["actions"]["extensions_config"] == "updated"
    assert set(ka.get_object(client, "v1", "ConfigMap", "gloo-extensions-config", smc["namespace"])["data"]) == {
        "beta", "values.istiod"}

    # no extensions: the ConfigMap we created is removed (check mode first)
    mark = audit.mark()
    assert run(smc, check_mode=True)["actions"]["extensions_config"] == "deleted"
    assert audit.writes(mark, CONTEXT) == []
    result = run(smc)
    assert result["changed"] is True and result["actions"]["extensions_config"] == "deleted"
    assert ka.get_object(client, "v1", "ConfigMap", "gloo-extensions-config", smc["namespace"]) is None
    mark = audit.mark()
    assert run(smc)["changed"] is False
    assert audit.writes(mark, CONTEXT) == []


def test_foreign_extensions_configmap_is_left_alone(smc, client, audit):
    ka.ensure_namespace(client, smc["namespace"], check_mode=False)
    res = client.resource("ConfigMap", "v1")
    client.api.server_side_apply(res, body={
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "gloo-extensions-config", "namespace": smc["namespace"]},
        "data": {"beta": "serviceMeshController:\n  cni:\n    confDir: /x\n"}}, field_manager="kubectl")
    mark = audit.mark()
    result = run(smc, wait=False)
    assert result["actions"]["extensions_config"] == "unmanaged"
    assert ka.get_object(client, "v1", "ConfigMap", "gloo-extensions-config", smc["namespace"]) is not None
    assert [w["objectRef"]["resource"] for w in audit.writes(mark, CONTEXT)] == ["servicemeshcontrollers"]
    result = run(smc, state="absent", wait=False)
    assert result["actions"] == {"controller": "deleted", "extensions_config": "unmanaged"}
    assert ka.get_object(client, "v1", "ConfigMap", "gloo-extensions-config", smc["namespace"]) is not None


# --- failures ---------------------------------------------------------------------------------

def test_failed_phase_is_reported_with_the_operator_message(smc):
    # multicluster=false lets 1.22.0 through our rules; the operator refuses it.
    result = run(smc, multicluster=False, version="1.22.0")
    assert result["failed"] is True
    assert result["msg"].startswith("ServiceMeshController %s/%s failed: phase FAILED: " % (
        smc["namespace"], smc["name"]))
    assert "unsupported version 1.22.0: the Gloo Operator installs Istio 1.24.3 or later" in result["msg"]
    assert result["phase"] == "FAILED" and result["changed"] is True
    assert result["actions"]["controller"] == "created"


def test_wait_timeout_names_what_is_missing(smc):
    # wait_timeout 0 looks once: the operator (delay >= 0.3 s) cannot have answered yet.
    result = run(smc, wait_timeout=0)
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"] == (
        "timed out after 0s waiting for ServiceMeshController %s/%s to be ready: the operator has not reported "
        "condition Ready for generation 1 yet; last status: {}" % (smc["namespace"], smc["name"]))


@pytest.mark.parametrize("conditions_mode, stale", [
    ("all", None),
    ("reevaluated", "Initialized (generation 1), CRDInstalled (generation 1)"),
])
def test_a_version_change_is_ready_whatever_conditions_the_operator_restamps(
        smc, control_plane, conditions_mode, stale):
    """Issue 20 item 4: an operator that moves only the conditions it re-evaluated to the new generation
    (Initialized and CRDInstalled stay at 1) is ready once Ready is current; the others are reported."""
    if control_plane.simulators is None:
        pytest.skip("sets how the simulated operator stamps its conditions")
    control_plane.simulators.set_operator_conditions(CONTEXT, conditions_mode)
    try:
        assert run(smc)["changed"]
        began = time.monotonic()
        result = run(smc, version="1.25.3", wait_timeout=30)
        assert not result.get("failed"), result.get("msg")
        assert result["phase"] == "SUCCEEDED" and time.monotonic() - began < 25
        ready = next(c for c in result["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True" and ready["observedGeneration"] == 2
        # str(): ansible-core 2.19 hands warnings over as WarningSummary mappings.
        warned = [str(w) for w in result.get("warnings") or [] if "older generation" in str(w)]
        if stale is None:
            assert warned == []
        else:
            assert len(warned) == 1 and (
                "ServiceMeshController %s/%s is ready; the operator left these conditions at an older generation: %s"
                % (smc["namespace"], smc["name"], stale)) in warned[0]
    finally:
        control_plane.simulators.set_operator_conditions(CONTEXT, "all")


@pytest.mark.parametrize("overrides, message", [
    ({"version": "1.24.2"}, "version: multicluster requires Istio 1.24.3 or later, except 1.26.0 and 1.26.1; "
                            "got 1.24.2"),
    ({"version": "1.26.1-solo"}, "version: Istio 1.26.1 is refused for multicluster"),
    ({"version": "1.25"}, "version: '1.25' is not an Istio version"),
    ({"version": None}, "version is required when state=present"),
    ({"cluster": None}, "cluster is required when state=present"),
    ({"dataplane_mode": "Sidecar"}, "dataplane_mode 'Sidecar' is not allowed with multicluster=true"),
    ({"traffic_capture_mode": "InitContainer"}, "traffic_capture_mode 'InitContainer' can only be used with "
                                                "dataplane_mode=Sidecar"),
    ({"cluster": "Cluster_2!"}, "cluster 'Cluster_2!' must be 1-63 lowercase letters"),
    ({"scaling_profile": "Huge"}, "value of scaling_profile must be one of: Default, Demo, Large, got: Huge"),
    ({"dataplane_mode": "Hybrid"}, "value of dataplane_mode must be one of: Ambient, Sidecar, got: Hybrid"),
    ({"extensions": {"peering": "automatic", "beta": {"serviceMeshController": {"multiClusterMode": "X"}}}},
     "extensions.beta.serviceMeshController.multiClusterMode: 'X' conflicts with extensions.peering=automatic"),
    ({"namespace": "Bad_NS"}, "namespace 'Bad_NS' must be a namespace name"),
])
def test_validation_errors_write_nothing(smc, client, audit, control_plane, overrides, message):
    mark = audit.mark()
    for check_mode in (True, False):
        result = run(smc, check_mode=check_mode, **overrides)
        assert result["failed"] is True and message in result["msg"], result
    assert audit.writes(mark, CONTEXT) == []
    # not even a read: rules are checked before connecting
    assert [e for e in control_plane.events_since(mark, CONTEXT)
            if e.get("user", {}).get("username") == "admin"] == []


def test_unwatched_install_namespace_warns(smc):
    result = run(smc, install_namespace="mesh-system", wait=False, check_mode=True)
    assert any("WATCH_NAMESPACES" in w for w in result.get("warnings", [])), result


def test_unreachable_api_server_is_a_short_error():
    # An in-memory kubeconfig (kubeconfig given as a dict) for a server nobody listens on.
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
                  "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9",
                                                               "insecure-skip-tls-verify": True}}],
                  "users": [{"name": "gm-nobody", "user": {"token": "not-a-real-token"}}],
                  "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "gm-nobody"}}]}
    result = run_module("servicemeshcontroller", {"kubeconfig": kubeconfig, "cluster": "c1", "version": "1.25.2"})
    assert result["failed"] is True, result
    # The in-memory kubeconfig is a no_log option: its values (context name, server) show masked.
    assert result["msg"].startswith("cluster ") and "GET /version" in result["msg"], result["msg"]
    assert "Connection refused" in result["msg"] and result["unreachable"] is True
    assert "not-a-real-token" not in str(result)


def test_a_live_controllers_cluster_and_network_are_not_renamed_unless_told_to(smc, client, audit):
    """Issue 22 item 1: a second name for a cluster of the mesh would rewrite its Istio cluster ID."""
    assert run(smc, wait=False, extensions={"stable": {"a": 1}})["changed"] is True
    mark = audit.mark()
    result = run(smc, wait=False, cluster="c2-alias", extensions={"stable": {"a": 2}})
    assert result.get("failed") and result["current"] == {"cluster": CONTEXT, "network": CONTEXT}, result
    assert ("spec.cluster from 'cluster2' to 'c2-alias' and spec.network from 'cluster2' to 'c2-alias'"
            in result["msg"]), result["msg"]
    assert "allow_cluster_change=true" in result["msg"]
    # Refused before the first write: not even the extensions ConfigMap, which is applied first.
    assert audit.writes(mark, CONTEXT) == []
    assert live_smc(client, smc)["spec"]["cluster"] == CONTEXT
    # Told to: changed.
    result = run(smc, wait=False, network="net-b", allow_cluster_change=True)
    assert result["changed"] is True and live_smc(client, smc)["spec"]["network"] == "net-b"
