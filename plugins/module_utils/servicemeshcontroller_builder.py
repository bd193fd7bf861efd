# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""servicemeshcontroller: validated module options -> ServiceMeshController and
gloo-extensions-config ConfigMap dicts (pure: no cluster, no Ansible)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

try:
    import yaml
except ImportError:
    # gloomesh_module() has already failed with missing_required_lib("pyyaml"); stay importable.
    yaml = None

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_apply import MANAGED_BY
from ansible_collections.gloomesh.multicluster.plugins.module_utils.versions import (
    check_multicluster_version,
    parse_istio_version,
)

API_VERSION = "operator.gloo.solo.io/v1"
KIND = "ServiceMeshController"
EXTENSIONS_NAME = "gloo-extensions-config"
# Namespaces the Gloo Operator watches without manager.env.WATCH_NAMESPACES.
OPERATOR_WATCHED = ("gloo-system", "gloo-mesh", "istio-system")
NAME_LABEL = "app.kubernetes.io/name"

# extensions.peering=automatic: what the procedure's automatic-peering ConfigMap sets.
PEERING_BETA = {"serviceMeshController": {"multiClusterMode": "Peering"}}
PEERING_ISTIOD = {"env": {"PEERING_AUTOMATIC_LOCAL_GATEWAY": "true"}}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_name(option, value, subdomain=False):
    pattern, limit, what = ((_DNS_SUBDOMAIN, 253, "a DNS-1123 subdomain") if subdomain
                            else (_DNS_LABEL, 63, "a DNS-1123 label"))
    if not value or len(value) > limit or not pattern.match(value):
        raise GloomeshError(
            "%s: %r is not %s (lowercase letters, digits and '-', at most %d characters)"
            % (option, value, what, limit), option=option)


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
        "metadata": {"name": EXTENSIONS_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "data": data,
    }


def check_names(params):
    """name / namespace must be valid Kubernetes names (both states)."""
    _check_name("name", params["name"], subdomain=True)
    _check_name("namespace", params["namespace"])


def _validate(params):
    """Every rule, before anything is written. Returns (parsed version, warnings)."""
    for option in ("cluster", "version"):
        if not params.get(option):
            raise GloomeshError("%s is required when state=present" % option, option=option)
    check_names(params)
    _check_name("install_namespace", params["install_namespace"])
    if params.get("multicluster"):
        version = check_multicluster_version(params["version"], "version")
        if params["dataplane_mode"] != "Ambient":
            raise GloomeshError(
                "dataplane_mode: multicluster=true requires Ambient (the multicluster procedure "
                "uses the ambient data plane even for sidecar meshes); got %s. Allowed: Ambient, "
                "or set multicluster=false for Sidecar" % params["dataplane_mode"],
                option="dataplane_mode")
    else:
        version = parse_istio_version(params["version"], "version")
    if params.get("traffic_capture_mode") == "InitContainer" and params["dataplane_mode"] != "Sidecar":
        raise GloomeshError(
            "traffic_capture_mode: InitContainer can only be used with dataplane_mode=Sidecar "
            "(got dataplane_mode=%s); allowed here: Auto" % params["dataplane_mode"],
            option="traffic_capture_mode")
    warnings = []
    if params["install_namespace"] not in OPERATOR_WATCHED:
        warnings.append(
            "install_namespace %s is not one of %s: the Gloo Operator only installs there when its "
            "manager.env.WATCH_NAMESPACES includes it" % (params["install_namespace"], ", ".join(OPERATOR_WATCHED)))
    return version, warnings


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


def build(params):
    """Validated options -> {'controller': dict, 'extensions': dict|None, 'warnings': [str]}."""
    version, warnings = _validate(params)
    labels = params.get("labels")
    labels = dict({NAME_LABEL: params["name"]} if labels is None else labels)
    labels.update(MANAGED_BY)
    controller = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": params["name"], "namespace": params["namespace"], "labels": labels},
        "spec": controller_spec(params, version),
    }
    return {
        "controller": controller,
        "extensions": extensions_configmap(params.get("extensions"), params["namespace"]),
        "warnings": warnings,
    }
