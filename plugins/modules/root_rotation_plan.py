# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# The work is done by the action plugin of the same name, on the controller: this file only
# documents it (like ansible.builtin.assert).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: root_rotation_plan
short_description: Decide what a run of a root rotation does, from where every cluster stands
version_added: 0.1.0
description:
  - Runs once, on the controller, over the results M(gloomesh.multicluster.root_of_trust_info) registered for
    every host of O(hosts) (host variable O(state_var)), read with C(new_root_cert_path) set. It sends no request
    to any cluster. The root_rotation role runs it between reading the clusters and the phases.
  - The run starts at the first phase some cluster has not finished (RV(next)) and stops after O(until). A
    finished rotation (every cluster steady on the controller's root, no new root on the controller) does
    nothing unless O(again=true).
  - In check mode only the next phase is predicted (the phases after it depend on writes check mode does not
    make), and promotion only once every cluster finished phase C(drop_old).
  - A cluster whose C(cacerts) is no step of the rotation is a stray (RV(strays), RV(stray_message)); the role
    stops on it before any write.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Plans what a check-mode run predicts.
  diff_mode:
    support: none
options:
  hosts:
    description: The inventory hosts of every cluster of the mesh.
    type: list
    elements: str
    required: true
  state_var:
    description: The host variable holding each host's registered M(gloomesh.multicluster.root_of_trust_info) result.
    type: str
    default: root_rotation_state
  new_root_cert_path:
    description: The new root's certificate on the controller; whether it exists tells a finished rotation apart.
    type: path
    required: true
  until:
    description: The last phase this run runs.
    type: str
    choices: [trust_both, reissue, drop_old]
    default: drop_old
  again:
    description: After a finished rotation, start the next one.
    type: bool
    default: false
notes:
  - Runs once per task whatever the number of hosts (it bypasses the host loop); C(run_once) is implied.
seealso:
  - module: gloomesh.multicluster.root_of_trust_info
  - module: gloomesh.multicluster.root_of_trust
"""

EXAMPLES = r"""
- name: Decide what this run does
  gloomesh.multicluster.root_rotation_plan:
    hosts: "{{ groups['workload_clusters'] }}"
    new_root_cert_path: ~/.gloomesh/pki/next/root-cert.pem
    until: reissue
  register: root_rotation_plan
  run_once: true
"""

RETURN = r"""
strays:
  description: The hosts whose C(cacerts) is no step of the rotation.
  returned: always
  type: list
  elements: str
  sample: []
stray_message:
  description: What each stray holds and the rotation at hand; empty without strays.
  returned: always
  type: str
  sample: ""
finished:
  description: Every cluster finished its rotation to the controller's root.
  returned: always
  type: bool
  sample: false
start:
  description: This run runs phases (not finished, or O(again)).
  returned: always
  type: bool
  sample: true
next:
  description: The first phase (1-3) some cluster has not finished; 4 when all did.
  returned: always
  type: int
  sample: 1
until:
  description: The number of O(until).
  returned: always
  type: int
  sample: 3
run:
  description: For each phase (C(trust_both), C(reissue), C(drop_old)) and C(promote), whether this run runs it.
  returned: always
  type: dict
  sample: {trust_both: true, reissue: true, drop_old: true, promote: true}
"""
