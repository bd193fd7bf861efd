"""Run the collection's modules from tests, in this process, on either path; playbooks: playbook_run.py.

``path="module"`` runs the module's ``main()`` as a module process would (plugins/module_utils/runner.py
run_module); ``path="in_process"`` runs what the in-process action plugin runs
(plugins/plugin_utils/in_process.py run_in_process). The default is GLOOMESH_TEST_MODULE_PATH, else
``module``: GLOOMESH_TEST_MODULE_PATH=in_process runs every behaviour test on the default path.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import tempfile
import urllib.request
from unittest import mock

from .collection_path import install_collection_finder

PATHS = ("module", "in_process")


def _module(name):
    install_collection_finder()
    return importlib.import_module(f"ansible_collections.gloomesh.multicluster.plugins.modules.{name}")


@contextlib.contextmanager
def _module_args(payload):
    """The options as AnsibleModule reads them: ansible-core 2.19's testing helper, or (2.16, which
    has none) the serialized arguments its AnsiballZ wrapper would leave in basic._ANSIBLE_ARGS."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:
        from ansible.module_utils import basic

        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": payload}).encode()):
            yield
        return
    with patch_module_args(payload):
        yield


@contextlib.contextmanager
def _module_side():
    """A module normally runs in a fresh process: drop what earlier runs left behind and (2.19) run
    module-side even when this process has imported controller code, which would send module
    warnings to the controller's display instead of the result."""
    from ansible.module_utils.common import warnings

    warnings._global_warnings.clear()
    warnings._global_deprecations.clear()
    try:
        from ansible.module_utils import _internal
    except ImportError:  # 2.16: modules always report to their result
        yield
        return
    with mock.patch.object(_internal, "is_controller", False):
        yield


def _run_main(module, args: dict, check_mode: bool, diff: bool) -> dict:
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    payload.setdefault("_ansible_tmpdir", tempfile.mkdtemp(prefix="gloomesh-mod-"))
    payload.setdefault("_ansible_remote_tmp", payload["_ansible_tmpdir"])
    out = io.StringIO()
    try:
        with _module_args(payload), _module_side(), contextlib.redirect_stdout(out):
            try:
                module.main()
            except SystemExit:
                pass
    finally:
        # ansible's URL helpers install a process-wide urllib opener (proxies included).
        urllib.request.install_opener(None)
    # exit_json / fail_json print the result as one JSON line, as a module process does.
    lines = [line for line in out.getvalue().splitlines() if line.startswith("{")]
    if not lines:
        raise AssertionError(f"module {module.__name__} returned no result; stdout: {out.getvalue()!r}")
    return _as_displayed(json.loads(lines[-1]))


def _as_displayed(result: dict) -> dict:
    """ansible-core 2.19 modules print warnings as WarningSummary mappings, which the controller
    shows as their message: keep the text, as 2.16 prints it and as users read it."""
    if isinstance(result.get("warnings"), list):
        result["warnings"] = [w["event"].get("msg", w) if isinstance(w, dict) and "event" in w else w
                              for w in result["warnings"]]
    return result


def _run_in_process(module, args: dict, check_mode: bool, diff: bool) -> dict:
    install_collection_finder()
    from ansible_collections.gloomesh.multicluster.plugins.plugin_utils.in_process import run_in_process

    result = run_in_process(module, dict(args), check_mode=check_mode, diff=diff)
    # What the controller receives from a module process: JSON.
    return json.loads(json.dumps(result, default=str))


def run(module, args: dict, check_mode: bool = False, diff: bool = False, path: str | None = None) -> dict:
    """Run ``module`` (a module's Python module: ``main``, ``ARGUMENT_SPEC``, ``operation``...) in
    this process on ``path`` and return its result dict.

    On the module path, arguments travel as ansible sends them (JSON, legacy profile), so argument-spec
    validation, no_log masking and fail_json behave as in a real run.
    """
    path = path or os.environ.get("GLOOMESH_TEST_MODULE_PATH") or "module"
    if path not in PATHS:
        raise ValueError(f"path {path!r}: one of {PATHS}")
    return (_run_main if path == "module" else _run_in_process)(module, args, check_mode, diff)


def run_module(name: str, args: dict, check_mode: bool = False, diff: bool = False, path: str | None = None) -> dict:
    """Run gloomesh.multicluster.<name> (see ``run``)."""
    return run(_module(name), args, check_mode, diff, path)
