# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""How an operation runs: the Task it receives, and the entry point of every module's main().

An operation is ``run(task) -> result dict``; it raises GloomeshError to fail. The same operation
runs in a module process (run_module below) or in the controller process (the in-process action
plugin, plugins/plugin_utils/in_process.py): both hand it a Task and turn its outcome into a result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import (
    AUTH_ARG_SPEC,
    get_k8s_client,
    missing_libraries,
)


class Task(object):
    """What an operation sees: validated options, check and diff mode, and the cluster it talks to.

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
        self._clients = {}

    def warn(self, message):
        if self._warn is not None:
            self._warn(message)
        else:
            self.warnings.append(message)

    def mask(self, text):
        if text:
            self.no_log_values.add(text)
            self.no_log_values.add(base64.b64encode(text.encode("utf-8")).decode("ascii"))

    def client(self, **auth):
        """The Kubernetes client of this task's auth options, or of ``auth`` (another cluster)."""
        options = auth or dict((key, self.params.get(key)) for key in AUTH_ARG_SPEC)
        key = repr(sorted(options.items()))
        if key not in self._clients:
            self._clients[key] = get_k8s_client(options)
        return self._clients[key]


def fail_result(exc):
    """The result dict of a failed operation."""
    result = dict(exc.details)
    result.update(failed=True, msg=exc.message)
    return result


def run_module(argument_spec, operation, kubernetes=True, **kwargs):
    """main() of a module: validate the options, run ``operation``, exit with its result."""
    spec = copy.deepcopy(AUTH_ARG_SPEC) if kubernetes else {}
    spec.update(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    missing = missing_libraries() if kubernetes else None
    if missing:
        module.fail_json(msg=missing)
    task = Task(module.params, module.check_mode, module._diff, module.warn, module.no_log_values)
    try:
        result = operation(task)
    except GloomeshError as exc:
        module.fail_json(**fail_result(exc))
    module.exit_json(**result)
