"""Run the collection's modules from tests: in-process (fast) or through ansible-playbook (real)."""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import yaml

from .collection_path import ansible_env, install_collection_finder


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


def run_playbook(playbook, inventory=None, extra_vars=None, check=False, diff=False,
                 verbosity=0, env=None, timeout=900, limit=None, tags=None):
    """Run ansible-playbook; return dict(rc, stdout, stderr, recap={host: {ok, changed, ...}})."""
    with tempfile.TemporaryDirectory(prefix="gloomesh-pb-") as tmp:  # extra vars may hold the license
        return _run_playbook(tmp, playbook, inventory, extra_vars, check, diff, verbosity, env, timeout,
                             limit, tags)


def _run_playbook(tmp, playbook, inventory, extra_vars, check, diff, verbosity, env, timeout, limit, tags):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)]
    if inventory is not None:
        if isinstance(inventory, dict):
            path = os.path.join(tmp, "inventory.yml")
            with open(path, "w", encoding="utf-8") as fh:
                yaml.safe_dump(inventory, fh)
            inventory = path
        cmd += ["-i", str(inventory)]
    if extra_vars:
        path = os.path.join(tmp, "extra_vars.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(extra_vars, fh)
        cmd += ["-e", "@" + path]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if tags:
        cmd += ["--tags", tags]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=ansible_env(env), check=False)
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "recap": parse_recap(proc.stdout), "cmd": cmd}


def parse_recap(stdout: str) -> dict:
    """PLAY RECAP lines -> {host: {'ok': n, 'changed': n, 'failed': n, ...}}."""
    recap = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and not line.strip():
            in_recap = False  # custom stats (set_stats) may follow the recap
            continue
        if in_recap and ":" in line and "=" in line:
            host, counts = line.split(":", 1)
            recap[host.strip()] = {k: int(v) for k, v in
                                   (item.split("=") for item in counts.split())}
    return recap
