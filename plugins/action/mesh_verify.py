# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""mesh_verify: the mesh's verdict on the controller, from every host's mesh_info result.

It reads host variables and never talks to a cluster, so it runs once for all hosts (like
ansible.builtin.assert, a documentation-only module file with this action plugin). The rules and
the table are in module_utils/verify.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.gloomesh.multicluster.plugins.module_utils import planning, root_files, verify
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils.controller_action import RunOnceAction, write_report

display = Display()

# The key of the report in the play's statistics (set_stats), i.e. the AWX artifact.
STATS_KEY = "gloomesh_verify"

ARGUMENT_SPEC = dict(
    hosts=dict(type="list", elements="str", required=True),
    linking=dict(type="str", choices=list(verify.LINKING_MODES), default="manual"),
    info_var=dict(type="str", default="verify_mesh_info"),
    link_to_var=dict(type="str", default="mesh_link_to", aliases=["peers_var"]),
    root_cert_path=dict(type="path"),
    report_path=dict(type="path"),
    fail_on_problems=dict(type="bool", default=True),
    agents=dict(type="dict"),
    agents_host=dict(type="str"),
)


def _controller_root(path):
    """Fingerprint of the root certificate of ``path`` (root_files' rules); None when there is no such file."""
    if not path or not os.path.exists(path):
        return None
    try:
        root_files.require_cryptography()
        return root_files.fingerprint_of(path, "root_cert_path")
    except GloomeshError as exc:
        raise AnsibleActionFail(exc.message)


def _results(args, hostvars, running):
    """{host: its mesh_info result}. A host's registered variable is its own result, or a loop's
    results keyed by item (a host name): how the verify role reads clusters outside a --limit run."""
    results = {}
    for host in running:
        registered = (hostvars.get(host) or {}).get(args["info_var"]) or {}
        for result in registered.get("results") or ([dict(registered, item=host)] if registered else []):
            if not result.get("skipped") and result.get("item") is not None:
                results[result["item"]] = result
    return results


def _batch(task_vars):
    """(hosts running this task, hosts that failed earlier). With ``serial`` the hosts running are the
    batch's (ansible_play_batch); the play's other hosts are read by the batch's first host, like the
    clusters outside the play, so that each batch verifies the whole mesh from fresh reads."""
    active = list(task_vars.get("ansible_play_hosts") or [])
    running = list(task_vars.get("ansible_play_batch") or active)
    failed = set(task_vars.get("ansible_play_hosts_all") or []) - set(active)
    return running, failed


def _entries(args, task_vars):
    """One entry per host of the mesh: its cluster name, peers and mesh_info result, or why it has none."""
    hostvars = task_vars.get("hostvars") or {}
    running, failed = _batch(task_vars)
    results = _results(args, hostvars, running)
    entries = []
    for host in args["hosts"]:
        if host not in hostvars:
            entries.append({"host": host, "state": "unknown host", "absent": "not a host of the inventory"})
            continue
        host_vars = hostvars[host]
        variable, link_to = planning.host_link_to(host_vars, args["link_to_var"])
        entry = {"host": host, "cluster": host_vars.get("cluster_name"), "link_to": link_to, "link_to_var": variable}
        if host in failed:
            entry.update(state="failed earlier", absent="failed earlier in this run, not read")
        elif host in results:
            entry["info"] = results[host]
        elif host not in set(task_vars.get("ansible_play_hosts_all") or []):
            entry.update(state="not targeted", absent="not read: not a host of this play (see --limit)")
        else:
            entry.update(state="not read", absent="not read: no mesh_info result in host variable %s" % args["info_var"])
        entries.append(entry)
    return entries


def _agents(args):
    """The management cluster's mesh_info result with section agents (None: not read, e.g. manual
    linking), tagged with its host for verify._agent_problems."""
    agents = args["agents"]
    if not agents or agents.get("skipped"):
        return None
    if not args["agents_host"]:
        raise AnsibleActionFail("agents_host is required with agents: the host whose cluster runs the management server")
    return dict(agents, host=args["agents_host"])


def _failing_hosts(report, task_vars):
    """{host of the play: [problem]}: the hosts a failing verify fails. A host that failed earlier is
    failed already; the problems of clusters outside the play (or the batch) go to the first host,
    which read them."""
    running, failed = _batch(task_vars)
    failing = {}
    for host, problems in sorted(verify.problems_by_host(report).items()):
        if host in running:
            failing.setdefault(host, []).extend(problems)
        elif host not in failed and running:
            failing.setdefault(running[0], []).extend(problems)
    return failing


class ActionModule(RunOnceAction):
    """Verifies the mesh once for all hosts."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        expected_root = _controller_root(args["root_cert_path"])
        report = verify.verdict(_entries(args, task_vars), args["linking"], expected_root, _agents(args))
        report["generated_at"] = certificates.iso(certificates.utcnow())
        problems = report["problems"]
        if problems:
            summary = "Mesh verification found %d problem(s)" % len(problems)
            result["msg"] = "%s: %s" % (summary, " | ".join(problems))
        else:
            summary = result["msg"] = ("Mesh verified: %d clusters, every expected peer connected, one root of trust"
                                       % len(report["clusters"]))
        display.display("\n".join(verify.render(report) + ["", summary]))
        if args["report_path"] and not self._task.check_mode:
            write_report(args["report_path"], json.dumps(report, indent=2, sort_keys=True) + "\n", "report_path")
            result["report_path"] = args["report_path"]
        result.update(changed=False, failed=bool(problems) and args["fail_on_problems"], verified=report["ok"],
                      problems=problems, clusters=report["clusters"], links=report["links"],
                      failing_hosts=_failing_hosts(report, task_vars),
                      ansible_stats={"data": {STATS_KEY: report}, "per_host": False, "aggregate": False})
        return result
