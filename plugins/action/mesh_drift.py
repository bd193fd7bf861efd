# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""mesh_drift: the drift report on the controller, from every host's check-mode step results.

It reads host variables and never talks to a cluster, so it runs once for all hosts (like
mesh_verify, a documentation-only module file with this action plugin). The rules and the table
are in module_utils/drift.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.utils.display import Display

from ansible_collections.gloomesh.multicluster.plugins.module_utils import drift
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils.controller_action import RunOnceAction, write_report

display = Display()

# The key of the report in the play's statistics (set_stats), i.e. the AWX artifact.
STATS_KEY = "gloomesh_drift"
# Each step's result is the host variable <module>_result (what the install roles register).
RESULT_SUFFIX = "_result"

ARGUMENT_SPEC = dict(
    hosts=dict(type="list", elements="str", required=True),
    report_dir=dict(type="path"),
)


def _clusters(hosts, hostvars):
    """{cluster: {step: its registered result}} of every host."""
    clusters = {}
    for host in hosts:
        host_vars = hostvars.get(host) or {}
        clusters[host_vars.get("cluster_name") or host] = dict(
            (step, host_vars.get(step + RESULT_SUFFIX) or {}) for step in drift.STEPS)
    return clusters


class ActionModule(RunOnceAction):
    """Reports the drift once for all hosts."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        report = drift.report(_clusters(args["hosts"], task_vars.get("hostvars") or {}))
        lines = drift.render(report)
        display.display("\n".join(lines))
        where = "see the table above" + (" or %s" % os.path.join(args["report_dir"], "drift.json")
                                         if args["report_dir"] else "")
        drifted = drift.drifted_clusters(report)
        result["msg"] = ("Drift in %s; %s" % (", ".join(drifted), where) if drifted
                         else "No drift in %d clusters" % len(report["clusters"]))
        if args["report_dir"] and not self._task.check_mode:
            write_report(os.path.join(args["report_dir"], "drift.json"),
                         json.dumps(report, indent=2, sort_keys=True) + "\n", "report_dir")
            write_report(os.path.join(args["report_dir"], "drift.txt"), "\n".join(lines) + "\n", "report_dir")
            result["report_dir"] = args["report_dir"]
        result.update(changed=False, drifted=report["drifted"], drifted_clusters=drifted, clusters=report["clusters"],
                      table=lines, ansible_stats={"data": {STATS_KEY: report}, "per_host": False, "aggregate": False})
        return result
