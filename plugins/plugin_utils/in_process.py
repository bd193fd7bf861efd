# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""The action plugin of every gloomesh.multicluster module: runs the module's operation in the
controller process when the host's connection is local, else runs the module as usual.

Hosts of this collection's inventories are clusters with ``connection: local``: a module process
per task would start Python, unpack the module and import the Kubernetes client again and again
(about half a CPU-second each), only to send a few API requests. In process, the operation costs
its requests: the strategy imports this file in the main ansible process before it forks the
workers, so the Kubernetes client is imported once per run.

The options are validated with the module's own argument spec, secrets (``no_log`` options and
what operations ``mask``) are removed from the result the way AnsibleModule removes them, and the
result has the module's shape. Kubernetes modules take ``context`` and ``kubeconfig`` from the host
variables ``kube_context`` and ``kubeconfig`` when neither the task nor module_defaults set them, and
modules with a ``force_conflicts`` option take it from ``gloomesh_force_conflicts`` (true, or a list
of module names) the same way: the one switch to take back fields another field manager changed.

Set the variable ``gloomesh_in_process: false`` to always run the modules as processes (for
example to run them with another Python than the controller's).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import importlib

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

# Imported here, in the main process, so that every forked worker has them already.
from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state  # noqa: F401  pylint: disable=unused-import
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates  # noqa: F401  pylint: disable=unused-import
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s import wait  # noqa: F401  pylint: disable=unused-import
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import AUTH_ARG_SPEC, missing_libraries
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import Task, fail_result

COLLECTION = "gloomesh.multicluster"
# Host variables that name a host's cluster (see the example inventory).
CONNECTION_VARIABLES = {"context": "kube_context", "kubeconfig": "kubeconfig"}


def _module_name(task):
    action = getattr(task, "resolved_action", None) or task.action
    return action.rpartition(".")[2]


class ActionModule(ActionBase):
    """Runs ``gloomesh.multicluster.<module>`` in process, or as a module where that cannot work."""

    _supports_check_mode = True
    _supports_async = True

    def _local(self, task_vars):
        transport = getattr(self._connection, "transport", None) or getattr(self._connection, "_load_name", "")
        return transport in ("local", "ansible.builtin.local")

    def _in_process(self, kubernetes, task_vars):
        wanted = boolean(task_vars.get("gloomesh_in_process", True), strict=False)
        return (wanted and not self._task.async_val and self._local(task_vars)
                and not (kubernetes and missing_libraries()))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        name = _module_name(self._task)
        module = importlib.import_module("ansible_collections.gloomesh.multicluster.plugins.modules." + name)
        kubernetes = getattr(module, "KUBERNETES", True)
        args = dict(self._task.args)
        if kubernetes:
            for option, variable in CONNECTION_VARIABLES.items():
                if args.get(option) is None and task_vars.get(variable) is not None:
                    args[option] = self._templar.template(task_vars[variable])
        if "force_conflicts" in module.ARGUMENT_SPEC and args.get("force_conflicts") is None:
            wanted = self._templar.template(task_vars.get("gloomesh_force_conflicts", False))
            args["force_conflicts"] = wanted is True or (isinstance(wanted, list) and name in wanted) or (
                isinstance(wanted, str) and boolean(wanted, strict=False))
        if not self._in_process(kubernetes, task_vars):
            result.update(self._execute_module(module_name="%s.%s" % (COLLECTION, name), module_args=args,
                                               task_vars=task_vars, wrap_async=self._task.async_val))
            return result
        result.update(self._run_operation(module, kubernetes, args))
        return result

    def _run_operation(self, module, kubernetes, args):
        spec = copy.deepcopy(AUTH_ARG_SPEC) if kubernetes else {}
        spec.update(module.ARGUMENT_SPEC)
        validation = ArgumentSpecValidator(spec, **getattr(module, "MODULE_KWARGS", {})).validate(args)
        no_log_values = set(validation._no_log_values)  # pylint: disable=protected-access
        if validation.error_messages:
            raise AnsibleActionFail(remove_values("; ".join(validation.error_messages), no_log_values))
        params = validation.validated_parameters
        task = Task(params, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff),
                    no_log_values=no_log_values)
        try:
            outcome = module.operation.run(task)
        except GloomeshError as exc:
            outcome = fail_result(exc)
        outcome.setdefault("changed", False)
        # The messages AnsibleModule gives for these.
        warnings = ["Both option %s and its alias %s are set." % (w["option"], w["alias"])
                    for w in getattr(validation, "_warnings", [])] + task.warnings
        if warnings:
            outcome["warnings"] = list(outcome.get("warnings") or []) + warnings
        outcome["invocation"] = {"module_args": params}
        return remove_values(outcome, task.no_log_values)
