"""Pure parts of the Gloo Operator simulator: validation and what it installs."""
from __future__ import annotations

import pytest
import yaml

from tests.harness.simulators.operator import (DEFAULT_WATCHED, desired_objects, extension_env, failed_status,
                                               observed_generation, parse_version, servicemeshcontroller_crd,
                                               success_status, trust_domain, validate)

WATCHED = set(DEFAULT_WATCHED)


def _smc(**spec):
    return {"metadata": {"name": "managed-istio", "namespace": "gloo-mesh", "generation": 2, "uid": "u"},
            "spec": {"cluster": "cluster1", "network": "net1", "version": "1.25.2", **spec}}


@pytest.mark.parametrize("spec, fragment", [
    ({}, None),
    ({"version": None}, "spec.version is required"),
    ({"version": "1.25.2-solo"}, "written without -solo"),
    ({"version": "1.25"}, 'unsupported version "1.25"'),
    ({"version": "1.24.2"}, "1.24.3 or later"),
    ({"version": "1.24.3"}, None),
    ({"trafficCaptureMode": "InitContainer"}, "only be used when dataplaneMode is Sidecar"),
    ({"trafficCaptureMode": "InitContainer", "dataplaneMode": "Sidecar"}, None),
    ({"installNamespace": "mesh"}, "WATCH_NAMESPACES=mesh"),
])
def test_validate(spec, fragment):
    error = validate(_smc(**spec)["spec"], WATCHED)
    assert (error is None) if fragment is None else (fragment in error)


def test_watch_namespaces_extend_the_install_namespaces():
    assert validate(_smc(installNamespace="mesh")["spec"], WATCHED | {"mesh"}) is None


def test_parse_version():
    assert parse_version("1.26.1") == (1, 26, 1)
    assert parse_version("1.26.1-solo") is None and parse_version(None) is None


def test_trust_domain_defaults():
    assert trust_domain({"trustDomain": "td", "cluster": "c"}) == "td"
    assert trust_domain({"cluster": "c"}) == "c"
    assert trust_domain({}) == "cluster.local"


def test_extension_env_reads_values_istiod():
    cm = {"data": {"values.istiod": 'env:\n  PEERING_AUTOMATIC_LOCAL_GATEWAY: "true"\n'}}
    assert extension_env(cm) == {"PEERING_AUTOMATIC_LOCAL_GATEWAY": "true"}
    as_list = {"data": {"values.istiod": "env:\n- name: A\n  value: b\n"}}
    assert extension_env(as_list) == {"A": "b"}
    assert extension_env(None) == {} and extension_env({"data": {"values.istiod": ": bad: ["}}) == {}


def _by(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_desired_objects():
    objects = desired_objects(_smc(scalingProfile="Demo", distribution="FIPS", image={"secrets": ["pull"]}),
                              {"PEERING_AUTOMATIC_LOCAL_GATEWAY": "true"})
    istiod = _by(objects, "Deployment", "istiod-gloo")
    assert istiod["metadata"]["namespace"] == "istio-system"
    assert istiod["spec"]["replicas"] == 1
    pod = istiod["spec"]["template"]
    assert pod["metadata"]["labels"]["istio.io/rev"] == "gloo"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["CLUSTER_ID"] == "cluster1" and env["PEERING_AUTOMATIC_LOCAL_GATEWAY"] == "true"
    assert pod["spec"]["containers"][0]["image"].endswith("/pilot:1.25.2-solo-fips")
    assert pod["spec"]["imagePullSecrets"] == [{"name": "pull"}]
    for name in ("istio-cni-node", "ztunnel"):
        assert _by(objects, "DaemonSet", name)["metadata"]["namespace"] == "istio-system"
    assert _by(objects, "MutatingWebhookConfiguration", "istio-sidecar-injector-gloo")
    mesh = yaml.safe_load(_by(objects, "ConfigMap", "istio-gloo")["data"]["mesh"])
    assert mesh["trustDomain"] == "cluster1"


def test_default_scaling_profile_runs_two_istiod_replicas():
    istiod = _by(desired_objects(_smc(), {}), "Deployment", "istiod-gloo")
    assert istiod["spec"]["replicas"] == 2
    assert istiod["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "2Gi"


def test_statuses_carry_the_generation_on_each_condition_only():
    ok = success_status(_smc())
    # As the procedure's `kubectl describe` shows: conditions and phase, nothing at the top level.
    assert set(ok) == {"phase", "conditions"} and ok["phase"] == "SUCCEEDED"
    assert [c["type"] for c in ok["conditions"]] == ["Initialized", "CRDInstalled", "ControlPlaneDeployed",
                                                     "CNIDeployed", "WebhookDeployed", "Ready"]
    assert all(c["status"] == "True" and c["observedGeneration"] == 2 for c in ok["conditions"])
    bad = failed_status(_smc(), "InvalidConfiguration", "no")
    assert bad["phase"] == "FAILED" and bad["message"] == "no" and "observedGeneration" not in bad
    assert {(c["status"], c["message"], c["observedGeneration"]) for c in bad["conditions"]} == {("False", "no", 2)}


def test_observed_generation_is_the_ready_conditions():
    assert observed_generation({"conditions": [{"type": "Initialized", "observedGeneration": 2},
                                               {"type": "Ready", "observedGeneration": 3}]}) == 3
    assert observed_generation({"conditions": [{"type": "Ready"}], "observedGeneration": 1}) == 1
    assert observed_generation({}) is None


def test_reevaluated_mode_moves_only_the_reevaluated_conditions():
    first = _smc()
    first["metadata"]["generation"] = 1
    first["status"] = success_status(first)
    changed = dict(first, metadata=dict(first["metadata"], generation=2))
    tidy = {c["type"]: c["observedGeneration"] for c in success_status(changed)["conditions"]}
    assert set(tidy.values()) == {2}
    untidy = {c["type"]: c["observedGeneration"] for c in success_status(changed, "reevaluated")["conditions"]}
    assert untidy == {"Initialized": 1, "CRDInstalled": 1, "ControlPlaneDeployed": 2, "CNIDeployed": 2,
                      "WebhookDeployed": 2, "Ready": 2}
    # A first install has nothing to keep: every condition is reported for it.
    assert {c["observedGeneration"] for c in success_status(_smc(), "reevaluated")["conditions"]} == {2}


@pytest.mark.parametrize("mode, expected", [("full", "cluster1"), ("absent", "absent")])
def test_mesh_configmap_modes(mode, expected):
    objects = desired_objects(_smc(), {}, mode)
    configmaps = [o for o in objects if o["kind"] == "ConfigMap"]
    if expected == "absent":
        assert configmaps == []
        return
    mesh = yaml.safe_load(configmaps[0]["data"]["mesh"])
    assert mesh.get("trustDomain") == expected and mesh["rootNamespace"] == "istio-system"


def test_crd_fixture_has_the_reference_table_fields():
    crd = servicemeshcontroller_crd()
    assert crd["metadata"]["name"] == "servicemeshcontrollers.operator.gloo.solo.io"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1" and version["subresources"] == {"status": {}}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["dataplaneMode"]["enum"] == ["Ambient", "Sidecar"]
    assert spec["onConflict"]["enum"] == ["Force", "Abort"]
    assert set(spec) == {"cluster", "network", "dataplaneMode", "distribution", "image", "installNamespace",
                         "onConflict", "repository", "scalingProfile", "trafficCaptureMode", "trustDomain",
                         "version"}
