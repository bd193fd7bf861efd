# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""How an operation runs: the Invocation it receives, and the entry point of every module's main().

An operation is ``run(invocation) -> result dict``; it raises GloomeshError to fail. The same operation
runs in a module process (run_module below) or in the controller process (the in-process action
plugin, plugins/plugin_utils/in_process.py): both validate with ``argument_spec``, hide
``output_secrets``, and run it with ``perform``. docs/in_process.md has the contract.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.parameters import _list_no_log_values, remove_values

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import (
    AUTH_ARG_SPEC,
    credential_files_removed,
    get_cluster,
    kubeconfig_secrets,
    missing_libraries,
)


def _hidden_forms(secret):
    """A secret as every output channel hides it: as given and in base64 (as Secret data holds it)."""
    return secret, base64.b64encode(secret.encode("utf-8")).decode("ascii")


def _kubeconfig_no_log(spec, hidden):
    """Set no_log of every ``kubeconfig`` option, in suboptions too (mesh_link's mesh[].kubeconfig)."""
    for name, option in spec.items():
        if name == "kubeconfig":
            option["no_log"] = hidden
        _kubeconfig_no_log(option.get("options") or {}, hidden)
    return spec


def argument_spec(module_spec, kubernetes=True):
    """The spec a module's options are validated with, on both paths: kubernetes.core's auth options
    (for a module that talks to a cluster) and the module's own.

    Every kubeconfig option is no_log whatever kubernetes.core says (see client.USER_SECRETS), so
    what AnsibleModule does before ``output_secrets`` can narrow it (fail on invalid options, log
    the invocation to syslog) hides a whole inline kubeconfig."""
    spec = copy.deepcopy(AUTH_ARG_SPEC) if kubernetes else {}
    spec.update(copy.deepcopy(module_spec))
    return _kubeconfig_no_log(spec, True)


def _kubeconfigs(value):
    """Every value of a ``kubeconfig`` key in validated options, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "kubeconfig":
                yield item
            else:
                yield from _kubeconfigs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _kubeconfigs(item)


def output_secrets(spec, params):
    """What every output channel (result, invocation, diff, warnings, errors) hides once the options
    are validated: the no_log options' values as Ansible lists them, except that of a kubeconfig only
    its secrets (plain and base64). no_log would hide its every leaf, "v1", context and user names
    included, wherever they appear in a result, registered values too."""
    # The list ArgumentSpecValidator makes (ansible-core 2.16 and 2.19), kubeconfigs left out.
    values = set(_list_no_log_values(_kubeconfig_no_log(copy.deepcopy(spec), False), params))
    for kubeconfig in _kubeconfigs(params):
        for secret in kubeconfig_secrets(kubeconfig):
            values.update(_hidden_forms(secret))
    return values


class Invocation(object):
    """One invocation of a module, what its operation sees: validated options, check and diff mode,
    and the clusters it talks to. (Ansible's word for what a module was called with, as a result's
    ``invocation.module_args`` shows it; not Ansible's Task, which in_process.py handles beside it.)

    ``warn(message)`` reports a warning; ``mask(text)`` has every output channel hide a secret
    (also in its base64 form, as Secret data holds it).
    """

    def __init__(self, params, check_mode=False, diff=False, warn=None, no_log_values=None):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.warnings = []
        self._warn = warn
        self.no_log_values = no_log_values if no_log_values is not None else set()
        self._clusters = {}

    def warn(self, message):
        # ansible-core 2.19 keeps a module's warnings as objects that exit_json's remove_values does
        # not enter: hide the secrets known now.
        message = remove_values(message, self.no_log_values)
        if self._warn is not None:
            self._warn(message)
        else:
            self.warnings.append(message)

    def mask(self, text):
        if text:
            self.no_log_values.update(_hidden_forms(text))

    def cluster(self, **auth):
        """The Cluster of this invocation's auth options, or of ``auth`` (another cluster)."""
        options = auth or dict((key, self.params.get(key)) for key in AUTH_ARG_SPEC)
        # Another cluster's kubeconfig may come from anywhere (a descriptor, a variable).
        for secret in kubeconfig_secrets(options.get("kubeconfig")):
            self.mask(secret)
        key = repr(sorted(options.items()))
        if key not in self._clusters:
            self._clusters[key] = get_cluster(options)
        return self._clusters[key]


def fail_result(exc):
    """The result dict of a failed operation."""
    result = dict(exc.details)
    result.update(failed=True, msg=exc.message)
    return result


def perform(operation, invocation):
    """``operation(invocation)``'s result, or the failed result of its GloomeshError; either way without
    the files the kubernetes client wrote credentials to."""
    with credential_files_removed():
        try:
            return operation(invocation)
        except GloomeshError as exc:
            return fail_result(exc)


def run_module(module_spec, operation, kubernetes=True, **kwargs):
    """main() of a module: validate the options, run ``operation``, exit with its result."""
    spec = argument_spec(module_spec, kubernetes)
    kwargs.setdefault("supports_check_mode", True)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    # exit_json and fail_json remove these from the whole result, invocation included.
    module.no_log_values = output_secrets(spec, module.params)
    missing = missing_libraries() if kubernetes else None
    if missing:
        module.fail_json(msg=missing)
    invocation = Invocation(module.params, module.check_mode, module._diff, module.warn, module.no_log_values)
    result = perform(operation, invocation)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)
