# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# The work is done by the action plugin of the same name, on the controller: this file only
# documents it (like ansible.builtin.assert).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_verify
short_description: Verify a multicluster mesh from every cluster's mesh_info result
version_added: 0.2.0
description:
  - Runs once, on the controller, over the results M(gloomesh.multicluster.mesh_info) registered for
    every host of O(hosts) (host variable O(info_var)). It sends no request to any cluster.
  - Per cluster - the ServiceMeshController is ready, istiod and the ambient DaemonSets run, the
    east-west Gateway is programmed, the cluster can be linked (peer descriptor), C(cacerts) is sound.
  - Per link - the cluster has exactly one C(istio-remote) Gateway for each expected peer and none for
    other clusters (its own peer is tolerated with automatic linking); every field of it that peering
    depends on (address and address type, the ports of listeners C(cross-network) and C(xds-tls),
    labels C(topology.istio.io/network) and C(topology.istio.io/cluster) (and region, zone), annotations
    C(gateway.istio.io/trust-domain) and C(gateway.istio.io/service-account)) equals what the peer
    advertises now; and Solo's istiod reports it connected - C(gloo.solo.io/PeeringSucceeded) and
    C(gloo.solo.io/PeerConnected) both True, as Solo's C(istioctl multicluster check) counts it (a
    condition not reported yet is not yet; C(gloo.solo.io/PeerDataPlaneProgrammed) is shown, not judged).
  - With O(agents) (automatic linking) - each workload cluster's Gloo agent is connected to the Gloo
    management server (gauge C(relay_push_clients_connected), as Solo's C(meshctl check) reads it); the
    table gets an C(AGENT) column and a cluster whose agent is not connected fails, named first (the
    management plane cannot distribute its peers).
  - Across clusters - one root of trust (the root fingerprints of every C(cacerts) are the same, and
    include the controller's root when O(root_cert_path) exists).
  - A host of O(hosts) without a result is a cluster of its own in the report (unreachable, failed
    earlier in the run, or not targeted), never left out.
  - Prints one table for a person, returns the report, publishes it with C(set_stats) (key
    C(gloomesh_verify), shown by AWX as an artifact) and writes it as JSON to O(report_path).
  - "Fails listing every problem as C(<cluster>: <what>) when O(fail_on_problems=true).
    Ansible publishes the statistics of successful tasks only - to publish the report of a mesh with
    problems, set O(fail_on_problems=false) and fail in the next task, as the verify role does."
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Reports the same in check mode; the report file is not written.
  diff_mode:
    support: none
options:
  hosts:
    description:
      - The inventory hosts of the mesh, one per cluster. Each has the host variables C(cluster_name) and,
        with manual linking, optionally O(link_to_var).
    type: list
    elements: str
    required: true
  linking:
    description:
      - How the mesh was linked. C(manual) - each cluster's O(link_to_var) when set, else every other cluster.
        C(automatic) - every other cluster, and each cluster's own peer Gateway is tolerated.
    type: str
    choices: [manual, automatic]
    default: manual
  info_var:
    description:
      - The host variable holding each host's registered M(gloomesh.multicluster.mesh_info) result.
      - A loop's result counts for the hosts named by its items, so one host can read clusters that are
        not hosts of the play (the verify role does so for the clusters outside a C(--limit) run).
    type: str
    default: verify_mesh_info
  link_to_var:
    description:
      - The host variable listing the clusters a cluster links to (manual linking).
      - With the default, a host that sets only C(mesh_link_peers) (the earlier name of C(mesh_link_to)) is read
        from that.
    type: str
    default: mesh_link_to
    aliases: [peers_var]
  root_cert_path:
    description:
      - Root certificate (PEM) on the controller that every C(cacerts) must trust. Ignored when the
        file does not exist.
    type: path
  report_path:
    description: Write the report as JSON to this file on the controller (its directory is created).
    type: path
  fail_on_problems:
    description: Fail when the mesh has a problem; C(false) only reports.
    type: bool
    default: true
  agents:
    description:
      - The result M(gloomesh.multicluster.mesh_info) registered reading section C(agents) from the
        management cluster. A skipped result (manual linking) is ignored; a failed one is a problem of
        O(agents_host).
    type: dict
  agents_host:
    description: The host of O(hosts) whose cluster runs the management server; required with O(agents).
    type: str
notes:
  - Runs once per task whatever the number of hosts (it bypasses the host loop); C(run_once) is implied.
seealso:
  - module: gloomesh.multicluster.mesh_info
"""

EXAMPLES = r"""
- name: Read every cluster
  gloomesh.multicluster.mesh_info:
    cluster: "{{ cluster_name }}"
    mesh_clusters: "{{ groups['workload_clusters'] | map('extract', hostvars, 'cluster_name') | list }}"
    wait_timeout: 60
  register: verify_mesh_info
  ignore_errors: true  # an unreachable cluster is reported as a row of its own

- name: Verify the mesh and publish the report
  gloomesh.multicluster.mesh_verify:
    hosts: "{{ groups['workload_clusters'] }}"
    report_path: "{{ playbook_dir }}/mesh-report.json"
"""

RETURN = r"""
verified:
  description: True when the mesh has no problem.
  returned: always
  type: bool
  sample: false
problems:
  description: "Every problem, as C(<cluster>: <what>)."
  returned: always
  type: list
  elements: str
  sample: ["cluster2: peer cluster3: listener xds-tls port is 15999, cluster3's east-west gateway listens on 15012"]
failing_hosts:
  description:
    - "The hosts of the play a failing verify should fail, each with its problems (C(<cluster>: <what>))."
    - A problem is the host's of its cluster, except a missing or broken link to a cluster that failed earlier
      in the run, which is that cluster's. Hosts that failed earlier are left out (they are failed already);
      the problems of clusters outside the play go to the play's first host.
  returned: always
  type: dict
  sample: {"cluster1": ["cluster1: peer cluster2 not connected: gloo.solo.io/PeerConnected=False (Pending: not connected to peer)"]}
clusters:
  description:
    - One row per cluster of O(hosts) - its C(state) (C(read), C(unreachable), C(failed), or why it was not
      read), service mesh phase, components ready, east-west address, root fingerprints, expected, connected
      and missing peers, its C(problems) and C(ok).
    - With O(agents), C(agent) - C(connected), C(not connected), C(unknown) (the management server could
      not be read) or C(-) (no agent expected, e.g. the management cluster).
  returned: always
  type: list
  elements: dict
  sample:
    - cluster: cluster1
      host: cluster1
      state: read
      service_mesh: SUCCEEDED
      components: 3/3
      eastwest_address: 172.18.255.10
      roots: ["3A:5F:0C:..."]
      expected_peers: [cluster2]
      connected_peers: [cluster2]
      missing_peers: []
      problems: []
      ok: true
links:
  description:
    - One row per peer Gateway or missing peer - source C(cluster), C(peer), C(gateway), C(address),
      C(conditions) (type to status), C(fields) that differ from what the peer advertises (null when the
      peer could not be read), its C(problems) and C(ok).
  returned: always
  type: list
  elements: dict
  sample:
    - cluster: cluster1
      peer: cluster2
      gateway: istio-eastwest/istio-remote-peer-cluster2
      address: 172.18.255.11
      conditions: {Accepted: "True", Programmed: "True", gloo.solo.io/PeerConnected: "True",
                   gloo.solo.io/PeeringSucceeded: "True", gloo.solo.io/PeerDataPlaneProgrammed: "True"}
      fields: []
      problems: []
      ok: true
report_path:
  description: The report file written.
  returned: when O(report_path) is set and not in check mode
  type: str
  sample: /home/me/mesh-report.json
"""
