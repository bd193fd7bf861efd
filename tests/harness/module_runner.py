"""Run the collection's modules from tests, in this process (the module path); playbooks: playbook_run.py."""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import tempfile
import urllib.request

from .collection_path import install_collection_finder


class _ModuleExit(Exception):
    def __init__(self, result):
        super().__init__("module exited")
        self.result = result


def run_module(name: str, args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    """Run gloomesh.multicluster.<name> in this process and return its result dict.

    Arguments travel exactly as ansible sends them (JSON, legacy profile), so argument-spec
    validation, no_log masking and fail_json behave as in a real run.
    """
    install_collection_finder()
    from ansible.module_utils import _internal, basic
    from ansible.module_utils.common import warnings

    # A module normally runs in a fresh process: drop what earlier in-process runs left behind,
    # and run module-side even when this process has imported controller code (which would send
    # module warnings to the controller's display instead of the result).
    warnings._global_warnings.clear()
    warnings._global_deprecations.clear()
    was_controller = _internal.is_controller
    _internal.is_controller = False

    module = importlib.import_module(f"ansible_collections.gloomesh.multicluster.plugins.modules.{name}")
    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    payload.setdefault("_ansible_tmpdir", tempfile.mkdtemp(prefix="gloomesh-mod-"))
    payload.setdefault("_ansible_remote_tmp", payload["_ansible_tmpdir"])
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": payload}).encode()
    basic._ANSIBLE_PROFILE = "legacy"

    captured = {}

    def record(self, o):
        captured.update(json.loads(json.dumps(o, default=str)))

    original = basic.AnsibleModule._record_module_result
    basic.AnsibleModule._record_module_result = record
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            try:
                module.main()
            except SystemExit:
                pass
    finally:
        basic.AnsibleModule._record_module_result = original
        basic._ANSIBLE_ARGS = None
        basic._ANSIBLE_PROFILE = None
        _internal.is_controller = was_controller
        # ansible's URL helpers install a process-wide urllib opener (proxies included).
        urllib.request.install_opener(None)
    if not captured:
        raise AssertionError(f"module {name} returned no result; stdout: {out.getvalue()!r}")
    return captured
