"""builders/gateway_api_crds.py: bundle versions, the install decision, the manifest's documents."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway_api_crds as b
from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

PINNED = validation.parse_bundle_version("v1.3.0")
STANDARD = ("gatewayclasses", "gateways", "grpcroutes", "httproutes", "referencegrants")


def crd(plural, version="v1.3.0", channel="standard", labels=None, annotations=None, managers=(),
        group=b.GROUP):
    notes = dict(annotations or {})
    if version is not None:
        notes[b.BUNDLE_VERSION_ANNOTATION] = version
    if channel is not None:
        notes[b.CHANNEL_ANNOTATION] = channel
    metadata = {"name": "%s.%s" % (plural, group), "annotations": notes,
                "managedFields": [{"manager": m, "operation": "Apply"} for m in managers]}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": b.CRD_API_VERSION, "kind": b.CRD_KIND, "metadata": metadata}


def bundle(version="v1.3.0", plurals=STANDARD, **kwargs):
    return [crd(p, version, **kwargs) for p in plurals]


# --- versions ---------------------------------------------------------------------------

@pytest.mark.parametrize("lower, higher", [
    ("v1.3.0", "v1.3.1"),
    ("v1.9.0", "v1.10.0"),          # a string comparison gets this one wrong
    ("v1.2.9", "v1.10.0"),
    ("v1.4.0-rc.1", "v1.4.0"),      # a release ranks above its pre-releases
    ("v1.4.0-rc.1", "v1.4.0-rc.2"),
    ("v1.4.0-rc.2", "v1.4.0-rc.10"),  # numeric identifiers compare as numbers
    ("v1.4.0-1", "v1.4.0-alpha"),   # numeric below alphanumeric
    ("v1.4.0-alpha", "v1.4.0-alpha.1"),
    ("v0.8.1", "v1.0.0"),
    ("1.2.0", "v1.3.0"),            # installed annotations may lack the "v"
])
def test_versions_compare_by_semver_precedence(lower, higher):
    low, high = validation.parse_bundle_version(lower), validation.parse_bundle_version(higher)
    assert low < high and high > low and low != high
    assert sorted([high, low]) == [low, high]


def test_build_metadata_does_not_count():
    build, release = validation.parse_bundle_version("v1.3.0+compact"), validation.parse_bundle_version("v1.3.0")
    assert build == release and hash(build) == hash(release)
    assert sorted([build, release]) == [build, release] and sorted([release, build]) == [release, build]


@pytest.mark.parametrize("text", ["", None, "latest", "v1.3", "v1.3.0.1", "v01.3.0", "1.3.0-", "v1.3.0-rc..1"])
def test_non_semver_is_no_version(text):
    assert validation.parse_bundle_version(text) is None


@pytest.mark.parametrize("value", ["1.3.0", "v1.3", "main", "v0.0.0-dev", ""])
def test_pinned_version_must_be_a_release_tag(value):
    assert validation.gateway_api_version_problem(value) is not None
    with pytest.raises(GloomeshError) as err:
        validation.gateway_api_version(value, "gateway_api_crds_version")
    assert err.value.details["option"] == "gateway_api_crds_version"
    assert "gateway_api_crds_version" in err.value.message and "v1.3.0" in err.value.message


def test_pinned_version_accepts_release_tags():
    assert str(validation.gateway_api_version("v1.3.0")) == "v1.3.0"
    assert validation.gateway_api_version("v1.4.0-rc.1") < validation.gateway_api_version("v1.4.0")
    assert validation.gateway_api_version_problem("v1.5.1") is None


# --- the decision -----------------------------------------------------------------------

def test_nothing_installed_installs():
    plan = b.plan([], PINNED)
    assert plan.install and plan.left_alone is None
    assert {n: s.state for n, s in plan.states.items()} == {n: b.MISSING for n in b.REQUIRED_CRDS}


def test_same_bundle_is_left_as_it_is_without_install():
    plan = b.plan(bundle(), PINNED)
    assert not plan.install and plan.left_alone is None
    assert set(s.state for s in plan.states.values()) == {b.CURRENT}


def test_other_groups_are_ignored():
    istio = crd("gateways", group="networking.istio.io", version=None, channel=None)
    plan = b.plan(bundle() + [istio], PINNED)
    assert "gateways.networking.istio.io" not in plan.states and not plan.install


def test_older_bundle_is_upgraded_and_an_older_crd_alone_too():
    assert b.plan(bundle("v1.2.1"), PINNED).install
    mixed = bundle() + [crd("tlsroutes", "v1.2.0")]
    plan = b.plan(mixed, PINNED)
    assert plan.install and plan.states["tlsroutes.gateway.networking.k8s.io"].state == b.OLDER


def test_missing_required_crd_installs():
    plan = b.plan(bundle(plurals=("gatewayclasses", "httproutes")), PINNED)
    assert plan.install and plan.states["gateways.gateway.networking.k8s.io"].state == b.MISSING


@pytest.mark.parametrize("installed, reason, words", [
    (bundle("v1.5.0"), b.NEWER, "newer than v1.3.0"),
    (bundle("v1.10.0"), b.NEWER, "never downgraded"),
    (bundle("v1.3.1-rc.1"), b.NEWER, "v1.3.1-rc.1"),
    (bundle(channel="experimental"), b.OTHER_CHANNEL, "experimental channel"),
    (bundle(channel=None), b.UNRECOGNIZED, "no gateway.networking.k8s.io/channel"),
    (bundle("v0.0.0-dev"), b.UNRECOGNIZED, "not a release"),
    (bundle("main"), b.UNRECOGNIZED, "not a release"),
    (bundle(labels={"addonmanager.kubernetes.io/mode": "Reconcile"}, managers=("addon-manager",)),
     b.PROVIDER_MANAGED, "label addonmanager.kubernetes.io/mode=Reconcile; field managers: addon-manager"),
    (bundle("v1.1.0", annotations={"components.gke.io/component-name": "gateway-api-crds",
                                   "components.gke.io/layer": "addon"}),
     b.PROVIDER_MANAGED, "GKE annotation components.gke.io/component-name=gateway-api-crds"),
])
def test_bundles_left_alone(installed, reason, words):
    plan = b.plan(installed, PINNED)
    assert (plan.install, plan.left_alone) == (False, reason)
    assert words in plan.message and "pinned v1.3.0" in plan.message


def test_one_newer_crd_keeps_the_older_ones_from_being_mixed_with_another_release():
    plan = b.plan(bundle("v1.2.0", plurals=STANDARD[:-1]) + [crd("referencegrants", "v1.4.0")], PINNED)
    assert (plan.install, plan.left_alone) == (False, b.NEWER)
    assert "referencegrants.gateway.networking.k8s.io is bundle v1.4.0" in plan.message


def test_provider_outranks_newer_and_experimental():
    managed = crd("gateways", "v1.5.0", channel="experimental", labels={"addonmanager.kubernetes.io/mode": "Reconcile"})
    assert b.plan([managed], PINNED).left_alone == b.PROVIDER_MANAGED


def test_ensure_exists_addons_may_be_upgraded():
    # addon-manager README: EnsureExists objects are only re-created when deleted; users may edit them.
    plan = b.plan(bundle("v1.2.0", labels={"addonmanager.kubernetes.io/mode": "EnsureExists"}), PINNED)
    assert plan.install and plan.left_alone is None


def test_build_metadata_counts_as_the_same_bundle():
    assert not b.plan(bundle("v1.3.0+compact"), PINNED).install


# --- the manifest -----------------------------------------------------------------------

def policy(kind="ValidatingAdmissionPolicy"):
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": "safe-upgrades.gateway.networking.k8s.io"}}


def test_flatten_drops_empty_documents_and_expands_lists():
    docs = [None, {"kind": "List", "items": [crd("gateways"), None]}, crd("gatewayclasses"), {}]
    assert [o["metadata"]["name"] for o in b.flatten(docs)] == [
        "gateways.gateway.networking.k8s.io", "gatewayclasses.gateway.networking.k8s.io"]
    with pytest.raises(ValueError):
        b.flatten(["text"])


def test_manifest_of_the_pinned_standard_bundle_has_no_problem():
    assert b.manifest_problems(bundle() + [policy()], PINNED, "m.yaml") == []
    assert b.manifest_problems(bundle("v1.3.0+mirror"), PINNED, "m.yaml") == []


def test_manifest_problems_name_the_source_and_what_is_wrong():
    problems = b.manifest_problems(bundle("v1.2.0", plurals=("gatewayclasses",)), PINNED, "m.yaml")
    assert "m.yaml has no CRD gateways.gateway.networking.k8s.io" in problems[0]
    assert "is bundle v1.2.0, not the pinned v1.3.0" in problems[1]
    experimental = b.manifest_problems(bundle(channel="experimental"), PINNED, "x.yaml")
    assert all("experimental channel; only the standard channel" in p for p in experimental)


def test_selection_takes_missing_and_older_crds_and_every_other_object():
    installed = [crd("gatewayclasses", "v1.3.0"), crd("gateways", "v1.2.0")]
    plan = b.plan(installed, PINNED)
    manifest = [policy()] + bundle() + [policy("ValidatingAdmissionPolicyBinding")]
    names = [(o["kind"], o["metadata"]["name"].split(".")[0]) for o in b.select_documents(manifest, plan)]
    assert names == [("ValidatingAdmissionPolicy", "safe-upgrades"),
                     (b.CRD_KIND, "gateways"), (b.CRD_KIND, "grpcroutes"), (b.CRD_KIND, "httproutes"),
                     (b.CRD_KIND, "referencegrants"), ("ValidatingAdmissionPolicyBinding", "safe-upgrades")]


def test_selection_leaves_the_status_to_the_api_server():
    with_status = dict(crd("gateways"), status={"acceptedNames": {"kind": "", "plural": ""}, "conditions": None})
    (selected,) = b.select_documents([with_status], b.plan([], PINNED))
    assert "status" not in selected and selected["metadata"] == with_status["metadata"]
