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

The options are validated with the module's own argument spec, secrets (``no_log`` options, an
inline kubeconfig's credentials and what operations ``mask``) are removed from the result the way
AnsibleModule removes them, and the result has the module's shape (runner.py does both, for both
paths). Kubernetes modules take ``context`` and ``kubeconfig`` from the host variables
``kube_context`` and ``kubeconfig`` when neither the task nor module_defaults set them, and modules
with a ``force_conflicts`` option take it from ``gloomesh_force_conflicts`` (true, or a list of
module names; parsed as preflight parses it) the same way: the one switch to take back fields another
field manager changed.

The task's ``environment:`` applies while the operation runs. A task that needs what only a new
process gives (``become``, another Python, a variable read at interpreter start) runs as a module
process, and ``-v`` says why.

The contract with the module file ``plugins/modules/<name>.py`` (docs/in_process.md, "What a module
must export"; ``module_contract`` is the one place that reads it, and tests/unit/plugins/test_module_contract.py
checks it for every module):

- ``ARGUMENT_SPEC``: the module's own options (kubernetes.core's auth options are added unless
  ``KUBERNETES`` is false);
- ``operation``: its module of ``module_utils/operations``, with ``run(invocation) -> result dict``;
- ``KUBERNETES`` (optional, default True): False when the module talks to no cluster;
- ``MODULE_KWARGS`` (optional, default ``{}``): ``mutually_exclusive``, ``required_one_of``, ...;
- ``main()``: ``run_module(ARGUMENT_SPEC, operation.run, kubernetes=KUBERNETES, **MODULE_KWARGS)``, so
  that the module process validates and runs exactly as this plugin does.

A module whose action plugin is not this one (mesh_preflight, mesh_verify: documentation-only module
files) exports none of these.

Set the variable ``gloomesh_in_process: false`` to always run the modules as processes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import importlib
import os
import re
import shutil
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

# Imported here, in the main process, so that every forked worker has them already.
from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state  # noqa: F401  pylint: disable=unused-import
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates  # noqa: F401  pylint: disable=unused-import
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s import wait  # noqa: F401  pylint: disable=unused-import
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import missing_libraries
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import (
    Invocation,
    argument_spec,
    output_secrets,
    perform,
)
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import inventory_inputs

COLLECTION = "gloomesh.multicluster"
# Host variables that name a host's cluster (see the example inventory).
CONNECTION_VARIABLES = {"context": "kube_context", "kubeconfig": "kubeconfig"}
# Read when an interpreter starts (or cached by it, as tempfile caches TMPDIR): setting them in a
# running controller process would not do what a module process started with them does.
START_ONLY_VARIABLES = re.compile(r"^(PYTHON.*|LD_.*|DYLD_.*|TMPDIR|TEMP|TMP)$")

display = Display()


# What this plugin reads from a module file, with the defaults of the optional names.
Contract = collections.namedtuple("Contract", "spec run kubernetes kwargs")
MODULE_KWARGS_ALLOWED = frozenset(("mutually_exclusive", "required_together", "required_one_of", "required_if",
                                   "required_by"))


def module_contract(module):
    """The Contract of ``module`` (a module file of this collection; see the docstring above)."""
    return Contract(module.ARGUMENT_SPEC, module.operation.run, getattr(module, "KUBERNETES", True),
                    getattr(module, "MODULE_KWARGS", {}))


def _module_name(task):
    action = getattr(task, "resolved_action", None) or task.action
    return action.rpartition(".")[2]


def run_in_process(module, args, check_mode=False, diff=False):
    """What ``module`` (a module of this collection) returns for ``args``, run in this process."""
    contract = module_contract(module)
    spec = argument_spec(contract.spec, contract.kubernetes)
    validation = ArgumentSpecValidator(spec, **contract.kwargs).validate(args)
    params = validation.validated_parameters
    if validation.error_messages:
        # As AnsibleModule fails: every no_log value hidden, a whole inline kubeconfig included.
        hidden = validation._no_log_values  # pylint: disable=protected-access
        return remove_values({"failed": True, "msg": "; ".join(validation.error_messages),
                              "invocation": {"module_args": params}}, hidden)
    invocation = Invocation(params, check_mode=check_mode, diff=diff, no_log_values=output_secrets(spec, params))
    outcome = perform(contract.run, invocation)
    # The messages AnsibleModule gives for these.
    warnings = ["Both option %s and its alias %s are set." % (w["option"], w["alias"])
                for w in getattr(validation, "_warnings", [])] + invocation.warnings
    if warnings:
        outcome["warnings"] = list(outcome.get("warnings") or []) + warnings
    outcome["invocation"] = {"module_args": params}
    return remove_values(outcome, invocation.no_log_values)


@contextlib.contextmanager
def environment(variables):
    """os.environ with ``variables`` (a task's ``environment:``) while the block runs."""
    saved = dict((name, os.environ.get(name)) for name in variables)
    os.environ.update((name, str(value)) for name, value in variables.items())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _same_python(interpreter):
    """Whether an ansible_python_interpreter value is this process's Python (not set and auto
    discovery are: the operation needs no other interpreter, only the libraries checked apart).

    The same file in the same directory: a venv's python and python3 are one interpreter, while a
    venv's python and the system Python it links to have different libraries."""
    if not interpreter or str(interpreter).startswith("auto"):
        return True
    path = os.path.abspath(os.path.expanduser(shutil.which(str(interpreter)) or str(interpreter)))
    ours = os.path.abspath(sys.executable)
    try:
        return os.path.dirname(path) == os.path.dirname(ours) and os.path.samefile(path, ours)
    except OSError:  # no such file: a module process will say so
        return False


class ActionModule(ActionBase):
    """Runs ``gloomesh.multicluster.<module>`` in process, or as a module where that cannot work."""

    _supports_check_mode = True
    _supports_async = True

    def _transport(self):
        return getattr(self._connection, "transport", None) or getattr(self._connection, "_load_name", "")

    def _why_a_process(self, kubernetes, task_vars, variables):
        """Why this task must run as a module process, or None to run it in process."""
        interpreter = self._templar.template(task_vars.get("ansible_python_interpreter"))
        start_only = sorted(name for name in variables if START_ONLY_VARIABLES.match(name))
        transport = self._transport()
        missing = missing_libraries() if kubernetes else None
        reasons = [
            (not boolean(task_vars.get("gloomesh_in_process", True), strict=False), "gloomesh_in_process is false"),
            (self._task.async_val, "the task is async"),
            (transport not in ("local", "ansible.builtin.local"), "its connection is %s, not local" % transport),
            (missing, "the controller's Python lacks what it needs: %s" % missing),
            (getattr(self._play_context, "become", False), "the task uses become, which only a process can"),
            (not _same_python(interpreter),
             "ansible_python_interpreter is %s, not the controller's %s" % (interpreter, sys.executable)),
            (start_only, "its environment sets %s, read only when a process starts" % ", ".join(start_only)),
        ]
        return next((why for wanted, why in reasons if wanted), None)

    def _args(self, contract, name, task_vars):
        """The task's options, with the host variables that fill in connection and force_conflicts."""
        args = dict(self._task.args)
        if contract.kubernetes:
            for option, variable in CONNECTION_VARIABLES.items():
                if args.get(option) is None and task_vars.get(variable) is not None:
                    args[option] = self._templar.template(task_vars[variable])
        if "force_conflicts" in contract.spec and args.get("force_conflicts") is None:
            # Parsed as preflight parses it: a value preflight refuses fails the task here too.
            wanted = inventory_inputs.force_conflicts(self._templar.template(task_vars.get("gloomesh_force_conflicts", False)))
            args["force_conflicts"] = wanted is True or (isinstance(wanted, list) and name in wanted)
        return args

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        name = _module_name(self._task)
        module = importlib.import_module("ansible_collections.gloomesh.multicluster.plugins.modules." + name)
        contract = module_contract(module)
        try:
            args = self._args(contract, name, task_vars)
        except GloomeshError as exc:
            result.update(failed=True, msg=exc.message)
            return result
        variables = {}
        self._compute_environment_string(variables)
        why = self._why_a_process(contract.kubernetes, task_vars, variables)
        if why:
            display.v("%s.%s runs as a module process: %s" % (COLLECTION, name, why), host=task_vars.get("inventory_hostname"))
            result.update(self._execute_module(module_name="%s.%s" % (COLLECTION, name), module_args=args,
                                               task_vars=task_vars, wrap_async=self._task.async_val))
            return result
        with environment(variables):
            result.update(run_in_process(module, args, bool(self._task.check_mode), bool(self._task.diff)))
        return result
