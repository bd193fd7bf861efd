"""The drift report of a cluster whose cacerts is broken (issue 23): the run that most needs to
report is the one whose Secret cacerts is gone or whose ca-key.pem no longer matches ca-cert.pem.

One fresh two-cluster mesh: the install, then cluster1's cacerts deleted and cluster2's ca-key.pem
swapped for another key, then the drift playbook. Its report names ``Secret istio-system/cacerts``
in both clusters, holds no key material and is written without a single write to a cluster.
"""
from __future__ import annotations

import base64
import json
import os

import pytest
from kubernetes import client as k8s

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from tests.harness.playbook_run import failures, fresh_mesh

NAMES = ("cluster1", "cluster2")
CACERTS = "Secret istio-system/cacerts"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    if os.environ.get("GLOOMESH_TEST_KUBECONFIG"):
        pytest.skip("needs fresh local clusters")
    with fresh_mesh(NAMES, tmp_path_factory.mktemp("drift")) as run:
        yield run


def test_drift_reports_a_missing_and_a_mismatched_cacerts(mesh, tmp_path):
    with mesh.cp.api_client("cluster1") as api:
        k8s.CoreV1Api(api).delete_namespaced_secret("cacerts", "istio-system")
    other_key = certificates.key_pem(certificates.generate_key("ecdsa-p256"))
    encoded_key = base64.b64encode(other_key.encode("ascii")).decode("ascii")
    with mesh.cp.api_client("cluster2") as api:
        k8s.CoreV1Api(api).patch_namespaced_secret("cacerts", "istio-system", {"data": {"ca-key.pem": encoded_key}})

    report_dir = tmp_path / "drift"
    result = mesh.play("drift", extra={"gloomesh_drift_report_dir": str(report_dir)}, verbosity=0)
    assert result["rc"] == 0, f"{failures(result)}\n{result['stdout'][-3000:]}\n{result['stderr'][-3000:]}"
    assert result["writes"] == [], result["writes"]
    with open(report_dir / "drift.json", encoding="utf-8") as fh:
        report = json.load(fh)
    rows = {(cluster, row["object"], row["field"]): (row["current"], row["desired"])
            for cluster, found in report["clusters"].items() for row in found}
    assert rows[("cluster1", CACERTS, "-")] == ("absent", "present"), json.dumps(report, indent=1)
    assert rows[("cluster2", CACERTS, "ca-key.pem")] == (
        "(private key, does not match ca-cert.pem)", "(private key, matches ca-cert.pem)"), json.dumps(report, indent=1)
    assert {cluster for cluster, _object, _field in rows} == set(NAMES)
    assert all(obj == CACERTS for _cluster, obj, _field in rows), json.dumps(report, indent=1)
    assert report["drifted"]
    with open(report_dir / "drift.txt", encoding="utf-8") as fh:
        table = fh.read()
    assert CACERTS in table
    key_body = "".join(other_key.splitlines()[1:-1])
    for text in (json.dumps(report), table, result["stdout"], result["stderr"]):
        assert "PRIVATE KEY" not in text
        assert encoded_key not in text and key_body not in text and key_body[:40] not in text
