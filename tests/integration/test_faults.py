"""Fault tests (issue 10): the real playbooks against local clusters while an API server dies or
freezes, a run is interrupted or overlaps another, objects of ours are edited by hand, or the
connection settings are wrong.

Every test that breaks something gets fresh clusters of its own (2, or 3 where the clusters that
keep working must still be able to link), asserts the write requests the collection sent (audit
log), and never hangs: each run has a deadline (tests/harness/faults.py) and so has every wait.
The faults come from the control plane's fault controls: freeze (SIGSTOP), thaw (SIGCONT), kill,
restart on the same port with the same data (tests/harness/controlplane.py).

A failing helm that echoes its values (the license) is covered where the helm call lives:
tests/integration/test_gloo_operator.py, test_gloo_operator_role_rerun_without_helm_and_failing_helm_leaks_nothing
and test_automatic_peering_role check stdout and stderr at default verbosity, -vvv and the JSON
callback, the run's temp dirs, ansible's local and remote tmp, the fact cache and ~/.ansible/tmp.
"""
from __future__ import annotations

import base64
import json
import re
import signal

import yaml
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import (
    DEFAULT_REQUEST_TIMEOUT,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import (
    WATCH_WINDOW,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s

from tests.harness import faults
from tests.harness.playbook_run import GATEWAY_API, failures
from tests.harness.poll import wait_until

INSTALL = "install_manual_link"
SMC_API = ("operator.gloo.solo.io", "v1", "servicemeshcontrollers")
SMC = ("gloo-mesh", "managed-istio")
EASTWEST = ("istio-eastwest", "istio-eastwest")
# A loaded CI machine (2 cores, many API servers) answers late: room on top of every deadline a
# test waits with (hang guards only; bounds are checked from the run's own log, faults.assert_waited_as_said).
SLACK = 20
# A run never takes longer than this here; a test that waits longer has found a hang.
RUN_TIMEOUT = 300


# -- helpers -------------------------------------------------------------------------------------
def fresh(make_control_plane, tmp_path, names=("cluster1", "cluster2")):
    cp = make_control_plane(names=names, simulators=True, install_operator=False)
    return faults.LoggedRun(cp, tmp_path, names)


def install_until_write(run, context, resource):
    """(background run, its pid): an install started in the background, once it has sent its first
    write of `resource` (plural) to `context`, the moment a fault is injected."""
    mark = run.cp.audit_mark()
    background = faults.Background(run, INSTALL, timeout=RUN_TIMEOUT)
    pid = background.pid()
    faults.wait_for_write(run.cp, mark, context, resource, RUN_TIMEOUT, alive=background.running)
    return background, pid


def succeeded(result, what):
    assert result["rc"] == 0, f"{what} failed (rc={result['rc']}):\n{failures(result)}\n{result['stderr'][-2000:]}"


def written(result, stored_only=False) -> set[tuple[str, str]]:
    """(context, request path) of every write of a run; stored_only: only those the server answered
    with 2xx (a request the interrupt cut off in flight may not have been stored)."""
    return {(e["context"], e["requestURI"].split("?", 1)[0]) for e in result["writes"]
            if not stored_only or 200 <= (e.get("responseStatus") or {}).get("code", 0) < 300}


def described(writes) -> str:
    return "\n".join(f"  {e['context']} {e['verb']} {e['requestURI']} -> {e.get('responseStatus', {}).get('code')}"
                     for e in writes)


def redone(first, rerun) -> set[tuple[str, str]]:
    """Objects a re-run wrote again although the interrupted run had stored them already."""
    return written(first, stored_only=True) & written(rerun)


def errors(result) -> dict[str, list[str]]:
    """{host: [msg of each failed task]} from the run's `fatal: [host]: FAILED! => {...}` lines."""
    found = {}
    for line in result["stdout"].splitlines():
        match = re.match(r"fatal: \[([^\]]+)\]: FAILED! => (\{.*\})$", line)
        if match:
            found.setdefault(match.group(1), []).append(json.loads(match.group(2)).get("msg", ""))
    return found


def assert_one_mesh(run, names):
    """Exactly one of each object per cluster: ServiceMeshController, east-west Gateway, cacerts,
    deployed gloo-operator release, and one peer Gateway per ordered pair of clusters."""
    for name in names:
        controllers = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in run.custom(name, *SMC_API)]
        assert controllers == [SMC], f"{name}: ServiceMeshControllers {controllers}"
        gateways = run.custom(name, *GATEWAY_API)
        classes = [g["spec"]["gatewayClassName"] for g in gateways]
        assert classes.count("istio-eastwest") == 1, f"{name}: {classes}"
        peers = sorted(g["metadata"]["name"] for g in gateways if g["spec"]["gatewayClassName"] == "istio-remote")
        assert peers == sorted(f"istio-remote-peer-{p}" for p in names if p != name), f"{name}: peers {peers}"
        with run.cp.api_client(name) as api:
            core = k8s.CoreV1Api(api)
            cacerts = core.list_secret_for_all_namespaces(field_selector="metadata.name=cacerts").items
            assert [s.metadata.namespace for s in cacerts] == ["istio-system"], f"{name}: cacerts {cacerts}"
            releases = core.list_secret_for_all_namespaces(label_selector="owner=helm,name=gloo-operator").items
            deployed = [s.metadata.name for s in releases if s.metadata.labels.get("status") == "deployed"]
            assert len(deployed) == 1, f"{name}: deployed gloo-operator revisions {deployed}"


def root_of(run, name) -> bytes:
    with run.cp.api_client(name) as api:
        secret = k8s.CoreV1Api(api).read_namespaced_secret("cacerts", "istio-system")
    return base64.b64decode(secret.data["root-cert.pem"])


# -- an API server dies ----------------------------------------------------------------------------
def test_api_server_killed_during_service_mesh_step_rerun_converges_without_duplicates(make_control_plane, tmp_path):
    run = fresh(make_control_plane, tmp_path)
    cp = run.cp
    background, pid = install_until_write(run, "cluster2", "servicemeshcontrollers")
    cp.kill("cluster2")

    first = background.result(RUN_TIMEOUT + SLACK)
    assert first["rc"] != 0
    # Connection refused (or reset): the error says so, no bound had to fire.
    assert faults.assert_waited_as_said(faults.failed_task(run, pid, "cluster2"), "cluster2") == (None, None, None)
    assert first["recap"]["cluster2"]["failed"] == 1
    # cluster1 finished its mesh components; nothing reached cluster2 after the kill.
    assert run.custom("cluster1", *GATEWAY_API, namespace=EASTWEST[0]), "cluster1 did not finish its east-west gateway"

    cp.restart("cluster2")
    rerun = run.play(INSTALL, timeout=RUN_TIMEOUT)
    succeeded(rerun, "re-run after the restart")
    assert "Mesh verified: 2 clusters" in rerun["stdout"]
    assert not redone(first, rerun), "re-run wrote again:\n" + described(rerun["writes"])
    assert_one_mesh(run, ("cluster1", "cluster2"))

    again = run.play(INSTALL, timeout=RUN_TIMEOUT)
    succeeded(again, "second re-run")
    assert again["writes"] == [], described(again["writes"])
    assert all(c["changed"] == 0 for c in again["recap"].values()), again["recap"]


# -- an API server freezes -------------------------------------------------------------------------
def test_frozen_api_server_fails_its_cluster_within_the_bound_and_the_others_finish(make_control_plane, tmp_path):
    names = ("cluster1", "cluster2", "cluster3")
    run = fresh(make_control_plane, tmp_path, names)
    cp = run.cp
    background, pid = install_until_write(run, "cluster2", "servicemeshcontrollers")
    cp.freeze("cluster2")
    try:
        first = background.result(RUN_TIMEOUT + SLACK)
    finally:
        cp.thaw("cluster2")
    assert first["rc"] != 0
    # The wait watches in windows of WATCH_WINDOW seconds and gives a silent stream request_timeout
    # more: the longest a frozen server can hold a task. The error states the bound that fired, and
    # the request waited that long (not the test's clock: a loaded machine stretches that).
    which, stated, _waited = faults.assert_waited_as_said(faults.failed_task(run, pid, "cluster2"), "cluster2",
                                                          most=WATCH_WINDOW + DEFAULT_REQUEST_TIMEOUT)
    assert which is not None, "a frozen server failed cluster2 without a bound firing"
    recap = first["recap"]
    assert recap["cluster2"]["failed"] == 1, recap
    # The others finished their mesh components ...
    for name in ("cluster1", "cluster3"):
        assert [o["metadata"]["name"] for o in run.custom(name, *SMC_API)] == [SMC[1]], name
        assert run.custom(name, *GATEWAY_API, namespace=EASTWEST[0]), f"{name}: no east-west gateway"
    # ... and link with each other, cluster2 being the only failed host of the recap.
    linked = {n: set(run.peers(n)) for n in ("cluster1", "cluster3")}
    assert linked == {"cluster1": {"istio-remote-peer-cluster3"}, "cluster3": {"istio-remote-peer-cluster1"}}, linked
    assert not any(recap[n]["failed"] for n in ("cluster1", "cluster3")), recap

    rerun = run.play(INSTALL, timeout=RUN_TIMEOUT)
    succeeded(rerun, "re-run after the thaw")
    assert "Mesh verified: 3 clusters" in rerun["stdout"]
    assert not redone(first, rerun), "re-run wrote again:\n" + described(rerun["writes"])
    assert_one_mesh(run, names)


# -- a run is interrupted --------------------------------------------------------------------------
def test_sigint_mid_run_ends_the_run_and_a_rerun_converges(make_control_plane, tmp_path):
    run = fresh(make_control_plane, tmp_path)
    background, pid = install_until_write(run, "cluster1", "gateways")
    workers = faults.descendants(pid)
    background.send(signal.SIGINT)  # as `kill -INT`: the ansible-playbook process only

    first = background.result(30 + SLACK)  # ended, or killed and failed
    # ansible-core ends an interrupted run with rc 99 ("User interrupted execution"), or, when the
    # interrupt lands while it waits for results and a worker is gone by then, with rc 1 (ansible/plugins/
    # strategy/__init__.py _wait_on_pending_results: "A worker was found in a dead state").
    said = first["stdout"] + first["stderr"]
    assert (first["rc"], "User interrupted execution" in said) == (99, True) or (
        first["rc"], "A worker was found in a dead state" in said) == (1, True), failures(first)
    wait_until(lambda: not faults.alive(workers), f"the run's processes {workers} to end", 10)

    rerun = run.play(INSTALL, timeout=RUN_TIMEOUT)
    succeeded(rerun, "re-run after SIGINT")
    assert "Mesh verified: 2 clusters" in rerun["stdout"]
    assert not redone(first, rerun), "re-run wrote again:\n" + described(rerun["writes"])
    assert_one_mesh(run, ("cluster1", "cluster2"))


# -- two runs at once ------------------------------------------------------------------------------
def test_two_runs_at_once_end_and_leave_one_mesh_on_one_root_of_trust(make_control_plane, tmp_path):
    names = ("cluster1", "cluster2")
    run = fresh(make_control_plane, tmp_path, names)
    cp = run.cp
    mark = cp.audit_mark()
    first = faults.Background(run, INSTALL, timeout=RUN_TIMEOUT)
    first.pid()
    second = faults.Background(run, INSTALL, timeout=RUN_TIMEOUT)
    second.pid()
    results = [first.result(RUN_TIMEOUT + SLACK), second.result(RUN_TIMEOUT + SLACK)]
    both = cp.writes_since(mark)
    # Whatever lost a race failed naming what it lost to, and wrote nothing twice into a cluster. Two
    # helm installs of one release: the later one's record exists already ("release: already exists").
    for result in results:
        if result["rc"] != 0:
            assert re.search(r"another operation \(install/upgrade/rollback\) is in progress|release: already "
                             r"exists|conflict|lock", failures(result)), failures(result)
    created = [e for e in both if e["verb"] == "create" and e.get("responseStatus", {}).get("code") == 201]
    # Only helm creates: its release records and the chart's objects (the collection applies).
    assert all(e.get("userAgent", "").startswith("Helm/") for e in created), described(created)

    # One root of trust: made once, under the lock, and the one every cluster's cacerts carries.
    pki = tmp_path / "pki"
    assert sorted(p.name for p in pki.iterdir()) == ["root-cert.pem", "root-key.pem", "root-key.pem.lock"]
    root = (pki / "root-cert.pem").read_bytes()
    assert {root_of(run, n) for n in names} == {root}

    third = run.play(INSTALL, timeout=RUN_TIMEOUT)
    succeeded(third, "the run after both")
    if any(r["rc"] == 0 for r in results):
        # One of them finished after the other had started: the mesh was complete already.
        assert third["writes"] == [], described(third["writes"])
    assert "Mesh verified: 2 clusters" in third["stdout"]
    assert_one_mesh(run, names)
    assert (pki / "root-cert.pem").read_bytes() == root


# -- hand edits by another field manager (issue 10.5) ----------------------------------------------
XDS_PORT_FIELD = '.spec.listeners[name="xds-tls"].port'
FORCED_URI = "/apis/%s?fieldManager=gloomesh&force=true"


def _edit_by_hand(cp):
    """cluster1: `kubectl edit` of the ServiceMeshController's network (an update by kubectl-edit);
    cluster2: `kubectl apply --server-side --force-conflicts` of the east-west Gateway's xDS port."""
    with cp.api_client("cluster1") as api:
        k8s.CustomObjectsApi(api).patch_namespaced_custom_object(
            *SMC_API[:2], SMC[0], SMC_API[2], SMC[1], {"spec": {"network": "hand-edited"}},
            field_manager="kubectl-edit", _content_type="application/merge-patch+json")
    _apply_listener(cp, "cluster2", "kubectl", listener("xds-tls", 15999))


def listener(name, port):
    return {"name": name, "port": port, "protocol": "TLS", "tls": {"mode": "Passthrough"}}


def _apply_listener(cp, context, manager, one):
    """Server-side apply of one listener of the east-west Gateway as `manager`, taking it over."""
    body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": EASTWEST[1], "namespace": EASTWEST[0]},
            "spec": {"gatewayClassName": "istio-eastwest", "listeners": [one]}}
    with cp.api_client(context) as api:
        k8s.CustomObjectsApi(api).patch_namespaced_custom_object(
            *GATEWAY_API[:2], EASTWEST[0], GATEWAY_API[2], EASTWEST[1], body, field_manager=manager, force=True,
            _content_type="application/apply-patch+yaml")


def _live(run):
    smc = next(o for o in run.custom("cluster1", *SMC_API) if o["metadata"]["name"] == SMC[1])
    gateway = next(g for g in run.custom("cluster2", *GATEWAY_API, namespace=EASTWEST[0])
                   if g["metadata"]["name"] == EASTWEST[1])
    port = next(li["port"] for li in gateway["spec"]["listeners"] if li["name"] == "xds-tls")
    return smc, gateway, port


def _owners(obj, field):
    """Field managers whose managedFields hold `field` (a fieldsV1 key such as 'f:network')."""
    return sorted(e["manager"] for e in obj["metadata"]["managedFields"] if field in yaml.safe_dump(e.get("fieldsV1")))


def test_hand_edits_by_another_field_manager_are_refused_previewed_and_taken_back(make_control_plane, tmp_path):
    run = fresh(make_control_plane, tmp_path)
    cp = run.cp
    succeeded(run.play(INSTALL, timeout=RUN_TIMEOUT), "install")
    _edit_by_hand(cp)

    # 1. Install stops at the edited objects, naming the manager and the field; the refused apply
    #    is the only write request (409) and nothing follows it.
    refused = run.play(INSTALL, timeout=RUN_TIMEOUT)
    assert refused["rc"] != 0
    out, messages = failures(refused), errors(refused)
    assert re.search(r'ServiceMeshController gloo-mesh/managed-istio .*conflict with "kubectl-edit".*: \.spec\.network;',
                     messages["cluster1"][0]), out
    assert re.search(r'Gateway istio-eastwest/istio-eastwest .*conflict with "kubectl": ' + re.escape(XDS_PORT_FIELD),
                     messages["cluster2"][0]), out
    assert sorted((e["context"], e["verb"], e["responseStatus"]["code"]) for e in refused["writes"]) == [
        ("cluster1", "patch", 409), ("cluster2", "patch", 409)], described(refused["writes"])
    # The advice names the playbook variable too, not only the module option.
    assert all("gloomesh_force_conflicts" in m[0] for m in (messages["cluster1"], messages["cluster2"])), messages

    # 2. --check --diff with the switch shows what would be taken back, and writes nothing.
    preview = run.play(INSTALL, check=True, diff=True, timeout=RUN_TIMEOUT,
                       extra={"gloomesh_force_conflicts": ["servicemeshcontroller", "eastwest_gateway"]})
    succeeded(preview, "check mode with gloomesh_force_conflicts")
    assert preview["writes"] == [], described(preview["writes"])
    for taken in (r'-\s+"network": "hand-edited",\n\+\s+"network": "cluster1",', r'-\s+"port": 15999,\n\+\s+"port": 15012,'):
        assert re.search(taken, preview["stdout"]), f"--diff does not show {taken}:\n{preview['stdout'][-4000:]}"
    assert preview["recap"]["cluster1"]["changed"] >= 1 and preview["recap"]["cluster2"]["changed"] >= 1
    smc, _gateway, port = _live(run)
    assert (smc["spec"]["network"], port) == ("hand-edited", 15999), "check mode changed the objects"

    # 3. The real run with the switch takes the fields back: one forced apply per edited object.
    forced = run.play(INSTALL, timeout=RUN_TIMEOUT, extra={"gloomesh_force_conflicts": True})
    succeeded(forced, "install with gloomesh_force_conflicts")
    assert sorted((e["context"], e["requestURI"]) for e in forced["writes"]) == [
        ("cluster1", FORCED_URI % "operator.gloo.solo.io/v1/namespaces/gloo-mesh/servicemeshcontrollers/managed-istio"),
        ("cluster2", FORCED_URI % "gateway.networking.k8s.io/v1/namespaces/istio-eastwest/gateways/istio-eastwest"),
    ], described(forced["writes"])
    smc, _gateway, port = _live(run)
    assert (smc["spec"]["network"], port) == ("cluster1", 15012)
    assert _owners(smc, "f:network") == ["gloomesh"]
    assert "Mesh verified: 2 clusters" in forced["stdout"]

    # 4. The fields are ours again: a run without the switch writes nothing.
    again = run.play(INSTALL, timeout=RUN_TIMEOUT)
    succeeded(again, "re-run without the switch")
    assert again["writes"] == [], described(again["writes"])

    # 5. A listener another manager adds next to ours is theirs: no conflict, and nothing to write.
    _apply_listener(cp, "cluster2", "platform-team", listener("extra", 15443))
    extra = run.play(INSTALL, timeout=RUN_TIMEOUT)
    succeeded(extra, "re-run with another manager's listener")
    assert extra["writes"] == [], described(extra["writes"])


# -- misleading messages (issue 10.6) ---------------------------------------------------------------
def test_failing_exec_credential_plugin_is_named_before_any_write(control_plane, audit, tmp_path):
    run = faults.LoggedRun(control_plane, tmp_path, ["cluster1", "cluster2"])
    plugin = tmp_path / "expired-login"
    plugin.write_text("#!/bin/sh\necho 'error: refresh token expired; log in again' >&2\nexit 1\n")
    plugin.chmod(0o755)
    config = control_plane.kubeconfig()
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                           "command": str(plugin), "interactiveMode": "Never"}}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))

    result = run.play(INSTALL, run.inventory(host_vars={"cluster2": {"kubeconfig": str(kubeconfig)}}),
                      timeout=RUN_TIMEOUT)
    assert result["rc"] != 0
    out = failures(result)
    assert "cluster2: cluster cluster2: the kubeconfig's credential plugin (users[].user.exec) failed" in out, out
    assert "refresh token expired" in out, out
    assert "system:anonymous" not in out and "403" not in out, out
    assert result["writes"] == [], described(result["writes"])


def test_root_cert_path_that_is_a_directory_is_said_to_be_one_before_any_write(control_plane, audit, tmp_path):
    run = faults.LoggedRun(control_plane, tmp_path, ["cluster1", "cluster2"])
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    # gloomesh_pki_dir whose root-cert.pem is a directory: preflight says so.
    pki = tmp_path / "pki-dir-cert"
    (pki / "root-cert.pem").mkdir(parents=True)
    (pki / "root-key.pem").write_bytes(key)
    result = run.play(INSTALL, extra={"gloomesh_pki_dir": str(pki)}, timeout=RUN_TIMEOUT)
    assert result["rc"] != 0
    out = failures(result)
    assert re.search(r"gloomesh_pki_dir.*is a directory.*" + re.escape(str(pki / "root-cert.pem")), out, re.IGNORECASE), out
    assert result["writes"] == [], described(result["writes"])

    # The root_of_trust role's own variable naming a directory.
    directory = tmp_path / "certs"
    directory.mkdir()
    result = run.play(INSTALL, extra={"root_of_trust_root_cert_path": str(directory)}, timeout=RUN_TIMEOUT)
    assert result["rc"] != 0
    out = failures(result)
    assert result["writes"] == [], described(result["writes"])
    assert re.search(re.escape(str(directory)) + r".{0,40}is a directory", out, re.IGNORECASE), out
