"""plugin_utils/inventory_inputs.py: what preflight refuses before the first write (no cluster)."""
from __future__ import annotations

import datetime
import re

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.modules import gloo_operator
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import inventory_inputs as inputs

GOOD_INVENTORY = {"gloomesh_istio_version": "1.25.2", "gloomesh_license_key": "a-license"}


def host(**overrides):
    variables = {"cluster_name": "cluster1", "kube_context": "cluster1"}
    variables.update(overrides)
    return variables


def host_problems(**overrides):
    return inputs.host_problems("h1", host(**overrides), "1.25.2", "istio-system")


def test_a_good_host_and_inventory_pass():
    assert host_problems() == []
    assert inputs.inventory_problems(GOOD_INVENTORY) == []


@pytest.mark.parametrize("overrides, words", [
    ({"cluster_name": "Cluster_2!"}, "h1: cluster_name 'Cluster_2!' must be 1-63 lowercase letters"),
    ({"cluster_name": None}, "h1: cluster_name is not set"),
    ({"kube_context": ""}, "h1: kube_context is not set"),
    ({"cluster_network": "net 1"}, "h1: cluster_network 'net 1' must be a Kubernetes label value"),
    ({"eastwest_gateway_address": "not an address"}, "h1: eastwest_gateway_address 'not an address' must be"),
    ({"mesh_link_peers": "cluster2"}, "h1: mesh_link_peers 'cluster2' must be a list of cluster names"),
    ({"mesh_link_to": "cluster2"}, "h1: mesh_link_to 'cluster2' must be a list of cluster names"),
    ({"kubeconfig": "/nonexistent/kubeconfig"}, "h1: kubeconfig '/nonexistent/kubeconfig' does not exist"),
    ({"kubeconfig": "/tmp"}, "h1: kubeconfig '/tmp' is a directory"),
    # The service_mesh module's own argument spec and rules, before any write.
    ({"service_mesh_scaling_profile": "Huge"},
     "service_mesh_scaling_profile (module option scaling_profile of servicemeshcontroller): value of scaling_profile "
     "must be one of: Default, Demo, Large, got: Huge"),
    ({"service_mesh_wait_timeout": "soon"}, "service_mesh_wait_timeout (module option wait_timeout of servicemeshcontroller)"),
    ({"service_mesh_allow_cluster_change": "maybe"},
     "service_mesh_allow_cluster_change (module option allow_cluster_change of servicemeshcontroller)"),
    ({"service_mesh_trust_domain": "Bad Domain"}, "h1: service mesh: trust_domain 'Bad Domain' must be a trust domain"),
    ({"service_mesh_extensions": {"peering": "automatic", "beta": {"serviceMeshController": {"multiClusterMode": "X"}}}},
     "conflicts with extensions.peering=automatic"),
])
def test_host_inputs_refused(overrides, words):
    problems = host_problems(**overrides)
    assert any(words in p for p in problems), problems


@pytest.mark.parametrize("variables, words", [
    ({"gloomesh_license_key": "   "}, "gloomesh_license_key is blank"),
    ({"gloomesh_license_key": None}, "no license"),
    ({"gloomesh_license_key": None, "gloomesh_license_secret_ref": "license-keys"},
     "must read <namespace>/<secret name>"),
    ({"gloomesh_istio_version": "1.24.2"}, "multicluster requires Istio 1.24.3 or later"),
    ({"gloomesh_istio_version": None}, "gloomesh_istio_version is not set"),
    ({"gloomesh_gloo_version": "2.6.0"}, "needs Gloo Mesh 2.7 or later"),
    ({"gloomesh_linking": "auto"}, "gloomesh_linking 'auto' must be one of manual, automatic"),
    ({"gloomesh_install_namespace": "Istio_System"}, "gloomesh_install_namespace 'Istio_System' must be a namespace"),
    ({"gloomesh_gateway_api_version": "1.3.0"}, "gloomesh_gateway_api_version '1.3.0' must be a Gateway API release tag"),
    ({"gloomesh_gateway_api_crds": "manage"}, "gloomesh_gateway_api_crds 'manage' must be one of install, skip"),
    ({"upgrade_batch_size": 0}, "upgrade_batch_size 0 must be a whole number of clusters, 1 or more"),
    ({"gloomesh_operator_chart_version": "latest"}, "gloomesh_operator_chart_version 'latest' must be a chart version"),
    ({"gloomesh_force_conflicts": ["service_mesh", "verify"]}, "gloomesh_force_conflicts ['service_mesh', 'verify'] "
                                                               "must be true, false or a list of"),
])
def test_inventory_inputs_refused(variables, words):
    problems = inputs.inventory_problems(dict(GOOD_INVENTORY, **variables))
    assert any(words in p for p in problems), problems


def test_no_license_needed_when_helm_does_not_install_the_operator():
    assert inputs.inventory_problems({"gloomesh_istio_version": "1.25.2", "gloomesh_operator_helm": False}) == []


@pytest.mark.parametrize("value", [False, "0", "no", "off", "n", 0, True, "1", "yes", "on"])
def test_preflight_demands_a_license_exactly_when_the_module_would_run_helm(value):
    """Issue 20 item 5: `-e gloomesh_operator_helm=0` turned Helm off (boolean()) while preflight still
    demanded a license (a list of strings). The gloo_operator module's option helm decides both."""
    helm = ArgumentSpecValidator({"helm": gloo_operator.ARGUMENT_SPEC["helm"]}).validate(
        {"helm": value}).validated_parameters["helm"]
    problems = inputs.inventory_problems({"gloomesh_istio_version": "1.25.2", "gloomesh_operator_helm": value})
    assert any(p.startswith("no license") for p in problems) is helm


@pytest.mark.parametrize("value, helm", [("0", False), (None, True), ("", True), (True, True)])
def test_inventory_values_parse_once(value, helm):
    assert inputs.inventory_values({"gloomesh_operator_helm": value}) == ({"gloomesh_operator_helm": helm}, [])


def test_gloomesh_operator_helm_refused_as_the_module_refuses_it():
    values, problems = inputs.inventory_values({"gloomesh_operator_helm": "maybe"})
    assert values == {"gloomesh_operator_helm": None}
    # ansible-core's own wording: 2.16 says "of type <class 'str'>", 2.19 "of type str".
    assert len(problems) == 1 and re.match(
        r"gloomesh_operator_helm \(module option helm of gloo_operator\): argument 'helm' is of type "
        r"(<class 'str'>|str) and we were unable to convert to bool: The value 'maybe' is not a valid boolean",
        problems[0]), problems


def _write_root(directory, name, key_type="ecdsa-p256"):
    key = certificates.generate_key(key_type)
    cert = certificates.build_root(key, now=datetime.datetime.now(datetime.timezone.utc))
    (directory / "root-cert.pem").write_text(certificates.cert_pem(cert))
    (directory / name).write_text(certificates.key_pem(key))
    return key


def test_root_of_trust_files(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    assert inputs.inventory_problems(dict(GOOD_INVENTORY, gloomesh_pki_dir=str(pki))) == []  # generated later
    _write_root(pki, "root-key.pem")
    assert inputs.inventory_problems(dict(GOOD_INVENTORY, gloomesh_pki_dir=str(pki))) == []
    # A key of another root: the module would refuse to issue with it.
    _write_root(tmp_path, "other-key.pem")
    (pki / "root-key.pem").write_text((tmp_path / "other-key.pem").read_text())
    problems = inputs.inventory_problems(dict(GOOD_INVENTORY, gloomesh_pki_dir=str(pki)))
    assert problems and "is not the key of root_cert_path" in problems[0]
    (pki / "root-key.pem").unlink()
    problems = inputs.inventory_problems(dict(GOOD_INVENTORY, gloomesh_pki_dir=str(pki)))
    assert problems and "holds only root-cert.pem" in problems[0]
    # The certificate path is a directory: say so.
    (pki / "root-cert.pem").unlink()
    (pki / "root-cert.pem").mkdir()
    _write_root(tmp_path, "key-again.pem")
    (pki / "root-key.pem").write_text((tmp_path / "key-again.pem").read_text())
    problems = inputs.inventory_problems(dict(GOOD_INVENTORY, gloomesh_pki_dir=str(pki)))
    assert problems and "Is a directory" in problems[0]


def test_topology():
    hosts = {"a": host(cluster_name="c1", kube_context="ctx1"), "b": host(cluster_name="c1", kube_context="ctx1"),
             "c": host(cluster_name="c3", kube_context="ctx3", mesh_link_peers=["c3", "nope"])}
    problems = inputs.topology_problems(hosts, ["a", "b", "c"], ["c"], "manual")
    assert "cluster_name c1 is used by a, b; every cluster needs a unique name" in problems
    assert "a, b all point at kube_context ctx1: each cluster is listed once" in problems
    assert any(p.startswith("c is in both the workload and the management cluster groups") for p in problems)
    # mesh_link's rule and wording (planning.check_link_to), naming the variable the host set: here
    # mesh_link_peers, the earlier name of mesh_link_to.
    assert "c: mesh_link_peers 'c3' is the cluster itself: a cluster is never linked to itself" in problems
    assert "c: mesh_link_peers 'nope' is not a cluster of this mesh (known: c1, c3)" in problems
    hosts["c"] = host(cluster_name="c3", kube_context="ctx3", mesh_link_to=["c3"], mesh_link_peers=["c1"])
    assert "c: mesh_link_to 'c3' is the cluster itself: a cluster is never linked to itself" in \
        inputs.topology_problems(hosts, ["a", "b", "c"], [], "manual")
    assert any("workload clusters is empty" in p for p in inputs.topology_problems({}, [], [], "manual"))
    assert any("exactly one host in the management cluster group" in p
               for p in inputs.topology_problems(hosts, ["a", "b"], [], "automatic"))


def test_automatic_linking_refuses_an_advertised_address():
    """Issue 20 item 2: Gloo Mesh builds automatic peers from the east-west Gateway's status.addresses,
    so eastwest_gateway_address would be silently ignored: refused before any write, naming both."""
    hosts = {"a": host(cluster_name="c1", kube_context="ctx1", eastwest_gateway_address="203.0.113.7"),
             "b": host(cluster_name="c2", kube_context="ctx2"), "m": host(cluster_name="m", kube_context="ctxm")}
    problems = inputs.topology_problems(hosts, ["a", "b"], ["m"], "automatic")
    assert problems == [
        "a: eastwest_gateway_address '203.0.113.7' cannot be used with gloomesh_linking automatic: Gloo Mesh builds "
        "each peer from the east-west Gateway's status.addresses and ignores this address. Either set "
        "gloomesh_linking: manual (mesh_link writes this address into every peer), or remove "
        "eastwest_gateway_address and give the east-west gateway's LoadBalancer Service an address the other "
        "clusters reach"]
    assert not any("eastwest_gateway_address" in p for p in inputs.topology_problems(hosts, ["a", "b"], [], "manual"))


def test_the_inputs_preflight_reads_are_the_ones_its_role_declares():
    """One list: roles/preflight/meta/argument_specs.yml. Every per-host input it declares has a rule here,
    and every inventory-wide variable the checks read is declared there."""
    per_host, inventory_wide = inputs.declared_inputs()
    assert set(per_host) == set(inputs.HOST_INPUTS)
    with open(inputs.__file__, encoding="utf-8") as fh:
        read = set(re.findall(r"""variables(?:\.get\(|\[)["'](gloomesh_\w+)["']""", fh.read()))
    read |= set(inputs.INVENTORY_MODULE_OPTIONS) | set(inputs.INVENTORY_INPUTS)
    assert "gloomesh_istio_version" in read and read <= set(inventory_wide), read - set(inventory_wide)


def test_mesh_preflight_reads_every_declared_input():
    from ansible_collections.gloomesh.multicluster.plugins.action import mesh_preflight
    per_host, inventory_wide = inputs.declared_inputs()
    assert set(per_host) <= set(mesh_preflight._VARIABLES) and set(inventory_wide) <= set(mesh_preflight._INVENTORY_VARIABLES)
