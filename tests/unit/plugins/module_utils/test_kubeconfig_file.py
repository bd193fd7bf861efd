"""A kubeconfig of the wrong YAML type fails naming the file and what was expected, in preflight
and in every module's connection (issue 22 item 6)."""
import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import get_cluster
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import inventory_inputs

WRONG = [
    ("5\n", "must be a kubeconfig: a YAML mapping with clusters, contexts and users; it holds a number (5)"),
    ("- clusters\n", "it holds a list"),
    ("", "it holds nothing (empty)"),
    ("clusters: 3\ncontexts: []\nusers: []\n", "clusters must be a list of mappings (name: ...), not a number (3)"),
    ("contexts: [c1]\n", "contexts must be a list of mappings"),
    ("clusters: [\n", "cannot be read as a kubeconfig (YAML)"),
]


@pytest.mark.parametrize("text, words", WRONG)
def test_preflight_names_the_kubeconfig_file_and_what_it_expected(tmp_path, text, words):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    problems = inventory_inputs.host_problems(
        "h1", {"cluster_name": "cluster1", "kube_context": "cluster1", "kubeconfig": str(path)}, "1.25.2", "istio-system")
    assert any(p.startswith("h1: kubeconfig %r" % str(path)) and words in p for p in problems), problems


@pytest.mark.parametrize("text, words", WRONG)
def test_a_module_connection_names_the_kubeconfig_file_and_what_it_expected(tmp_path, text, words):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(GloomeshError) as raised:
        get_cluster({"kubeconfig": str(path), "context": "cluster1"})
    message = raised.value.message
    assert message.startswith("cluster cluster1: cannot load the connection settings: kubeconfig %r" % str(path)), message
    assert words in message and "not iterable" not in message, message


def test_an_in_memory_kubeconfig_of_the_wrong_shape_is_named(tmp_path):
    with pytest.raises(GloomeshError, match=r"kubeconfig is not a kubeconfig: users must be a list of mappings"):
        get_cluster({"kubeconfig": {"clusters": [], "contexts": [], "users": "admin"}, "context": "cluster1"})


def test_the_kubeconfig_named_by_k8s_auth_kubeconfig_is_the_one_named(tmp_path, monkeypatch):
    """Without the option, kubernetes.core reads $K8S_AUTH_KUBECONFIG: that file is the one named."""
    path, other = tmp_path / "kubeconfig", tmp_path / "other"
    path.write_text("5\n")
    other.write_text("- clusters\n")
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", str(path))
    monkeypatch.setenv("KUBECONFIG", str(other))
    with pytest.raises(GloomeshError) as raised:
        get_cluster({"context": "cluster1"})
    assert "kubeconfig %r must be a kubeconfig" % str(path) in raised.value.message, raised.value.message
