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
  base64 forms, so a helm that echoes its values on failure shows none of them;
* given the task's cluster, the cluster is asked whether it answers before helm starts and every
  PROBE_INTERVAL seconds while helm runs (each question bounded by request_timeout): helm's own
  requests have no deadline, so a frozen API server would otherwise hold the task until
  ``timeout``.

``pending_recovery`` decides how a re-run unblocks a release that a killed helm left pending.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.helm_release import (
    DEPLOYED,
    RELEASE_SECRET_TYPE,
    decode_release,
    latest,
    redact_text,
    release_selector,
    revision_of,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import list_objects

DEFAULT_TIMEOUT = 300
# After the deadline, helm gets this long to exit on SIGTERM before SIGKILL.
KILL_GRACE = 5
# The end of helm's output kept in an error (its last lines say what went wrong).
OUTPUT_TAIL = 4000
# While helm runs, the cluster is asked this often whether it still answers (one GET /version).
PROBE_INTERVAL = 3
# Helm's statuses of an operation under way (v3 pkg/release/status.go, IsPending): while the newest
# record has one, helm refuses every upgrade (pkg/action/upgrade.go, errPending).
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
# How Go writes a time.Time in JSON (RFC 3339, up to nanoseconds), as helm's info.last_deployed.
_GO_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")
# Helm's connection variables (helm v3 pkg/cli/environment.go): inherited ones would point helm at
# another cluster than the task's, so they are replaced by the task's own.
_HELM_CONNECTION_VARIABLES = ("HELM_KUBECONTEXT", "HELM_NAMESPACE", "HELM_KUBETOKEN", "HELM_KUBEAPISERVER",
                              "HELM_KUBECAFILE", "HELM_KUBEINSECURE_SKIP_TLS_VERIFY", "HELM_KUBEASUSER",
                              "HELM_KUBEASGROUPS", "HELM_KUBETLS_SERVER_NAME")
# Connection options of kubernetes.core that helm has no variable for.
UNSUPPORTED_AUTH = ("username", "password", "client_cert", "client_key", "proxy", "no_proxy", "proxy_headers")


# ---------------------------------------------------------------- release records (API reads)

def release_records(cluster, namespace, release, deployed_only=False):
    """The Secrets helm keeps for ``release`` in ``namespace`` (one per revision)."""
    return [secret for secret in list_objects(cluster, "v1", "Secret", namespace,
                                              label_selector=release_selector(release, deployed_only))
            if secret.get("type") == RELEASE_SECRET_TYPE]


def _status(record):
    return (((record or {}).get("metadata") or {}).get("labels") or {}).get("status")


def deployed_record(records):
    """The record of the deployed revision among a release's ``records`` (release_records), or None."""
    return latest([record for record in records if _status(record) == DEPLOYED])


def deployed_release(cluster, namespace, release):
    """The deployed revision of ``release`` as helm stores it (a dict), or None."""
    record = latest(release_records(cluster, namespace, release, deployed_only=True))
    return decode_release(record) if record is not None else None


def _epoch(text):
    """Seconds since the epoch of a Go JSON time (e.g. 2026-12-07T10:39:07.123456789+01:00), or None."""
    match = _GO_TIME.match(text) if isinstance(text, str) else None
    if not match:
        return None
    stamp, fraction, zone = match.groups()
    try:  # %z takes Z and +01:00; the fraction apart, as %f takes at most 6 of Go's 9 digits
        moment = datetime.datetime.strptime(stamp + zone, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:  # shaped like a time, but not one (month 13)
        return None
    return moment.timestamp() + float("0." + (fraction or "0"))


def _started(record):
    """When the operation of a record began: helm's info.last_deployed (stamped by the helm
    process, on the controller's clock when it was ours), else the Secret's creationTimestamp."""
    try:
        started = _epoch((decode_release(record).get("info") or {}).get("last_deployed"))
    except GloomeshError:
        started = None
    if started is None:
        started = _epoch((record.get("metadata") or {}).get("creationTimestamp"))
    return started


def pending_recovery(records, now, settle):
    """How to unblock a release a killed helm left pending, from its records (Secrets as listed).

    None when the newest record's ``status`` label is not pending. Else a dict with ``status``,
    ``revision``, ``age`` (seconds, None when unknown), ``to_revision`` (the newest deployed
    revision, or None) and ``action``: ``wait`` while the record is younger than ``settle`` seconds
    (a helm may still be running it); else ``rollback`` to ``to_revision`` (helm rollback takes a
    pending release: pkg/action/rollback.go never checks the status), or ``uninstall`` when no
    revision was ever deployed (pkg/action/uninstall.go takes any status, and removes every record).
    """
    newest = latest(records)
    status = _status(newest)
    if status not in PENDING:
        return None
    started = _started(newest)
    deployed = deployed_record(records)
    plan = {"status": status, "revision": revision_of(newest),
            "age": None if started is None else max(0, int(now - started)),
            "to_revision": revision_of(deployed) if deployed is not None else None}
    if plan["age"] is not None and plan["age"] < settle:
        plan["action"] = "wait"
    else:
        plan["action"] = "rollback" if deployed is not None else "uninstall"
    return plan


def settle_seconds(helm_timeout, request_timeout):
    """The longest a helm started by ``run`` lives: its deadline, a probe's bound, then _stop's graces."""
    return helm_timeout + request_timeout + 2 * KILL_GRACE


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


def _silence(cluster):
    """None when ``cluster`` answers a GET /version within its request bound (any HTTP status is an
    answer), else the GloomeshError naming the cluster and the bound that fired."""
    try:
        cluster.api.request("GET", "/version", serialize=False)
    except GloomeshError as exc:
        if exc.details.get("unreachable"):
            return exc
        raise
    except Exception as exc:  # pylint: disable=broad-except  # the client's ApiException: an answer
        if getattr(exc, "status", None) is None:
            raise
    return None


def _wait(process, timeout, cluster):
    """Wait for helm: ((stdout, stderr), None, 0) once it exits, or (None, silence, seconds) when
    it must be stopped: silence None at the deadline, else the cluster's error, after ``seconds``
    without an answer. Each slice of communicate() loses no output (subprocess documents it)."""
    answered = time.monotonic()
    deadline = answered + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            slice_ = left if cluster is None else min(left, PROBE_INTERVAL)
            return process.communicate(timeout=max(0.1, slice_)), None, 0
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            return None, None, 0
        silence = _silence(cluster)
        if silence is None:
            answered = time.monotonic()
        elif process.poll() is None:  # helm still running: it is waiting on a server that is gone
            return None, silence, time.monotonic() - answered


def _stopped(what, timeout, silence, unanswered, killed, output):
    """The error for a helm we stopped: at its deadline, or because the cluster went silent."""
    # On SIGTERM helm cancels an install or upgrade and marks it failed (a later upgrade goes
    # ahead); killed (as when the API server cannot take that write), it leaves the release pending.
    ending = ("was killed (it may leave the release pending-install or pending-upgrade, which helm "
              "refuses to change until 'helm rollback' or 'helm uninstall'; the next run does that)"
              if killed else "was stopped")
    if silence is None:
        return GloomeshError("%s did not finish within %ss and %s; last output: %s"
                             % (what, timeout, ending, output), timed_out=True, killed=killed)
    return GloomeshError("%s: the API server stopped answering while helm ran (no answer for %.0fs), so helm %s: "
                         "%s; last output: %s" % (what, unanswered, ending, silence.message, output),
                         context=silence.details.get("context"), unreachable=True, killed=killed,
                         unanswered_seconds=round(unanswered, 1))


def run(binary, args, auth, timeout=DEFAULT_TIMEOUT, values=None, secrets=(), what="helm", cluster=None):
    """Run ``binary args`` (plus ``--values <file>`` for ``values``); return its output, redacted.

    ``auth`` holds the task's connection options; ``secrets`` every text that must not come back;
    ``cluster`` (the invocation's Cluster) is watched before and while helm runs. A failure, a missing or
    unrunnable binary, the deadline or a cluster that stops answering raise GloomeshError naming ``what``.
    """
    directory = tempfile.mkdtemp(prefix="gloomesh-helm-")
    try:
        env = _environment(auth, directory)
        argv = [binary] + list(args)
        if values is not None:
            # JSON is YAML: helm reads it as a values file.
            argv += ["--values", _private_file(directory, "values.yaml", json.dumps(values))]
        silence = _silence(cluster) if cluster is not None else None
        if silence is not None:
            raise GloomeshError("%s not started, the API server does not answer: %s" % (what, silence.message),
                                **silence.details)
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, env=env, universal_newlines=True,
                                       start_new_session=True, cwd=directory)
        except OSError as exc:
            raise GloomeshError("%s: cannot run %s: %s" % (what, binary, exc.strerror or exc))
        try:
            output, silence, unanswered = _wait(process, timeout, cluster)
        except BaseException:
            _stop(process)  # a probe failed unexpectedly: helm never outlives the task
            raise
        if output is None:
            out, err, killed = _stop(process)
            raise _stopped(what, timeout, silence, unanswered, killed, _tail(redact_text(err or out, secrets)))
        out, err = output
        if process.returncode != 0:
            message = _tail(redact_text(err or out, secrets))
            raise GloomeshError("%s failed (exit code %d): %s" % (what, process.returncode, message),
                                rc=process.returncode, stderr=message)
        return redact_text(out, secrets)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def upgrade_install(binary, auth, release, chart, namespace, values, version=None, repo_url=None,
                    timeout=DEFAULT_TIMEOUT, secrets=(), what="helm upgrade --install", cluster=None):
    """``helm upgrade --install`` with exactly ``values`` as the release's values (--reset-values:
    nothing is carried over from the previous revision, so the record then equals ``values``)."""
    if not repo_url and os.path.exists(chart):
        chart = _absolute(chart)  # a local chart path, relative to our working directory
    args = ["upgrade", release, chart, "--install", "--namespace", namespace, "--reset-values"]
    if version:
        args += ["--version", version]
    if repo_url:
        args += ["--repo", repo_url]
    return run(binary, args, auth, timeout, values=values, secrets=secrets, what=what, cluster=cluster)


def uninstall(binary, auth, release, namespace, timeout=DEFAULT_TIMEOUT, secrets=(), what="helm uninstall",
              cluster=None):
    return run(binary, ["uninstall", release, "--namespace", namespace], auth, timeout,
               secrets=secrets, what=what, cluster=cluster)


def rollback(binary, auth, release, namespace, revision, timeout=DEFAULT_TIMEOUT, secrets=(), what="helm rollback",
             cluster=None):
    """``helm rollback`` to ``revision``: a new revision with that one's chart and values, deployed."""
    return run(binary, ["rollback", release, str(revision), "--namespace", namespace], auth, timeout,
               secrets=secrets, what=what, cluster=cluster)
