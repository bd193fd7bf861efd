"""k8s_apply's pure logic: deep-subset and managed-fields comparison, noise stripping, diff redaction."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s import apply as ka
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import (
    compact_status, condition_in, condition_of, condition_true, describe_condition, exists, gone)

LISTENERS = [
    {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
    {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
]


def desired_gateway(labels=None, listeners=None):
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "ns", "labels": dict(labels or {"a": "1"})},
        "spec": {"gatewayClassName": "istio-eastwest", "listeners": [dict(x) for x in listeners or LISTENERS]},
    }


def live_of(desired, fields_v1, manager="gloomesh", extra_spec=None):
    """What the API server returns after our apply: defaults added, managedFields recorded."""
    desired = copy.deepcopy(desired)
    live = {
        "apiVersion": desired["apiVersion"], "kind": desired["kind"],
        "metadata": dict(desired["metadata"], uid="u-1", resourceVersion="42", generation=3,
                         creationTimestamp="2026-01-01T00:00:00Z",
                         managedFields=[{"manager": manager, "operation": "Apply",
                                         "apiVersion": "v1", "fieldsType": "FieldsV1",
                                         "fieldsV1": fields_v1}]),
        "spec": {**desired["spec"], **(extra_spec or {})},
        "status": {"conditions": [{"type": "Accepted", "status": "Unknown"}]},
    }
    live["spec"]["listeners"] = [dict(x, allowedRoutes={"namespaces": {"from": "Same"}})
                                 for x in desired["spec"]["listeners"]]
    return live


GW_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
    "f:spec": {
        "f:gatewayClassName": {},
        "f:listeners": {
            'k:{"name":"cross-network"}': {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {},
                                           "f:tls": {".": {}, "f:mode": {}}},
            'k:{"name":"xds-tls"}': {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {},
                                     "f:tls": {".": {}, "f:mode": {}}},
        },
    },
}


# --- deep subset ---------------------------------------------------------------------------

def test_subset_accepts_server_defaults_and_metadata():
    desired = desired_gateway()
    assert ka.subset_mismatch(desired, live_of(desired, GW_FIELDS)) is None


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d["metadata"]["labels"].update(a="2"), ".metadata.labels.a"),
    (lambda d: d["metadata"]["labels"].update(b="new"), ".metadata.labels.b"),
    (lambda d: d["spec"]["listeners"][1].update(port=15013), ".spec.listeners[name=xds-tls].port"),
    (lambda d: d["spec"]["listeners"].append({"name": "new", "port": 1}), ".spec.listeners[name=new]"),
    (lambda d: d["spec"].update(addresses=[{"value": "1.2.3.4"}]), ".spec.addresses"),
])
def test_subset_reports_first_difference(mutate, path):
    desired = desired_gateway()
    live = live_of(desired, GW_FIELDS)
    mutate(desired)
    assert ka.subset_mismatch(desired, live) == path


def test_subset_lists_keyed_by_name_match_by_name_and_leave_other_managers_elements():
    desired = desired_gateway()
    live = live_of(desired, GW_FIELDS)
    desired["spec"]["listeners"].reverse()
    assert ka.subset_mismatch(desired, live) is None
    # A listener another field manager added (x-kubernetes-list-type: map) is theirs.
    live["spec"]["listeners"].append({"name": "extra", "port": 15443, "protocol": "TLS"})
    assert ka.subset_mismatch(desired, live) is None


def test_a_listener_we_no_longer_want_is_found_through_our_managed_fields():
    desired = desired_gateway()
    live = live_of(desired, GW_FIELDS)
    desired["spec"]["listeners"].pop()
    assert ka.subset_mismatch(desired, live) is None
    assert "xds-tls" in ka.apply_needed(desired, live)


def test_subset_atomic_lists_are_whole_and_ordered():
    assert ka.subset_mismatch({"a": [{"value": "x"}, {"value": "y"}]}, {"a": [{"value": "y"}, {"value": "x"}]}) == ".a[0].value"
    assert ka.subset_mismatch({"a": ["x"]}, {"a": ["x", "y"]}) == ".a"


def test_subset_bool_is_not_int():
    assert ka.subset_mismatch({"x": True}, {"x": 1}) == ".x"
    assert ka.subset_mismatch({"x": 1}, {"x": 1}) is None
    assert ka.subset_mismatch({"x": "1"}, {"x": 1}) == ".x"


def test_subset_empty_desired_matches_absent():
    assert ka.subset_mismatch({"metadata": {"annotations": {}}, "a": None, "l": []}, {"metadata": {}}) is None
    assert ka.subset_mismatch({"a": {}}, {"a": {"x": 1}}) is None


def test_subset_type_change_is_a_difference():
    assert ka.subset_mismatch({"a": {"b": 1}}, {"a": "text"}) == ".a"
    assert ka.subset_mismatch({"a": [1]}, {"a": {"0": 1}}) == ".a"


# --- fields we own but no longer set ---------------------------------------------------------

def test_dropped_label_we_own_is_detected():
    previous = desired_gateway(labels={"a": "1", "zone": "z1"})
    fields = {"f:metadata": {"f:labels": {".": {}, "f:a": {}, "f:zone": {}}}}
    live = live_of(previous, fields)
    now = desired_gateway(labels={"a": "1"})
    assert ka.subset_mismatch(now, live) is None
    assert ka.owned_field_missing(now, live) == ".metadata.labels.zone"
    assert ka.apply_needed(now, live) == "field .metadata.labels.zone set by gloomesh is no longer desired"


def test_label_owned_by_another_manager_is_ignored():
    previous = desired_gateway(labels={"a": "1", "zone": "z1"})
    live = live_of(previous, {"f:metadata": {"f:labels": {"f:a": {}, "f:zone": {}}}}, manager="kubectl")
    assert ka.owned_field_missing(desired_gateway(labels={"a": "1"}), live) is None


def test_update_operation_entries_are_ignored():
    live = live_of(desired_gateway(labels={"a": "1", "z": "2"}), {"f:metadata": {"f:labels": {"f:z": {}}}})
    live["metadata"]["managedFields"][0]["operation"] = "Update"
    assert ka.owned_field_missing(desired_gateway(), live) is None


def test_owns_field_counts_only_our_applied_fields():
    live = live_of(desired_gateway(labels={"a": "1"}), {"f:metadata": {"f:labels": {"f:a": {}}}})
    assert ka.owns_field(live, ("metadata", "labels", "a")) and ka.owns_field(live, ("metadata",))
    assert not ka.owns_field(live, ("metadata", "labels", "b")) and not ka.owns_field(live, ("spec",))
    assert not ka.owns_field(live, ("metadata", "labels", "a"), manager="kubectl")
    for entry_change in ({"operation": "Update"}, {"subresource": "status"}):
        other = live_of(desired_gateway(labels={"a": "1"}), {"f:metadata": {"f:labels": {"f:a": {}}}})
        other["metadata"]["managedFields"][0].update(entry_change)
        assert not ka.owns_field(other, ("metadata", "labels", "a")), entry_change
    assert not ka.owns_field(None, ("spec",))


def test_dropped_list_element_by_key_is_detected():
    desired = desired_gateway()
    live = live_of(desired, GW_FIELDS)
    one = desired_gateway(listeners=LISTENERS[:1])
    assert ka.owned_field_missing(one, live) == '.spec.listeners[{"name":"xds-tls"}]'


def test_dropped_nested_field_in_keyed_element_is_detected():
    desired = desired_gateway()
    live = live_of(desired, GW_FIELDS)
    without_tls = desired_gateway(listeners=[LISTENERS[0], {k: v for k, v in LISTENERS[1].items() if k != "tls"}])
    assert ka.owned_field_missing(without_tls, live) == '.spec.listeners[{"name":"xds-tls"}].tls'


def test_set_and_index_elements():
    live = {"metadata": {"managedFields": [{"manager": "gloomesh", "operation": "Apply", "fieldsV1": {
        "f:spec": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}, "f:args": {"i:1": {}}}}}]}}
    assert ka.owned_field_missing({"spec": {"finalizers": ["a", "b"], "args": ["x", "y"]}}, live) is None
    assert ka.owned_field_missing({"spec": {"finalizers": ["a"], "args": ["x", "y"]}}, live) == '.spec.finalizers[="b"]'
    assert ka.owned_field_missing({"spec": {"finalizers": ["a", "b"], "args": ["x"]}}, live) == ".spec.args[1]"


def test_configmap_data_key_removed_is_detected():
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
               "data": {"stable": "a: 1\n", "beta": "b: 2\n"}}
    live = dict(desired, metadata=dict(desired["metadata"], managedFields=[{
        "manager": "gloomesh", "operation": "Apply",
        "fieldsV1": {"f:data": {".": {}, "f:stable": {}, "f:beta": {}}}}]))
    assert ka.apply_needed(desired, live) is None
    smaller = dict(desired, data={"stable": "a: 1\n"})
    assert ka.apply_needed(smaller, live) == "field .data.beta set by gloomesh is no longer desired"


def test_apply_needed_for_missing_object():
    assert ka.apply_needed(desired_gateway(), None) == "object does not exist"


def test_apply_not_needed_when_everything_matches():
    desired = desired_gateway()
    assert ka.apply_needed(desired, live_of(desired, GW_FIELDS)) is None


# --- noise, diff, redaction ----------------------------------------------------------------

def test_strip_noise_removes_server_fields_only():
    desired = desired_gateway()
    clean = ka.strip_noise(live_of(desired, GW_FIELDS))
    assert "status" not in clean
    assert set(clean["metadata"]) == {"name", "namespace", "labels"}
    assert ka.strip_noise(None) is None


def test_strip_noise_does_not_mutate():
    live = live_of(desired_gateway(), GW_FIELDS)
    ka.strip_noise(live)
    assert "managedFields" in live["metadata"] and "status" in live


def test_diff_of_redacts_and_marks_changes():
    before = {"kind": "Secret", "metadata": {"name": "s", "resourceVersion": "1"},
              "data": {"ca-key.pem": "OLD", "root-cert.pem": "R"}}
    after = {"kind": "Secret", "metadata": {"name": "s", "resourceVersion": "2"},
             "data": {"ca-key.pem": "NEW", "root-cert.pem": "R", "added": "X"}}
    diff = ka.diff_of(ka.ApplyResult(True, before, after, "updated"), redact=[("data", "*")])
    assert diff["before"] == {"kind": "Secret", "metadata": {"name": "s"},
                              "data": {"ca-key.pem": "<redacted>", "root-cert.pem": "<redacted>"}}
    assert diff["after"]["data"] == {"ca-key.pem": "<redacted, changed>", "root-cert.pem": "<redacted>",
                                     "added": "<redacted, changed>"}
    # the result itself is untouched
    assert after["data"]["ca-key.pem"] == "NEW"


def test_diff_of_single_key_and_missing_sides():
    after = {"kind": "Secret", "data": {"key": "K", "cert": "C"}}
    diff = ka.diff_of(ka.ApplyResult(True, None, after, "created"), redact=[("data", "key"), ("spec", "x")])
    assert diff == {"before": {}, "after": {"kind": "Secret", "data": {"key": "<redacted, changed>", "cert": "C"}}}
    gone_diff = ka.diff_of(ka.ApplyResult(True, after, None, "deleted"), redact=[("data", "key")])
    assert gone_diff["before"]["data"]["key"] == "<redacted>" and gone_diff["after"] == {}


def _managed_fields(manager, labels):
    return [{"manager": manager, "operation": "Apply", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": dict(("f:" + key, {}) for key in labels)}}}]


def test_is_managed_by_us_needs_label_applied_by_our_field_manager():
    ours = {"metadata": {"labels": {"app.kubernetes.io/managed-by": "gloomesh.multicluster"},
                         "managedFields": _managed_fields("gloomesh", ["app.kubernetes.io/managed-by"])}}
    assert ka.is_managed_by_us(ours)
    # Automatic peering copies our east-west labels onto the peers istiod writes.
    copied = copy.deepcopy(ours)
    copied["metadata"]["managedFields"] = _managed_fields("pilot-discovery", ["app.kubernetes.io/managed-by"])
    assert not ka.is_managed_by_us(copied)
    unlabelled = {"metadata": {"labels": {}, "managedFields": _managed_fields("gloomesh", ["x"])}}
    assert not ka.is_managed_by_us(unlabelled)
    assert not ka.is_managed_by_us({"metadata": {}})
    assert not ka.is_managed_by_us({"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}}})
    assert not ka.is_managed_by_us(None)


# --- wait predicates -----------------------------------------------------------------------

def obj_with(conditions):
    return {"status": {"conditions": conditions}}


def test_condition_of_condition_true_and_gone():
    programmed = condition_true("Programmed")
    assert programmed(obj_with([])) == (False, "condition Programmed not reported yet")
    assert programmed(obj_with([{"type": "Programmed", "status": "False", "reason": "NoAddr"}])) == (
        False, "condition Programmed not True: Programmed=False (NoAddr)")
    # One format wherever a condition is shown (mesh_verify's and a wait's): Type=Status (Reason: message).
    assert programmed(obj_with([{"type": "Programmed", "status": "False", "reason": "NoAddr", "message": "waiting"}])) == (
        False, "condition Programmed not True: Programmed=False (NoAddr: waiting)")
    assert describe_condition({"type": "A", "status": "Unknown", "message": "m"}) == "A=Unknown (m)"
    assert condition_in([{"type": "A"}, {"type": "B", "status": "True"}], "B") == {"type": "B", "status": "True"}
    assert programmed(obj_with([{"type": "Programmed", "status": "True"}])) == (True, "")
    assert condition_of(obj_with([{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]), "B") == {
        "type": "B", "status": "False"}
    assert condition_of(obj_with([]), "B") is None and condition_of(None, "B") is None
    assert gone(None) == (True, "") and gone({}) == (False, "object still exists")
    assert exists(None) == (False, "it does not exist yet") and exists({})[0] is True


def test_compact_status_truncates():
    assert compact_status(None) == "object not found"
    assert compact_status({"status": {"phase": "X"}}) == '{"phase":"X"}'
    assert compact_status({"status": {"m": "x" * 2000}}).endswith("...")
