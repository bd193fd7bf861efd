# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""root_rotation_plan: what a run of the root_rotation role does, on the controller, from every
host's root_of_trust_info result.

It reads host variables and never talks to a cluster, so it runs once for all hosts (like
mesh_verify, a documentation-only module file with this action plugin). The rules are in
module_utils/rotation.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


from ansible_collections.gloomesh.multicluster.plugins.module_utils import rotation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import rotation_records
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils.controller_action import RunOnceAction

ARGUMENT_SPEC = dict(
    hosts=dict(type="list", elements="str", required=True),
    state_var=dict(type="str", default="root_rotation_state"),
    new_root_cert_path=dict(type="path", required=True),
    until=dict(type="str", choices=list(rotation_records.PHASES), default="drop_old"),
    again=dict(type="bool", default=False),
)


class ActionModule(RunOnceAction):
    """Plans the rotation once for all hosts."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = task_vars.get("hostvars") or {}
        states = [(host, (hostvars.get(host) or {}).get(args["state_var"]) or {}) for host in args["hosts"]]
        result.update(rotation.plan(states, os.path.isfile(args["new_root_cert_path"]), args["until"],
                                    args["again"], bool(self._task.check_mode)))
        result["changed"] = False
        return result
