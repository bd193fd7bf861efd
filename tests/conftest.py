"""pytest set-up: the working tree as gloomesh.multicluster, and real Kubernetes clusters as fixtures.

Cluster fixtures start processes only when a test asks for them, so `pytest tests/unit` starts
none. Tests that use them are marked `clusters` (`-m "not clusters"` deselects them).
With GLOOMESH_TEST_KUBECONFIG set, tests run against the clusters it names (contexts cluster1,
cluster2, mgmt; e.g. kind with the real controllers) and nothing is started locally.
"""
from __future__ import annotations

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from tests.harness.collection_path import install_collection_finder  # noqa: E402
from tests.harness.controlplane import DEFAULT_NAMES, start_environment  # noqa: E402

install_collection_finder()

EXTERNAL_KUBECONFIG = os.environ.get("GLOOMESH_TEST_KUBECONFIG")
CLUSTER_FIXTURES = frozenset({"control_plane", "kubeconfig", "audit", "make_control_plane"})


def pytest_configure(config):
    config.addinivalue_line("markers", "clusters: talks to Kubernetes API servers (local ones unless "
                                       "GLOOMESH_TEST_KUBECONFIG is set)")


def pytest_collection_modifyitems(items):
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.clusters)


class ExternalClusters:
    """The clusters named by GLOOMESH_TEST_KUBECONFIG: real controllers, no simulators, no audit log."""

    simulators = None
    simulator_kubeconfig_path = None

    def __init__(self, kubeconfig_path, names=DEFAULT_NAMES):
        self.kubeconfig_path = kubeconfig_path
        self.names = tuple(names)
        self.contexts = self.names

    def api_client(self, context, simulator=False):
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig_path, context=context)


class Audit:
    """Write requests of the collection (user admin) per cluster, read from the API servers' audit logs."""

    def __init__(self, control_plane):
        self._cp = control_plane

    def mark(self) -> dict:
        return self._cp.audit_mark()

    def writes(self, mark: dict, context: str | None = None) -> list[dict]:
        return self._cp.writes_since(mark, context)


@pytest.fixture(scope="session")
def control_plane():
    """cluster1, cluster2 and mgmt with Gateway API + fixture CRDs, simulators and a gloo-operator each."""
    if EXTERNAL_KUBECONFIG:
        yield ExternalClusters(EXTERNAL_KUBECONFIG)
        return
    cp = start_environment(DEFAULT_NAMES)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane) -> str:
    return control_plane.kubeconfig_path


@pytest.fixture
def audit(control_plane):
    if EXTERNAL_KUBECONFIG:
        pytest.skip("counts write requests from the API servers' audit logs, which the "
                    "GLOOMESH_TEST_KUBECONFIG clusters do not expose")
    return Audit(control_plane)


@pytest.fixture
def make_control_plane():
    """Factory for fresh, empty local clusters (CRDs installed), stopped when the test ends."""
    if EXTERNAL_KUBECONFIG:
        pytest.skip("needs fresh local clusters; GLOOMESH_TEST_KUBECONFIG clusters are shared")
    started = []

    def make(names=DEFAULT_NAMES, simulators=True, install_operator=False, load_balancers=None, mesh_configmaps=None,
             istiod=()):
        cp = start_environment(names, simulators=simulators, install_operator=install_operator,
                               load_balancers=load_balancers, mesh_configmaps=mesh_configmaps, istiod=istiod)
        started.append(cp)
        return cp

    yield make
    for cp in started:
        cp.stop()
