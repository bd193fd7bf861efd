# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# The work is done by the action plugin of the same name, on the controller: this file only
# documents it (like ansible.builtin.assert).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: upgrade_plan
short_description: Plan a rolling Istio upgrade of every cluster of the mesh, refusing what upstream does not support
version_added: 0.2.0
description:
  - Runs once, on the controller, for all the clusters of O(hosts). It reads each cluster's
    ServiceMeshController (C(spec.version), whether the operator reports it ready, and the version recorded
    before the last upgrade, annotation C(gloomesh.multicluster/previous-istio-version)) and helm's record
    of its Gloo Operator release (one request each per cluster, all clusters at once, through the host
    variables C(kube_context) and C(kubeconfig)), and writes nothing.
  - Refuses, naming every cluster, the rule and its source, before any write - a downgrade (Solo's managed
    upgrades do not support downgrading,
    U(https://docs.solo.io/gloo-mesh-enterprise/latest/setup/upgrade/gloo_mesh_managed_upgrade/)); a step of more
    than one minor version (Istio requires the installed version to be no more than one minor version below the
    target, U(https://istio.io/latest/docs/setup/upgrade/in-place/)); a Gloo Operator older than the chart version
    Solo's procedure installs for the target (the deployed one, or O(operator_chart_version)); a target whose
    istioctl download M(gloomesh.multicluster.istioctl_fetch) cannot resolve (O(istioctl)); a cluster without a
    ServiceMeshController or that does not answer; a target that cannot run a multicluster mesh.
  - The plan - the canary clusters (O(canary), else the first host) first, then the others in batches of
    O(batch_size), in the order of O(hosts); a cluster at the target already and ready has no step (a re-run
    after a halt resumes, a run after success changes nothing).
  - With O(rollback), the same plan returns each cluster to the version recorded before its upgrade (a
    cluster with none recorded, or back at it, has no step); the upgrade's refusals do not apply.
  - Prints the plan, one line per cluster with its version before and after.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Reads only; plans the same in check mode.
  diff_mode:
    support: none
options:
  hosts:
    description: The inventory hosts of the mesh, one per cluster, in upgrade order; default the hosts of the play.
    type: list
    elements: str
  version:
    description: The target Solo Istio version, e.g. C(1.26.2) or C(1.26.2-solo); required unless O(rollback).
    type: str
  rollback:
    description: Plan the return of every cluster to the version recorded before its upgrade instead.
    type: bool
    default: false
  operator_chart_version:
    description:
      - The Gloo Operator chart version that runs the target (the playbook's C(gloomesh_operator_chart_version)).
        A cluster whose release has another version gets the operator step first (C(operator_upgrades)).
      - Unset, the deployed operator must be new enough for the target.
    type: str
  operator_release:
    description: Helm release of the Gloo Operator.
    type: str
    default: gloo-operator
  operator_namespace:
    description: Namespace of the Gloo Operator release.
    type: str
    default: gloo-mesh
  istioctl:
    description: How the run installs istioctl of the target (M(gloomesh.multicluster.istioctl_fetch)'s options).
    type: dict
    default: {}
    suboptions:
      install:
        description: Whether the run installs it; only then is its download resolved.
        type: bool
        default: false
      repo_key:
        description: Solo's per-minor key (Istio 1.28 and older).
        type: str
      base_url:
        description: A mirror of Solo's buckets.
        type: str
      url:
        description: The full download URL.
        type: str
  canary:
    description: The host (or list of hosts) upgraded first, alone; default the first host of O(hosts).
    type: raw
  batch_size:
    description: How many clusters are upgraded at once after the canary (the playbook's C(serial)); 1 or more.
    type: raw
    default: 1
  service_mesh_name:
    description: Name of the ServiceMeshController.
    type: str
    default: managed-istio
  service_mesh_namespace:
    description: Namespace of the ServiceMeshController.
    type: str
    default: gloo-mesh
  request_timeout:
    description: Seconds each cluster may take to answer.
    type: int
    default: 30
notes:
  - Runs once per task whatever the number of hosts (it bypasses the host loop).
seealso:
  - module: gloomesh.multicluster.service_mesh
  - module: gloomesh.multicluster.mesh_verify
"""

EXAMPLES = r"""
- name: Plan the upgrade of the mesh to 1.26.2, cluster2 first, then two clusters at a time
  gloomesh.multicluster.upgrade_plan:
    hosts: "{{ groups['workload_clusters'] }}"
    version: 1.26.2
    canary: cluster2
    batch_size: 2
  register: upgrade_plan

- name: Plan the return of every cluster to the version it ran before its upgrade
  gloomesh.multicluster.upgrade_plan:
    hosts: "{{ groups['workload_clusters'] }}"
    rollback: true
  register: upgrade_plan
"""

RETURN = r"""
target:
  description: The target version (without C(-solo)); none for a rollback.
  returned: success
  type: str
  sample: 1.26.2
steps:
  description: One entry per cluster - C(host), C(cluster), C(from), C(to), C(stage) (C(canary), C(batch) or C(current)),
    for a batch its C(batch) number, and C(operator) (before -> after) when its Gloo Operator moves first.
  returned: success
  type: list
  elements: dict
  sample: [{host: cluster1, cluster: cluster1, from: 1.25.2, to: 1.26.2, stage: canary}]
canary:
  description: The hosts upgraded first.
  returned: success
  type: list
  elements: str
batches:
  description: The other hosts to upgrade, batch by batch.
  returned: success
  type: list
  elements: list
current:
  description: The hosts at the target already (no write).
  returned: success
  type: list
  elements: str
rollback:
  description: Whether this is the plan of a rollback.
  returned: success
  type: bool
versions:
  description: Host to the version it moves to (the target, or for a rollback its recorded version).
  returned: success
  type: dict
operator_upgrades:
  description: The hosts whose Gloo Operator moves to O(operator_chart_version) before their Istio.
  returned: success
  type: list
  elements: str
stages:
  description: Host to its stage.
  returned: success
  type: dict
problems:
  description: Every refusal, one line each, naming the cluster, the rule and its source.
  returned: always
  type: list
  elements: str
"""
