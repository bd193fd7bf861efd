"""The collection's watch (k8s/wait.py) against a real API server: bookmarks and 410 re-lists.

Each test runs one cluster of its own. What the server does is real: the watch cache sends
BOOKMARK events (metadata.resourceVersion only) when other objects of the kind change, and a
watch from a resourceVersion older than etcd's compaction gets 410 Gone (with the watch cache
off, as for a watch the cache cannot serve).
"""
from __future__ import annotations

import threading
import time
import urllib.parse

import pytest
from kubernetes import client as k8s

from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s import wait
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import get_cluster
from tests.conftest import EXTERNAL_KUBECONFIG
from tests.harness.controlplane import LocalControlPlane

pytestmark = pytest.mark.skipif(bool(EXTERNAL_KUBECONFIG), reason="starts local clusters of its own")
CONTEXT = "watch"


def _cluster(*apiserver_args):
    cp = LocalControlPlane((CONTEXT,), apiserver_args=apiserver_args).start()
    with cp.api_client(CONTEXT, simulator=True) as api:
        for name in ("awaited", "busy"):
            k8s.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return cp


def _later(cp, steps):
    """Run the (delay, action) steps in a thread, as another client of the cluster."""
    def run():
        with cp.api_client(CONTEXT, simulator=True) as api:
            core = k8s.CoreV1Api(api)
            for delay, action in steps:
                time.sleep(delay)
                action(core)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _busy(count):
    def action(core):
        for index in range(count):
            core.create_namespaced_config_map("busy", {"metadata": {"generateName": "c%d-" % index}})
    return action


def _create_awaited(core):
    core.create_namespaced_config_map("awaited", {"metadata": {"name": "target"}})


def _wait_for_target(cp):
    cluster = get_cluster({"kubeconfig": cp.kubeconfig_path, "context": CONTEXT})
    return wait.wait_for(cluster, "v1", "ConfigMap", "target", "awaited",
                         lambda obj: (obj is not None, "ConfigMap awaited/target does not exist"), 60,
                         "ConfigMap awaited/target")


def _requests(cp, mark, verb):
    """The collection's (admin's) `verb` requests on ConfigMaps of namespace `awaited`, as query dicts."""
    found = []
    for event in cp.events_since(mark, CONTEXT):
        ref = event.get("objectRef") or {}
        if (event["user"]["username"] == "admin" and event["verb"] == verb
                and ref.get("resource") == "configmaps" and ref.get("namespace") == "awaited"):
            found.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(event["requestURI"]).query)))
    return found


def test_bookmarks_carry_the_watch_across_windows_without_a_relist(monkeypatch):
    cp = _cluster()
    try:
        monkeypatch.setattr(wait, "WATCH_WINDOW", 5)
        writer = _later(cp, [(0.5, _busy(1))] * 12 + [(0.5, _create_awaited)])
        mark = cp.audit_mark()
        obj = _wait_for_target(cp)
        writer.join(30)
        assert obj["metadata"]["name"] == "target"
        lists, watches = _requests(cp, mark, "list"), _requests(cp, mark, "watch")
        assert len(lists) == 1, "re-listed instead of resuming: %s" % lists
        assert all(w.get("allowWatchBookmarks") == "true" for w in watches), watches
        # The second window resumed from a bookmark's resourceVersion, newer than the list's.
        versions = [int(w["resourceVersion"]) for w in watches]
        assert len(versions) >= 2 and versions[1] > versions[0], versions
    finally:
        cp.stop()


def test_a_watch_expired_by_compaction_is_relisted(monkeypatch):
    cp = _cluster("--watch-cache=false")
    try:
        monkeypatch.setattr(wait, "WATCH_WINDOW", 1)
        writer = _later(cp, [(1.5, _busy(3)), (0, lambda _core: cp.compact_etcd()), (2.5, _create_awaited)])
        mark = cp.audit_mark()
        obj = _wait_for_target(cp)
        writer.join(30)
        assert obj["metadata"]["name"] == "target"
        assert len(_requests(cp, mark, "list")) >= 2, "a 410 must be answered with a fresh list"
    finally:
        cp.stop()
