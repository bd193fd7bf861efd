# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Connection: kubernetes.core's auth options and client, with a deadline on every request.

Modules document the options with the gloomesh.multicluster.connection doc fragment (kubernetes.core's
auth options plus ``request_timeout``). Every request the client sends, discovery included, gets a
connect and a read timeout, so a dead or frozen API server fails the task within the bound and the
error names the cluster's context instead of hanging the run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import contextlib
import logging
import os
import re
import threading
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
        AUTH_ARG_SPEC as K8S_AUTH_ARG_SPEC,
    )
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as core_client
    KUBERNETES_CORE_ERROR = None
except ImportError as exc:  # reported by missing_libraries()
    K8S_AUTH_ARG_SPEC = {}
    KUBERNETES_CORE_ERROR = exc

try:
    import kubernetes
    import urllib3
    from ansible_collections.kubernetes.core.plugins.module_utils.client.discovery import LazyDiscoverer
    from ansible_collections.kubernetes.core.plugins.module_utils.k8sdynamicclient import K8SDynamicClient
    import yaml  # noqa: F401  pylint: disable=unused-import
    LIBRARY_ERROR = None
except ImportError as exc:
    LIBRARY_ERROR = exc

DEFAULT_REQUEST_TIMEOUT = 30
# Loading a kubeconfig sets the kubernetes client's process-wide default configuration before it is
# copied: clients made in parallel threads (preflight) must load one at a time.
_CONFIGURATION_LOCK = threading.Lock()
# A TCP connect to a live API server takes milliseconds; waiting longer only delays the error.
CONNECT_TIMEOUT = 10

AUTH_ARG_SPEC = dict(K8S_AUTH_ARG_SPEC)
AUTH_ARG_SPEC["request_timeout"] = {"type": "int", "default": DEFAULT_REQUEST_TIMEOUT}

# What an inline kubeconfig (a mapping; AWX credentials inject one) holds that is a secret.
# kubernetes.core marks ``kubeconfig`` no_log in 5.1.0-5.4.1 and 6.0.0-6.2.0 only; 5.0.0 and
# 5.4.2+/6.3.0+ declare it {"type": "raw"} (plugins/module_utils/args_common.py) and hide a list of
# fields in its own module class (plugins/module_utils/k8s/core.py, PR #1014), which ours do not use.
USER_SECRETS = ("token", "password", "client-key-data")
# auth-provider config keys that hold credentials (access-token, refresh-token, id-token,
# client-secret); its other keys (client-id, idp-issuer-url, expiry, cmd-path) are not secrets.
PROVIDER_SECRET = re.compile(r"(token|secret|password)$")
# Masked text is replaced wherever it appears in a result, registered values included: an exec
# plugin's environment also holds short, common values (a region, a profile name) that would garble
# results. A credential is longer than this.
MIN_ENV_SECRET = 8


def missing_libraries():
    """A missing_required_lib() message when kubernetes.core or a Python library is absent, else None."""
    if KUBERNETES_CORE_ERROR is not None:
        return "the kubernetes.core collection is required (%s)" % KUBERNETES_CORE_ERROR
    if LIBRARY_ERROR is not None:
        return missing_required_lib(getattr(LIBRARY_ERROR, "name", None) or "kubernetes")
    return None


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _user_secrets(user):
    """The secret strings of one kubeconfig ``users[].user``."""
    found = [user.get(key) for key in USER_SECRETS]
    key_data = user.get("client-key-data")
    if isinstance(key_data, str):
        try:  # the PEM the kubernetes client writes to a temp file
            found.append(base64.b64decode(key_data, validate=False).decode("utf-8"))
        except (binascii.Error, ValueError):
            pass
    exec_env = _mapping(user.get("exec")).get("env")
    for variable in exec_env if isinstance(exec_env, list) else []:
        value = _mapping(variable).get("value")
        if isinstance(value, str) and len(value) >= MIN_ENV_SECRET:
            found.append(value)
    config = _mapping(_mapping(user.get("auth-provider")).get("config"))
    found.extend(value for key, value in config.items() if PROVIDER_SECRET.search(str(key)))
    return found


def kubeconfig_secrets(kubeconfig):
    """The secrets an inline kubeconfig holds (nothing for a path): users' tokens, passwords, private
    keys (base64 and PEM), exec credential plugins' environment values, auth providers' tokens."""
    users = _mapping(kubeconfig).get("users")
    secrets = set()
    for entry in users if isinstance(users, list) else []:
        secrets.update(value for value in _user_secrets(_mapping(_mapping(entry).get("user")))
                       if isinstance(value, str) and value.strip())
    return secrets


@contextlib.contextmanager
def credential_files_removed():
    """Removes, when the block ends, the files the kubernetes client wrote a kubeconfig's key,
    certificate and CA data to in it.

    The client (kubernetes/config/kube_config.py, _create_temp_file_with_content) writes them to
    $TMPDIR and removes them in an atexit hook only, which Ansible's forked workers never run (they
    leave by os._exit): every in-process task would leave a copy of the client's private key.
    """
    try:
        from kubernetes.config import kube_config
    except ImportError:  # reported by missing_libraries()
        yield
        return
    # The client rebinds _temp_files when its atexit hook runs: read the module attribute each time.
    before = dict(getattr(kube_config, "_temp_files", {}))
    try:
        yield
    finally:
        written = getattr(kube_config, "_temp_files", {})
        for content, path in list(written.items()):
            if before.get(content) != path:
                written.pop(content, None)
                with contextlib.suppress(OSError):
                    os.remove(path)


class _ExecPluginErrors(logging.Handler):
    """Collects what the kubernetes client logs instead of raising when a credential plugin fails:
    it then goes on without credentials and the API server answers 401/403 for system:anonymous."""

    def __init__(self):
        super(_ExecPluginErrors, self).__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _context_name(options):
    """The context a client talks to, for messages: the option, else the kubeconfig's current one."""
    if options.get("context"):
        return options["context"]
    if options.get("host"):
        return options["host"]
    try:
        from kubernetes.config import list_kube_config_contexts

        kubeconfig = options.get("kubeconfig")
        if isinstance(kubeconfig, dict):
            return kubeconfig.get("current-context") or "(current context)"
        return list_kube_config_contexts(config_file=kubeconfig or os.environ.get("KUBECONFIG"))[1]["name"]
    except Exception:  # pylint: disable=broad-except  # only a label for messages
        return "(current context)"


class Cluster(object):
    """A cluster: its dynamic client (``api``, what kubernetes.core's K8SClient calls ``client``) and its name.

    ``name`` is the kubeconfig context (or host) so every error can say which cluster failed.
    """

    def __init__(self, name, timeout, configuration):
        self.name = name
        self.timeout = timeout
        self.host = getattr(configuration, "host", "")
        self.api = None
        self._k8s = None

    def resource(self, kind, api_version):
        return self._k8s.resource(kind, api_version)

    def unreachable(self, exc, doing=None, read_timeout=None, connect_timeout=None, unanswered=None):
        """GloomeshError for a transport failure: which cluster, what we were doing, and why.

        ``read_timeout``, ``connect_timeout``: the request's own deadlines when they are not the
        client's (a watch passes its own). ``unanswered``: seconds the request went without an answer;
        when a bound fired it is returned as ``unanswered_seconds`` (as helm.py does for a silence), what
        the stated bound can be checked against."""
        cause = getattr(exc, "reason", None) or exc
        reason = str(cause)
        details = {} if unanswered is None else {"unanswered_seconds": round(unanswered, 1)}
        # Name the bound that fired: a server that accepts the connection but never answers (a
        # frozen one) fails the TLS handshake at the connect timeout, well before the read one.
        # (urllib3's NewConnectionError, a refused connection, subclasses ConnectTimeoutError.)
        if (isinstance(cause, urllib3.exceptions.ConnectTimeoutError)
                and not isinstance(cause, urllib3.exceptions.NewConnectionError)):
            why = ("no answer to the connection within %ss (API server down, frozen or unreachable)"
                   % (connect_timeout or min(CONNECT_TIMEOUT, self.timeout)))
        elif "timed out" in reason.lower() or "timeout" in type(cause).__name__.lower():
            why = "no answer within %ss (API server down, frozen or unreachable)" % (read_timeout or self.timeout)
        else:
            why, details = reason, {}
        return GloomeshError(
            "cluster %s (%s): %s%s" % (self.name, self.host, "%s: " % doing if doing else "", why),
            context=self.name, unreachable=True, **details)


def _bound_requests(rest, cluster):
    """Give every request of a REST client connect and read timeouts (watches pass their own),
    and turn transport failures into errors naming the cluster."""
    original = rest.request

    def request(method, url, *args, **kwargs):
        if not kwargs.get("_request_timeout"):
            kwargs["_request_timeout"] = (min(CONNECT_TIMEOUT, cluster.timeout), cluster.timeout)
        bound = kwargs["_request_timeout"]
        connect, read = bound if isinstance(bound, tuple) else (bound, bound)
        sent = time.monotonic()
        try:
            return original(method, url, *args, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            # A watch passes its own, longer read timeout: state the bound of this request.
            raise cluster.unreachable(exc, "%s %s" % (method, url.split("?", 1)[0].replace(cluster.host, "")),
                                      read_timeout=read, connect_timeout=connect, unanswered=time.monotonic() - sent)

    rest.request = request


def _kubeconfig_problem(auth):
    """Why loading failed, naming the file, when a kubeconfig is not one (the client would only say
    "'int' object is not iterable"): the one ``auth`` (kubernetes.core's auth spec: the option, else
    $K8S_AUTH_KUBECONFIG) names, else $KUBECONFIG's files, else ~/.kube/config."""
    given = auth.get("kubeconfig")
    sources = [given] if given else (os.environ.get("KUBECONFIG") or "~/.kube/config").split(os.pathsep)
    for source in filter(None, sources):
        try:
            validation.kubeconfig(source)
        except GloomeshError as exc:
            return exc.message
    return None


def get_cluster(options):
    """A Cluster for the connection options (kubernetes.core's auth options + request_timeout).

    Built from kubernetes.core's pieces (auth options with their K8S_AUTH_* fallbacks, its dynamic
    client and discovery cache) but with the deadlines in place before the first request, which
    discovery sends while the client is created. Configuration problems (bad kubeconfig, unknown
    context, failing credential plugin) and an unreachable server become GloomeshError naming the
    context.
    """
    missing = missing_libraries()
    if missing:
        raise GloomeshError(missing)
    auth = dict((key, value) for key, value in options.items()
                if key in K8S_AUTH_ARG_SPEC and value is not None)
    name = _context_name(auth)
    timeout = options.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT
    if timeout < 1:
        raise GloomeshError("request_timeout must be at least 1 (seconds), got %s" % timeout,
                            option="request_timeout")
    spec = core_client._create_auth_spec(**auth)  # pylint: disable=protected-access  # K8S_AUTH_* fill in
    collector = _ExecPluginErrors()
    root = logging.getLogger()
    with _CONFIGURATION_LOCK:
        root.addHandler(collector)
        try:
            configuration = core_client._create_configuration(spec)  # pylint: disable=protected-access
        except Exception as exc:  # pylint: disable=broad-except  # kubeconfig loading raises many kinds
            raise GloomeshError("cluster %s: cannot load the connection settings: %s"
                                % (name, _kubeconfig_problem(spec) or exc), context=name)
        finally:
            root.removeHandler(collector)
    plugin_errors = [m for m in collector.messages if m.startswith("exec")]
    if plugin_errors:
        raise GloomeshError(
            "cluster %s: the kubeconfig's credential plugin (users[].user.exec) failed, so no credentials "
            "could be sent: %s" % (name, "; ".join(plugin_errors)), context=name)
    # No retries of reads: one timeout already is the bound. Connects retry once (a restarting server).
    configuration.retries = urllib3.Retry(total=2, connect=1, read=0, redirect=2, status=0)
    cluster = Cluster(name, timeout, configuration)
    api_client = kubernetes.client.ApiClient(configuration)
    for header, value in core_client._create_headers(**auth).items():  # pylint: disable=protected-access
        core_client._set_header(api_client, header, value)  # pylint: disable=protected-access
    _bound_requests(api_client.rest_client, cluster)
    try:
        cluster.api = K8SDynamicClient(api_client, discoverer=LazyDiscoverer)
    except kubernetes.client.exceptions.ApiException as exc:
        raise GloomeshError("cluster %s (%s): the API server refused to describe its APIs: %s %s"
                            % (name, cluster.host, exc.status, exc.reason), context=name, status=exc.status)
    cluster._k8s = core_client.K8SClient(configuration=configuration, client=cluster.api)  # pylint: disable=protected-access
    return cluster
