"""What preflight refuses before the first write, issue 22: one cluster behind two names (item 1),
explicit root files that do not match, an empty group (item 4); and the service_mesh module's
refusal to change a live controller's cluster or network (item 1). No cluster."""
from __future__ import annotations

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import service_mesh
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import inventory_inputs as inputs

GOOD_INVENTORY = {"gloomesh_istio_version": "1.25.2", "gloomesh_license_key": "a-license"}


def _root(directory, name):
    key = certificates.generate_key("ecdsa-p256")
    cert = certificates.build_root(key, "test", name, 30)
    (directory / (name + "-cert.pem")).write_text(certificates.cert_pem(cert))
    (directory / (name + "-key.pem")).write_text(certificates.key_pem(key))
    return str(directory / (name + "-cert.pem")), str(directory / (name + "-key.pem"))


def test_explicit_root_files_that_do_not_match_are_refused_naming_both(tmp_path):
    cert_a, key_a = _root(tmp_path, "a")
    _cert_b, key_b = _root(tmp_path, "b")
    matching = dict(GOOD_INVENTORY, root_of_trust_root_cert_path=cert_a, root_of_trust_root_key_path=key_a)
    assert inputs.inventory_problems(matching) == []
    problems = inputs.inventory_problems(dict(matching, root_of_trust_root_key_path=key_b))
    assert problems == ["root_of_trust_root_cert_path / root_of_trust_root_key_path: root_key_path %s is not "
                        "the key of root_cert_path %s" % (key_b, cert_a)], problems


def test_an_explicit_root_file_overrides_its_half_of_gloomesh_pki_dir(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    cert, _key = _root(tmp_path, "a")
    _cert_b, key_b = _root(tmp_path, "b")
    (pki / "root-key.pem").write_text(open(key_b).read())
    problems = inputs.inventory_problems(dict(GOOD_INVENTORY, gloomesh_pki_dir=str(pki), root_of_trust_root_cert_path=cert))
    assert len(problems) == 1 and "is not the key of root_cert_path %s" % cert in problems[0], problems
    # Only one half given and the other missing: which one is missing is named.
    problems = inputs.inventory_problems(dict(GOOD_INVENTORY, root_of_trust_root_cert_path=cert,
                                              root_of_trust_root_key_path=str(tmp_path / "nope.pem")))
    assert problems and "holds only a-cert.pem" in problems[0] and str(tmp_path / "nope.pem") + " is missing" in problems[0]
    # A directory is said to be one, with the variable's name.
    problems = inputs.inventory_problems(dict(GOOD_INVENTORY, root_of_trust_root_cert_path=str(tmp_path)))
    assert problems == ["root_of_trust_root_cert_path %r is a directory; give the path of a PEM file (created when "
                        "neither the certificate nor the key exists)" % str(tmp_path)], problems


@pytest.mark.parametrize("workload", [[], None])
def test_an_empty_or_null_workload_group_is_named(workload):
    problems = inputs.group_problems(workload, [], "manual", "my_clusters")
    assert problems == ["inventory group my_clusters: the group of workload clusters is empty, null or missing: "
                        "add the clusters of the mesh to it"]
    assert problems[0] in inputs.topology_problems({}, workload or [], [], "manual", "my_clusters")


def identity(uid=None, server="https://10.0.0.1:6443", ca="ca1"):
    return {"uid": uid, "server": server, "ca": ca}


def test_two_hosts_that_reach_one_cluster_are_refused():
    same_uid = {"cluster1": identity("u1"), "c1-alias": identity("u1", server="https://c1.example:6443"),
                "cluster2": identity("u2", server="https://10.0.0.2:6443")}
    assert inputs.same_cluster_problems(same_uid) == [
        "c1-alias and cluster1 reach the same cluster (kube-system namespace UID u1): each cluster is listed "
        "once; remove one of them from the inventory"]
    # Without the UID (kube-system not readable): the same API server URL and CA.
    assert inputs.same_cluster_problems({"a": identity(), "b": identity(uid="u9")}) == [
        "a and b reach the same cluster (API server https://10.0.0.1:6443, same CA): each cluster is listed once; "
        "remove one of them from the inventory"]
    # Different UIDs behind one address (a tunnel re-pointed), or another CA: two clusters.
    assert inputs.same_cluster_problems({"a": identity("u1"), "b": identity("u2")}) == []
    assert inputs.same_cluster_problems({"a": identity(), "b": identity(ca="ca2")}) == []


def controller(cluster="cluster1", network="cluster1", manager="gloomesh"):
    """A live controller whose cluster and network `manager` applied."""
    owned = {"manager": manager, "operation": "Apply",
             "fieldsV1": {"f:spec": {"f:cluster": {}, "f:network": {}, "f:version": {}}}}
    return {"metadata": {"name": "managed-istio", "namespace": "gloo-mesh", "managedFields": [owned]},
            "spec": {"cluster": cluster, "network": network, "version": "1.25.2"}}


def test_service_mesh_refuses_to_change_a_live_controllers_cluster_or_network_naming_both_values():
    with pytest.raises(GloomeshError) as raised:
        service_mesh.refuse_identity_change(controller(), controller("c1-alias", "c1-alias"), False)
    message = raised.value.message
    assert "already belongs to cluster 'cluster1'" in message, message
    assert "spec.cluster from 'cluster1' to 'c1-alias' and spec.network from 'cluster1' to 'c1-alias'" in message
    assert "allow_cluster_change=true" in message
    with pytest.raises(GloomeshError, match="spec.network from 'cluster1' to 'net2'"):
        service_mesh.refuse_identity_change(controller(), controller(network="net2"), False)
    # Told to, a new controller, or nothing changing: no refusal.
    service_mesh.refuse_identity_change(controller(), controller("c1-alias", "c1-alias"), True)
    service_mesh.refuse_identity_change(None, controller("c1-alias"), False)
    service_mesh.refuse_identity_change(controller(), controller(), False)
    # A value another field manager wrote is a hand edit: the apply's conflict rule decides it.
    service_mesh.refuse_identity_change(controller(network="hand-edited", manager="kubectl-edit"), controller(), False)
