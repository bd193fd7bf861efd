# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What the controller-side actions share: mesh_verify, mesh_drift, root_rotation_plan and
upgrade_plan read host variables (or ask the clusters themselves) and never connect to a host, so
each runs once for all hosts of the play; mesh_verify and mesh_drift also write report files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.gloomesh.multicluster.plugins.module_utils import files


class RunOnceAction(ActionBase):
    """An action run once for all hosts, on the controller, without a connection."""

    BYPASS_HOST_LOOP = True
    _requires_connection = False
    _supports_check_mode = True


def write_report(path, text, option):
    """Writes a report file atomically (mode 0644), creating its folder; a failure names ``option``."""
    directory = os.path.dirname(path)
    try:
        if directory:
            os.makedirs(directory, exist_ok=True)
        files.write_atomic(path, text.encode("utf-8"), 0o644)
    except OSError as exc:
        raise AnsibleActionFail("%s %s: cannot write the report: %s" % (option, path, exc))
