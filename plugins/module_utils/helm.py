# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Helm 3: its release records read through the Kubernetes API, and the helm binary run safely.

Reading a release needs no helm at all: its records are Secrets (builders/helm_release.py), so
"is the release up to date?" costs one list request and no process.

``run`` is the one way helm is started:

* a deadline: helm and everything it started are killed when it is reached;
* values only in a file created 0600 in a private directory (0700), never on the command line,
  and the directory is removed when helm ends, whatever happened;
* the cluster connection through helm's environment variables (a token never in argv);
* started in that private directory, so a folder of the caller's working directory named like a
  chart is never installed instead of the repository's chart (helm prefers a local path to
  ``--repo``, helm issue 7862); relative paths given to it are made absolute first;
* what comes back (output, error message) has every secret the caller names removed, and their
  base64 forms, so a helm that echoes its values on failure shows none of them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess
import tempfile

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.helm_release import (
    RELEASE_SECRET_TYPE,
    decode_release,
    latest,
    redact_text,
    release_selector,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import list_objects

DEFAULT_TIMEOUT = 300
# After the deadline, helm gets this long to exit on SIGTERM before SIGKILL.
KILL_GRACE = 5
# The end of helm's output kept in an error (its last lines say what went wrong).
OUTPUT_TAIL = 4000
# Helm's connection variables (helm v3 pkg/cli/environment.go): inherited ones would point helm at
# another cluster than the task's, so they are replaced by the task's own.
_HELM_CONNECTION_VARIABLES = ("HELM_KUBECONTEXT", "HELM_NAMESPACE", "HELM_KUBETOKEN", "HELM_KUBEAPISERVER",
                              "HELM_KUBECAFILE", "HELM_KUBEINSECURE_SKIP_TLS_VERIFY", "HELM_KUBEASUSER",
                              "HELM_KUBEASGROUPS", "HELM_KUBETLS_SERVER_NAME")
# Connection options of kubernetes.core that helm has no variable for.
UNSUPPORTED_AUTH = ("username", "password", "client_cert", "client_key", "proxy", "no_proxy", "proxy_headers")


# ---------------------------------------------------------------- release records (API reads)

def release_records(client, namespace, release, deployed_only=False):
    """The Secrets helm keeps for ``release`` in ``namespace`` (one per revision)."""
    return [secret for secret in list_objects(client, "v1", "Secret", namespace,
                                              label_selector=release_selector(release, deployed_only))
            if secret.get("type") == RELEASE_SECRET_TYPE]


def deployed_release(client, namespace, release):
    """The deployed revision of ``release`` as helm stores it (a dict), or None."""
    record = latest(release_records(client, namespace, release, deployed_only=True))
    return decode_release(record) if record is not None else None


# ---------------------------------------------------------------- running helm

def unsupported_auth(params):
    """Connection options set that helm cannot be given (the caller fails naming them)."""
    return [option for option in UNSUPPORTED_AUTH if params.get(option)]


def _absolute(path):
    # helm runs in its private directory: paths relative to ours must still lead to the same file.
    return os.path.abspath(os.path.expanduser(path))


def find_binary(binary_path=None):
    """The helm executable: ``binary_path``, else ``helm`` on the controller's PATH."""
    if binary_path:
        path = _absolute(binary_path)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise GloomeshError("binary_path %s is not an executable file" % binary_path, option="binary_path")
        return path
    found = shutil.which("helm")
    if not found:
        raise GloomeshError(
            "the helm binary was not found on the controller's PATH (%s); install Helm 3 there or set "
            "binary_path" % os.environ.get("PATH", ""), option="binary_path")
    return _absolute(found)


def _private_file(directory, name, text):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def _environment(auth, directory):
    """helm's environment for the task's cluster: inherited, minus other clusters' settings."""
    env = dict((key, value) for key, value in os.environ.items() if key not in _HELM_CONNECTION_VARIABLES)
    # The records read above are Secrets: helm must keep them there too.
    env["HELM_DRIVER"] = "secret"
    kubeconfig = auth.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        env["KUBECONFIG"] = _private_file(directory, "kubeconfig", json.dumps(kubeconfig))
    elif kubeconfig:
        env["KUBECONFIG"] = _absolute(kubeconfig)
    for option, variable in (("context", "HELM_KUBECONTEXT"), ("host", "HELM_KUBEAPISERVER"),
                             ("api_key", "HELM_KUBETOKEN"), ("ca_cert", "HELM_KUBECAFILE"),
                             ("impersonate_user", "HELM_KUBEASUSER")):
        if auth.get(option):
            env[variable] = _absolute(auth[option]) if option == "ca_cert" else auth[option]
    if auth.get("impersonate_groups"):
        env["HELM_KUBEASGROUPS"] = ",".join(auth["impersonate_groups"])
    if auth.get("validate_certs") is False:
        env["HELM_KUBEINSECURE_SKIP_TLS_VERIFY"] = "true"
    return env


def _stop(process):
    """SIGTERM helm's process group, then SIGKILL what is left after KILL_GRACE seconds.
    Returns (stdout, stderr, killed): killed when SIGTERM was not enough."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        try:
            os.killpg(process.pid, sig)
        except OSError:
            pass
        try:
            return process.communicate(timeout=grace) + (sig == signal.SIGKILL,)
        except subprocess.TimeoutExpired:
            continue
    return "", "", True


def _tail(text):
    text = (text or "").strip()
    return text if len(text) <= OUTPUT_TAIL else "..." + text[-OUTPUT_TAIL:]


def run(binary, args, auth, timeout=DEFAULT_TIMEOUT, values=None, secrets=(), what="helm"):
    """Run ``binary args`` (plus ``--values <file>`` for ``values``); return its output, redacted.

    ``auth`` holds the task's connection options; ``secrets`` every text that must not come back.
    A failure, a missing or unrunnable binary, or the deadline raise GloomeshError naming ``what``.
    """
    directory = tempfile.mkdtemp(prefix="gloomesh-helm-")
    try:
        env = _environment(auth, directory)
        argv = [binary] + list(args)
        if values is not None:
            # JSON is YAML: helm reads it as a values file.
            argv += ["--values", _private_file(directory, "values.yaml", json.dumps(values))]
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, env=env, universal_newlines=True,
                                       start_new_session=True, cwd=directory)
        except OSError as exc:
            raise GloomeshError("%s: cannot run %s: %s" % (what, binary, exc.strerror or exc))
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out, err, killed = _stop(process)
            # On SIGTERM helm cancels an install or upgrade and marks it failed (a later upgrade
            # goes ahead); killed, it leaves the release pending, which blocks every later change.
            ending = ("was killed (a release it left pending-install or pending-upgrade needs 'helm rollback' "
                      "or 'helm uninstall' before helm accepts another change)" if killed else "was stopped")
            raise GloomeshError("%s did not finish within %ss and %s; last output: %s"
                                % (what, timeout, ending, _tail(redact_text(err or out, secrets))), timed_out=True)
        if process.returncode != 0:
            message = _tail(redact_text(err or out, secrets))
            raise GloomeshError("%s failed (exit code %d): %s" % (what, process.returncode, message),
                                rc=process.returncode, stderr=message)
        return redact_text(out, secrets)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def upgrade_install(binary, auth, release, chart, namespace, values, version=None, repo_url=None,
                    timeout=DEFAULT_TIMEOUT, secrets=(), what="helm upgrade --install"):
    """``helm upgrade --install`` with exactly ``values`` as the release's values (--reset-values:
    nothing is carried over from the previous revision, so the record then equals ``values``)."""
    if not repo_url and os.path.exists(chart):
        chart = _absolute(chart)  # a local chart path, relative to our working directory
    args = ["upgrade", release, chart, "--install", "--namespace", namespace, "--reset-values"]
    if version:
        args += ["--version", version]
    if repo_url:
        args += ["--repo", repo_url]
    return run(binary, args, auth, timeout, values=values, secrets=secrets, what=what)


def uninstall(binary, auth, release, namespace, timeout=DEFAULT_TIMEOUT, secrets=(), what="helm uninstall"):
    return run(binary, ["uninstall", release, "--namespace", namespace], auth, timeout,
               secrets=secrets, what=what)
