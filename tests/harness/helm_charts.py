"""Real helm in tests: our local Gloo charts published as a chart repository on 127.0.0.1, the
recording wrapper put first on PATH, and releases installed before a test as a user would.

Solo's charts are not reachable from here, so tests/harness/fixtures/charts holds small charts of
ours with the same names, versions and values shape (the gloo-operator chart also creates what the
procedure checks). `repository_url()` packages them with the real helm (`helm package`,
`helm repo index`) once per process and serves them over HTTP, so `--repo <url>` and chart
versions work as against Solo's repository. Values a test passes can ask a chart for a fault
(FAIL_ECHOING_VALUES, HANG_IN_HOOK: fixtures/charts/test-faults.tpl). The charts' templates are
named *.tpl, not *.yaml: helm renders every file in templates/ alike, and ansible-test's yamllint
reads every *.yaml file of the collection, which a template is not until helm renders it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from .collection_path import REPO_ROOT
from .controlplane import helm_binary
from .tarball_server import TarballServer

CHARTS = os.path.join(REPO_ROOT, "tests", "harness", "fixtures", "charts")
RECORDER_DIR = os.path.join(REPO_ROOT, "tests", "harness", "helm_recorder")
# The versions each chart is published at: automatic peering keeps the version a release runs, so
# the Gloo Platform charts are there at older versions than the latest too (2.6.3: one it refuses).
GLOO_PLATFORM_VERSIONS = ("2.6.3", "2.7.0", "2.7.1")
VERSIONS = {"gloo-operator": ("0.2.3",), "gloo-platform": GLOO_PLATFORM_VERSIONS,
            "gloo-platform-crds": GLOO_PLATFORM_VERSIONS}
# Values that make any chart here fail rendering, helm printing all its values.
FAIL_ECHOING_VALUES = {"gloomeshTest": {"failEchoingValues": True}}
# Values that make any chart here block helm in a pre-install/pre-upgrade hook that never ends.
HANG_IN_HOOK = {"gloomeshTest": {"hangInHook": True}}

_server = None


def _helm(*args, env=None) -> str:
    proc = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def package_repository(directory: str) -> dict[str, bytes]:
    """Every chart at every version in VERSIONS packaged into `directory` with an index.yaml
    (relative URLs: helm resolves them against the repository URL); returns {"/file": bytes}."""
    for name, versions in VERSIONS.items():
        for version in versions:
            _helm("package", os.path.join(CHARTS, name), "--version", version, "--app-version", version,
                  "--destination", directory)
    _helm("repo", "index", directory)
    files = {}
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as fh:
            files["/" + name] = fh.read()
    return files


def repository_url() -> str:
    """URL of the chart repository this process serves (packaged and started on first use)."""
    global _server
    if _server is None:
        with tempfile.TemporaryDirectory(prefix="gloomesh-charts-") as directory:
            files = package_repository(directory)
        server = TarballServer().__enter__()  # a daemon thread, for the life of the process
        server.files.update(files)
        _server = server
    return _server.base_url


def chart_vars() -> dict:
    """The roles' variables that take their charts from our repository (Solo's is not reachable)."""
    url = repository_url()
    return {"gloo_operator_chart": "gloo-operator", "gloo_operator_chart_repo_url": url,
            "automatic_peering_repo_url": url}


def recorder_env(record_dir: str, secret: str) -> dict:
    """Environment that puts the recording wrapper first on PATH (records in `record_dir`,
    `secret` redacted from them); fails here when the real helm is not built."""
    return {"PATH": os.pathsep.join([RECORDER_DIR, os.path.dirname(sys.executable), os.environ["PATH"]]),
            "GLOOMESH_HELM_BINARY": helm_binary(), "GLOOMESH_HELM_RECORDS": str(record_dir),
            "GLOOMESH_HELM_SECRET": secret}


def read_records(record_dir: str) -> list[dict]:
    """The wrapper's records, one per helm call, oldest first."""
    path = os.path.join(record_dir, "calls.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def install(kubeconfig: str, context: str, namespace: str, release: str, chart: str, version: str,
            values: dict) -> None:
    """`helm upgrade --install` of a chart of our repository, as someone did before the test (the
    real helm itself, not through the wrapper; values in a private file removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="gloomesh-seed-") as directory:
        path = os.path.join(directory, "values.json")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as fh:
            json.dump(values, fh)
        _helm("upgrade", release, chart, "--install", "--repo", repository_url(), "--version", version,
              "--namespace", namespace, "--create-namespace", "--values", path,
              env={**os.environ, "KUBECONFIG": kubeconfig, "HELM_KUBECONTEXT": context, "HELM_DRIVER": "secret"})
