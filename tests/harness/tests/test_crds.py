"""The harness's CRD transformation for pre-1.25 API servers (no cluster)."""
from __future__ import annotations

import copy
import os

import pytest

from tests.harness import crds


def test_downgrade_removes_cel_rules_and_empty_string_defaults_at_any_depth():
    doc = {
        "spec": {"versions": [{"schema": {"openAPIV3Schema": {
            "x-kubernetes-validations": [{"rule": "self.a == self.b"}],
            "properties": {
                "group": {"type": "string", "default": ""},
                "kind": {"type": "string", "default": "Service"},
                "port": {"type": "integer", "default": 0},
                "enabled": {"type": "boolean", "default": False},
                # a field *named* default is a schema, not an empty-string default
                "default": {"type": "string", "x-kubernetes-validations": [{"rule": "size(self) < 3"}]},
                "list": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string", "default": ""}}}},
            },
        }}}]},
    }
    original = copy.deepcopy(doc)

    out = crds.downgrade_crd_for_old_servers(doc)

    props = out["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert "x-kubernetes-validations" not in out["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert props["group"] == {"type": "string"}
    assert props["kind"]["default"] == "Service"
    assert props["port"]["default"] == 0
    assert props["enabled"]["default"] is False
    assert props["default"] == {"type": "string"}
    assert props["list"]["items"]["properties"]["name"] == {"type": "string"}
    assert doc == original, "the input must not be modified"


def _walk(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "x-kubernetes-validations" or (key == "default" and value == ""):
                found.append(key)
            _walk(value, found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, found)
    return found


@pytest.mark.skipif(not os.path.isfile(crds.UPSTREAM_GATEWAY_API), reason="shared Gateway API fixture absent")
def test_upstream_gateway_api_is_downgraded_only_for_old_servers():
    old = crds.crd_documents((1, 20))
    new = crds.crd_documents((1, 30))

    upstream = [d for d in old if d["spec"]["group"] == "gateway.networking.k8s.io"]
    assert sorted(d["metadata"]["name"] for d in upstream) == [
        "gatewayclasses.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io",
        "grpcroutes.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io"]
    assert _walk(old, []) == []
    assert "x-kubernetes-validations" in _walk(new, []), "new servers get the CRDs unchanged"


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


def test_compact_fixture_is_used_when_the_shared_file_is_absent(monkeypatch):
    monkeypatch.setattr(crds, "UPSTREAM_GATEWAY_API", "/nonexistent/standard-install.yaml")
    assert crds.gateway_api_path() == crds.COMPACT_GATEWAY_API


def test_transformed_gateway_api_file_is_the_downgraded_multi_document_yaml(tmp_path):
    out = crds.transformed_gateway_api_file(str(tmp_path / "gateway-api.yaml"))

    docs = crds.load_documents(out)
    assert docs == [crds.downgrade_crd_for_old_servers(d) for d in crds.load_documents(crds.gateway_api_path())]
    assert all(d["kind"] == "CustomResourceDefinition" for d in docs)
    assert _walk(docs, []) == []
