# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The wait/wait_timeout options of k8s_wait.WAIT_ARG_SPEC (keep both in step).
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until the object is ready (see the module's notes for what ready means).
      - The wait watches the object; it returns as soon as it is ready, not at a poll interval.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait when O(wait=true).
      - On timeout the task fails with a message naming what was still missing and the last status.
    type: int
    default: 300
"""
