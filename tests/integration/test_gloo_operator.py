"""gloo_operator (module and roles gloo_operator / automatic_peering) against real API servers and
the real helm, behind its recording wrapper, installing our local charts from a chart repository
on 127.0.0.1 (tests/harness/helm_charts.py).

Each test works in namespaces of its own on the session clusters and removes them afterwards.
Write counts come from the audit log and are split by user agent: helm's own writes and the
collection's. The license must never show: not in helm's argv or values, not in any output
channel (default verbosity, -vvv, the json callback), not in facts and not in any file the run
leaves, even when helm fails and echoes its values (a chart whose values ask it to).
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import re
import sys
import threading
import time
import uuid

import pytest

from tests.harness.helm_charts import FAIL_ECHOING_VALUES, HANG_IN_HOOK, chart_vars, install
from tests.harness.helm_charts import read_records as helm_calls
from tests.harness.helm_charts import recorder_env, repository_url
from tests.harness.module_runner import run_module
from tests.harness.playbook_run import LICENSE, run_playbook
from tests.harness.poll import wait_until

CONTEXT = "cluster1"
REF_ENV = "SOLO_ISTIO_LICENSE_KEY_SECRET_REF"
LICENSE_FORMS = (LICENSE, base64.b64encode(LICENSE.encode()).decode())

pytestmark = pytest.mark.skipif(bool(os.environ.get("GLOOMESH_TEST_KUBECONFIG")),
                                reason="the chart's operator runs only on the local clusters' simulators")


# ---------------------------------------------------------------- helpers

def by_helm(event):
    """Written by helm (user agent Helm/...): its release records and the chart's objects."""
    return event.get("userAgent", "").startswith("Helm/")


def ours(writes):
    """The collection's own writes as 'VERB resource/name'."""
    return sorted("%s %s" % (e["verb"].upper(), e["requestURI"].split("?")[0].rsplit("/", 2)[-2] + "/"
                             + e["requestURI"].split("?")[0].rsplit("/", 1)[-1])
                  for e in writes if not by_helm(e))


def helm_secret_writes(writes):
    return sorted("%s %s" % (e["verb"].upper(), e["requestURI"].split("?")[0].rsplit("/", 1)[-1])
                  for e in writes if by_helm(e) and "/secrets" in e["requestURI"])


def no_license(*texts):
    for text in texts:
        text = text if isinstance(text, str) else json.dumps(text)
        for form in LICENSE_FORMS:
            assert form not in text, "the license leaked"


def release_records(cp, context, namespace, name):
    """Helm's release Secrets, decoded here the way helm reads them (util.go, decodeRelease)."""
    from kubernetes import client

    with cp.api_client(context) as api:
        items = client.CoreV1Api(api).list_namespaced_secret(namespace, label_selector=f"owner=helm,name={name}").items
    records = {}
    for secret in items:
        raw = base64.b64decode(base64.b64decode(secret.data["release"]))
        records[int(secret.metadata.labels["version"])] = (secret, json.loads(gzip.decompress(raw)))
    return records


def read(cp, context, kind, namespace, name):
    from kubernetes import client

    with cp.api_client(context) as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        reader = {"Secret": core.read_namespaced_secret, "Deployment": apps.read_namespaced_deployment}[kind]
        try:
            return reader(name, namespace)
        except client.ApiException as err:
            if err.status == 404:
                return None
            raise


def delete_namespaces(cp, context, *namespaces):
    from kubernetes import client

    with cp.api_client(context, simulator=True) as api:
        for namespace in namespaces:
            try:
                client.CoreV1Api(api).delete_namespace(namespace)
            except client.ApiException as err:
                if err.status != 404:
                    raise


# ---------------------------------------------------------------- the module (module path)

@pytest.fixture
def helm_dir(tmp_path, monkeypatch):
    directory = tmp_path / "helm"
    directory.mkdir()
    for key, value in recorder_env(directory, LICENSE).items():
        monkeypatch.setenv(key, value)
    return str(directory)


@pytest.fixture
def op(control_plane, kubeconfig, helm_dir):
    """Module args for an operator release in a namespace of this test; uninstalled afterwards."""
    namespace = "gm-op-" + uuid.uuid4().hex[:6]
    args = {"kubeconfig": kubeconfig, "context": CONTEXT, "namespace": namespace, "license_key": LICENSE,
            "chart": "gloo-operator", "chart_repo_url": repository_url(), "wait_timeout": 120}
    yield args
    run_module("gloo_operator", {"kubeconfig": kubeconfig, "context": CONTEXT, "namespace": namespace,
                                 "state": "absent"})
    delete_namespaces(control_plane, CONTEXT, namespace)


def run(args, check_mode=False, diff=False, **overrides):
    result = run_module("gloo_operator", {**args, **overrides}, check_mode=check_mode, diff=diff)
    no_license(result)
    return result


def test_install_rerun_change_uninstall(op, helm_dir, audit, control_plane):
    cp, ns = control_plane, op["namespace"]
    ref = f"{ns}/gloo-operator-license"
    wanted = {"manager": {"env": {REF_ENV: ref}}}

    # Check mode on nothing: predicted, no write, no helm.
    mark = audit.mark()
    result = run(op, check_mode=True, diff=True)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["actions"] == {"namespace": "created", "license_secret": "created", "release": "installed"}
    assert result["release"] is None and result["values_changed"] == ["manager"]
    release_diff = [d for d in result["diff"] if d["after_header"] == f"release {ns}/gloo-operator"]
    assert release_diff == [{"before": {}, "after": {"chart": "gloo-operator-0.2.3", "values": wanted},
                             "before_header": f"release {ns}/gloo-operator",
                             "after_header": f"release {ns}/gloo-operator"}]
    secret_diff = [d for d in result["diff"] if d["after_header"] == "license_secret"][0]
    assert secret_diff["after"]["data"] == {"gloo-mesh-license-key": "<redacted, changed>"}
    assert audit.writes(mark) == [] and helm_calls(helm_dir) == []

    # Install: our namespace and Secret, one helm call that never sees the key.
    mark = audit.mark()
    result = run(op)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["actions"] == {"namespace": "created", "license_secret": "created", "release": "installed"}
    assert result["release"] == {"name": "gloo-operator", "namespace": ns, "revision": 1, "status": "deployed",
                                 "chart": "gloo-operator", "chart_version": "0.2.3", "app_version": "0.2.3"}
    assert result["deployments"] == [{"name": "gloo-operator", "available": True}]
    assert result["license_secret_ref"] == ref
    writes = audit.writes(mark, CONTEXT)
    assert ours(writes) == [f"PATCH namespaces/{ns}", "PATCH secrets/gloo-operator-license"]
    assert helm_secret_writes(writes) == ["CREATE secrets", "UPDATE sh.helm.release.v1.gloo-operator.v1"]
    (call,) = helm_calls(helm_dir)
    assert call["argv"][:3] == ["upgrade", "gloo-operator", "gloo-operator"] and call["rc"] == 0
    assert call["argv"][call["argv"].index("--repo") + 1] == repository_url()
    assert {"--install", "--reset-values"} <= set(call["argv"]) and call["version"] == "0.2.3"
    assert call["context"] == CONTEXT and call["namespace"] == ns
    assert call["values"] == wanted and call["secret_passed"] is False
    assert "<secret>" not in json.dumps(call), "the license reached helm"
    # What helm recorded, read as helm reads it.
    records = release_records(cp, CONTEXT, ns, "gloo-operator")
    assert list(records) == [1]
    secret, record = records[1]
    assert secret.type == "helm.sh/release.v1" and secret.metadata.name == "sh.helm.release.v1.gloo-operator.v1"
    assert {k: secret.metadata.labels[k] for k in ("owner", "name", "status", "version")} == {
        "owner": "helm", "name": "gloo-operator", "status": "deployed", "version": "1"}
    assert record["config"] == wanted and record["chart"]["metadata"]["version"] == "0.2.3"
    no_license(json.dumps(record))
    license_secret = read(cp, CONTEXT, "Secret", ns, "gloo-operator-license")
    assert license_secret.type == "Opaque"
    assert license_secret.metadata.labels == {"app.kubernetes.io/managed-by": "gloomesh.multicluster"}
    assert base64.b64decode(license_secret.data["gloo-mesh-license-key"]).decode() == LICENSE
    env = read(cp, CONTEXT, "Deployment", ns, "gloo-operator").spec.template.spec.containers[0].env
    assert [(e.name, e.value) for e in env] == [(REF_ENV, ref)]

    # Re-run and check-mode re-run: no helm, no write.
    for check_mode in (False, True):
        mark = audit.mark()
        result = run(op, check_mode=check_mode, diff=True)
        assert result["changed"] is False, result
        assert result["actions"] == {"namespace": "unchanged", "license_secret": "unchanged", "release": "unchanged"}
        assert result["values_changed"] == [] and result["diff"] == []
        assert audit.writes(mark) == []
        assert len(helm_calls(helm_dir)) == 1

    # A value change: predicted in check mode, then one upgrade.
    change = {"values": {"manager": {"env": {"LOG_LEVEL": "debug"}}}}
    mark = audit.mark()
    result = run(op, check_mode=True, **change)
    assert result["changed"] is True and result["actions"]["release"] == "upgraded"
    assert result["values_changed"] == ["manager.env.LOG_LEVEL"]
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == 1
    mark = audit.mark()
    result = run(op, diff=True, **change)
    assert result["changed"] is True and result["release"]["revision"] == 2
    assert result["actions"] == {"namespace": "unchanged", "license_secret": "unchanged", "release": "upgraded"}
    (release_diff,) = result["diff"]
    assert release_diff["before"]["values"] == wanted
    assert release_diff["after"]["values"] == {"manager": {"env": {REF_ENV: ref, "LOG_LEVEL": "debug"}}}
    writes = audit.writes(mark, CONTEXT)
    assert ours(writes) == []
    assert helm_secret_writes(writes) == ["CREATE secrets", "UPDATE sh.helm.release.v1.gloo-operator.v1",
                                          "UPDATE sh.helm.release.v1.gloo-operator.v2"]
    assert len(helm_calls(helm_dir)) == 2
    records = release_records(cp, CONTEXT, ns, "gloo-operator")
    assert {v: s.metadata.labels["status"] for v, (s, _r) in records.items()} == {1: "superseded", 2: "deployed"}
    mark = audit.mark()
    assert run(op, **change)["changed"] is False
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == 2

    # Uninstall: predicted, then helm uninstall; our Secret goes; a second one does nothing.
    mark = audit.mark()
    result = run(op, check_mode=True, state="absent")
    assert result["changed"] is True and result["actions"] == {"release": "uninstalled", "license_secret": "deleted"}
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == 2
    mark = audit.mark()
    result = run(op, state="absent")
    assert result["changed"] is True and result["actions"] == {"release": "uninstalled", "license_secret": "deleted"}
    assert ours(audit.writes(mark, CONTEXT)) == ["DELETE secrets/gloo-operator-license"]
    assert helm_calls(helm_dir)[-1]["argv"][:2] == ["uninstall", "gloo-operator"]
    assert release_records(cp, CONTEXT, ns, "gloo-operator") == {}
    assert read(cp, CONTEXT, "Deployment", ns, "gloo-operator") is None
    mark = audit.mark()
    result = run(op, state="absent")
    assert result["changed"] is False and result["actions"] == {"release": "absent", "license_secret": "absent"}
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == 3


def test_secret_ref_passed_through(op, helm_dir, audit, control_plane):
    ns = op["namespace"]
    assert run(op)["actions"]["release"] == "installed"
    user_ref = dict(op, license_key=None, license_secret_ref="gloo-mesh/license-keys")
    mark = audit.mark()
    result = run(user_ref)
    # The user's reference as given; our Secret with the key is removed.
    assert result["actions"] == {"namespace": "unchanged", "license_secret": "deleted", "release": "upgraded"}
    assert result["values_changed"] == [f"manager.env.{REF_ENV}"]
    assert result["license_secret_ref"] == "gloo-mesh/license-keys"
    assert helm_calls(helm_dir)[-1]["values"] == {"manager": {"env": {REF_ENV: "gloo-mesh/license-keys"}}}
    assert ours(audit.writes(mark, CONTEXT)) == ["DELETE secrets/gloo-operator-license"]
    assert read(control_plane, CONTEXT, "Secret", ns, "gloo-operator-license") is None
    mark = audit.mark()
    result = run(user_ref)
    assert result["changed"] is False and result["actions"]["license_secret"] == "absent"
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == 2


def test_a_folder_named_like_the_chart_does_not_shadow_the_repository(op, helm_dir, tmp_path, monkeypatch):
    # helm installs a local folder named like the chart instead of the --repo chart (helm issue
    # 7862): the module starts helm in a private directory of its own.
    shadow = tmp_path / "gloo-operator"
    shadow.mkdir()
    (shadow / "Chart.yaml").write_text("apiVersion: v2\nname: gloo-operator\nversion: 9.9.9\n")
    monkeypatch.chdir(tmp_path)
    result = run(op)
    assert result["release"]["chart_version"] == "0.2.3", result
    assert helm_calls(helm_dir)[-1]["rc"] == 0


def test_helm_missing_then_not_needed_and_helm_hanging(op, helm_dir, audit, control_plane, monkeypatch):
    # No helm: a clear error, before anything is written.
    helm_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]))
    mark = audit.mark()
    for check_mode in (True, False):
        result = run(op, check_mode=check_mode)
        assert result["failed"] and "the helm binary was not found on the controller's PATH" in result["msg"], result
        assert result["changed"] is False
    assert audit.writes(mark) == []

    monkeypatch.setenv("PATH", helm_path)
    assert run(op)["actions"]["release"] == "installed"
    # Nothing to change: no helm needed, none called.
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]))
    result = run(op)
    assert result["changed"] is False and not result.get("failed"), result

    # helm blocked (in a hook Job nothing runs) is stopped at helm_timeout and named. Stopped by
    # SIGTERM, helm cancels: it marks its new revision failed and exits, nothing left pending.
    monkeypatch.setenv("PATH", helm_path)
    debug = {"manager": {"env": {"LOG_LEVEL": "debug"}}}
    began = time.monotonic()
    result = run(op, helm_timeout=8, values={**debug, **HANG_IN_HOOK})
    elapsed = time.monotonic() - began
    assert result["failed"] and elapsed < 8 + 2 * 5 + 10, (elapsed, result)
    assert f"helm upgrade --install of release {op['namespace']}/gloo-operator in cluster {CONTEXT} did not " \
           "finish within 8s and was stopped" in result["msg"]
    call = helm_calls(helm_dir)[-1]
    assert call["stopped_by"] == "SIGTERM" and call["rc"] != 0, call
    records = release_records(control_plane, CONTEXT, op["namespace"], "gloo-operator")
    assert {v: s.metadata.labels["status"] for v, (s, _r) in records.items()} == {1: "deployed", 2: "failed"}
    # The next run upgrades from the deployed revision.
    result = run(op, values=debug)
    assert result["actions"]["release"] == "upgraded" and result["release"]["revision"] == 3, result


def _freeze_once_helm_waits_in_its_hook(cp, namespace, frozen_at):
    """A thread that freezes CONTEXT's API server once helm waits on the chart's hook Job (its new
    revision is then recorded pending-install or pending-upgrade), noting when in ``frozen_at``."""
    from kubernetes import client

    def hook_job():
        with cp.api_client(CONTEXT, simulator=True) as api:
            try:
                return client.BatchV1Api(api).read_namespaced_job("gloo-operator-test-hang", namespace)
            except client.ApiException as err:
                if err.status == 404:
                    return None
                raise

    def freeze():
        wait_until(hook_job, "helm's pre-install/pre-upgrade hook Job", timeout=60)
        cp.freeze(CONTEXT)
        frozen_at.append(time.monotonic())

    thread = threading.Thread(target=freeze, daemon=True)
    thread.start()
    return thread


# What a run killed during helm's first install or a later upgrade leaves, and how the next run
# unblocks it: helm rollback to the deployed revision, or helm uninstall when there is none.
KILLED_DURING = {
    "upgrade": {"left": {1: "deployed", 2: "pending-upgrade"}, "recovery": "rolled_back",
                "helm": [["rollback", "gloo-operator", "1"], ["upgrade", "gloo-operator", "gloo-operator"]],
                "warning": "it would be rolled back to revision 1", "revision": 4,
                "after": {1: "superseded", 2: "pending-upgrade", 3: "superseded", 4: "deployed"}},
    "install": {"left": {1: "pending-install"}, "recovery": "uninstalled",
                "helm": [["uninstall", "gloo-operator", "--namespace"], ["upgrade", "gloo-operator", "gloo-operator"]],
                "warning": "it would be uninstalled (no revision of it was ever deployed)", "revision": 1,
                "after": {1: "deployed"}},
}


@pytest.mark.parametrize("during", sorted(KILLED_DURING))
def test_frozen_api_server_during_helm_fails_within_the_request_bound_and_a_rerun_recovers(
        during, op, helm_dir, audit, control_plane):
    from ansible_collections.gloomesh.multicluster.plugins.module_utils import helm

    cp, ns, bound, case = control_plane, op["namespace"], 5, KILLED_DURING[during]
    if during == "upgrade":
        assert run(op)["release"]["revision"] == 1
    debug = {"manager": {"env": {"LOG_LEVEL": "debug"}}}

    # Frozen while helm waits in its hook: the task fails within the request bound, not helm_timeout.
    frozen_at = []
    freezer = _freeze_once_helm_waits_in_its_hook(cp, ns, frozen_at)
    try:
        result = run(op, request_timeout=bound, helm_timeout=120, values={**debug, **HANG_IN_HOOK})
        failed_at = time.monotonic()
    finally:
        freezer.join(70)
        cp.thaw(CONTEXT)
    assert frozen_at and result["failed"], result
    assert result["msg"].startswith(f"helm upgrade --install of release {ns}/gloo-operator in cluster {CONTEXT}: the "
                                    "API server stopped answering while helm ran"), result["msg"]
    assert re.search(rf"cluster {CONTEXT} \(https://[^)]+\): GET /version: no answer (to the connection )?within "
                     rf"{bound}s", result["msg"]), result["msg"]
    assert result["context"] == CONTEXT and result["unreachable"] is True
    # The bound, from what the result says: time without an answer is at most one probe interval
    # plus one request's bound; then helm's stop (SIGTERM, SIGKILL) at most twice KILL_GRACE.
    assert result["unanswered_seconds"] <= helm.PROBE_INTERVAL + bound + 1, result
    assert failed_at - frozen_at[0] < helm.PROBE_INTERVAL + bound + 2 * helm.KILL_GRACE + 5 < 120
    # helm could not write "failed" to a frozen server: it was killed, its revision left pending.
    assert result["killed"] is True and "was killed" in result["msg"]
    records = release_records(cp, CONTEXT, ns, "gloo-operator")
    assert {v: s.metadata.labels["status"] for v, (s, _r) in records.items()} == case["left"]
    calls = len(helm_calls(helm_dir))

    # A re-run while a helm may still be running it: refused before any write, saying when to retry.
    mark = audit.mark()
    result = run(op, request_timeout=bound, helm_timeout=20, values=debug)
    pending = case["left"][max(case["left"])]
    assert result["failed"] and f"Helm release {ns}/gloo-operator in cluster {CONTEXT} is {pending} " \
        f"(revision {max(case['left'])}, begun" in result["msg"], result
    assert "another operation (install/upgrade/rollback) is in progress" in result["msg"]
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == calls
    assert result["retry_in"] == helm.settle_seconds(20, bound) - result["pending"]["age"] > 0
    time.sleep(result["retry_in"] + 1)

    # Check mode predicts the recovery; the run recovers, then upgrades or installs.
    result = run(op, check_mode=True, request_timeout=bound, helm_timeout=20, values=debug)
    assert result["changed"] is True and result["actions"]["pending_release"] == case["recovery"], result
    assert any(f"left {pending} at revision {max(case['left'])}" in w and case["warning"] in w
               for w in result.get("warnings", [])), result
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == calls
    result = run(op, request_timeout=bound, helm_timeout=20, values=debug)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["actions"]["pending_release"] == case["recovery"]
    assert result["actions"]["release"] == ("upgraded" if during == "upgrade" else "installed")
    assert result["release"]["revision"] == case["revision"] and result["release"]["status"] == "deployed"
    assert [c["argv"][:3] for c in helm_calls(helm_dir)[calls:]] == case["helm"]
    records = release_records(cp, CONTEXT, ns, "gloo-operator")
    assert {v: s.metadata.labels["status"] for v, (s, _r) in records.items()} == case["after"]
    assert records[case["revision"]][1]["config"]["manager"]["env"]["LOG_LEVEL"] == "debug"

    # Converged: a second re-run writes nothing and starts no helm.
    mark = audit.mark()
    result = run(op, request_timeout=bound, helm_timeout=20, values=debug)
    assert result["changed"] is False and not result.get("failed"), result
    assert audit.writes(mark) == [] and len(helm_calls(helm_dir)) == calls + 2


# ---------------------------------------------------------------- roles through ansible-playbook

PLAY_GLOO_OPERATOR = """
- hosts: all
  gather_facts: false
  tasks:
    - name: The role, then its module's result kept as a cacheable fact whatever happened
      block:
        - name: Install the operator
          ansible.builtin.include_role:
            name: gloomesh.multicluster.gloo_operator
      rescue:
        - name: Run the module once more to keep its result
          gloomesh.multicluster.gloo_operator:
            namespace: "{{ gloo_operator_namespace }}"
            license_key: "{{ gloomesh_license_key }}"
            chart: "{{ gloo_operator_chart }}"
            chart_repo_url: "{{ gloo_operator_chart_repo_url }}"
            values: "{{ gloo_operator_values | default({}) }}"
          register: again
          ignore_errors: true

        - name: Keep both failures as facts
          ansible.builtin.set_fact:
            cacheable: true
            failure: "{{ ansible_failed_result }}"
            failure_again: "{{ again }}"

        - name: Fail the host
          ansible.builtin.fail:
            msg: "{{ ansible_failed_result.msg }}"
"""

PLAY_AUTOMATIC_PEERING = """
- hosts: all
  gather_facts: false
  roles:
    - gloomesh.multicluster.automatic_peering
"""


class Runs:
    """ansible-playbook runs with every place a run can leave files under this test's tmp_path."""

    def __init__(self, cp, tmp_path):
        self.cp, self.tmp = cp, tmp_path
        self.helm_dir = tmp_path / "helm"
        self.dirs = {name: tmp_path / name for name in ("run-tmp", "ansible-local", "ansible-remote", "facts")}
        for directory in [self.helm_dir, *self.dirs.values()]:
            directory.mkdir()
        self.began = time.time()

    def inventory(self, hosts, management=(), **host_vars):
        def host(name):
            return {"cluster_name": name, "kube_context": name, "kubeconfig": self.cp.kubeconfig_path,
                    "ansible_connection": "local", "ansible_python_interpreter": sys.executable, **host_vars}
        groups = {"workload_clusters": {"hosts": {n: host(n) for n in hosts if n not in management}},
                  "management_cluster": {"hosts": {n: host(n) for n in management}}}
        return {"all": {"children": groups}}

    def play(self, text, inventory, extra=None, verbosity=0, callback=None):
        path = self.tmp / "play.yml"
        path.write_text(text)
        env = {**recorder_env(self.helm_dir, LICENSE), "TMPDIR": str(self.dirs["run-tmp"]),
               "ANSIBLE_LOCAL_TEMP": str(self.dirs["ansible-local"]),
               "ANSIBLE_REMOTE_TEMP": str(self.dirs["ansible-remote"]),
               "ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(self.dirs["facts"])}
        if callback:
            env["ANSIBLE_STDOUT_CALLBACK"] = callback
        mark = self.cp.audit_mark()
        calls = len(helm_calls(self.helm_dir))
        began = time.monotonic()
        result = run_playbook(str(path), inventory, {"gloomesh_license_key": LICENSE, **chart_vars(), **(extra or {})},
                              verbosity=verbosity, env=env)
        result["seconds"] = time.monotonic() - began
        result["writes"] = self.cp.writes_since(mark)
        result["helm_calls"] = helm_calls(self.helm_dir)[calls:]
        no_license(result["stdout"], result["stderr"])
        return result

    def assert_no_license_left(self):
        """No file of the run holds the license: temp dirs, ansible's tmp, facts, ~/.ansible/tmp;
        and helm was never given it, except back to the one release whose own values hold it."""
        places = list(self.dirs.values()) + [os.path.expanduser("~/.ansible/tmp")]
        for place in places:
            for root, _dirs, files in os.walk(place):
                for name in files:
                    path = os.path.join(root, name)
                    if os.path.getmtime(path) < self.began - 1:
                        continue
                    with open(path, "rb") as fh:
                        data = fh.read()
                    for form in LICENSE_FORMS:
                        assert form.encode() not in data, f"the license was left in {path}"
        for call in helm_calls(self.helm_dir):
            if call.get("chart") != "gloo-platform":
                assert call["secret_passed"] is False, call


def test_gloo_operator_role_rerun_without_helm_and_failing_helm_leaks_nothing(control_plane, audit, tmp_path):
    cp = control_plane
    runs = Runs(cp, tmp_path)
    ns = "gm-role-" + uuid.uuid4().hex[:6]
    inventory = runs.inventory(["cluster1", "cluster2"], gloo_operator_namespace=ns)
    try:
        # helm fails and echoes its values, at every verbosity and through the json callback.
        failing = {"gloo_operator_values": FAIL_ECHOING_VALUES}
        for verbosity, callback in ((0, None), (3, None), (0, "ansible.posix.json")):
            result = runs.play(PLAY_GLOO_OPERATOR, inventory, extra=failing, verbosity=verbosity, callback=callback)
            assert result["rc"] != 0, result["stdout"][-3000:]
            out = result["stdout"]
            assert ("failed (exit code 1): Error: execution error at (gloo-operator/templates/test-faults.tpl"
                    in out), out[-3000:]
            assert f"{REF_ENV}" in out and f"{ns}/gloo-operator-license" in out, "helm's echo was not passed on"
            assert [c["argv"][0] for c in result["helm_calls"]] == ["upgrade"] * 4
        # The failed results were cached as facts of both hosts (and are scanned below).
        facts = sorted(runs.dirs["facts"].iterdir())
        assert [f.name.endswith(("cluster1", "cluster2")) for f in facts] == [True, True], facts
        assert all("exit code 1" in f.read_text() for f in facts)
        runs.assert_no_license_left()

        # Install, then a re-run that starts no helm and writes nothing.
        result = runs.play(PLAY_GLOO_OPERATOR, inventory)
        assert result["rc"] == 0, result["stdout"][-3000:]
        assert sorted(c["context"] for c in result["helm_calls"]) == ["cluster1", "cluster2"]
        result = runs.play(PLAY_GLOO_OPERATOR, inventory, verbosity=3)
        assert result["rc"] == 0 and result["recap"]["cluster1"]["changed"] == 0, result["stdout"][-3000:]
        assert result["helm_calls"] == [] and result["writes"] == []
        # Operator managed elsewhere: the role only waits.
        result = runs.play(PLAY_GLOO_OPERATOR, inventory, extra={"gloomesh_operator_helm": False, "gloomesh_license_key": ""})
        assert result["rc"] == 0 and result["helm_calls"] == [] and result["writes"] == [], result["stdout"][-3000:]
        runs.assert_no_license_left()
    finally:
        _uninstall(runs, inventory, ns)
        for context in ("cluster1", "cluster2"):
            delete_namespaces(cp, context, ns)


def _uninstall(runs, inventory, ns):
    play = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Uninstall
      gloomesh.multicluster.gloo_operator:
        namespace: %s
        state: absent
""" % ns
    result = runs.play(play, inventory)
    assert result["rc"] == 0, result["stdout"][-3000:]


def test_automatic_peering_role(control_plane, audit, tmp_path):
    cp = control_plane
    runs = Runs(cp, tmp_path)
    ns = "gm-peer-" + uuid.uuid4().hex[:6]
    existing = {("cluster1", "gloo-platform-crds"): {"installEnterpriseCrds": False, "keep": {"me": "cluster1"}},
                ("cluster1", "gloo-platform"): {"common": {"cluster": "cluster1"},
                                                "licensing": {"glooMeshLicenseKey": LICENSE}},
                ("cluster2", "gloo-platform-crds"): {"installEnterpriseCrds": False}}
    # The role's settings (its defaults) per release.
    flags = {("cluster1", "gloo-platform-crds"): {"featureGates": {"ConfigDistribution": True},
                                                  "installEnterpriseCrds": True},
             ("cluster1", "gloo-platform"): {"featureGates": {"ConfigDistribution": True}},
             ("cluster2", "gloo-platform-crds"): {"installEnterpriseCrds": True}}
    try:
        for (context, name), values in existing.items():
            install(cp.simulator_kubeconfig_path, context, ns, name, name, "2.7.0", values)
        inventory = runs.inventory(["cluster1", "cluster2"], management=["cluster1"], automatic_peering_namespace=ns)

        # helm fails echoing values that hold the license: it is masked everywhere.
        failing = {"automatic_peering_%s_settings" % kind: {chart: {**settings, **FAIL_ECHOING_VALUES}
                                                            for (where, chart), settings in flags.items()
                                                            if where == context}
                   for kind, context in (("management", "cluster1"), ("workload", "cluster2"))}
        for verbosity in (0, 3):
            result = runs.play(PLAY_AUTOMATIC_PEERING, inventory, extra=failing, verbosity=verbosity)
            assert result["rc"] != 0
            assert '"glooMeshLicenseKey":"********"' in result["stdout"], result["stdout"][-3000:]
        # gloo-platform's own values hold the license: helm gets it back, only in a private file.
        runs.assert_no_license_left()

        result = runs.play(PLAY_AUTOMATIC_PEERING, inventory)
        assert result["rc"] == 0, result["stdout"][-3000:]
        upgrades = {(c["context"], c["chart"]): c for c in result["helm_calls"]}
        assert set(upgrades) == set(flags)
        assert [c["chart"] for c in result["helm_calls"] if c["context"] == "cluster1"] == \
            ["gloo-platform-crds", "gloo-platform"]
        for key, call in upgrades.items():
            assert call["rc"] == 0 and call["namespace"] == ns and call["version"] == "2.7.0", call
            assert call["chart_ref"] == key[1] and call["argv"][call["argv"].index("--repo") + 1] == repository_url()
            kept = json.loads(json.dumps(existing[key]).replace(LICENSE, "<secret>"))
            merged = json.loads(json.dumps(kept))
            for k, v in flags[key].items():
                merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) else v
            assert call["values"] == merged, call["values"]
        # Only helm wrote: the release records.
        assert ours(result["writes"]) == []
        result = runs.play(PLAY_AUTOMATIC_PEERING, inventory, verbosity=3)
        assert result["rc"] == 0 and result["helm_calls"] == [] and result["writes"] == [], result["stdout"][-3000:]
        runs.assert_no_license_left()

        # A cluster without the releases fails, naming the release.
        result = runs.play(PLAY_AUTOMATIC_PEERING, runs.inventory(["cluster2"], automatic_peering_namespace="default"))
        assert result["rc"] != 0 and result["writes"] == []
        assert ("Helm release gloo-platform-crds not found in namespace default of cluster cluster2"
                in result["stdout"]), result["stdout"][-3000:]
    finally:
        for context in ("cluster1", "cluster2"):
            delete_namespaces(cp, context, ns)


def test_reader_reads_real_helm_records(control_plane):
    """The collection's reader (helm.py) reads the release Secrets the real helm writes: every
    revision's record, and the deployed one's values and chart exactly as installed."""
    from ansible_collections.gloomesh.multicluster.plugins.module_utils import helm
    from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import get_cluster

    ns = "gm-seed-" + uuid.uuid4().hex[:6]
    kubeconfig = control_plane.simulator_kubeconfig_path
    try:
        install(kubeconfig, CONTEXT, ns, "rel", "gloo-platform", "2.7.0", {"a": {"b": [1, True]}})
        install(kubeconfig, CONTEXT, ns, "rel", "gloo-platform", "2.7.1", {"a": {"b": [2, "x"], "c": 1.5}})
        cluster = get_cluster({"kubeconfig": control_plane.kubeconfig_path, "context": CONTEXT})
        assert len(helm.release_records(cluster, ns, "rel")) == 2
        assert len(helm.release_records(cluster, ns, "rel", deployed_only=True)) == 1
        release = helm.deployed_release(cluster, ns, "rel")
        assert (release["name"], release["version"], release["info"]["status"]) == ("rel", 2, "deployed")
        assert release["config"] == {"a": {"b": [2, "x"], "c": 1.5}}
        assert release["chart"]["metadata"] == {"apiVersion": "v2", "name": "gloo-platform", "version": "2.7.1",
                                                "appVersion": "2.7.1", "type": "application"}
        assert helm.deployed_release(cluster, ns, "other") is None
    finally:
        delete_namespaces(control_plane, CONTEXT, ns)
