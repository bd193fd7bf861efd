# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""service_mesh: validated module options -> ServiceMeshController and gloo-extensions-config
ConfigMap dicts (pure: no cluster, no Ansible)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

try:
    import yaml
except ImportError:
    # gloomesh_module() has already failed with missing_required_lib("pyyaml"); stay importable.
    yaml = None

from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ANNOTATION_PREVIOUS_VERSION,
    EXTENSIONS_CONFIGMAP,
    MANAGED_BY,
    NAME_LABEL,
    SERVICE_MESH_API_VERSION,
    SERVICE_MESH_KIND,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

# extensions.peering=automatic: what the procedure's automatic-peering ConfigMap sets.
PEERING_BETA = {"serviceMeshController": {"multiClusterMode": "Peering"}}
PEERING_ISTIOD = {"env": {"PEERING_AUTOMATIC_LOCAL_GATEWAY": "true"}}


def _merge_shortcut(path, user, shortcut):
    """Deep-merge ``shortcut`` into a copy of ``user``; a different user value is an error."""
    merged = copy.deepcopy(user or {})
    for key, value in shortcut.items():
        here = "%s.%s" % (path, key)
        if isinstance(value, dict):
            current = merged.get(key, {})
            if not isinstance(current, dict):
                raise GloomeshError("%s: must be a mapping with extensions.peering=automatic" % here,
                                    option="extensions")
            merged[key] = _merge_shortcut(here, current, value)
        elif key in merged and merged[key] != value:
            raise GloomeshError(
                "%s: %r conflicts with extensions.peering=automatic, which sets %r; remove it or "
                "use peering=manual" % (here, merged[key], value), option="extensions")
        else:
            merged[key] = value
    return merged


def _yaml(doc):
    # Sorted keys: the same options always give the same text, so re-runs write nothing.
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=True)


def extensions_data(extensions):
    """ConfigMap data ({'stable'|'beta'|'values.istiod': YAML text}) for ``extensions``; {} when empty."""
    extensions = extensions or {}
    stable = extensions.get("stable") or {}
    beta = extensions.get("beta") or {}
    istiod = extensions.get("istiod_values") or {}
    if extensions.get("peering") == "automatic":
        beta = _merge_shortcut("extensions.beta", beta, PEERING_BETA)
        istiod = _merge_shortcut("extensions.istiod_values", istiod, PEERING_ISTIOD)
    data = {}
    for key, doc in (("stable", stable), ("beta", beta), ("values.istiod", istiod)):
        if doc:
            data[key] = _yaml(doc)
    return data


def extensions_configmap(extensions, namespace):
    """The gloo-extensions-config ConfigMap, or None when ``extensions`` sets nothing."""
    data = extensions_data(extensions)
    if not data:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": EXTENSIONS_CONFIGMAP, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "data": data,
    }


def _drop_empty(mapping):
    return dict((k, v) for k, v in mapping.items() if v is not None and v != [] and v != {})


def controller_spec(params, version):
    """spec of the ServiceMeshController: reference-table fields, unset options left out."""
    image = params.get("image") or {}
    repository = params.get("repository") or {}
    return _drop_empty({
        "cluster": params["cluster"],
        "network": params.get("network") or params["cluster"],
        "dataplaneMode": params["dataplane_mode"],
        "installNamespace": params["install_namespace"],
        "version": str(version),  # without -solo: the operator adds it
        "distribution": params.get("distribution"),
        "image": _drop_empty({"repository": image.get("repository"), "secrets": image.get("secrets")}),
        "onConflict": params.get("on_conflict"),
        "repository": _drop_empty({"secrets": repository.get("secrets"),
                                   "insecureSkipVerify": repository.get("insecure_skip_verify")}),
        "scalingProfile": params.get("scaling_profile"),
        "trafficCaptureMode": params.get("traffic_capture_mode"),
        "trustDomain": params.get("trust_domain"),
    })


def build(params, version):
    """Validated options and their parsed version -> {'controller': dict, 'extensions': dict|None}."""
    labels = params.get("labels")
    labels = dict({NAME_LABEL: params["name"]} if labels is None else labels)
    labels.update(MANAGED_BY)
    controller = {
        "apiVersion": SERVICE_MESH_API_VERSION,
        "kind": SERVICE_MESH_KIND,
        "metadata": {"name": params["name"], "namespace": params["namespace"], "labels": labels},
        "spec": controller_spec(params, version),
    }
    return {
        "controller": controller,
        "extensions": extensions_configmap(params.get("extensions"), params["namespace"]),
    }


def previous_version(controller, live, record, live_ready):
    """``controller`` (as build made it) with the annotation ANNOTATION_PREVIOUS_VERSION it keeps: with
    ``record``, a change of spec.version records the live one (a change that resumes a halted one, the
    live install not ``live_ready``, keeps what was recorded first); otherwise the live value stays."""
    meta = (live or {}).get("metadata") or {}
    kept = (meta.get("annotations") or {}).get(ANNOTATION_PREVIOUS_VERSION)
    live_version = ((live or {}).get("spec") or {}).get("version")
    value = kept
    if record and live_version and live_version != controller["spec"]["version"] and (live_ready or not kept):
        value = live_version
    if not value:
        return controller
    return dict(controller, metadata=dict(controller["metadata"], annotations={ANNOTATION_PREVIOUS_VERSION: value}))
