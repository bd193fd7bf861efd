"""The harness's CRD documents (no cluster)."""
from __future__ import annotations

import os

import pytest

from tests.harness import crds


@pytest.mark.skipif(not os.path.isfile(crds.UPSTREAM_GATEWAY_API), reason="shared Gateway API fixture absent")
def test_upstream_gateway_api_is_applied_as_it_ships():
    """No rewriting: the documents the harness applies are the file's, CEL rules included."""
    docs = crds.crd_documents()
    upstream = [d for d in docs if d["spec"]["group"] == "gateway.networking.k8s.io"]
    assert upstream == crds.load_documents(crds.UPSTREAM_GATEWAY_API)
    assert sorted(d["metadata"]["name"] for d in upstream) == [
        "gatewayclasses.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io",
        "grpcroutes.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io"]
    assert "x-kubernetes-validations" in str(upstream)


def test_compact_fixture_defines_gateways_and_gatewayclasses_v1_with_status():
    docs = {d["metadata"]["name"]: d for d in crds.load_documents(crds.COMPACT_GATEWAY_API)}
    for name, scope in (("gatewayclasses.gateway.networking.k8s.io", "Cluster"),
                        ("gateways.gateway.networking.k8s.io", "Namespaced")):
        spec = docs[name]["spec"]
        assert spec["scope"] == scope
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        assert version["subresources"] == {"status": {}}
    gateway = docs["gateways.gateway.networking.k8s.io"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert set(gateway["properties"]["spec"]["properties"]) >= {"gatewayClassName", "addresses", "listeners"}
    assert set(gateway["properties"]["status"]["properties"]) >= {"addresses", "conditions"}


STATUS_LIST_MAPS = {("GatewayClass", "conditions"): ["type"], ("Gateway", "conditions"): ["type"],
                    ("Gateway", "listeners"): ["name"], ("Gateway", "listeners.conditions"): ["type"]}


def _status_list_maps(docs):
    """{(kind, path under status): map keys} of the Gateway API CRDs' status lists merged by key."""
    found = {}

    def walk(kind, node, path):
        if node.get("x-kubernetes-list-type") == "map":
            found[(kind, path)] = node["x-kubernetes-list-map-keys"]
        for name, child in (node.get("properties") or {}).items():
            walk(kind, child, "%s.%s" % (path, name) if path else name)
        if isinstance(node.get("items"), dict):
            walk(kind, node["items"], path)

    for doc in docs:
        kind = doc["spec"]["names"]["kind"]
        if kind in ("Gateway", "GatewayClass"):
            (schema,) = [v["schema"]["openAPIV3Schema"] for v in doc["spec"]["versions"] if v["name"] == "v1"]
            walk(kind, schema["properties"]["status"], "")
    return found


def test_compact_fixture_merges_status_lists_by_key_as_upstream():
    """Two controllers write a Gateway's conditions (istiod: Accepted, Programmed; Solo: the peering
    conditions). With an atomic list each status apply would drop the other's conditions."""
    compact = _status_list_maps(crds.load_documents(crds.COMPACT_GATEWAY_API))
    # The listeners' own conditions are left untyped in the compact fixture (one writer sets them).
    expected = {key: keys for key, keys in STATUS_LIST_MAPS.items() if key[1] != "listeners.conditions"}
    assert compact == expected


@pytest.mark.skipif(not os.path.isfile(crds.UPSTREAM_GATEWAY_API), reason="shared Gateway API fixture absent")
def test_upstream_status_lists_are_the_ones_the_compact_fixture_follows():
    assert _status_list_maps(crds.load_documents(crds.UPSTREAM_GATEWAY_API)) == STATUS_LIST_MAPS


def test_compact_fixture_is_used_when_the_shared_file_is_absent(monkeypatch):
    monkeypatch.setattr(crds, "UPSTREAM_GATEWAY_API", "/nonexistent/standard-install.yaml")
    assert crds.gateway_api_path() == crds.COMPACT_GATEWAY_API


def test_upstream_bundle_is_none_without_the_shared_folder(monkeypatch):
    monkeypatch.setattr(crds, "SHARED_GATEWAY_API", "/nonexistent")
    assert crds.upstream_bundle("v1.5.1") is None
