#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_preflight
short_description: Check every input of every cluster of a mesh before anything is written
version_added: 0.2.0
description:
  - Runs once on the controller (an action plugin, no module process) for all the clusters of the play
    and reports every problem at once; it reads host variables only and writes nothing.
  - The inputs and the rules across hosts cover the whole mesh (the hosts of O(workload_group), and of
    O(management_group) with automatic linking), not only the clusters of a C(--limit) run, which are linked
    with the others. Only the clusters of O(hosts) must answer.
  - Per host, the inventory inputs (C(cluster_name), C(kube_context), C(kubeconfig), C(cluster_network),
    C(cluster_region), C(cluster_zone), C(eastwest_gateway_address), C(mesh_link_to)) with the rules
    the modules apply to them, and the role variables handed to a module option unchanged (for example
    C(service_mesh_scaling_profile)) with that module's own argument spec; then the whole
    ServiceMeshController the service_mesh role would request.
  - Inventory-wide, C(gloomesh_istio_version), C(gloomesh_gloo_version), C(gloomesh_linking),
    C(gloomesh_install_namespace), the license inputs and the root of trust files in C(gloomesh_pki_dir)
    or C(root_of_trust_root_cert_path) / C(root_of_trust_root_key_path) (both or neither, a self-signed CA
    and its key, with the root_of_trust module's own loaders).
  - Across hosts, unique cluster names and contexts, C(mesh_link_to) naming known clusters, the groups
    (a non-empty workload group, no host in both groups, one management cluster for automatic linking).
  - Every cluster of the mesh is asked at once (one thread each) through its C(kube_context) and C(kubeconfig)
    who it is (the UID of its C(kube-system) namespace, else its API server URL and CA); two hosts that reach
    one cluster under two names are a problem, also in a C(--limit) run.
  - A cluster of O(hosts) that does not answer within O(request_timeout) is a problem naming its context, and
    so is every kind of write of the run that its credential may not send (SelfSubjectAccessReview, sent as
    a dry run).
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Reads only; runs the same in check mode.
  diff_mode:
    support: none
options:
  hosts:
    description:
      - The clusters the run changes, which must answer; default the hosts of the play.
      - An empty list checks the groups only, from a play on C(localhost) before the play on the group (a
        play whose group is empty or null runs nothing and ends with rc 0).
    type: list
    elements: str
  workload_group:
    description: Inventory group of the workload clusters.
    type: str
    default: workload_clusters
  management_group:
    description: Inventory group of the management cluster.
    type: str
    default: management_cluster
  linking:
    description: How the clusters are linked.
    type: str
    choices: [manual, automatic]
    default: manual
  request_timeout:
    description: Seconds each cluster may take to answer.
    type: int
    default: 30
notes:
  - Run it with C(run_once=true).
seealso:
  - module: gloomesh.multicluster.servicemeshcontroller
"""

EXAMPLES = r"""
- name: Check every input of every cluster, and that every cluster answers, before any change
  gloomesh.multicluster.mesh_preflight:
    linking: manual
  run_once: true
"""

RETURN = r"""
problems:
  description: Every problem found, one line each, naming the host or the variable.
  returned: always
  type: list
  elements: str
  sample: ["cluster2: cluster_name 'Cluster_2!' must be 1-63 lowercase letters, digits, '-' or '.', ..."]
clusters:
  description: The hosts whose inputs were checked (the mesh and the hosts of the play).
  returned: always
  type: list
  elements: str
  sample: [cluster1, cluster2]
"""
