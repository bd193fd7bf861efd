"""Shared layer against real API servers: k8s_apply (apply/delete/check mode/re-runs) and k8s_wait."""
from __future__ import annotations

import statistics
import threading
import time
import uuid

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s import apply as ka
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import get_cluster
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import (
    condition_true, gone, wait_for)

CONTEXT = "cluster1"
GW_API = "gateway.networking.k8s.io/v1"


@pytest.fixture
def client(kubeconfig):
    return get_cluster({"kubeconfig": kubeconfig, "context": CONTEXT})


@pytest.fixture
def namespace(client):
    """A fresh namespace per test (namespaces are never really deleted: no controller-manager)."""
    name = "gm-apply-" + uuid.uuid4().hex[:8]
    ka.ensure_namespace(client, name, check_mode=False)
    return name


def configmap(namespace, name="cm", data=None, labels=None):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {"a": "1"})},
            "data": dict(data or {"stable": "x: 1\n"})}


def gateway(namespace, name="gw", labels=None):
    return {"apiVersion": GW_API, "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": dict(labels or {"topology.istio.io/network": "net1"})},
            "spec": {"gatewayClassName": "istio-eastwest", "listeners": [
                {"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
                {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]}}


def requests_for(control_plane, mark, namespace):
    """Every request by admin since the mark that touched objects in `namespace` (not discovery)."""
    return [(e["verb"], e["requestURI"]) for e in control_plane.events_since(mark, CONTEXT)
            if e.get("user", {}).get("username") == "admin" and "/namespaces/%s/" % namespace in e["requestURI"]]


def live(client, obj):
    m = obj["metadata"]
    return ka.get_object(client, obj["apiVersion"], obj["kind"], m["name"], m.get("namespace"))


# --- apply ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [configmap, gateway], ids=["ConfigMap", "Gateway"])
def test_create_then_rerun_is_one_get_and_no_write(client, namespace, control_plane, audit, make):
    desired = make(namespace)
    mark = audit.mark()
    created = ka.apply_object(client, desired, check_mode=False)
    assert (created.action, created.changed, created.before) == ("created", True, None)
    assert created.after["metadata"]["labels"] == desired["metadata"]["labels"]
    assert len(audit.writes(mark, CONTEXT)) == 1

    mark = audit.mark()
    again = ka.apply_object(client, make(namespace), check_mode=False)
    assert (again.action, again.changed) == ("unchanged", False)
    assert audit.writes(mark, CONTEXT) == []
    # Not even a dry run: exactly one GET of the object.
    assert [verb for verb, _uri in requests_for(control_plane, mark, namespace)] == ["get"]


def test_modify_updates_only_what_changed(client, namespace, audit):
    ka.apply_object(client, configmap(namespace), check_mode=False)
    mark = audit.mark()
    result = ka.apply_object(client, configmap(namespace, data={"stable": "x: 2\n"}), check_mode=False)
    assert (result.action, result.changed) == ("updated", True)
    assert result.before["data"] == {"stable": "x: 1\n"} and result.after["data"] == {"stable": "x: 2\n"}
    assert len(audit.writes(mark, CONTEXT)) == 1
    assert live(client, configmap(namespace))["data"] == {"stable": "x: 2\n"}
    # modify again: nothing to do
    mark = audit.mark()
    assert ka.apply_object(client, configmap(namespace, data={"stable": "x: 2\n"}), False).action == "unchanged"
    assert audit.writes(mark, CONTEXT) == []


def test_removed_label_and_data_key_are_detected_and_removed(client, namespace, audit):
    ka.apply_object(client, configmap(namespace, labels={"a": "1", "zone": "z1"},
                                      data={"stable": "s\n", "beta": "b\n"}), check_mode=False)
    smaller = configmap(namespace, labels={"a": "1"}, data={"stable": "s\n"})
    mark = audit.mark()
    result = ka.apply_object(client, smaller, check_mode=False)
    assert (result.action, result.changed) == ("updated", True)
    assert len(audit.writes(mark, CONTEXT)) == 1
    now = live(client, smaller)
    assert now["metadata"]["labels"] == {"a": "1"} and now["data"] == {"stable": "s\n"}
    mark = audit.mark()
    assert ka.apply_object(client, smaller, check_mode=False).action == "unchanged"
    assert audit.writes(mark, CONTEXT) == []


def test_dropped_gateway_label_is_removed(client, namespace):
    ka.apply_object(client, gateway(namespace, labels={"n": "1", "topology.kubernetes.io/zone": "z"}), False)
    result = ka.apply_object(client, gateway(namespace, labels={"n": "1"}), False)
    assert result.action == "updated"
    assert live(client, gateway(namespace))["metadata"]["labels"] == {"n": "1"}


def test_fields_of_other_managers_do_not_cause_writes(client, namespace, audit):
    ka.apply_object(client, configmap(namespace), check_mode=False)
    # another actor (e.g. a controller) adds a label with its own field manager
    res = client.resource("ConfigMap", "v1")
    client.api.server_side_apply(res, body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "cm", "namespace": namespace, "labels": {"other": "x"}}}, field_manager="someone-else")
    mark = audit.mark()
    assert ka.apply_object(client, configmap(namespace), check_mode=False).action == "unchanged"
    assert audit.writes(mark, CONTEXT) == []


def test_conflict_names_the_other_manager_and_force_takes_over(client, namespace):
    res = client.resource("ConfigMap", "v1")
    client.api.server_side_apply(res, body=configmap(namespace, labels={"a": "theirs"}), field_manager="kubectl")
    with pytest.raises(GloomeshError) as err:
        ka.apply_object(client, configmap(namespace, labels={"a": "ours"}), check_mode=False)
    assert "kubectl" in err.value.message and "force_conflicts" in err.value.message
    assert err.value.details["conflicts"][0]["field"] == ".metadata.labels.a"
    result = ka.apply_object(client, configmap(namespace, labels={"a": "ours"}), False, force_conflicts=True)
    assert result.action == "updated" and result.after["metadata"]["labels"]["a"] == "ours"


# --- check mode -------------------------------------------------------------------------------

def test_check_mode_create_predicts_and_writes_nothing(client, namespace, audit):
    mark = audit.mark()
    result = ka.apply_object(client, gateway(namespace), check_mode=True)
    assert (result.action, result.changed) == ("created", True)
    # what the server would store, defaults included
    assert result.after["spec"]["listeners"][0]["allowedRoutes"] == {"namespaces": {"from": "Same"}}
    assert live(client, gateway(namespace)) is None
    assert audit.writes(mark, CONTEXT) == []


def test_check_mode_modify_predicts_and_writes_nothing(client, namespace, audit):
    ka.apply_object(client, configmap(namespace), check_mode=False)
    mark = audit.mark()
    result = ka.apply_object(client, configmap(namespace, data={"stable": "new\n"}), check_mode=True)
    assert (result.action, result.changed) == ("updated", True)
    assert result.after["data"] == {"stable": "new\n"}
    assert live(client, configmap(namespace))["data"] == {"stable": "x: 1\n"}
    assert audit.writes(mark, CONTEXT) == []
    diff = ka.diff_of(result)
    assert diff["before"]["data"] == {"stable": "x: 1\n"} and diff["after"]["data"] == {"stable": "new\n"}
    assert "managedFields" not in diff["after"]["metadata"]


def test_check_mode_in_missing_namespace_predicts_from_desired(client, audit):
    missing_ns = "gm-missing-" + uuid.uuid4().hex[:8]
    mark = audit.mark()
    ns = ka.ensure_namespace(client, missing_ns, check_mode=True)
    assert (ns.action, ns.changed) == ("created", True)
    # The server's dry run adds the label every namespace gets (Kubernetes 1.21+).
    assert ns.after["metadata"]["labels"] == dict(ka.MANAGED_BY, **{"kubernetes.io/metadata.name": missing_ns})
    result = ka.apply_object(client, configmap(missing_ns), check_mode=True)
    assert (result.action, result.changed) == ("created", True)
    assert result.after["data"] == {"stable": "x: 1\n"}
    assert ka.get_object(client, "v1", "Namespace", missing_ns) is None
    assert audit.writes(mark, CONTEXT) == []


def test_ensure_namespace_creates_once(client, audit):
    name = "gm-ns-" + uuid.uuid4().hex[:8]
    mark = audit.mark()
    first = ka.ensure_namespace(client, name, check_mode=False)
    assert (first.action, first.changed) == ("created", True)
    assert ka.is_managed_by_us(first.after)
    second = ka.ensure_namespace(client, name, check_mode=False)
    assert (second.action, second.changed) == ("unchanged", False)
    assert len(audit.writes(mark, CONTEXT)) == 1


def test_terminating_namespace_is_a_clear_error(client):
    name = "gm-term-" + uuid.uuid4().hex[:8]
    ka.ensure_namespace(client, name, check_mode=False)
    ka.delete_object(client, "v1", "Namespace", name)  # stays Terminating: no namespace controller
    with pytest.raises(GloomeshError, match="namespace %s is being deleted" % name):
        ka.ensure_namespace(client, name, check_mode=False)


def test_unserved_kind_is_a_clear_error(client):
    with pytest.raises(GloomeshError, match="does not serve example.com/v1 Widget"):
        ka.get_object(client, "example.com/v1", "Widget", "w", "default")


# --- delete -----------------------------------------------------------------------------------

def test_delete_check_mode_then_real_then_missing(client, namespace, audit):
    ka.apply_object(client, configmap(namespace), check_mode=False)
    mark = audit.mark()
    checked = ka.delete_object(client, "v1", "ConfigMap", "cm", namespace, check_mode=True)
    assert (checked.action, checked.changed, checked.after) == ("deleted", True, None)
    assert live(client, configmap(namespace)) is not None
    assert audit.writes(mark, CONTEXT) == []

    deleted = ka.delete_object(client, "v1", "ConfigMap", "cm", namespace)
    assert (deleted.action, deleted.changed) == ("deleted", True)
    assert deleted.before["data"] == {"stable": "x: 1\n"}
    assert live(client, configmap(namespace)) is None
    assert len(audit.writes(mark, CONTEXT)) == 1

    mark = audit.mark()
    for check_mode in (True, False):
        missing = ka.delete_object(client, "v1", "ConfigMap", "cm", namespace, check_mode=check_mode)
        assert (missing.action, missing.changed, missing.before) == ("absent", False, None)
    assert audit.writes(mark, CONTEXT) == []


# --- wait -------------------------------------------------------------------------------------

def set_gateway_status(client, namespace, name, programmed, address=None):
    """What istiod does: write conditions (and addresses) through the status subresource."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok",
         "lastTransitionTime": now, "observedGeneration": 1},
        {"type": "Programmed", "status": "True" if programmed else "False",
         "reason": "Programmed" if programmed else "AddressNotAssigned",
         "message": "ready" if programmed else "waiting for a load balancer address",
         "lastTransitionTime": now, "observedGeneration": 1}]}
    if address:
        status["addresses"] = [{"type": "IPAddress", "value": address}]
    res = client.resource("Gateway", GW_API)
    client.api.patch(res.subresources["status"], body={"status": status}, name=name, namespace=namespace,
                     content_type="application/merge-patch+json")


def all_of(*predicates):
    """Predicate: every predicate done; ``missing`` joins what each one still lacks."""
    def predicate(obj):
        missing = [m for done, m in (p(obj) for p in predicates) if not done]
        return not missing, "; ".join(missing)
    return predicate


def has_address(obj):
    return bool(((obj or {}).get("status") or {}).get("addresses")), "no address in status.addresses"


def test_wait_timeout_names_what_is_missing(client, namespace):
    ka.apply_object(client, gateway(namespace), check_mode=False)
    set_gateway_status(client, namespace, "gw", programmed=False)
    started = time.monotonic()
    with pytest.raises(GloomeshError) as err:
        wait_for(client, GW_API, "Gateway", "gw", namespace, all_of(condition_true("Programmed"), has_address),
                 timeout=2, what="Gateway %s/gw" % namespace)
    elapsed = time.monotonic() - started
    assert 2 <= elapsed < 4
    message = err.value.message
    assert message.startswith("timed out after 2s waiting for Gateway %s/gw: " % namespace)
    assert ("condition Programmed not True: Programmed=False (AddressNotAssigned: waiting for a load balancer address); "
            "no address in status.addresses; last status: ") in message
    assert '"reason":"AddressNotAssigned"' in message


def test_wait_for_missing_object(client, namespace):
    with pytest.raises(GloomeshError, match=r"timed out after 1s waiting for it: object does not exist; "
                                            r"last status: object not found"):
        wait_for(client, GW_API, "Gateway", "nope", namespace, condition_true("Programmed"), 1, "it")


def _measure(client, namespace, name, update, predicate):
    """Seconds between sending `update` and wait_for returning (the watch event may even
    arrive before the update's own response)."""
    returned = {}

    def waiter():
        returned["obj"] = wait_for(client, GW_API, "Gateway", name, namespace, predicate, 30, "gw")
        returned["at"] = time.monotonic()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)  # the waiter is now watching
    assert "at" not in returned
    updated_at = time.monotonic()
    update()
    thread.join(35)
    assert "at" in returned, "wait_for did not return"
    return returned["at"] - updated_at, returned["obj"]


def test_wait_returns_as_soon_as_the_condition_appears(client, namespace, record_property):
    latencies = []
    for i in range(5):
        name = "gw%d" % i
        ka.apply_object(client, gateway(namespace, name=name), check_mode=False)
        set_gateway_status(client, namespace, name, programmed=False)
        latency, obj = _measure(client, namespace, name,
                                lambda: set_gateway_status(client, namespace, name, True, "172.18.0.%d" % (10 + i)),
                                all_of(condition_true("Programmed"), has_address))
        assert obj["status"]["addresses"][0]["value"] == "172.18.0.%d" % (10 + i)
        latencies.append(latency)
    record_property("wait_latency_seconds", latencies)
    print("wait_for latency after the status update: median %.3fs, max %.3fs"
          % (statistics.median(latencies), max(latencies)))
    assert max(latencies) < 1.0


def test_wait_for_deletion(client, namespace):
    ka.apply_object(client, gateway(namespace), check_mode=False)
    latency, obj = _measure(client, namespace, "gw",
                            lambda: ka.delete_object(client, GW_API, "Gateway", "gw", namespace), gone)
    assert obj is None and latency < 1.0


def test_wait_returns_at_once_when_already_done(client, namespace):
    ka.apply_object(client, gateway(namespace), check_mode=False)
    set_gateway_status(client, namespace, "gw", programmed=True)
    started = time.monotonic()
    obj = wait_for(client, GW_API, "Gateway", "gw", namespace, condition_true("Programmed"), 30, "gw")
    assert obj["metadata"]["name"] == "gw" and time.monotonic() - started < 1.0


def test_predicate_error_fails_at_once(client, namespace):
    ka.apply_object(client, gateway(namespace), check_mode=False)

    def failing(obj):
        if obj and ((obj.get("status") or {}).get("conditions") or [{}])[-1].get("reason") == "AddressNotAssigned":
            raise GloomeshError("gave up: no address")
        return False, "not yet"

    returned = {}

    def waiter():
        try:
            wait_for(client, GW_API, "Gateway", "gw", namespace, failing, 30, "gw")
        except GloomeshError as exc:
            returned["error"] = exc.message

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)
    set_gateway_status(client, namespace, "gw", programmed=False)
    thread.join(5)
    assert returned == {"error": "gave up: no address"}
