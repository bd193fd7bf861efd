"""The local control plane: real API servers, kubernetes.core and the Python client, audit counting, clean stop."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.harness import controlplane, crds
from tests.harness.collection_path import REPO_ROOT
from tests.harness.controlplane import (ControlPlaneError, LocalControlPlane, process_state, read_state,
                                        start_background, start_environment)
from tests.harness.demo import inventory
from tests.harness.playbook_run import run_playbook

SMOKE_PLAYBOOK = os.path.join(REPO_ROOT, "tests", "integration", "kubernetes_core_smoke.yml")
EXTERNAL = bool(os.environ.get("GLOOMESH_TEST_KUBECONFIG"))


def _namespace(api_client) -> str:
    """A namespace of this test (namespaces are never deleted: nothing would finalize them)."""
    name = f"harness-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_three_api_servers_answer_separately(control_plane):
    assert len(control_plane.contexts) >= 3
    if getattr(control_plane, "startup_seconds", None):
        print(f"\n{len(control_plane.contexts)} local clusters ready in {control_plane.startup_seconds:.1f}s")
    marker = f"only-in-{control_plane.contexts[0]}-{uuid.uuid4().hex[:6]}"
    for index, context in enumerate(control_plane.contexts):
        with control_plane.api_client(context) as api:
            assert client.VersionApi(api).get_code().git_version.startswith("v1.")
            names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items]
            assert "default" in names
            if index == 0:
                client.CoreV1Api(api).create_namespace({"metadata": {"name": marker}})
            else:
                assert marker not in names, "clusters must not share objects (one etcd prefix each)"


def test_gateway_api_crds_accept_the_collections_gateways(control_plane):
    with control_plane.api_client("cluster1") as api:
        names = {c.metadata.name for c in client.ApiextensionsV1Api(api).list_custom_resource_definition().items}
        assert {"gateways.gateway.networking.k8s.io", "gatewayclasses.gateway.networking.k8s.io"} <= names
        ns = _namespace(api)
        listeners = [{"name": "cross-network", "port": 15008, "protocol": "HBONE", "tls": {"mode": "Passthrough"}},
                     {"name": "xds-tls", "port": 15012, "protocol": "TLS", "tls": {"mode": "Passthrough"}}]
        # A class no simulator handles: this test checks the schema, not a controller.
        gateway = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                   "metadata": {"name": "istio-remote-peer-cluster2", "namespace": ns,
                                "labels": {"topology.istio.io/network": "cluster2"}},
                   "spec": {"gatewayClassName": "harness-test-class", "listeners": listeners,
                            "addresses": [{"type": "IPAddress", "value": "172.18.0.10"}]}}
        created = client.CustomObjectsApi(api).create_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", ns, "gateways", gateway)
    assert created["spec"]["addresses"] == gateway["spec"]["addresses"]
    assert created["spec"]["listeners"][1]["tls"] == {"mode": "Passthrough"}


def test_python_client_create_and_server_side_apply_are_counted_per_cluster(control_plane, audit):
    with control_plane.api_client("cluster1") as api:
        core = client.CoreV1Api(api)
        ns = _namespace(api)
        mark = audit.mark()
        core.create_namespaced_config_map(ns, {"metadata": {"name": "created"}, "data": {"a": "1"}})
        applied = core.patch_namespaced_config_map(
            "applied", ns, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
                            "data": {"b": "2"}},
            field_manager="harness-test", _content_type="application/apply-patch+yaml")

    assert applied.data == {"b": "2"}
    assert [(m.manager, m.operation) for m in applied.metadata.managed_fields] == [("harness-test", "Apply")]
    writes = audit.writes(mark, "cluster1")
    assert [(w["verb"], w["objectRef"]["name"]) for w in writes] == [("create", "created"), ("patch", "applied")]
    assert all(w["context"] == "cluster1" for w in writes)
    assert audit.writes(mark, "cluster2") == []


def test_audit_ignores_dry_runs_reads_and_the_simulator_user(control_plane, audit):
    with control_plane.api_client("cluster2") as api:
        ns = _namespace(api)
    mark = audit.mark()
    with control_plane.api_client("cluster2") as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}}, dry_run="All")
        core.list_namespaced_config_map(ns)
        with pytest.raises(ApiException) as missing:
            core.read_namespaced_config_map("dry", ns)
        assert missing.value.status == 404, "a dry run stores nothing"
    with control_plane.api_client("cluster2", simulator=True) as sim:
        client.CoreV1Api(sim).create_namespaced_config_map(ns, {"metadata": {"name": "by-simulator"}})
    assert audit.writes(mark) == []

    with control_plane.api_client("cluster2") as api:
        client.CoreV1Api(api).delete_namespaced_config_map("by-simulator", ns)
    (write,) = audit.writes(mark)
    assert (write["verb"], write["context"], write["user"]["username"]) == ("delete", "cluster2", "admin")


def test_kubernetes_core_playbook_creates_with_server_side_apply(control_plane, audit):
    """The demo's smoke playbook: kubernetes.core against every cluster host of the demo inventory."""
    mark = audit.mark()

    result = run_playbook(SMOKE_PLAYBOOK, inventory({"kubeconfig": control_plane.kubeconfig_path}))

    assert result["rc"] == 0, result["stdout"][-3000:] + result["stderr"][-2000:]
    assert set(result["recap"]) == {"cluster1", "cluster2", "mgmt"}
    assert all(counts["failed"] == 0 for counts in result["recap"].values())
    for context in ("cluster1", "cluster2", "mgmt"):
        with control_plane.api_client(context) as api:
            cm = client.CoreV1Api(api).read_namespaced_config_map("gloomesh-demo", "default")
        assert cm.data == {"cluster": context,
                           "groups": "management_cluster" if context == "mgmt" else "workload_clusters"}
        assert ("gloomesh-demo", "Apply") in {(m.manager, m.operation) for m in cm.metadata.managed_fields}
        applies = [w for w in audit.writes(mark, context) if w["objectRef"].get("name") == "gloomesh-demo"]
        assert applies
        assert all(w["verb"] == "patch" and "fieldManager=gloomesh-demo" in w["requestURI"] for w in applies)


def test_stop_leaves_no_process_and_no_workdir(make_control_plane):
    cp = make_control_plane(names=("solo",), simulators=False)
    pids = cp.pids()
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)

    cp.stop()

    assert not any(_alive(pid) for pid in pids)
    assert not os.path.exists(cp.workdir)
    cp.stop()  # idempotent: the fixture's teardown calls it again


def test_missing_binaries_name_the_folder_and_make_assets(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    with pytest.raises(ControlPlaneError, match=r"kube-apiserver and etcd in .*make assets"):
        LocalControlPlane(("solo",)).start()


@pytest.mark.clusters
@pytest.mark.skipif(EXTERNAL, reason="starts local clusters; GLOOMESH_TEST_KUBECONFIG is set")
def test_background_start_that_times_out_leaves_no_process(tmp_path, monkeypatch):
    """A serve that is not ready in time is stopped with everything it started (its session), even
    one that ignores SIGTERM: here a stand-in interpreter that ignores it and starts a child."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/bash\ntrap '' TERM\nsleep 600 &\nwait\n")
    fake.chmod(0o755)
    started = []

    class RecordingPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self.pid)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    monkeypatch.setattr(sys, "executable", str(fake))
    monkeypatch.setattr(controlplane, "STOP_GRACE", 1.0)
    with pytest.raises(ControlPlaneError, match="not ready after 1s"):
        start_background(str(tmp_path / "state"), names=("solo",), timeout=1.0)
    assert len(started) == 1
    assert _session_members(started[0]) == []


def _session_members(sid: int) -> list:
    members = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            state, _ppid, _pgrp, session = controlplane.stat_fields(int(entry))[:4]
        except (OSError, ValueError):
            continue
        if session == str(sid) and state != "Z":  # a zombie is dead already (its reaper may be slow)
            members.append(int(entry))
    return members


@pytest.mark.clusters
@pytest.mark.skipif(EXTERNAL, reason="starts local clusters; GLOOMESH_TEST_KUBECONFIG is set")
def test_cli_up_and_down_in_the_background(tmp_path):
    state_dir = str(tmp_path / "state")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tests.harness", *args, "--state-dir", state_dir],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, check=False)

    up = cli("up", "--clusters", "solo", "--no-simulators")
    try:
        assert up.returncode == 0, up.stderr
        state = read_state(state_dir)
        assert up.stdout.strip() == state["kubeconfig"] == os.path.join(state_dir, "kubeconfig")
        assert state["contexts"] == ["solo"]
        assert len(state["processes"]) == 3  # the background process, etcd, one API server
        assert all(_alive(p["pid"]) for p in state["processes"])
        with config.new_client_from_config(config_file=state["kubeconfig"], context="solo") as api:
            assert "gateways.gateway.networking.k8s.io" in {
                c.metadata.name for c in client.ApiextensionsV1Api(api).list_custom_resource_definition().items}
        again = cli("up", "--clusters", "solo", "--no-simulators")
        assert again.returncode == 0 and read_state(state_dir)["pid"] == state["pid"], "up is idempotent"
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert not any(_alive(p["pid"]) for p in state["processes"])
    assert not os.path.exists(os.path.join(state_dir, "state.json"))
    assert not os.path.exists(state["workdir"])


@pytest.mark.parametrize("version", ["compact", "v1.3.0", "v1.5.1", "v1.6.1"])
def test_gateway_api_files_are_accepted_by_the_local_servers(control_plane, version):
    """The compact fallback fixture and the upstream bundles pass a server-side dry-run apply as
    they ship (CEL rules included)."""
    path = crds.COMPACT_GATEWAY_API if version == "compact" else crds.upstream_bundle(version)
    if path is None:
        pytest.skip(f"upstream Gateway API {version} needs ../shared/fixtures/gateway-api")
    with control_plane.api_client("cluster1") as api:
        ext = client.ApiextensionsV1Api(api)
        for doc in crds.load_documents(path):
            if doc["kind"] != "CustomResourceDefinition":
                continue
            ext.patch_custom_resource_definition(doc["metadata"]["name"], doc, dry_run="All", force=True,
                                                 field_manager=crds.FIELD_MANAGER,
                                                 _content_type="application/apply-patch+yaml")


def _version(cp, context, timeout=2.0):
    """GET /version as admin; raises on a hung or dead server."""
    with cp.api_client(context) as api:
        return client.VersionApi(api).get_code(_request_timeout=timeout).git_version


def test_fault_controls_freeze_thaw_kill_and_restart_on_the_same_port_with_the_same_data(make_control_plane):
    cp = make_control_plane(names=("solo",), simulators=True)
    with cp.api_client("solo") as api:
        ns = _namespace(api)
    url, pid = cp.server_url("solo"), cp.server_pid("solo")

    cp.freeze("solo")
    assert cp.frozen("solo") and cp.running("solo") and process_state(pid) == "T"
    began = time.monotonic()
    with pytest.raises(Exception) as hung:
        _version(cp, "solo", timeout=1.0)
    assert "timed out" in str(hung.value).lower() and time.monotonic() - began < 5
    mark = cp.audit_mark()
    assert cp.writes_since(mark) == []  # reads the log without asking the frozen server
    cp.thaw("solo")
    assert not cp.frozen("solo") and _version(cp, "solo").startswith("v1.")

    cp.kill("solo")
    assert not cp.running("solo") and cp.server_pid("solo") is None and not _alive(pid)
    with pytest.raises(Exception) as refused:
        _version(cp, "solo")
    assert "refused" in str(refused.value).lower()
    cp.restart("solo")
    assert cp.server_url("solo") == url and cp.server_pid("solo") != pid
    with cp.api_client("solo") as api:
        assert client.CoreV1Api(api).read_namespace(ns).metadata.name == ns  # same etcd data
        # The simulators reconnect: a Deployment created after the restart becomes available.
        client.AppsV1Api(api).create_namespaced_deployment(ns, {
            "metadata": {"name": "after-restart"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}},
                                  "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1"}]}}}})
        deadline = time.monotonic() + 30
        while not (client.AppsV1Api(api).read_namespaced_deployment(
                "after-restart", ns).status.available_replicas or 0):
            assert time.monotonic() < deadline, "the workloads simulator did not reconnect"
            time.sleep(0.1)
    restarted = cp.server_pid("solo")
    cp.restart("solo")  # a running server is killed first
    assert not _alive(restarted) and cp.server_url("solo") == url and _version(cp, "solo").startswith("v1.")

    # stop() thaws before it terminates: nothing stays behind, stopped or not.
    cp.freeze("solo")
    pids = cp.pids()
    began = time.monotonic()
    cp.stop()
    assert time.monotonic() - began < 20
    assert not any(_alive(p) for p in pids)


def test_fault_controls_name_an_unknown_cluster(make_control_plane):
    cp = make_control_plane(names=("solo",), simulators=False)
    for control in (cp.freeze, cp.thaw, cp.kill, cp.restart):
        with pytest.raises(ControlPlaneError, match="no cluster 'nope': expected one of solo"):
            control("nope")


@pytest.mark.parametrize("args, message", [
    (["--load-balancer", "cluster2=down"], "expected CONTEXT=MODE with MODE one of ready, slow, none"),
    (["--load-balancer", "cluster2=slow:soon"], "DELAY must be a number of seconds"),
    (["--mesh-configmap", "cluster1=none"], "MODE one of full, absent"),
    (["--mesh-configmap", "elsewhere=absent"], "no cluster elsewhere in --clusters cluster1,cluster2,mgmt"),
    (["--istiod", "cluster1,elsewhere"], "no cluster elsewhere in --clusters cluster1,cluster2,mgmt"),
])
def test_cli_refuses_bad_fault_settings_before_starting_anything(tmp_path, capsys, args, message):
    from tests.harness.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["up", "--state-dir", str(tmp_path), *args])
    assert exited.value.code == 2 and message in capsys.readouterr().err
    assert not os.listdir(tmp_path)


@pytest.mark.clusters
@pytest.mark.skipif(EXTERNAL, reason="starts local clusters; GLOOMESH_TEST_KUBECONFIG is set")
def test_start_environment_applies_fault_settings_before_the_simulators_start():
    cp = start_environment(("solo",), install_operator=False, load_balancers={"solo": ("slow", 2.0)},
                           mesh_configmaps={"solo": "absent"})
    try:
        assert cp.simulators.load_balancer("solo") == ("slow", 2.0)
        assert cp.simulators.mesh_configmap("solo") == "absent"
    finally:
        cp.stop()
