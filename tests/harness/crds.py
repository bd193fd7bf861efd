"""CRDs the local clusters need: Gateway API, plus every fixture in tests/harness/fixtures/crds/.

Every manifest is applied exactly as its source ships it: the API servers are a current Kubernetes
that takes the upstream Gateway API bundles as they are (CEL rules, empty defaults, and from
v1.5 the `safe-upgrades` ValidatingAdmissionPolicy with its binding).
"""
from __future__ import annotations

import glob
import os
import time

import yaml

from .collection_path import REPO_ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_GATEWAY_API = os.path.join(os.path.dirname(REPO_ROOT), "shared", "fixtures", "gateway-api")
UPSTREAM_GATEWAY_API = os.path.join(SHARED_GATEWAY_API, "standard-install-v1.3.0.yaml")
COMPACT_GATEWAY_API = os.path.join(HERE, "fixtures", "gateway-api-compact.yaml")
EXTRA_CRDS_GLOB = os.path.join(HERE, "fixtures", "crds", "*.yaml")
FIELD_MANAGER = "gloomesh-harness"
# libyaml when available: the upstream file takes seconds with the pure-Python parser.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def gateway_api_path() -> str:
    """The upstream v1.3.0 standard install when the shared fixtures exist, else our compact one."""
    return UPSTREAM_GATEWAY_API if os.path.isfile(UPSTREAM_GATEWAY_API) else COMPACT_GATEWAY_API


def load_documents(path: str) -> list[dict]:
    """Every object of a multi-document YAML file; `kind: List` documents are flattened."""
    with open(path, encoding="utf-8") as fh:
        docs = [doc for doc in yaml.load_all(fh, Loader=_LOADER) if doc]
    return [item for doc in docs for item in (doc.get("items") or [] if doc.get("kind") == "List" else [doc])]


def upstream_bundle(version: str) -> str | None:
    """Path of the upstream standard-install bundle `version` (v1.3.0, v1.5.1, v1.6.1) in ../shared, or None."""
    path = os.path.join(SHARED_GATEWAY_API, f"standard-install-{version}.yaml")
    return path if os.path.isfile(path) else None


def crd_documents() -> list[dict]:
    """Gateway API CRDs and the fixture CRDs, as their files hold them."""
    docs = load_documents(gateway_api_path())
    for path in sorted(glob.glob(EXTRA_CRDS_GLOB)):
        docs.extend(load_documents(path))
    return docs


def apply_documents(api_client, docs, field_manager=FIELD_MANAGER):
    """Server-side apply each object (forcing conflicts), in order; returns `docs`.

    CRDs go through the typed API; other kinds (the bundles' admission policy) through discovery,
    which costs a few requests and is done only when such a kind is there.
    """
    from kubernetes import client
    from kubernetes.dynamic import DynamicClient

    crds, dynamic = client.ApiextensionsV1Api(api_client), None
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "CustomResourceDefinition":
            crds.patch_custom_resource_definition(name, doc, field_manager=field_manager, force=True,
                                                  _content_type="application/apply-patch+yaml")
            continue
        dynamic = dynamic or DynamicClient(api_client)
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        resource.server_side_apply(body=doc, name=name, namespace=doc["metadata"].get("namespace"),
                                   field_manager=field_manager, force_conflicts=True)
    return docs


def install_crds(api_client, timeout: float = 60.0, docs=None) -> list[str]:
    """Server-side apply every object of `docs` (default: crd_documents()) and wait until each
    CRD is Established; returns the CRDs' names."""
    from kubernetes import client

    api = client.ApiextensionsV1Api(api_client)
    docs = apply_documents(api_client, crd_documents() if docs is None else docs)
    names = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "CustomResourceDefinition"]
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(api.read_custom_resource_definition(name)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established after {timeout:.0f}s")
            time.sleep(0.1)
    return names


def _established(crd) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)
