"""drift: the rows of each step's check-mode result, the verdict across clusters, the table."""
from __future__ import annotations

import json

from ansible_collections.gloomesh.multicluster.plugins.module_utils import drift

ROOT_A = "AA:" * 31 + "AA"
ROOT_B = "BB:" * 31 + "BB"
CACERTS = "Secret istio-system/cacerts"


def cacerts_view(key):
    """What root_of_trust's --diff shows of a cacerts: summaries and a verdict on the key."""
    return {"secret": "cacerts", "root-cert.pem": [{"fingerprint_sha256": ROOT_A}],
            "ca-cert.pem": [{"fingerprint_sha256": "11"}], "cert-chain.pem": [{"fingerprint_sha256": "11"}],
            "ca-key.pem": "(private key, %s ca-cert.pem)" % key}


def gateway(name, address, namespace="istio-eastwest"):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"addresses": [{"value": address}]}}


def test_a_missing_cacerts_is_a_secret_to_create():
    result = {"changed": True, "namespace": "istio-system", "action": "created",
              "diff": {"before": {}, "after": cacerts_view("matches")}}
    assert drift.step_rows("root_of_trust", result, "cluster1") == [
        {"object": CACERTS, "field": "-", "current": "absent", "desired": "present"}]


def test_a_key_that_does_not_match_is_named_by_entry_without_key_material():
    after = cacerts_view("matches")
    after["ca-cert.pem"] = after["cert-chain.pem"] = [{"fingerprint_sha256": "(issued when applied)"}]
    result = {"changed": True, "namespace": "istio-system", "reasons": ["ca-key.pem does not match ca-cert.pem"],
              "diff": {"before": cacerts_view("does not match"), "after": after}}
    rows = drift.step_rows("root_of_trust", result, "cluster1")
    assert [(r["object"], r["field"]) for r in rows] == [
        (CACERTS, "ca-cert.pem"), (CACERTS, "ca-key.pem"), (CACERTS, "cert-chain.pem")]
    assert rows[1]["current"] == "(private key, does not match ca-cert.pem)"
    assert rows[1]["desired"] == "(private key, matches ca-cert.pem)"


def test_a_cacerts_of_another_root_shows_the_roots():
    result = {"failed": True, "msg": "Secret istio-system/cacerts holds a different root",
              "existing_root_fingerprints": [ROOT_B], "root_fingerprint": ROOT_A, "namespace": "istio-system"}
    assert drift.step_rows("root_of_trust", result, "cluster1") == [
        {"object": CACERTS, "field": "root-cert.pem (SHA-256)", "current": ROOT_B, "desired": ROOT_A}]


def test_a_failed_root_of_trust_names_the_secret_in_the_namespace_of_its_options():
    result = {"failed": True, "msg": "cannot read root_cert_path",
              "invocation": {"module_args": {"namespace": "istio-other"}}}
    assert drift.step_rows("root_of_trust", result, "c1") == [
        {"object": "Secret istio-other/cacerts", "field": "-", "current": "cannot be predicted",
         "desired": "cannot read root_cert_path"}]


def test_a_failed_step_cannot_be_predicted():
    assert drift.step_rows("service_mesh", {"failed": True}, "c1") == [
        {"object": "service_mesh", "field": "-", "current": "cannot be predicted", "desired": "failed"}]


def test_changed_fields_of_an_object_each_a_row():
    before = {"kind": "ServiceMeshController", "metadata": {"name": "managed-istio", "namespace": "gloo-mesh"},
              "spec": {"version": "1.25.1", "dataplaneMode": "Ambient"}}
    after = json.loads(json.dumps(before))
    after["spec"]["version"] = "1.25.2"
    rows = drift.step_rows("service_mesh", {"changed": True, "diff": [{"before": before, "after": after}]}, "c1")
    assert rows == [{"object": "ServiceMeshController gloo-mesh/managed-istio", "field": "spec.version",
                     "current": "1.25.1", "desired": "1.25.2"}]


def test_mesh_link_names_another_cluster_from_the_diff_target():
    result = {"changed": True, "peers": [], "diff": [
        {"before": gateway("istio-remote-peer-c2", "198.51.100.1"), "after": gateway("istio-remote-peer-c2", "198.51.100.2"),
         "target": "c1"},
        {"before": {}, "after": gateway("istio-remote-peer-c1", "198.51.100.3"), "target": "c3"}]}
    assert drift.step_rows("mesh_link", result, "c1") == [
        {"object": "Gateway istio-eastwest/istio-remote-peer-c2", "field": "spec.addresses",
         "current": [{"value": "198.51.100.1"}], "desired": [{"value": "198.51.100.2"}]},
        {"object": "Gateway istio-eastwest/istio-remote-peer-c1 in cluster c3", "field": "-",
         "current": "absent", "desired": "present"}]


def test_foreign_peers_are_reported_even_when_nothing_changed():
    result = {"changed": False, "peers": [
        {"cluster": "c9", "namespace": "istio-eastwest", "name": "istio-remote-peer-c9", "action": "foreign"},
        {"cluster": "c2", "namespace": "istio-eastwest", "name": "istio-remote-peer-c2", "action": "unchanged"}]}
    assert drift.step_rows("mesh_link", result, "c1") == [
        {"object": "Gateway istio-eastwest/istio-remote-peer-c9", "field": "-",
         "current": "peer for c9, not created by gloomesh.multicluster",
         "desired": "absent: c9 is not a peer of this cluster"}]


def test_report_and_table():
    missing = {"changed": True, "namespace": "istio-system", "diff": {"before": {}, "after": cacerts_view("matches")}}
    report = drift.report({"c1": {"root_of_trust": missing, "mesh_link": {"skipped": True}}, "c2": {}})
    assert report == {"drifted": True, "clusters": {
        "c1": [{"object": CACERTS, "field": "-", "current": "absent", "desired": "present"}], "c2": []}}
    assert drift.drifted_clusters(report) == ["c1"]
    lines = drift.render(report)
    assert lines[0].split() == ["CLUSTER", "OBJECT", "FIELD", "CURRENT", "DESIRED"]
    assert lines[1].split() == ["c1", "Secret", "istio-system/cacerts", "-", "absent", "present"]
    assert lines[2].split() == ["c2", "(no", "drift)"]
    assert drift.report({"c1": {}})["drifted"] is False


def test_table_cuts_long_values():
    report = {"clusters": {"c1": [{"object": "x", "field": "f", "current": "a" * 40, "desired": ["b" * 80]}]}}
    line = drift.render(report)[1]
    assert "a" * 27 + "..." in line and "a" * 28 not in line
    assert line.endswith("...") and len(line.split()[-1]) == 60
