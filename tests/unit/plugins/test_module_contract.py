"""The contract between the module files and their action plugins (plugins/plugin_utils/in_process.py
docstring, docs/in_process.md "What a module must export"), checked for every module: what the in-process
runner reads from a module is what the module's own main() runs with, so both paths validate and run the
same; a module with an action plugin of its own is documentation only; the action group holds exactly
the in-process modules that talk to a cluster."""
from __future__ import annotations

import importlib
import os
import pkgutil

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gloomesh.multicluster.plugins import modules
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import argument_spec
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import in_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NAMES = sorted(found.name for found in pkgutil.iter_modules(modules.__path__))


def _load(kind, name):
    return importlib.import_module("ansible_collections.gloomesh.multicluster.plugins.%s.%s" % (kind, name))


def _in_process(name):
    return _load("action", name).ActionModule is in_process.ActionModule


def test_there_are_modules_of_both_kinds():
    assert len(NAMES) >= 12 and "servicemeshcontroller" in NAMES
    assert {"mesh_preflight", "mesh_verify"} <= set(n for n in NAMES if not _in_process(n))


@pytest.mark.parametrize("name", NAMES)
def test_every_module_has_its_action_plugin_and_documentation(name):
    assert os.path.exists(os.path.join(ROOT, "plugins", "action", name + ".py")), "plugins/action/%s.py" % name
    module = _load("modules", name)
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == name and module.EXAMPLES.strip() and module.RETURN.strip()


@pytest.mark.parametrize("name", NAMES)
def test_what_in_process_reads_is_what_main_runs(name, monkeypatch):
    module = _load("modules", name)
    if not _in_process(name):
        # Documentation only: its action plugin does the work, no module process ever runs it.
        assert not [n for n in ("ARGUMENT_SPEC", "operation", "KUBERNETES", "MODULE_KWARGS", "main") if hasattr(module, n)]
        return
    contract = in_process.module_contract(module)
    assert isinstance(contract.spec, dict) and contract.spec and callable(contract.run)
    assert contract.run.__module__.startswith("ansible_collections.gloomesh.multicluster.plugins.module_utils.operations.")
    assert isinstance(contract.kubernetes, bool)
    assert set(contract.kwargs) <= in_process.MODULE_KWARGS_ALLOWED
    ArgumentSpecValidator(argument_spec(contract.spec, contract.kubernetes), **contract.kwargs)  # a valid spec
    calls = []
    monkeypatch.setattr(module, "run_module", lambda spec, run, kubernetes=True, **kwargs: calls.append(
        (spec, run, kubernetes, kwargs)))
    module.main()
    assert calls == [tuple(contract)], "main() must run_module(ARGUMENT_SPEC, operation.run, kubernetes=KUBERNETES, **MODULE_KWARGS)"
    assert calls[0][0] is module.ARGUMENT_SPEC


def test_the_action_group_holds_the_in_process_modules_that_talk_to_a_cluster():
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as fh:
        group = [m for m in yaml.safe_load(fh)["action_groups"]["gloomesh"] if isinstance(m, str)]
    assert sorted(group) == [n for n in NAMES if _in_process(n) and in_process.module_contract(_load("modules", n)).kubernetes]
