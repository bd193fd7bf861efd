"""The in-process action plugin (plugins/plugin_utils/in_process.py) without a playbook: which path a
task takes and why, the task's environment, the host variables it fills in, and the result it gives
(issue 21 items 3 and 5; docs/in_process.md is the contract)."""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import types

import pytest

from ansible_collections.gloomesh.multicluster.plugins import modules
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import in_process, inventory_inputs

PACKAGE = "ansible_collections.gloomesh.multicluster.plugins.modules."


class Templar:
    def template(self, value):
        return value


class Shell:
    tmpdir = None

    def env_prefix(self, **variables):
        return " ".join("%s=%s" % item for item in variables.items())


def observe(invocation):
    """Reports what the operation saw."""
    if invocation.params["boom"]:
        raise GloomeshError("boom", where="here")
    return {"environ": dict((k, os.environ.get(k)) for k in ("K8S_AUTH_KUBECONFIG", "GLOOMESH_UNIT_NEW")),
            "params": invocation.params}


def fake_module(monkeypatch, kubernetes=False):
    module = types.ModuleType(PACKAGE + "fake_observe")
    module.KUBERNETES = kubernetes
    module.ARGUMENT_SPEC = {"boom": {"type": "bool", "default": False}, "force_conflicts": {"type": "bool"},
                            "name": {"type": "str", "aliases": ["title"]}}
    module.operation = types.SimpleNamespace(run=observe)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def action(args=None, environment=None, transport="local", become=False, async_val=0):
    task = types.SimpleNamespace(action="gloomesh.multicluster.fake_observe", resolved_action=None, args=args or {},
                                 environment=environment, check_mode=False, diff=False, async_val=async_val)
    connection = types.SimpleNamespace(transport=transport, _shell=Shell())
    return in_process.ActionModule(task, connection, types.SimpleNamespace(become=become), None, Templar(), None)


@pytest.fixture
def said(monkeypatch):
    """What the plugin shows at -v."""
    lines = []
    monkeypatch.setattr(in_process.display, "v", lambda msg, host=None: lines.append(msg))
    return lines


@pytest.fixture
def as_process(monkeypatch):
    """Records the module-process runs instead of starting them."""
    runs = []

    def execute(self, module_name, module_args, task_vars, wrap_async):
        runs.append((module_name, module_args))
        return {"ran": "as a process"}
    monkeypatch.setattr(in_process.ActionModule, "_execute_module", execute)
    return runs


FALLBACKS = [
    (dict(become=True), {}, "the task uses become"),
    (dict(), {"ansible_python_interpreter": "/usr/bin/python3-not-this-one"}, "ansible_python_interpreter is /usr/bin/python3-not-this-one"),
    # The Python a venv links to: the same interpreter file, other libraries.
    (dict(), {"ansible_python_interpreter": os.path.realpath(sys.executable)},
     "ansible_python_interpreter is %s" % os.path.realpath(sys.executable)),
    (dict(environment=[{"PYTHONPATH": "/x"}]), {}, "its environment sets PYTHONPATH, read only when a process starts"),
    (dict(environment=[{"TMPDIR": "/x"}]), {}, "its environment sets TMPDIR"),
    (dict(transport="ssh"), {}, "its connection is ssh, not local"),
    (dict(async_val=10), {}, "the task is async"),
    (dict(), {"gloomesh_in_process": "false"}, "gloomesh_in_process is false"),
]


@pytest.mark.parametrize("keywords, task_vars, why", FALLBACKS)
def test_what_in_process_cannot_honour_runs_as_a_process_and_says_why(monkeypatch, said, as_process, keywords, task_vars, why):
    fake_module(monkeypatch)
    result = action(**keywords).run(task_vars=dict(task_vars))
    assert result["ran"] == "as a process" and as_process[0][0] == "gloomesh.multicluster.fake_observe"
    assert len(said) == 1 and said[0].startswith("gloomesh.multicluster.fake_observe runs as a module process: " + why), said


@pytest.mark.parametrize("interpreter", [None, sys.executable, os.path.join(os.path.dirname(sys.executable), "python3"),
                                         "auto_silent", "auto"])
def test_the_controllers_python_stays_in_process(monkeypatch, said, as_process, interpreter):
    fake_module(monkeypatch)
    result = action().run(task_vars={"ansible_python_interpreter": interpreter})
    assert as_process == [] and said == [] and "environ" in result


def test_missing_libraries_run_a_kubernetes_module_as_a_process(monkeypatch, said, as_process):
    fake_module(monkeypatch, kubernetes=True)
    monkeypatch.setattr(in_process, "missing_libraries", lambda: "no kubernetes here")
    action().run(task_vars={})
    assert as_process and "the controller's Python lacks what it needs: no kubernetes here" in said[0]


def test_the_tasks_environment_applies_while_the_operation_runs(monkeypatch, said, as_process):
    fake_module(monkeypatch)
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", "/default.yaml")
    monkeypatch.delenv("GLOOMESH_UNIT_NEW", raising=False)
    env = [{"K8S_AUTH_KUBECONFIG": "/play.yaml"}, {"K8S_AUTH_KUBECONFIG": "/other.yaml", "GLOOMESH_UNIT_NEW": 1}]
    result = action(environment=env).run(task_vars={})
    assert as_process == [] and said == []
    assert result["environ"] == {"K8S_AUTH_KUBECONFIG": "/other.yaml", "GLOOMESH_UNIT_NEW": "1"}
    assert os.environ["K8S_AUTH_KUBECONFIG"] == "/default.yaml" and "GLOOMESH_UNIT_NEW" not in os.environ


def test_environment_is_restored_when_the_operation_raises(monkeypatch):
    monkeypatch.delenv("GLOOMESH_UNIT_NEW", raising=False)
    with pytest.raises(RuntimeError):
        with in_process.environment({"GLOOMESH_UNIT_NEW": "x"}):
            raise RuntimeError()
    assert "GLOOMESH_UNIT_NEW" not in os.environ


def test_host_variables_fill_in_connection_and_force_conflicts(monkeypatch, as_process):
    fake_module(monkeypatch, kubernetes=True)
    monkeypatch.setattr(inventory_inputs, "FORCE_CONFLICTS_MODULES", inventory_inputs.FORCE_CONFLICTS_MODULES + ("fake_observe",))
    task_vars = {"kube_context": "cluster2", "kubeconfig": "/k", "gloomesh_force_conflicts": ["fake_observe"]}
    params = action({"context": "cluster1"}).run(task_vars=task_vars)["params"]
    assert (params["context"], params["kubeconfig"], params["force_conflicts"]) == ("cluster1", "/k", True)
    params = action().run(task_vars=dict(task_vars, gloomesh_force_conflicts=["servicemeshcontroller"]))["params"]
    assert (params["context"], params["force_conflicts"]) == ("cluster2", False)


@pytest.mark.parametrize("value, forced", [(True, True), (False, False), ("true", True), ("no", False), ([], False)])
def test_gloomesh_force_conflicts_is_parsed_as_preflight_parses_it(monkeypatch, as_process, value, forced):
    fake_module(monkeypatch)
    assert action().run(task_vars={"gloomesh_force_conflicts": value})["params"]["force_conflicts"] is forced
    assert not [p for p in inventory_inputs.inventory_problems({"gloomesh_force_conflicts": value})
                if "gloomesh_force_conflicts" in p]


@pytest.mark.parametrize("value", ["maybe", ["service-mesh"], 1, {"service_mesh": True}])
def test_a_gloomesh_force_conflicts_preflight_refuses_fails_the_task_before_it_runs(monkeypatch, as_process, value):
    fake_module(monkeypatch)
    result = action().run(task_vars={"gloomesh_force_conflicts": value})
    refusal = "gloomesh_force_conflicts %r must be true, false or a list of " % (value,)
    assert result["failed"] and result["msg"].startswith(refusal) and "params" not in result and as_process == []
    assert [p for p in inventory_inputs.inventory_problems({"gloomesh_force_conflicts": value}) if p.startswith(refusal)]


def test_force_conflicts_modules_are_the_modules_with_the_option():
    names = [m.name for m in pkgutil.iter_modules(modules.__path__)]
    with_option = [n for n in names if "force_conflicts" in getattr(importlib.import_module(PACKAGE + n), "ARGUMENT_SPEC", {})]
    assert len(names) > len(with_option) > 0
    assert sorted(with_option) == sorted(inventory_inputs.FORCE_CONFLICTS_MODULES)


def test_run_in_process_gives_the_module_shape(monkeypatch):
    module = fake_module(monkeypatch)
    result = in_process.run_in_process(module, {"title": "a", "name": "b"})
    assert "changed" not in result and result["invocation"] == {"module_args": result["params"]}
    assert result["warnings"] == ["Both option name and its alias title are set."]
    failed = in_process.run_in_process(module, {"boom": True})
    assert (failed["failed"], failed["msg"], failed["where"]) == (True, "boom", "here")


def test_invalid_options_are_a_failed_result(monkeypatch):
    result = in_process.run_in_process(fake_module(monkeypatch), {"boom": "maybe", "nope": 1})
    assert result["failed"] and "nope" in result["msg"] and "boom" in result["msg"]
    assert result["invocation"]["module_args"]["nope"] == 1
