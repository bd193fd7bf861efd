"""gateway_api_crds (module and role) against a local API server of its own, with no Gateway API CRDs
until a test puts them there.

Set-up writes (another installer's CRDs, a provider's, the experimental channel) go as the simulator
user, so the audit counts only the collection's writes. Manifests standing
for other versions are our compact fixture annotated with the bundle version and channel each test
needs; upstream bundles (../shared/fixtures/gateway-api) are applied only as they ship, and the tests
that need them skip when that folder is absent.
"""
from __future__ import annotations

import os
import sys

import pytest
import yaml
from kubernetes import client as k8s

from tests.conftest import EXTERNAL_KUBECONFIG
from tests.harness import crds
from tests.harness.controlplane import LocalControlPlane
from tests.harness.module_runner import run_module
from tests.harness.playbook_run import run_playbook
from tests.harness.poll import wait_until
from tests.harness.tarball_server import TarballServer

CONTEXT = "gwcrds"
GROUP = "gateway.networking.k8s.io"
VERSION_ANNOTATION = GROUP + "/bundle-version"
CHANNEL_ANNOTATION = GROUP + "/channel"
GONE = "/nonexistent/gateway-api/standard-install.yaml"


@pytest.fixture(scope="module")
def cluster():
    """One API server with no CRDs at all (the session clusters have Gateway API installed).

    Its watch cache is off: the tests delete and re-create the same CRDs every few seconds, and
    Kubernetes 1.36 then can leave a CRD Terminating for minutes ("could not list instances:
    storage is (re)initializing", its cache of the custom resources being rebuilt). The collection
    never deletes CRDs; a real cluster does not churn them like this fixture.
    """
    if EXTERNAL_KUBECONFIG:
        pytest.skip("needs a cluster without Gateway API CRDs and its audit log")
    cp = LocalControlPlane((CONTEXT,), apiserver_args=("--watch-cache=false",)).start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def cp(cluster):
    """The cluster, with every Gateway API CRD removed before the test."""
    remove_gateway_api(cluster)
    return cluster


def remove_gateway_api(cp):
    api = crd_api(cp)
    for name in installed(cp):
        api.delete_custom_resource_definition(name)
    try:
        wait_until(lambda: not installed(cp), "the Gateway API CRDs to be deleted", 120)
    except AssertionError as exc:
        stuck = {name: [(c.type, c.status, c.message) for c in api.read_custom_resource_definition(name).status.conditions
                        or []] for name in installed(cp)}
        raise AssertionError("%s; still there: %s" % (exc, stuck)) from None


def crd_api(cp):
    return k8s.ApiextensionsV1Api(cp.api_client(CONTEXT, simulator=True))


def bundle_documents(version, channel="standard", labels=None, annotations=None):
    docs = crds.load_documents(crds.COMPACT_GATEWAY_API)  # ours to relabel; upstream files never are
    for doc in docs:
        metadata = doc["metadata"]
        metadata.setdefault("annotations", {}).update(annotations or {})
        metadata["annotations"].update({VERSION_ANNOTATION: version, CHANNEL_ANNOTATION: channel})
        if labels:
            metadata.setdefault("labels", {}).update(labels)
    return docs


def manifest(tmp_path, version, channel="standard"):
    path = tmp_path / ("standard-install-%s-%s.yaml" % (version, channel))
    with open(path, "w", encoding="utf-8") as fh:
        yaml.dump_all(bundle_documents(version, channel), fh, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    return str(path)


def bundle_names():
    return sorted(d["metadata"]["name"] for d in crds.load_documents(crds.COMPACT_GATEWAY_API))


def install_as(cp, manager, docs):
    """Server-side apply ``docs`` as another field manager (kubectl, a provider), then wait until Established."""
    api = crd_api(cp)
    for doc in docs:
        api.patch_custom_resource_definition(doc["metadata"]["name"], doc, field_manager=manager, force=True,
                                             _content_type="application/apply-patch+yaml")
    for doc in docs:
        wait_established(api, doc["metadata"]["name"])


def wait_established(api, name, timeout=60):
    wait_until(lambda: any(c.type == "Established" and c.status == "True"
                           for c in api.read_custom_resource_definition(name).status.conditions or []),
               "%s to be Established" % name, timeout)


def installed(cp):
    """{name: (bundle version, channel)} of the Gateway API CRDs in the cluster."""
    out = {}
    for item in crd_api(cp).list_custom_resource_definition().items:
        if item.metadata.name.endswith(GROUP):
            notes = item.metadata.annotations or {}
            out[item.metadata.name] = (notes.get(VERSION_ANNOTATION), notes.get(CHANNEL_ANNOTATION))
    return out


def module(cp, check_mode=False, diff=False, **args):
    args.setdefault("version", "v1.3.0")
    args.setdefault("wait_timeout", 60)
    return run_module("gateway_api_crds", dict(args, kubeconfig=cp.kubeconfig_path, context=CONTEXT),
                      check_mode=check_mode, diff=diff)


def writes(cp, mark):
    return [(e["verb"], e["objectRef"].get("name")) for e in cp.writes_since(mark, CONTEXT)]


def admin_requests(cp, mark):
    return [(e["verb"], e["requestURI"]) for e in cp.events_since(mark, CONTEXT)
            if e.get("user", {}).get("username") == "admin"]


# --- install, re-run, upgrade -----------------------------------------------------------------------------

def test_missing_bundle_is_installed_and_a_rerun_neither_writes_nor_opens_the_manifest(cp, tmp_path):
    mark = cp.audit_mark()
    first = module(cp, src=manifest(tmp_path, "v1.3.0"))
    assert first.get("failed") is not True, first
    assert (first["changed"], first["action"], first["manifest_read"]) == (True, "applied", True)
    assert {c["name"]: c["action"] for c in first["crds"]} == {n: "created" for n in bundle_names()}
    assert installed(cp) == {n: ("v1.3.0", "standard") for n in bundle_names()}
    assert sorted(writes(cp, mark)) == [("patch", n) for n in bundle_names()]

    # The manifest is gone: a re-run that opened it would fail.
    mark = cp.audit_mark()
    again = module(cp, src=GONE)
    assert again.get("failed") is not True, again
    assert (again["changed"], again["action"], again["manifest_read"], again["left_alone"]) == (
        False, "unchanged", False, None)
    assert writes(cp, mark) == []
    # One metadata-only list of the CRDs; discovery is the client's cache.
    crd_requests = [r for r in admin_requests(cp, mark) if "customresourcedefinitions" in r[1]]
    assert crd_requests == [("list", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")]

    checked = module(cp, check_mode=True, diff=True, src=GONE)
    assert (checked["changed"], checked["action"], "diff" in checked) == (False, "unchanged", False)


def test_older_bundle_is_upgraded(cp, tmp_path):
    assert module(cp, version="v1.2.1", src=manifest(tmp_path, "v1.2.1"))["changed"]

    mark = cp.audit_mark()
    result = module(cp, diff=True, src=manifest(tmp_path, "v1.3.0"))
    assert result.get("failed") is not True, result
    assert result["changed"] and result["conflicts"] == []
    assert {c["name"]: (c["action"], c["version_before"], c["version_after"]) for c in result["crds"]} == {
        n: ("upgraded", "v1.2.1", "v1.3.0") for n in bundle_names()}
    assert result["diff"] == {
        "before": {"CustomResourceDefinition/" + n: "v1.2.1" for n in bundle_names()},
        "after": {"CustomResourceDefinition/" + n: "v1.3.0" for n in bundle_names()}}
    assert installed(cp) == {n: ("v1.3.0", "standard") for n in bundle_names()}
    assert sorted(writes(cp, mark)) == [("patch", n) for n in bundle_names()]


def test_check_mode_predicts_the_install_and_writes_nothing(cp, tmp_path):
    mark = cp.audit_mark()
    result = module(cp, check_mode=True, diff=True, src=manifest(tmp_path, "v1.3.0"))
    assert result.get("failed") is not True, result
    assert (result["changed"], result["action"]) == (True, "applied")
    assert {c["name"]: c["action"] for c in result["crds"]} == {n: "created" for n in bundle_names()}
    assert result["diff"] == {"before": {}, "after": {"CustomResourceDefinition/" + n: "v1.3.0"
                                                      for n in bundle_names()}}
    assert writes(cp, mark) == [] and installed(cp) == {}


# --- left alone ---------------------------------------------------------------------------------------------

def test_newer_bundle_is_left_alone_with_a_message(cp, tmp_path):
    assert module(cp, version="v1.4.0", src=manifest(tmp_path, "v1.4.0"))["changed"]

    mark = cp.audit_mark()
    result = module(cp, src=GONE)
    assert result.get("failed") is not True, result
    assert (result["changed"], result["action"], result["left_alone"], result["manifest_read"]) == (
        False, "left_alone", "newer", False)
    assert "newer than v1.3.0" in result["message"] and "never downgraded" in result["message"]
    assert any("newer than v1.3.0" in w for w in result["warnings"])
    assert writes(cp, mark) == []
    assert set(installed(cp).values()) == {("v1.4.0", "standard")}


def test_experimental_channel_is_left_alone(cp):
    install_as(cp, "kubectl", bundle_documents("v1.2.0", channel="experimental"))

    mark = cp.audit_mark()
    result = module(cp, src=GONE)
    assert result.get("failed") is not True, result
    assert (result["changed"], result["left_alone"], result["manifest_read"]) == (False, "other_channel", False)
    assert "experimental channel" in result["message"] and result["warnings"]
    assert writes(cp, mark) == []
    assert set(installed(cp).values()) == {("v1.2.0", "experimental")}


@pytest.mark.parametrize("labels, annotations, marker", [
    ({"addonmanager.kubernetes.io/mode": "Reconcile"}, None, "label addonmanager.kubernetes.io/mode=Reconcile"),
    (None, {"components.gke.io/component-name": "gateway-api-crds", "components.gke.io/layer": "addon"},
     "GKE annotation components.gke.io/component-name=gateway-api-crds"),
], ids=["addon-manager", "gke"])
def test_provider_managed_bundle_is_left_alone_even_when_older(cp, labels, annotations, marker):
    install_as(cp, "addon-manager", bundle_documents("v1.1.0", labels=labels, annotations=annotations))

    mark = cp.audit_mark()
    result = module(cp, src=GONE)
    assert result.get("failed") is not True, result
    assert (result["changed"], result["left_alone"], result["manifest_read"]) == (False, "provider_managed", False)
    assert marker in result["message"] and "field managers: addon-manager" in result["message"]
    assert writes(cp, mark) == []
    assert set(installed(cp).values()) == {("v1.1.0", "standard")}


def test_left_alone_bundle_must_still_serve_what_the_mesh_needs(cp):
    # A newer bundle without the Gateway CRD: left alone, but the mesh cannot work on it.
    install_as(cp, "kubectl", [d for d in bundle_documents("v1.5.0") if d["spec"]["names"]["kind"] != "Gateway"])
    mark = cp.audit_mark()
    result = module(cp, src=GONE)
    assert result["failed"] and result["missing"] == ["Gateway"]
    assert "cluster gwcrds does not serve gateway.networking.k8s.io/v1 Gateway" in result["msg"]
    assert "newer than v1.3.0" in result["msg"]
    assert writes(cp, mark) == []


# --- upstream bundles as they ship: CEL rules and the safe-upgrades policy run on the server ----------------------

POLICY = "safe-upgrades.gateway.networking.k8s.io"


def upstream(version):
    path = crds.upstream_bundle(version)
    if path is None:
        pytest.skip("upstream Gateway API %s needs ../shared/fixtures/gateway-api" % version)
    return path


def remove_policy(cp):
    api = k8s.AdmissionregistrationV1Api(cp.api_client(CONTEXT, simulator=True))
    for delete in (api.delete_validating_admission_policy_binding, api.delete_validating_admission_policy):
        try:
            delete(POLICY)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise


def downgrade_refusal(cp, crd):
    """The ApiException a server-side dry-run apply of ``crd`` (as kubectl) gets, or None if accepted."""
    try:
        crd_api(cp).patch_custom_resource_definition(crd["metadata"]["name"], crd, field_manager="kubectl", force=True,
                                                     dry_run="All", _content_type="application/apply-patch+yaml")
    except k8s.ApiException as exc:
        return exc
    return None


def test_upstream_v1_5_1_over_v1_3_0_is_left_alone_and_its_policy_refuses_going_back(cp):
    v130, v151 = upstream("v1.3.0"), upstream("v1.5.1")
    remove_policy(cp)
    try:
        installed_first = module(cp, version="v1.3.0", src=v130)
        assert installed_first.get("failed") is not True, installed_first
        upgraded = module(cp, version="v1.5.1", src=v151)
        assert upgraded.get("failed") is not True, upgraded
        assert {c["action"] for c in upgraded["crds"]} >= {"upgraded"}
        policy = k8s.AdmissionregistrationV1Api(cp.api_client(CONTEXT, simulator=True))
        assert policy.read_validating_admission_policy(POLICY).metadata.name == POLICY

        # Pinned to v1.3.0 again: the module leaves the newer bundle alone and never reaches the policy.
        mark = cp.audit_mark()
        back = module(cp, version="v1.3.0", src=v130)
        assert back.get("failed") is not True, back
        assert (back["changed"], back["left_alone"]) == (False, "newer")
        assert "newer than v1.3.0" in back["message"]
        assert writes(cp, mark) == []

        # What the module avoided: the server's policy refuses the v1.3.0 CRDs over v1.5.1. A dry run,
        # retried until the admission plugin has loaded the new policy (it watches policies).
        (gateway,) = [d for d in crds.load_documents(v130) if d["spec"]["names"]["kind"] == "Gateway"]
        refused = wait_until(lambda: downgrade_refusal(cp, gateway), "the safe-upgrades policy to be enforced", 60)
        assert refused.status == 422  # the policy's validations say reason: Invalid
        assert "prohibited" in refused.body and POLICY in refused.body
        assert installed(cp)["gateways.gateway.networking.k8s.io"] == ("v1.5.1", "standard")
    finally:
        remove_policy(cp)


def test_upstream_v1_6_1_upgrades_v1_5_1_through_its_policy_and_reruns_without_writes(cp):
    v151, v161 = upstream("v1.5.1"), upstream("v1.6.1")
    remove_policy(cp)
    try:
        assert module(cp, version="v1.5.1", src=v151)["changed"]
        upgraded = module(cp, version="v1.6.1", src=v161)
        assert upgraded.get("failed") is not True, upgraded
        assert set(installed(cp).values()) == {("v1.6.1", "standard")}
        mark = cp.audit_mark()
        again = module(cp, version="v1.6.1", src=GONE)
        assert (again.get("failed"), again["changed"]) == (None, False), again
        assert writes(cp, mark) == []
    finally:
        remove_policy(cp)


# --- another field manager ------------------------------------------------------------------------------------

def test_fields_of_another_manager_are_taken_only_when_forced(cp, tmp_path):
    install_as(cp, "kubectl", bundle_documents("v1.2.0"))
    src = manifest(tmp_path, "v1.3.0")

    mark = cp.audit_mark()
    refused = module(cp, src=src)
    assert refused["failed"]
    assert "field manager 'kubectl' owns" in refused["msg"] and "nothing was written" in refused["msg"]
    assert "force_conflicts" in refused["msg"]
    assert {c["manager"] for c in refused["conflicts"]} == {"kubectl"}
    assert any(c["field"] == ".metadata.annotations.%s" % VERSION_ANNOTATION for c in refused["conflicts"])
    assert writes(cp, mark) == []
    assert set(installed(cp).values()) == {("v1.2.0", "standard")}

    # --check with force shows what would be taken, and takes nothing.
    checked = module(cp, check_mode=True, src=src, force_conflicts=True)
    assert checked.get("failed") is not True, checked
    assert checked["changed"] and {c["manager"] for c in checked["conflicts"]} == {"kubectl"}
    assert any("taking over" in w and "'kubectl'" in w for w in checked["warnings"])
    assert writes(cp, mark) == []

    forced = module(cp, src=src, force_conflicts=True)
    assert forced.get("failed") is not True, forced
    assert forced["changed"] and {c["action"] for c in forced["crds"]} == {"upgraded"}
    assert set(installed(cp).values()) == {("v1.3.0", "standard")}
    assert sorted(writes(cp, mark)) == [("patch", n) for n in bundle_names()]
    owner = [m.manager for m in crd_api(cp).read_custom_resource_definition(bundle_names()[0]).metadata.managed_fields
             if VERSION_ANNOTATION in str(m.fields_v1)]
    assert owner == ["gloomesh"]


# --- skip policy, bad input, the manifest -----------------------------------------------------------------------

def test_skip_policy_only_checks(cp, tmp_path):
    mark = cp.audit_mark()
    missing = module(cp, policy="skip", src=GONE)
    assert missing["failed"] and sorted(missing["missing"]) == ["Gateway", "GatewayClass"]
    assert "policy is skip" in missing["msg"] and "gwcrds" in missing["msg"]

    install_as(cp, "site-tooling", bundle_documents("v1.2.0"))
    older = module(cp, policy="skip", src=GONE)
    assert older.get("failed") is not True, older
    assert (older["changed"], older["action"], older["manifest_read"]) == (False, "skipped", False)
    assert any("older than the pinned v1.3.0" in w for w in older["warnings"])
    assert writes(cp, mark) == []


def test_manifest_of_another_version_is_refused_before_any_write(cp, tmp_path):
    mark = cp.audit_mark()
    result = module(cp, src=manifest(tmp_path, "v1.2.0"))
    assert result["failed"] and result["option"] == "src"
    assert "is bundle v1.2.0, not the pinned v1.3.0" in result["msg"]
    experimental = module(cp, src=manifest(tmp_path, "v1.3.0", "experimental"))
    assert experimental["failed"] and "only the standard channel" in experimental["msg"]
    unreadable = module(cp, src=GONE)
    assert unreadable["failed"] and GONE in unreadable["msg"] and unreadable["option"] == "src"
    bad_version = module(cp, version="1.3.0", src=GONE)
    assert bad_version["failed"] and bad_version["option"] == "version" and "v1.3.0" in bad_version["msg"]
    assert writes(cp, mark) == [] and installed(cp) == {}


def test_release_url_is_downloaded_once_to_the_cache(cp, tmp_path):
    with open(manifest(tmp_path, "v1.3.0"), "rb") as fh:
        body = fh.read()
    cache = tmp_path / "cache"
    with TarballServer() as server:
        server.files["/v1.3.0/standard-install.yaml"] = body
        url = server.base_url + "/v1.3.0/standard-install.yaml"

        checked = module(cp, check_mode=True, url=url, cache_dir=str(cache))
        assert checked["changed"] and server.request_count() == 1
        assert not cache.exists(), "check mode keeps the download in memory"

        first = module(cp, url=url, cache_dir=str(cache))
        assert first["changed"] and first["manifest"] == str(cache / "v1.3.0" / "standard-install.yaml")
        assert server.request_count() == 2

        remove_gateway_api(cp)
        again = module(cp, url=url, cache_dir=str(cache))
        assert again["changed"] and again["manifest_read"]
        assert server.request_count() == 2, "the cached manifest is used"

        missing = module(cp, version="v1.4.0", url=server.base_url + "/v1.4.0/standard-install.yaml",
                         cache_dir=str(cache))
        assert missing["failed"] and "HTTP 404" in missing["msg"] and "option src" in missing["msg"]


# --- the role ---------------------------------------------------------------------------------------------------

def role_playbook(cp, tmp_path):
    playbook = tmp_path / "crds.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Gateway API CRDs", "hosts": "clusters", "gather_facts": False,
        "roles": [{"role": "gloomesh.multicluster.gateway_api_crds"}]}]))
    inventory = {"all": {"children": {"clusters": {"hosts": {CONTEXT: {
        "kube_context": CONTEXT, "kubeconfig": cp.kubeconfig_path, "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable}}}}}}
    return playbook, inventory


def test_role_installs_then_reruns_as_one_task_without_the_manifest(cp, tmp_path):
    playbook, inventory = role_playbook(cp, tmp_path)
    src = manifest(tmp_path, "v1.3.0")

    mark = cp.audit_mark()
    first = run_playbook(playbook, inventory, {"gloomesh_gateway_api_crds_file": src})
    assert first["rc"] == 0, first["stdout"][-3000:]
    assert first["recap"][CONTEXT]["changed"] == 1
    assert sorted(writes(cp, mark)) == [("patch", n) for n in bundle_names()]

    os.unlink(src)
    mark = cp.audit_mark()
    again = run_playbook(playbook, inventory, {"gloomesh_gateway_api_crds_file": src}, check=True, diff=True)
    assert again["rc"] == 0, again["stdout"][-3000:]
    # The role's argument validation and the one module task.
    assert again["recap"][CONTEXT] == dict(again["recap"][CONTEXT], ok=2, changed=0, skipped=0)
    again = run_playbook(playbook, inventory, {"gloomesh_gateway_api_crds_file": src})
    assert again["rc"] == 0, again["stdout"][-3000:]
    assert again["recap"][CONTEXT] == dict(again["recap"][CONTEXT], ok=2, changed=0, skipped=0)
    assert writes(cp, mark) == []

    bad = run_playbook(playbook, inventory, {"gloomesh_gateway_api_crds": "sometimes"})
    assert bad["rc"] != 0 and "gateway_api_crds_policy" in bad["stdout"] and "install, skip" in bad["stdout"]
    skipped = run_playbook(playbook, inventory, {"gloomesh_gateway_api_crds": "skip"})
    assert skipped["rc"] == 0, skipped["stdout"][-3000:]
    assert writes(cp, mark) == []


def test_role_takes_fields_back_only_with_force_conflicts(cp, tmp_path):
    playbook, inventory = role_playbook(cp, tmp_path)
    install_as(cp, "kubectl", bundle_documents("v1.2.0"))
    extra = {"gloomesh_gateway_api_crds_file": manifest(tmp_path, "v1.3.0")}

    mark = cp.audit_mark()
    refused = run_playbook(playbook, inventory, extra)
    assert refused["rc"] != 0 and "field manager 'kubectl' owns" in refused["stdout"]
    # The inventory-wide switch, naming this module; --check shows what would be taken.
    forced = dict(extra, gloomesh_force_conflicts=["gateway_api_crds"])
    checked = run_playbook(playbook, inventory, forced, check=True)
    assert checked["rc"] == 0 and "taking over" in checked["stdout"] + checked["stderr"], checked["stdout"][-3000:]
    assert writes(cp, mark) == []
    # The role variable wins over the inventory-wide switch.
    kept = run_playbook(playbook, inventory, dict(forced, gateway_api_crds_force_conflicts=False))
    assert kept["rc"] != 0 and writes(cp, mark) == []

    taken = run_playbook(playbook, inventory, dict(extra, gateway_api_crds_force_conflicts=True))
    assert taken["rc"] == 0, taken["stdout"][-3000:]
    assert set(installed(cp).values()) == {("v1.3.0", "standard")}
    assert sorted(writes(cp, mark)) == [("patch", n) for n in bundle_names()]
