"""Fixtures of the east-west gateway and mesh_link tests on the shared session clusters."""
from __future__ import annotations

import pytest
from kubernetes import client as k8s

from tests.harness.istiod import start_istiods
from tests.harness.poll import wait_until
from tests.integration.gateway_helpers import (
    CONTEXTS, SMC_GROUP, SMC_PLURAL, SMC_VERSION, TEST_SMC, api, delete_test_objects, istiod_in_istio_system,
    gateway_classes, unique)


@pytest.fixture(scope="module")
def istiod(control_plane):
    """istiod (revision gloo) in istio-system of every cluster, as the ServiceMeshController installs
    it; yields the upstream istiods (None on GLOOMESH_TEST_KUBECONFIG clusters, whose istiod is real).

    Upstream pilot-discovery is each cluster's istiod for the module (tests/harness/istiod.py
    with_deployment): the pod of the Deployment istiod-gloo the operator simulator creates. It
    deploys the east-west gateways, writes the Gateways' status and is read back through its debug
    endpoints (`expect_network_gateways`); the simulators' istiod steps aside in these clusters
    until the module ends. Reuses a running istiod-gloo; otherwise applies a ServiceMeshController
    (cluster = network = context) and removes it at the end. Automatic peering must be off: its
    Gateways would be foreign peers for the clusters these tests link.
    """
    sims = control_plane.simulators
    fleet = None
    if sims is not None:
        fleet = start_istiods(control_plane, contexts=CONTEXTS, with_deployment=True, wait=False)
    try:
        created = _install_istiod(control_plane)
        try:
            for context in CONTEXTS if fleet else ():
                fleet[context].wait_rolled_out(120)
            yield fleet
        finally:
            _uninstall_istiod(control_plane, created)
    finally:
        if fleet is not None:
            fleet.stop()
            for context in CONTEXTS:
                sims.set_istiod(context, "simulated")


def _install_istiod(control_plane) -> list[str]:
    """Apply the test ServiceMeshController where istiod-gloo is missing; the contexts it went to."""
    created = []
    for context in CONTEXTS:
        if istiod_in_istio_system(control_plane, context) is None:
            k8s.CustomObjectsApi(api(control_plane, context)).create_namespaced_custom_object(
                SMC_GROUP, SMC_VERSION, "gloo-mesh", SMC_PLURAL, {
                    "apiVersion": "%s/%s" % (SMC_GROUP, SMC_VERSION), "kind": "ServiceMeshController",
                    "metadata": {"name": TEST_SMC},
                    "spec": {"cluster": context, "network": context, "version": "1.25.2",
                             "dataplaneMode": "Ambient", "installNamespace": "istio-system",
                             "scalingProfile": "Demo"}})
            created.append(context)
    for context in CONTEXTS:
        dep = wait_until(lambda: istiod_in_istio_system(control_plane, context), "istiod-gloo in %s" % context, 60)
        wait_until(lambda: gateway_classes(control_plane, context), "GatewayClasses in %s" % context, 30)
        env = {e.name: e.value for c in dep.spec.template.spec.containers for e in (c.env or [])}
        assert env.get("PEERING_AUTOMATIC_LOCAL_GATEWAY") != "true", (
            "automatic peering is on in %s (left by another test?)" % context)
    return created


def _uninstall_istiod(control_plane, created):
    for context in created:
        k8s.CustomObjectsApi(api(control_plane, context)).delete_namespaced_custom_object(
            SMC_GROUP, SMC_VERSION, "gloo-mesh", SMC_PLURAL, TEST_SMC)
    # The next module must not mistake the istiod being uninstalled for a running one.
    for context in created:
        wait_until(lambda: istiod_in_istio_system(control_plane, context) is None,
                   "istiod-gloo removed from %s" % context, 30)


@pytest.fixture
def scratch(control_plane):
    """Unique namespace names; what the test created in them is deleted when it ends."""
    used = []

    def make(prefix, contexts=CONTEXTS):
        name = unique(prefix)
        used.extend((context, name) for context in contexts)
        return name

    yield make
    for context, namespace in used:
        delete_test_objects(control_plane, context, namespace)
