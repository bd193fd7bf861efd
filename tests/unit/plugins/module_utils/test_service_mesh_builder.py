"""builders/service_mesh.py and validation.service_mesh: option mapping, every rule, the extensions
ConfigMap; and the readiness predicate of operations/service_mesh.py."""
from __future__ import annotations

import pytest
import yaml

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import service_mesh
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations.service_mesh import controller_ready

MANAGED = {"app.kubernetes.io/managed-by": "gloomesh.multicluster"}


def params(**overrides):
    """Module params as Ansible hands them over (defaults applied, unset options None)."""
    base = {
        "state": "present", "name": "managed-istio", "namespace": "gloo-mesh", "labels": None,
        "cluster": "cluster1", "network": None, "dataplane_mode": "Ambient",
        "install_namespace": "istio-system", "version": "1.25.2", "distribution": None, "image": None,
        "on_conflict": None, "repository": None, "scaling_profile": None, "traffic_capture_mode": None,
        "trust_domain": None, "multicluster": True, "extensions": None, "wait": True, "wait_timeout": 300,
    }
    base.update(overrides)
    return base


def build(options):
    """What the module does before its first request: validate, then build."""
    version, warnings = validation.service_mesh(options)
    return dict(service_mesh.build(options, version), warnings=warnings)


def error_of(**overrides):
    with pytest.raises(GloomeshError) as err:
        build(params(**overrides))
    return err.value


# --- mapping ----------------------------------------------------------------------------------

def test_minimal_is_the_procedure_object():
    plan = build(params(version="1.25.2-solo"))
    assert plan == {
        "controller": {
            "apiVersion": "operator.gloo.solo.io/v1", "kind": "ServiceMeshController",
            "metadata": {"name": "managed-istio", "namespace": "gloo-mesh",
                         "labels": {"app.kubernetes.io/name": "managed-istio", **MANAGED}},
            "spec": {"cluster": "cluster1", "network": "cluster1", "dataplaneMode": "Ambient",
                     "installNamespace": "istio-system", "version": "1.25.2"},
        },
        "extensions": None,
        "warnings": [],
    }


def test_every_option_maps_to_its_field():
    plan = build(params(
        name="mesh", namespace="ops", labels={"team": "net"}, cluster="c1", network="n1",
        dataplane_mode="Sidecar", multicluster=False, install_namespace="gloo-system", version="1.23.1",
        distribution="FIPS", image={"repository": "registry.local/istio", "secrets": ["pull"]},
        on_conflict="Force", repository={"secrets": ["charts"], "insecure_skip_verify": True},
        scaling_profile="Large", traffic_capture_mode="InitContainer", trust_domain="c1.example"))
    controller = plan["controller"]
    assert controller["metadata"] == {"name": "mesh", "namespace": "ops", "labels": {"team": "net", **MANAGED}}
    assert controller["spec"] == {
        "cluster": "c1", "network": "n1", "dataplaneMode": "Sidecar", "installNamespace": "gloo-system",
        "version": "1.23.1", "distribution": "FIPS",
        "image": {"repository": "registry.local/istio", "secrets": ["pull"]},
        "onConflict": "Force", "repository": {"secrets": ["charts"], "insecureSkipVerify": True},
        "scalingProfile": "Large", "trafficCaptureMode": "InitContainer", "trustDomain": "c1.example",
    }


def test_unset_and_empty_sub_options_are_left_out():
    spec = build(params(image={"repository": None, "secrets": []},
                        repository={"secrets": None, "insecure_skip_verify": None}))["controller"]["spec"]
    assert "image" not in spec and "repository" not in spec
    spec = build(params(repository={"secrets": None, "insecure_skip_verify": False}))["controller"]["spec"]
    assert spec["repository"] == {"insecureSkipVerify": False}


def test_empty_labels_keep_only_managed_by():
    assert build(params(labels={}))["controller"]["metadata"]["labels"] == MANAGED


def test_traffic_capture_auto_is_fine_with_ambient():
    assert build(params(traffic_capture_mode="Auto"))["controller"]["spec"]["trafficCaptureMode"] == "Auto"


# --- rules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["cluster", "version"])
def test_required_when_present(option):
    err = error_of(**{option: None})
    assert err.message == "%s is required when state=present" % option and err.details == {"option": option}


@pytest.mark.parametrize("version", ["1.24.2", "1.20.0-solo"])
def test_multicluster_minimum_version(version):
    err = error_of(version=version)
    assert err.message.startswith("version: multicluster requires Istio 1.24.3 or later, except 1.26.0 and 1.26.1")


@pytest.mark.parametrize("version", ["1.26.0", "1.26.1-solo"])
def test_multicluster_refused_versions(version):
    assert "is refused for multicluster" in error_of(version=version).message


def test_old_versions_allowed_without_multicluster():
    assert build(params(version="1.22.0", multicluster=False))["controller"]["spec"]["version"] == "1.22.0"


def test_garbage_version_names_the_option():
    err = error_of(version="latest", multicluster=False)
    assert err.message.startswith("version: 'latest' is not an Istio version") and "1.25.2-solo" in err.message


def test_multicluster_requires_ambient():
    err = error_of(dataplane_mode="Sidecar")
    assert err.message.startswith("dataplane_mode 'Sidecar' is not allowed with multicluster=true")
    assert "Allowed: Ambient" in err.message and err.details == {"option": "dataplane_mode"}
    assert build(params(dataplane_mode="Sidecar", multicluster=False))["controller"]["spec"][
        "dataplaneMode"] == "Sidecar"


def test_init_container_only_with_sidecar():
    err = error_of(traffic_capture_mode="InitContainer")
    assert err.message == ("traffic_capture_mode 'InitContainer' can only be used with dataplane_mode=Sidecar "
                           "(got dataplane_mode=Ambient); allowed here: Auto")
    err = error_of(traffic_capture_mode="InitContainer", multicluster=False)
    assert err.details == {"option": "traffic_capture_mode"}


@pytest.mark.parametrize("option, value, rule", [
    ("name", "Managed_Istio", "must be a DNS-1123 subdomain"), ("name", "", "must be a DNS-1123 subdomain"),
    ("namespace", "gloo.mesh", "must be a namespace name"), ("namespace", "x" * 64, "must be a namespace name"),
    ("install_namespace", "Istio-System", "must be a namespace name"),
    ("cluster", "Cluster_2!", "must be 1-63 lowercase letters"), ("network", "net 2", "must be a Kubernetes label value"),
    ("trust_domain", "Bad Domain", "must be a trust domain"),
])
def test_invalid_names(option, value, rule):
    err = error_of(**{option: value})
    assert err.message.startswith(option) and rule in err.message
    assert err.details == {"option": option}


def test_name_may_be_a_subdomain():
    assert build(params(name="mesh.v2"))["controller"]["metadata"]["name"] == "mesh.v2"


@pytest.mark.parametrize("namespace, warned", [
    ("istio-system", False), ("gloo-mesh", False), ("gloo-system", False), ("mesh-system", True)])
def test_install_namespace_outside_watched_set_warns(namespace, warned):
    warnings = build(params(install_namespace=namespace))["warnings"]
    if warned:
        assert warnings == ["install_namespace mesh-system is not one of gloo-system, gloo-mesh, istio-system: "
                            "the Gloo Operator only installs there when its manager.env.WATCH_NAMESPACES "
                            "includes it"]
    else:
        assert warnings == []


# --- extensions -------------------------------------------------------------------------------

def test_no_extensions_means_no_configmap():
    assert build(params(extensions=None))["extensions"] is None
    assert build(params(extensions={"stable": None, "beta": {}, "istiod_values": None,
                                    "peering": "manual"}))["extensions"] is None


def test_peering_shortcut_is_the_procedure_configmap():
    cm = build(params(extensions={"stable": None, "beta": None, "istiod_values": None,
                                  "peering": "automatic"}))["extensions"]
    assert cm["apiVersion"] == "v1" and cm["kind"] == "ConfigMap"
    assert cm["metadata"] == {"name": "gloo-extensions-config", "namespace": "gloo-mesh", "labels": MANAGED}
    assert set(cm["data"]) == {"beta", "values.istiod"}
    assert yaml.safe_load(cm["data"]["beta"]) == {"serviceMeshController": {"multiClusterMode": "Peering"}}
    assert yaml.safe_load(cm["data"]["values.istiod"]) == {"env": {"PEERING_AUTOMATIC_LOCAL_GATEWAY": "true"}}
    # "true" stays a string in the YAML text (istiod env values are strings)
    assert "'true'" in cm["data"]["values.istiod"]


def test_peering_merges_with_user_documents():
    ext = {"stable": {"serviceMeshController": {"istiod": {"discoverySelectors": [{"matchLabels": {"foo": "bar"}}]}}},
           "beta": {"serviceMeshController": {"cni": {"confDir": "/foo/bar"}}},
           "istiod_values": {"env": {"OTHER": "1"}, "pilot": {"replicaCount": 2}},
           "peering": "automatic"}
    data = build(params(namespace="ops", extensions=ext))["extensions"]["data"]
    assert yaml.safe_load(data["stable"]) == ext["stable"]
    assert yaml.safe_load(data["beta"]) == {"serviceMeshController": {"cni": {"confDir": "/foo/bar"},
                                                                      "multiClusterMode": "Peering"}}
    assert yaml.safe_load(data["values.istiod"]) == {"env": {"OTHER": "1", "PEERING_AUTOMATIC_LOCAL_GATEWAY": "true"},
                                                     "pilot": {"replicaCount": 2}}
    # the caller's dicts are not modified
    assert ext["beta"] == {"serviceMeshController": {"cni": {"confDir": "/foo/bar"}}}


def test_peering_same_value_given_explicitly_is_fine():
    ext = {"beta": {"serviceMeshController": {"multiClusterMode": "Peering"}}, "peering": "automatic"}
    assert "beta" in build(params(extensions=ext))["extensions"]["data"]


@pytest.mark.parametrize("ext, words", [
    ({"beta": {"serviceMeshController": {"multiClusterMode": "Manual"}}},
     "extensions.beta.serviceMeshController.multiClusterMode: 'Manual' conflicts with extensions.peering=automatic"),
    ({"istiod_values": {"env": {"PEERING_AUTOMATIC_LOCAL_GATEWAY": "false"}}},
     "extensions.istiod_values.env.PEERING_AUTOMATIC_LOCAL_GATEWAY: 'false' conflicts"),
    ({"istiod_values": {"env": ["x"]}}, "extensions.istiod_values.env: must be a mapping"),
])
def test_peering_conflicts_are_errors(ext, words):
    ext = dict(ext, peering="automatic")
    err = error_of(extensions=ext)
    assert words in err.message and err.details == {"option": "extensions"}


def test_manual_peering_writes_user_documents_only():
    data = build(params(extensions={"istiod_values": {"env": {"A": "b"}}, "peering": "manual"}))[
        "extensions"]["data"]
    assert data == {"values.istiod": "env:\n  A: b\n"}


def test_yaml_text_is_stable():
    ext = {"stable": {"b": 1, "a": {"d": 2, "c": 3}}, "peering": "manual"}
    first = build(params(extensions=ext))["extensions"]["data"]["stable"]
    assert first == "a:\n  c: 3\n  d: 2\nb: 1\n"


# --- readiness predicate (pure) -------------------------------------------------------------

def smc(generation=1, **status):
    return {"metadata": {"name": "managed-istio", "namespace": "gloo-mesh", "generation": generation},
            "status": status}


OK = [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]


def test_ready_needs_phase_ready_and_no_false_condition():
    assert controller_ready(None) == (False, "the ServiceMeshController does not exist")
    assert controller_ready(smc()) == (False, "the operator has not reported condition Ready for generation 1 yet")
    assert controller_ready(smc(phase="SUCCEEDED", conditions=OK, observedGeneration=1)) == (True, "")
    assert controller_ready(smc(phase="INSTALLING", conditions=OK)) == (False, "phase is INSTALLING, not SUCCEEDED")
    pending = OK[:1] + [{"type": "CNIDeployed", "status": "False", "reason": "Waiting"}, OK[1]]
    assert controller_ready(smc(phase="SUCCEEDED", conditions=pending)) == (
        False, "conditions False: CNIDeployed=False (Waiting)")
    not_ready = [{"type": "Ready", "status": "Unknown", "message": "installing"}]
    assert controller_ready(smc(phase="SUCCEEDED", conditions=not_ready)) == (
        False, "condition Ready=Unknown (installing)")


def test_ready_ignores_status_of_an_older_generation():
    stale = smc(generation=3, phase="SUCCEEDED", conditions=OK, observedGeneration=2)
    assert controller_ready(stale) == (
        False, "the operator has not reported condition Ready for generation 3 yet (reported for older ones: "
               "Initialized (generation 2), Ready (generation 2))")
    stale_failure = smc(generation=3, phase="FAILED", message="old", observedGeneration=2)
    assert controller_ready(stale_failure)[0] is False


def test_failed_phase_raises_with_the_operator_message():
    failed = smc(phase="FAILED", message="unsupported version 1.2.3", observedGeneration=1,
                 conditions=[{"type": "Ready", "status": "False", "message": "install failed"}])
    with pytest.raises(GloomeshError) as err:
        controller_ready(failed)
    assert err.value.message == ("ServiceMeshController gloo-mesh/managed-istio failed: phase FAILED: "
                                 "unsupported version 1.2.3; conditions False: Ready=False (install failed)")
    assert err.value.details["phase"] == "FAILED"


def procedure_status(observed, phase="SUCCEEDED"):
    """Status as the procedure's example shows it: observedGeneration on each condition only."""
    return {"phase": phase, "conditions": [
        {"type": t, "status": "True", "reason": r, "message": "m", "observedGeneration": observed}
        for t, r in (("Initialized", "ManifestsInitialized"), ("CRDInstalled", "CRDInstalled"),
                     ("ControlPlaneDeployed", "DeploymentSucceeded"), ("Ready", "SystemReady"))]}


def test_ready_uses_the_generation_of_each_condition():
    assert controller_ready(smc(generation=1, **procedure_status(1))) == (True, "")
    # `version` changed: generation 2, and the operator has not looked yet (the old SUCCEEDED stays).
    done, missing = controller_ready(smc(generation=2, **procedure_status(1)))
    assert not done and "generation 2" in missing and "Ready (generation 1)" in missing
    # One condition already reported for the new generation is not enough while Ready is not.
    mixed = procedure_status(1)
    mixed["conditions"][0]["observedGeneration"] = 2
    assert controller_ready(smc(generation=2, **mixed))[0] is False


def test_conditions_left_at_an_older_generation_are_reported_not_waited_on():
    """Issue 20 item 4: an operator that re-stamps only the conditions it re-evaluated (here Ready and
    ControlPlaneDeployed) is ready once Ready is current; the rest is reported."""
    untidy = procedure_status(1)
    for condition in untidy["conditions"]:
        if condition["type"] in ("Ready", "ControlPlaneDeployed"):
            condition["observedGeneration"] = 2
    controller = smc(generation=2, **untidy)
    assert controller_ready(controller) == (True, "")
    assert mesh_state.stale_conditions(controller) == ["Initialized (generation 1)", "CRDInstalled (generation 1)"]
    # A False condition of the current generation still blocks, whatever Ready says.
    untidy["conditions"][2].update(status="False", reason="DeploymentFailed")
    assert controller_ready(smc(generation=2, **untidy)) == (
        False, "conditions False: ControlPlaneDeployed=False (DeploymentFailed: m)")


def test_failed_of_an_older_generation_is_only_stale():
    old_failure = procedure_status(1, phase="FAILED")
    old_failure["conditions"][-1]["status"] = "False"
    assert controller_ready(smc(generation=2, **old_failure))[0] is False
    with pytest.raises(GloomeshError):
        controller_ready(smc(generation=1, **old_failure))


# ---------------------------------------------------------------- the version recorded for a rollback

def _controller(version):
    return {"metadata": {"name": "managed-istio", "namespace": "gloo-mesh"}, "spec": {"version": version}}


def _live(version, previous=None):
    live = _controller(version)
    if previous:
        live["metadata"]["annotations"] = {service_mesh.ANNOTATION_PREVIOUS_VERSION: previous}
    return live


def _recorded(controller):
    return (controller["metadata"].get("annotations") or {}).get(service_mesh.ANNOTATION_PREVIOUS_VERSION)


@pytest.mark.parametrize("live, version, record, ready, expected", [
    (None, "1.25.2", True, False, None),                              # created: nothing to record
    (_live("1.25.2"), "1.26.2", True, True, "1.25.2"),                # an upgrade records what ran
    (_live("1.25.2"), "1.26.2", False, True, None),                   # an install run does not
    (_live("1.26.2", "1.25.2"), "1.26.2", True, False, "1.25.2"),     # resuming a halted upgrade keeps it
    (_live("1.26.2", "1.25.2"), "1.26.3", True, False, "1.25.2"),     # a new target over a halted one too
    (_live("1.26.2", "1.25.2"), "1.27.1", True, True, "1.26.2"),      # the next upgrade records the next
    (_live("1.26.2", "1.25.2"), "1.25.2", False, True, "1.25.2"),     # a rollback keeps it
    (_live("1.26.2", "1.25.2"), "1.26.2", False, True, "1.25.2"),     # a later install run keeps it
])
def test_previous_version(live, version, record, ready, expected):
    controller = _controller(version)
    assert _recorded(service_mesh.previous_version(controller, live, record, ready)) == expected
    assert "annotations" not in controller["metadata"]
