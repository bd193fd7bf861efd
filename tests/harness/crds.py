"""CRDs the local clusters need: Gateway API, plus every fixture in tests/harness/fixtures/crds/.

Kubernetes before 1.25 rejects two things in the upstream Gateway API CRDs: CEL rules
(`x-kubernetes-validations`) and empty-string defaults (`default: ""`). The harness removes both
for such servers; the collection itself never special-cases old servers.
"""
from __future__ import annotations

import copy
import glob
import os
import re
import time

import yaml

from .collection_path import REPO_ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_GATEWAY_API = os.path.join(os.path.dirname(REPO_ROOT), "shared", "fixtures", "gateway-api",
                                    "standard-install-v1.3.0.yaml")
COMPACT_GATEWAY_API = os.path.join(HERE, "fixtures", "gateway-api-compact.yaml")
EXTRA_CRDS_GLOB = os.path.join(HERE, "fixtures", "crds", "*.yaml")
FIELD_MANAGER = "gloomesh-harness"
FIRST_VERSION_WITH_CEL = (1, 25)
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


def downgrade_crd_for_old_servers(doc):
    """Copy of `doc` without `x-kubernetes-validations` keys and without `default: ""` entries, at any depth."""
    if isinstance(doc, dict):
        return {key: downgrade_crd_for_old_servers(value) for key, value in doc.items()
                if key != "x-kubernetes-validations" and not (key == "default" and value == "")}
    if isinstance(doc, list):
        return [downgrade_crd_for_old_servers(item) for item in doc]
    return copy.deepcopy(doc)


def server_version(api_client) -> tuple[int, int]:
    """(major, minor) of the API server; minor may read like "20+" on some distributions."""
    from kubernetes import client

    info = client.VersionApi(api_client).get_code()
    return int(re.sub(r"\D", "", info.major)), int(re.sub(r"\D", "", info.minor))


def crd_documents(version: tuple[int, int]) -> list[dict]:
    """Gateway API CRDs and the fixture CRDs, in the shape a server of `version` accepts."""
    docs = load_documents(gateway_api_path())
    for path in sorted(glob.glob(EXTRA_CRDS_GLOB)):
        docs.extend(load_documents(path))
    if version < FIRST_VERSION_WITH_CEL:
        docs = [downgrade_crd_for_old_servers(doc) for doc in docs]
    return docs


def install_crds(api_client, timeout: float = 60.0) -> list[str]:
    """Server-side apply every CRD and wait until each is Established; returns their names."""
    from kubernetes import client

    api = client.ApiextensionsV1Api(api_client)
    docs = crd_documents(server_version(api_client))
    names = []
    for doc in docs:
        name = doc["metadata"]["name"]
        api.patch_custom_resource_definition(name, doc, field_manager=FIELD_MANAGER, force=True,
                                             _content_type="application/apply-patch+yaml")
        names.append(name)
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


def transformed_gateway_api_file(path_out: str) -> str:
    """Write the Gateway API CRDs, transformed for pre-1.25 servers, as one multi-document YAML file.

    Role tests hand it to the collection as the local file an air-gapped site would provide.
    """
    docs = [downgrade_crd_for_old_servers(doc) for doc in load_documents(gateway_api_path())]
    with open(path_out, "w", encoding="utf-8") as fh:
        yaml.dump_all(docs, fh, Dumper=_DUMPER, sort_keys=False)
    return path_out
