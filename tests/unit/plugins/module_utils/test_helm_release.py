"""Helm release records, values and redaction (builders/helm_release.py), the helm wrapper
(helm.py) against small scripts standing in for helm, and the gloo_operator operation's input rules."""
from __future__ import annotations

import base64
import gzip
import json
import os
import stat
import sys
import textwrap
import time

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import helm
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import helm_release as hr
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import gloo_operator as op

LICENSE = "unit-test-license-7d0c5b1e9a"


def record(release, revision=1, status="deployed", compress=True):
    """A release Secret as the API returns it: helm stores base64(gzip(JSON)) (helm v3
    pkg/storage/driver/util.go, encodeRelease) and the API base64-encodes Secret data again."""
    raw = json.dumps(release).encode()
    if compress:
        raw = gzip.compress(raw, 9)
    stored = base64.b64encode(raw)
    return {"metadata": {"name": "sh.helm.release.v1.%s.v%d" % (release["name"], revision),
                         "labels": {"owner": "helm", "name": release["name"], "status": status,
                                    "version": str(revision)}},
            "type": hr.RELEASE_SECRET_TYPE, "data": {"release": base64.b64encode(stored).decode()}}


RELEASE = {"name": "gloo-operator", "namespace": "gloo-mesh", "version": 2,
           "info": {"status": "deployed", "deleted": ""},
           "chart": {"metadata": {"name": "gloo-operator", "version": "0.2.3", "appVersion": "0.2.3"},
                     "values": {"manager": {"replicas": 1}}},
           "config": {"manager": {"env": {"SOLO_ISTIO_LICENSE_KEY": LICENSE}}}}


# ---------------------------------------------------------------- records

def test_decode_release_gzip_and_plain():
    assert hr.decode_release(record(RELEASE)) == RELEASE
    # Releases written before helm compressed them are plain JSON.
    assert hr.decode_release(record(RELEASE, compress=False)) == RELEASE


@pytest.mark.parametrize("data", [None, "", "not base64!", base64.b64encode(b"bm90IGd6aXA=").decode(),
                                  base64.b64encode(base64.b64encode(b"\x1f\x8b\x08broken")).decode()])
def test_decode_release_errors_name_the_secret(data):
    secret = {"metadata": {"name": "sh.helm.release.v1.x.v1"}, "data": {"release": data}}
    with pytest.raises(GloomeshError, match="sh.helm.release.v1.x.v1"):
        hr.decode_release(secret)


def test_latest_and_selector():
    secrets = [record(RELEASE, 3, "superseded"), record(RELEASE, 10), record(RELEASE, 9, "superseded")]
    assert hr.revision_of(hr.latest(secrets)) == 10  # numeric, not string order
    assert hr.latest([]) is None
    assert hr.release_selector("r") == "owner=helm,name=r"
    assert hr.release_selector("r", deployed_only=True) == "owner=helm,name=r,status=deployed"


def test_summary_has_no_values():
    assert hr.summary(RELEASE) == {"name": "gloo-operator", "namespace": "gloo-mesh", "revision": 2,
                                   "status": "deployed", "chart": "gloo-operator", "chart_version": "0.2.3",
                                   "app_version": "0.2.3"}


@pytest.mark.parametrize("ref,name", [
    ("oci://us-docker.pkg.dev/solo-public/gloo-operator-helm/gloo-operator", "gloo-operator"),
    ("gloo-platform", "gloo-platform"), ("gloo-platform/gloo-platform-crds", "gloo-platform-crds"),
    ("./charts/gloo-operator/", "gloo-operator"), ("/tmp/gloo-operator-0.2.3.tgz", "gloo-operator")])
def test_chart_name(ref, name):
    assert hr.chart_name(ref, "0.2.3") == name


# ---------------------------------------------------------------- values

def test_merge_values_recursive_and_does_not_touch_inputs():
    base = {"a": {"b": 1, "c": [1]}, "keep": True}
    override = {"a": {"b": 2, "d": {"e": "x"}}, "c": None}
    merged = hr.merge_values(base, override)
    assert merged == {"a": {"b": 2, "c": [1], "d": {"e": "x"}}, "keep": True, "c": None}
    merged["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}, "keep": True}


def test_differences():
    before = {"a": {"b": 1, "gone": 1}, "flag": True, "list": [1, {"x": 1}]}
    after = {"a": {"b": 1, "new": 2}, "flag": 1, "list": [1, {"x": 2}]}
    assert hr.differences(before, after) == ["a.gone", "a.new", "flag", "list[1].x"]
    assert hr.differences(before, before) == []
    assert hr.differences({}, {"a": {"b": 1}}) == ["a"]
    assert hr.differences({"l": [1]}, {"l": [1, 2]}) == ["l"]


def test_normalized_is_helms_json():
    assert hr.normalized({"a": (1, 2), 1: "x"}) == {"a": [1, 2], "1": "x"}
    assert hr.normalized(None) == {}


def test_secret_values_and_redaction():
    values = {"licensing": {"glooMeshLicenseKey": LICENSE, "licenseSecretName": "license-keys"},
              "manager": {"env": {"SOLO_ISTIO_LICENSE_KEY": "other-key",
                                  "SOLO_ISTIO_LICENSE_KEY_SECRET_REF": "gloo-mesh/x"}},
              "list": [{"token": "t0k3n"}], "note": "contains %s inside" % LICENSE}
    assert sorted(hr.secret_values(values)) == sorted([LICENSE, "other-key", "t0k3n"])
    shown = hr.redact_values(values, [LICENSE])
    assert shown["licensing"] == {"glooMeshLicenseKey": "<redacted>", "licenseSecretName": "license-keys"}
    assert shown["manager"]["env"] == {"SOLO_ISTIO_LICENSE_KEY": "<redacted>",
                                       "SOLO_ISTIO_LICENSE_KEY_SECRET_REF": "gloo-mesh/x"}
    assert shown["list"] == [{"token": "<redacted>"}]
    assert shown["note"] == "contains <redacted> inside"


def test_redact_text_hides_plain_and_base64_longest_first():
    b64 = base64.b64encode(LICENSE.encode()).decode()
    text = "values: %s; data: %s; short: %s" % (LICENSE, b64, LICENSE[:8])
    assert hr.redact_text(text, [LICENSE[:8], LICENSE]) == "values: ********; data: ********; short: ********"
    assert hr.redact_text("", [LICENSE]) == ""


# ---------------------------------------------------------------- the gloo_operator operation's pure parts

def params(**overrides):
    base = {"state": "present", "release": "gloo-operator", "namespace": "gloo-mesh", "chart": None,
            "chart_version": None, "chart_repo_url": None, "license_key": LICENSE, "license_secret_ref": None,
            "license_secret_name": "gloo-operator-license", "license_secret_key": "gloo-mesh-license-key",
            "install_namespace": "istio-system", "watched_by_default": ["gloo-system", "gloo-mesh", "istio-system"],
            "values": {}, "reuse_values": False, "helm": True, "binary_path": None, "helm_timeout": 300,
            "wait": True, "wait_timeout": 300}
    base.update(overrides)
    return base


def test_operator_values():
    watched = ["gloo-system", "gloo-mesh", "istio-system"]
    assert op.operator_values("gloo-mesh/l", "istio-system", watched, {}) == {
        "manager": {"env": {"SOLO_ISTIO_LICENSE_KEY_SECRET_REF": "gloo-mesh/l"}}}
    values = op.operator_values("gloo-mesh/l", "mesh", watched, {"manager": {"env": {"X": "1"}, "image": {"tag": "t"}}})
    assert values == {"manager": {"env": {"SOLO_ISTIO_LICENSE_KEY_SECRET_REF": "gloo-mesh/l", "WATCH_NAMESPACES": "mesh",
                                          "X": "1"}, "image": {"tag": "t"}}}


def test_license_secret():
    secret = op.license_secret("gloo-mesh", "lic", "gloo-mesh-license-key", LICENSE)
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "gloomesh.multicluster"}
    assert base64.b64decode(secret["data"]["gloo-mesh-license-key"]).decode() == LICENSE


def test_default_deployment_name():
    assert op.default_deployment_name("gloo-operator") == "gloo-operator"
    assert op.default_deployment_name("mesh") == "mesh-gloo-operator"


@pytest.mark.parametrize("overrides,option", [
    ({"release": "Bad_Name"}, "release"),
    ({"release": "r" * 54}, "release"),
    ({"namespace": "NS"}, "namespace"),
    ({"install_namespace": ""}, "install_namespace"),
    ({"watched_by_default": ["ok", "Not OK"]}, "watched_by_default[1]"),
    ({"license_secret_name": "a/b"}, "license_secret_name"),
    ({"license_secret_key": "a b"}, "license_secret_key"),
    ({"helm_timeout": 0}, "helm_timeout"),
    ({"chart_version": " "}, "chart_version"),
    ({"license_key": None}, "license_key"),
    ({"license_key": "   "}, "license_key"),
    ({"license_secret_ref": "gloo-mesh/license-keys"}, "license_key"),
    ({"license_key": None, "license_secret_ref": "no-slash"}, "license_key"),
    ({"reuse_values": True}, "license_key"),
    ({"reuse_values": True, "license_key": None, "state": "absent"}, "reuse_values"),
    ({"client_cert": "/tmp/c.pem"}, "client_cert"),
])
def test_validate_names_the_option(overrides, option):
    with pytest.raises(GloomeshError) as err:
        op.validate(params(**overrides))
    assert err.value.details["option"] == option
    assert LICENSE not in err.value.message


@pytest.mark.parametrize("overrides", [
    {}, {"license_key": None, "license_secret_ref": "gloo-mesh/license-keys"},
    {"helm": False, "license_key": None}, {"state": "absent", "license_key": None},
    {"reuse_values": True, "license_key": None}])
def test_validate_accepts(overrides):
    op.validate(params(**overrides))


# ---------------------------------------------------------------- the helm wrapper

def fake_helm(tmp_path, body):
    """An executable 'helm' running ``body`` (Python) with argv and the values file at hand."""
    path = tmp_path / "bin" / "helm"
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!%s\nimport os, sys, time\nargv = sys.argv[1:]\n" % sys.executable
                    + "values = open(argv[argv.index('--values') + 1]).read() if '--values' in argv else ''\n"
                    + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """helm's temporary directory goes here, so the tests can see what is left behind."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr("tempfile.tempdir", None)
    return directory


def test_run_redacts_a_helm_that_echoes_its_values(tmp_path, private_tmp):
    binary = fake_helm(tmp_path, """
        sys.stderr.write("Error: UPGRADE FAILED: template: values: %s argv: %s\\n" % (values, argv))
        sys.exit(1)
    """)
    b64 = base64.b64encode(LICENSE.encode()).decode()
    with pytest.raises(GloomeshError) as err:
        values = {"licensing": {"glooMeshLicenseKey": LICENSE}, "data": b64}
        helm.upgrade_install(binary, {}, "r", "chart", "ns", values, version="1.0.0", secrets=[LICENSE],
                             what="helm upgrade of r")
    message = err.value.message
    assert message.startswith("helm upgrade of r failed (exit code 1): Error: UPGRADE FAILED: template: values:")
    assert "********" in message and LICENSE not in message and b64 not in message
    assert LICENSE not in json.dumps(err.value.details)
    assert err.value.details["rc"] == 1
    assert os.listdir(private_tmp) == [], "the values file was left behind"


def test_run_values_file_private_and_argv_clean(tmp_path, private_tmp):
    binary = fake_helm(tmp_path, """
        path = argv[argv.index('--values') + 1]
        print(oct(os.stat(path).st_mode & 0o777), oct(os.stat(os.path.dirname(path)).st_mode & 0o777))
        print(" ".join(argv))
        print(os.environ.get("HELM_KUBECONTEXT"), os.environ.get("HELM_KUBETOKEN"), os.environ.get("HELM_DRIVER"),
              os.environ.get("HELM_NAMESPACE"), os.environ.get("HELM_KUBEINSECURE_SKIP_TLS_VERIFY"))
        print(open(os.environ["KUBECONFIG"]).read())
    """)
    os.environ["HELM_NAMESPACE"] = "inherited"
    try:
        out = helm.upgrade_install(binary, {"context": "c1", "api_key": "tok3n-value", "validate_certs": False,
                                            "kubeconfig": {"current-context": "c1"}},
                                   "r", "chart", "ns", {"k": LICENSE}, secrets=["tok3n-value"])
    finally:
        del os.environ["HELM_NAMESPACE"]
    modes, argv, env, kubeconfig = out.splitlines()[:4]
    assert modes == "0o600 0o700"
    assert argv.startswith("upgrade r chart --install --namespace ns --reset-values --values ")
    assert LICENSE not in argv
    # The token went through the environment and is masked in what comes back.
    assert env == "c1 ******** secret None true"
    assert json.loads(kubeconfig) == {"current-context": "c1"}
    assert os.listdir(private_tmp) == []


def test_run_deadline_kills_helm_and_its_children(tmp_path, private_tmp):
    marker = tmp_path / "child-alive"
    binary = fake_helm(tmp_path, """
        import subprocess
        subprocess.Popen([sys.executable, "-c", "import time\\nwhile True:\\n open(%r, 'w').close(); time.sleep(0.1)"])
        sys.stderr.write("waiting with values %%s\\n" %% values); sys.stderr.flush()
        time.sleep(600)
    """ % str(marker))
    began = time.monotonic()
    with pytest.raises(GloomeshError) as err:
        helm.run(binary, ["upgrade"], {}, timeout=2, values={"k": LICENSE}, secrets=[LICENSE], what="helm upgrade")
    assert time.monotonic() - began < 2 + 2 * helm.KILL_GRACE
    assert err.value.details["timed_out"] is True
    assert "did not finish within 2s" in err.value.message and LICENSE not in err.value.message
    marker.unlink(missing_ok=True)
    time.sleep(0.5)
    assert not marker.exists(), "helm's child outlived the deadline"
    assert os.listdir(private_tmp) == []


def test_find_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GloomeshError, match="helm binary was not found on the controller's PATH"):
        helm.find_binary()
    not_executable = tmp_path / "helm"
    not_executable.write_text("")
    with pytest.raises(GloomeshError, match="binary_path .* is not an executable file"):
        helm.find_binary(str(not_executable))
    not_executable.chmod(not_executable.stat().st_mode | stat.S_IXUSR)
    assert helm.find_binary() == str(not_executable)


# ---------------------------------------------------------------- the cluster watched while helm runs

class Cluster:
    """Stands for k8s.client.Cluster: ``answers`` GET /version answered, then a frozen server (or
    ``error``). With ``after`` (a path), answers count only once that file exists: a loaded machine may
    start the fake helm later than the probes."""

    name = "c9"

    def __init__(self, answers, status=None, error=None, after=None):
        self.api, self.answers, self.status, self.error, self.asked = self, answers, status, error, []
        self.after = after

    def request(self, method, path, serialize=True):
        if self.after and not os.path.exists(self.after):
            return
        self.asked.append("%s %s" % (method, path))
        if len(self.asked) > self.answers:
            raise self.error or GloomeshError("cluster c9 (https://h): GET /version: no answer within 1s (API server "
                                              "down, frozen or unreachable)", context="c9", unreachable=True)
        if self.status:  # an HTTP error is an answer
            raise type("ApiException", (Exception,), {"status": self.status})()


def test_run_stops_helm_when_the_cluster_stops_answering(tmp_path, private_tmp, monkeypatch):
    monkeypatch.setattr(helm, "PROBE_INTERVAL", 0.2)
    ready = tmp_path / "ready"
    binary = fake_helm(tmp_path, """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as helm whose last write hangs
        sys.stderr.write("waiting in a hook\\n"); sys.stderr.flush()
        open(%r, "w").close()
        time.sleep(600)
    """ % str(ready))
    # Answers count once the fake ignores SIGTERM: a loaded machine may start it after the probes.
    cluster = Cluster(answers=3, after=str(ready))
    began = time.monotonic()
    with pytest.raises(GloomeshError) as err:
        helm.run(binary, ["upgrade"], {}, timeout=300, what="helm upgrade of r in cluster c9", cluster=cluster)
    # Not the 300s deadline: three answers, a fourth question unanswered, SIGTERM ignored, SIGKILL.
    assert time.monotonic() - began < 4 * 0.2 + 2 * helm.KILL_GRACE + 3
    assert err.value.message.startswith("helm upgrade of r in cluster c9: the API server stopped answering while "
                                        "helm ran (no answer for 0s), so helm was killed")
    assert "cluster c9 (https://h): GET /version: no answer within 1s" in err.value.message
    assert "waiting in a hook" in err.value.message
    details = err.value.details
    assert details["context"] == "c9" and details["unreachable"] and details["killed"]
    assert 0 <= details["unanswered_seconds"] < 1
    assert cluster.asked[0] == "GET /version" and len(cluster.asked) == 4
    assert os.listdir(private_tmp) == []


def test_run_stops_helm_when_a_probe_fails_unexpectedly(tmp_path, private_tmp, monkeypatch):
    monkeypatch.setattr(helm, "PROBE_INTERVAL", 0.2)
    pid_file = tmp_path / "helm-pid"
    binary = fake_helm(tmp_path, "open(%r, 'w').write(str(os.getpid()))\ntime.sleep(600)\n" % str(pid_file))
    cluster = Cluster(answers=2, error=RuntimeError("not HTTP"), after=str(pid_file))
    with pytest.raises(RuntimeError):
        helm.run(binary, ["upgrade"], {}, timeout=300, cluster=cluster)
    # helm did not outlive the task: stopped (and reaped) before the error went up.
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    assert os.listdir(private_tmp) == []


def test_run_checks_the_cluster_before_starting_helm(tmp_path, private_tmp):
    marker = tmp_path / "helm-ran"
    binary = fake_helm(tmp_path, "open(%r, 'w').close()\n" % str(marker))
    with pytest.raises(GloomeshError) as err:
        helm.run(binary, ["upgrade"], {}, what="helm upgrade of r", cluster=Cluster(answers=0))
    assert err.value.message.startswith("helm upgrade of r not started, the API server does not answer: cluster c9")
    assert err.value.details["context"] == "c9" and not marker.exists()
    # Any HTTP status is an answer: a cluster that answers 403 to /version is alive.
    assert helm.run(binary, ["upgrade"], {}, cluster=Cluster(answers=9, status=403)) == ""
    assert marker.exists()


# ---------------------------------------------------------------- a release a killed helm left pending

NOW = 1796072000.0  # 2026-11-30T20:53:20Z


def at(status, revision, started=None, created=None):
    """A record of ``status`` whose operation began at ``started`` (helm's info.last_deployed)."""
    secret = record(dict(RELEASE, version=revision, info={"status": status, "last_deployed": started}),
                    revision, status)
    if created:
        secret["metadata"]["creationTimestamp"] = created
    return secret


@pytest.mark.parametrize("records,plan", [
    ([], None),
    ([at("deployed", 1)], None),
    ([at("deployed", 1), at("failed", 2)], None),  # helm upgrades from here itself
    # Killed during an upgrade: back to the deployed revision (helm's own time, nanoseconds, any offset).
    ([at("superseded", 1), at("deployed", 2), at("pending-upgrade", 3, "2026-11-30T21:50:00.123456789+01:00")],
     {"status": "pending-upgrade", "revision": 3, "age": 199, "to_revision": 2, "action": "rollback"}),
    ([at("deployed", 1), at("pending-rollback", 2, "2026-11-30T20:50:00Z")],
     {"status": "pending-rollback", "revision": 2, "age": 200, "to_revision": 1, "action": "rollback"}),
    # Killed during the first install: nothing to go back to.
    ([at("pending-install", 1, "2026-11-30T20:50:00Z")],
     {"status": "pending-install", "revision": 1, "age": 200, "to_revision": None, "action": "uninstall"}),
    ([at("failed", 1), at("pending-upgrade", 2, "2026-11-30T20:50:00Z")],
     {"status": "pending-upgrade", "revision": 2, "age": 200, "to_revision": None, "action": "uninstall"}),
    # Younger than the settle time: a helm may still be running it.
    ([at("deployed", 1), at("pending-upgrade", 2, "2026-11-30T20:52:00Z")],
     {"status": "pending-upgrade", "revision": 2, "age": 80, "to_revision": 1, "action": "wait"}),
    # Without helm's time, the Secret's creation time; without either, the age is unknown.
    ([at("pending-install", 1, None, "2026-11-30T20:53:00Z")],
     {"status": "pending-install", "revision": 1, "age": 20, "to_revision": None, "action": "wait"}),
    ([at("pending-install", 1, "yesterday")],
     {"status": "pending-install", "revision": 1, "age": None, "to_revision": None, "action": "uninstall"}),
    ([at("pending-install", 1, "2026-13-30T20:50:00Z")],  # shaped like a time, but not one
     {"status": "pending-install", "revision": 1, "age": None, "to_revision": None, "action": "uninstall"}),
])
def test_pending_recovery(records, plan):
    assert helm.pending_recovery(records, NOW, settle=100) == plan


def test_settle_seconds_outlasts_any_helm_run_starts():
    # run's deadline, then at most one probe's bound, then SIGTERM's and SIGKILL's grace.
    assert helm.settle_seconds(300, 30) == 300 + 30 + 2 * helm.KILL_GRACE
