# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What preflight asks a cluster before the first write of a run: who it is, whatever name reaches
it (the kube-system namespace's UID, the API server's URL and CA), and whether our identity may send
the run's writes (SelfSubjectAccessReview, as ``kubectl auth can-i``). Reads only: the reviews are
sent as dry runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    api_error,
    get_object,
    resource_for,
)

try:
    from kubernetes.dynamic.exceptions import DynamicApiError
except ImportError:
    # run_module() has already failed naming the missing library; stay importable.
    DynamicApiError = Exception

REVIEW_API_VERSION = "authorization.k8s.io/v1"
REVIEW_KIND = "SelfSubjectAccessReview"


def _ca_fingerprint(cluster):
    """SHA-256 of the CA the client trusts (the kubeconfig's, written to a file by the client)."""
    path = getattr(cluster.api.client.configuration, "ssl_ca_cert", None)
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except (OSError, TypeError):
        return None  # no CA of its own (the system's), or its file is gone


def identity(cluster):
    """{"uid", "server", "ca"}: ``uid`` is the kube-system namespace's, one per cluster whatever
    name or address reaches it; None when our identity may not read it."""
    try:
        namespace = get_object(cluster, "v1", "Namespace", "kube-system")
    except GloomeshError as exc:
        if exc.details.get("status") not in (401, 403):
            raise
        namespace = None
    return {"uid": ((namespace or {}).get("metadata") or {}).get("uid"),
            "server": cluster.host, "ca": _ca_fingerprint(cluster)}


def describe_write(verb, group, resource, namespace):
    return "%s %s%s%s" % (verb, resource, "." + group if group else "", " in namespace " + namespace if namespace else "")


def denied(cluster, writes):
    """The writes of ``writes`` ((verb, group, resource, namespace or None), ...) our identity may not
    send, described; [] when all are allowed."""
    review = resource_for(cluster, REVIEW_API_VERSION, REVIEW_KIND)
    refused = []
    for verb, group, resource, namespace in writes:
        attributes = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attributes["namespace"] = namespace
        body = {"apiVersion": REVIEW_API_VERSION, "kind": REVIEW_KIND, "spec": {"resourceAttributes": attributes}}
        what = describe_write(verb, group, resource, namespace)
        try:
            answer = cluster.api.create(review, body=body, dry_run="All").to_dict()
        except DynamicApiError as exc:
            raise api_error(exc, "asking whether we may", what)
        if not (answer.get("status") or {}).get("allowed"):
            refused.append(what)
    return refused
