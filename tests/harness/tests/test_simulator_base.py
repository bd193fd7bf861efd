"""Pure parts of the simulators' plumbing: comparisons, conditions, redaction, watch-event handling."""
from __future__ import annotations

import threading

import pytest

from tests.harness.simulators.base import (DEPLOYMENTS, GATEWAYS, NAMESPACES, SMCS, ApiError, Informer,
                                           _dropped_metadata, is_subset, merge_conditions, redact)
from tests.harness.simulators.workloads import deployment_status, pod_names, template_hash


def test_resource_paths():
    assert DEPLOYMENTS.path("ns", "d", "status") == "/apis/apps/v1/namespaces/ns/deployments/d/status"
    assert NAMESPACES.path(None, "istio-system") == "/api/v1/namespaces/istio-system"
    assert GATEWAYS.path() == "/apis/gateway.networking.k8s.io/v1/gateways"
    assert SMCS.builtin is False and DEPLOYMENTS.builtin is True


@pytest.mark.parametrize("desired, actual, expected", [
    ({"a": 1}, {"a": 1, "b": 2}, True),              # server defaults may add fields
    ({"a": 1}, {"a": 2}, False),
    ({"readyReplicas": 0}, {}, True),                # omitempty zero values are dropped by the server
    ({"x": {"y": []}}, {"x": {}}, True),
    ({"l": [{"n": 1}]}, {"l": [{"n": 1, "m": 2}]}, True),
    ({"l": [{"n": 1}]}, {"l": [{"n": 1}, {"n": 2}]}, False),  # an extra list item is a difference
    ({"message": ""}, {"message": "old failure"}, False),
])
def test_is_subset(desired, actual, expected):
    assert is_subset(desired, actual) is expected


def test_merge_conditions_keeps_transition_time_while_status_is_unchanged():
    old = [{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
           {"type": "Programmed", "status": "False", "lastTransitionTime": "2020-01-01T00:00:00Z"}]
    merged = merge_conditions(old, [{"type": "Ready", "status": "True"}, {"type": "Programmed", "status": "True"}])
    assert merged[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert merged[1]["lastTransitionTime"] != "2020-01-01T00:00:00Z"


def test_redact_masks_env_values():
    env = [{"name": "SOLO_ISTIO_LICENSE_KEY", "value": "secret-license-123"}]
    obj = {"spec": {"template": {"spec": {"containers": [{"env": env}]}}}}
    text = redact('Deployment invalid: env value "secret-license-123" too long', obj)
    assert "secret-license-123" not in text and "********" in text


class _FakeCluster:
    name = "c1"
    stop_event = threading.Event()

    def __init__(self):
        self.changes = 0

    def changed(self, res):
        self.changes += 1


def test_informer_applies_events_and_asks_for_relist_on_410():
    cluster = _FakeCluster()
    informer = Informer(cluster, GATEWAYS)
    gw = {"metadata": {"name": "g", "namespace": "n", "resourceVersion": "5"}}
    assert informer._handle({"type": "ADDED", "object": gw}, "4") == "5"
    assert informer.get("g", "n") == gw
    assert informer._handle({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}, "5") == "9"
    assert informer._handle({"type": "DELETED", "object": gw}, "9") == "5"
    assert informer.get("g", "n") is None
    assert informer._handle({"type": "ERROR", "object": {"code": 410, "reason": "Expired"}}, "9") is None
    with pytest.raises(ApiError):
        informer._handle({"type": "ERROR", "object": {"code": 500, "message": "boom"}}, "9")
    assert cluster.changes == 2  # bookmarks and errors are not changes


def test_informer_write_through_ignores_older_versions():
    informer = Informer(_FakeCluster(), GATEWAYS)
    informer.store({"metadata": {"name": "g", "namespace": "n", "resourceVersion": "7"}, "v": "new"})
    informer.store({"metadata": {"name": "g", "namespace": "n", "resourceVersion": "6"}, "v": "old"})
    assert informer.get("g", "n")["v"] == "new"


def test_pod_names_are_stable_and_follow_the_template():
    template = {"metadata": {"labels": {"app": "istiod"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    first = pod_names("Deployment", "istiod-gloo", template, 2)
    assert first == pod_names("Deployment", "istiod-gloo", template, 2)
    assert len(set(first)) == 2 and all(n.startswith(f"istiod-gloo-{template_hash(template)}-") for n in first)
    changed = {**template, "spec": {"containers": [{"name": "c", "image": "i:2"}]}}
    assert not set(first) & set(pod_names("Deployment", "istiod-gloo", changed, 2))  # a rollout
    assert pod_names("DaemonSet", "ztunnel", template, 1)[0].count("-") == 1


def test_deployment_status_reports_availability():
    dep = {"metadata": {"name": "d", "generation": 3}, "spec": {"replicas": 2, "template": {}}}
    assert deployment_status(dep, 2)["conditions"][0]["status"] == "True"
    partial = deployment_status(dep, 1)
    assert partial["availableReplicas"] == 1 and partial["conditions"][0]["status"] == "False"
    assert partial["observedGeneration"] == 3


def test_dropped_metadata_looks_only_at_what_the_manager_applied():
    current = {"metadata": {"labels": {"a": "1", "b": "2", "theirs": "x"}, "managedFields": [
        {"manager": "sim", "operation": "Apply",
         "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:a": {}, "f:b": {}}}}},
        {"manager": "other", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": {"f:theirs": {}}}}},
    ]}}
    assert _dropped_metadata({"metadata": {"labels": {"a": "1"}}}, current, "sim")
    assert not _dropped_metadata({"metadata": {"labels": {"a": "1", "b": "2"}}}, current, "sim")
    assert not _dropped_metadata({"metadata": {"labels": {"a": "1", "b": "2"}}}, current, "other-manager")
