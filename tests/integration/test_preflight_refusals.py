"""Issue 22: what the install refuses before its first write, through the real playbook on the
session's clusters (cluster1, cluster2). Each test asserts the message and that the run sent no
write request (audit log); none installs anything, so the clusters stay as they were.

- item 1: a host whose context is another name for a cluster of the mesh, also with --limit
- item 4: explicit root files that do not match; a credential RBAC lets read but not write; an
  empty or null workload group
- item 6: a kubeconfig of the wrong YAML type
"""
from __future__ import annotations

import copy
import re

import pytest
import yaml
from kubernetes import client as k8s

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from tests.conftest import EXTERNAL_KUBECONFIG
from tests.harness import faults
from tests.harness.playbook_run import failures

INSTALL = "install_manual_link"
RUN_TIMEOUT = 300
pytestmark = pytest.mark.skipif(bool(EXTERNAL_KUBECONFIG), reason="adds contexts and credentials to local clusters")


def refused(result, *words):
    """The run failed before any write, with every one of ``words`` in its failure."""
    out = failures(result)
    assert result["rc"] != 0, out
    for word in words:
        assert word in out, f"{word!r} not in:\n{out}"
    assert result["writes"] == [], "\n".join(f"{e['context']} {e['verb']} {e['requestURI']}" for e in result["writes"])
    return out


def kubeconfig_file(tmp_path, config, name="kubeconfig"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_one_cluster_behind_two_names_is_refused_before_any_write(control_plane, audit, tmp_path):
    run = faults.LoggedRun(control_plane, tmp_path, ["cluster1", "cluster2"])
    config = control_plane.kubeconfig()
    alias = copy.deepcopy(next(c for c in config["contexts"] if c["name"] == "cluster1"))
    alias["name"] = "c1-alias"
    config["contexts"].append(alias)
    alias_vars = {"kube_context": "c1-alias", "kubeconfig": kubeconfig_file(tmp_path, config)}
    inventory = run.inventory(workload=["cluster1", "cluster2", "c1-alias"], host_vars={"c1-alias": alias_vars})
    # The whole inventory, and the run the issue describes: --limit to the new host only.
    for limit in (None, "c1-alias"):
        result = run.play(INSTALL, inventory, limit=limit, timeout=RUN_TIMEOUT)
        out = refused(result, "c1-alias and cluster1 reach the same cluster (kube-system namespace UID ")
        assert "cluster2 and" not in out and "and cluster2 reach" not in out, out


def _root(directory, name):
    key = certificates.generate_key("ecdsa-p256")
    cert_path, key_path = directory / (name + "-cert.pem"), directory / (name + "-key.pem")
    cert_path.write_text(certificates.cert_pem(certificates.build_root(key, common_name=name, validity_days=30)))
    key_path.write_text(certificates.key_pem(key))
    return str(cert_path), str(key_path)


def test_explicit_root_files_that_do_not_match_are_refused_before_any_write(control_plane, audit, tmp_path):
    run = faults.LoggedRun(control_plane, tmp_path, ["cluster1", "cluster2"])
    cert_a, _key_a = _root(tmp_path, "a")
    _cert_b, key_b = _root(tmp_path, "b")
    result = run.play(INSTALL, extra={"root_of_trust_root_cert_path": cert_a, "root_of_trust_root_key_path": key_b},
                      timeout=RUN_TIMEOUT)
    refused(result, "root_of_trust_root_cert_path / root_of_trust_root_key_path: root_key_path %s is not the key "
                    "of root_cert_path %s" % (key_b, cert_a))


@pytest.fixture
def read_only_kubeconfig(control_plane, tmp_path):
    """A kubeconfig whose cluster2 context authenticates as a ServiceAccount bound to ClusterRole view."""
    name = "gloomesh-read-only"
    with control_plane.api_client("cluster2") as api:
        core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
        core.create_namespaced_service_account("default", {"metadata": {"name": name}})
        rbac.create_cluster_role_binding({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]})
        token = core.create_namespaced_service_account_token(
            name, "default", {"spec": {"expirationSeconds": 3600}}).status.token
        config = control_plane.kubeconfig()
        config["users"].append({"name": name, "user": {"token": token}})
        for context in config["contexts"]:
            if context["name"] == "cluster2":
                context["context"]["user"] = name
        yield kubeconfig_file(tmp_path, config, "read-only-kubeconfig")
        rbac.delete_cluster_role_binding(name)
        core.delete_namespaced_service_account(name, "default")


def test_a_credential_that_may_only_read_is_refused_naming_what_it_may_not_do(control_plane, audit, tmp_path,
                                                                              read_only_kubeconfig):
    run = faults.LoggedRun(control_plane, tmp_path, ["cluster1", "cluster2"])
    result = run.play(INSTALL, run.inventory(host_vars={"cluster2": {"kubeconfig": read_only_kubeconfig}}),
                      timeout=RUN_TIMEOUT)
    out = refused(result, "cluster2: cluster cluster2: the credential of this context may not create namespaces, "
                          "patch namespaces, create secrets in namespace istio-system",
                  "patch gateways.gateway.networking.k8s.io in namespace istio-eastwest")
    assert not re.search(r"cluster1: cluster cluster1: the credential", out), out


@pytest.mark.parametrize("group", [None, {"hosts": {}}], ids=["null", "empty"])
def test_an_empty_or_null_workload_group_fails_naming_it(control_plane, audit, tmp_path, group):
    run = faults.LoggedRun(control_plane, tmp_path, ["cluster1", "cluster2"])
    inventory = {"all": {"children": {"workload_clusters": group, "others": {"hosts": {"not-a-cluster": {}}}}}}
    result = run.play(INSTALL, inventory, timeout=RUN_TIMEOUT)
    refused(result, "inventory group workload_clusters: the group of workload clusters is empty, null or missing")


@pytest.mark.parametrize("text, expected", [
    ("5\n", "must be a kubeconfig: a YAML mapping with clusters, contexts and users; it holds a number (5)"),
    ("clusters: cluster2\n", "is not a kubeconfig: clusters must be a list of mappings (name: ...), not a string"),
])
def test_a_kubeconfig_of_the_wrong_type_is_named_with_what_was_expected(control_plane, audit, tmp_path, text, expected):
    run = faults.LoggedRun(control_plane, tmp_path, ["cluster1", "cluster2"])
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    result = run.play(INSTALL, run.inventory(host_vars={"cluster2": {"kubeconfig": str(path)}}), timeout=RUN_TIMEOUT)
    out = refused(result, "cluster2: kubeconfig %r %s" % (str(path), expected))
    assert "not iterable" not in out, out
