# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# The work is done by the action plugin of the same name, on the controller: this file only
# documents it (like ansible.builtin.assert).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_drift
short_description: Report what an install would change, from every cluster's check-mode results
version_added: 0.1.0
description:
  - Runs once, on the controller, over the results the install steps registered in check mode with
    C(--diff) for every host of O(hosts), and sends no request to any cluster. The drift playbook runs
    the steps (role C(mesh_components), then C(mesh_link)), then this module.
  - The steps are the modules M(gloomesh.multicluster.root_of_trust), M(gloomesh.multicluster.gloo_operator),
    M(gloomesh.multicluster.service_mesh), M(gloomesh.multicluster.gateway_api_crds),
    M(gloomesh.multicluster.eastwest_gateway) and M(gloomesh.multicluster.mesh_link); each host's result of
    step C(<module>) is its host variable C(<module>_result), as the install roles register them.
  - Per cluster (host variable C(cluster_name)), one row per field of an object that would change, one row for
    an object to create or remove, one for a step that cannot be predicted (its message), and one for each peer
    Gateway someone else wrote for a cluster that is no peer. The Secret C(cacerts) is named
    C(Secret <namespace>/cacerts), whether it is missing, its key does not match its certificate, or it
    holds another root; its rows show certificate summaries and fingerprints, never key material.
  - Prints the report as a table, returns it, publishes it with C(set_stats) (key C(gloomesh_drift), shown by
    AWX as an artifact) and writes it to O(report_dir) as C(drift.json) and C(drift.txt).
  - Never fails because something drifted (Ansible publishes the statistics of successful tasks only); fail in
    the next task on RV(drifted), as the drift playbook does with C(drift_fail=true).
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Reports the same in check mode; the report files are not written.
  diff_mode:
    support: none
options:
  hosts:
    description: The inventory hosts of the clusters to report on, one per cluster.
    type: list
    elements: str
    required: true
  report_dir:
    description: Write the report to C(drift.json) and C(drift.txt) in this directory on the controller (created).
    type: path
notes:
  - Runs once per task whatever the number of hosts (it bypasses the host loop); C(run_once) is implied.
seealso:
  - module: gloomesh.multicluster.mesh_verify
"""

EXAMPLES = r"""
- name: Report the drift
  gloomesh.multicluster.mesh_drift:
    hosts: "{{ ansible_play_hosts_all }}"
    report_dir: ~/.gloomesh/drift
  register: drift_result

- name: Fail when something drifted
  ansible.builtin.fail:
    msg: "{{ drift_result.msg }}"
  when: drift_result.drifted
"""

RETURN = r"""
drifted:
  description: True when an install would change something in a cluster.
  returned: always
  type: bool
  sample: true
drifted_clusters:
  description: The clusters with at least one row, sorted.
  returned: always
  type: list
  elements: str
  sample: [cluster1]
msg:
  description: C(Drift in <clusters>; ...) naming the report, or C(No drift in <n> clusters).
  returned: always
  type: str
  sample: "Drift in cluster1; see the table above or /home/me/.gloomesh/drift/drift.json"
clusters:
  description:
    - Per cluster, its rows - C(object) (C(<Kind> <namespace>/<name>), and C(in cluster <name>) when the object
      is in another cluster), C(field) (a dotted path, or C(-) for the whole object), C(current) and C(desired).
  returned: always
  type: dict
  sample:
    cluster1:
      - object: Secret istio-system/cacerts
        field: "-"
        current: absent
        desired: present
    cluster2: []
table:
  description: The report as the lines of the table printed.
  returned: always
  type: list
  elements: str
report_dir:
  description: The directory the report was written to.
  returned: when O(report_dir) is set and not in check mode
  type: str
  sample: /home/me/.gloomesh/drift
"""
