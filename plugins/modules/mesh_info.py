#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_info
short_description: Read a cluster's whole multicluster mesh state in one task
version_added: 0.2.0
description:
  - Reads, in one task, what the procedure's verification steps look at in one cluster - the
    ServiceMeshController, istiod, the Istio CNI and ztunnel, the east-west Gateway and its
    Service, every C(istio-remote) peer Gateway with its link conditions, the cluster's own peer
    descriptor and its root of trust (Secret C(cacerts)).
  - Each part is judged on its own (RV(service_mesh.ready), and C(ready) of each of RV(components),
    C(link.connected) of each of RV(peers)); M(gloomesh.multicluster.mesh_verify) judges the clusters
    against each other from every cluster's result (the C(gloomesh.multicluster.verify) role runs both).
  - O(sections) limits what is read, the way C(gather_subset) does; C(reachability) alone sends one
    request.
  - With O(wait_timeout), watches the peer Gateways until every expected peer (from O(mesh_clusters),
    O(linking) and O(link_to)) has a connected one, or the time is up; the peers still not
    connected are then listed in RV(pending_peers). The module does not fail for them.
  - A cluster that cannot be linked yet (no east-west address) is reported in
    RV(peer_descriptor_error), not raised. An API server that does not answer fails the task,
    naming the cluster's context (RV(unreachable)).
  - Never changes anything and never returns key material.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - gloomesh.multicluster.connection
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Reads the same in check mode, without waiting for peers.
  diff_mode:
    support: none
options:
  sections:
    description:
      - What to read. C(all) reads every section.
      - C(reachability) (always read) is the install namespace, which proves that the API server
        answers through the connection options.
      - C(service_mesh) the ServiceMeshController; C(components) istiod and the ambient DaemonSets;
        C(eastwest) the east-west Gateway and its Service; C(peers) the C(istio-remote) Gateways;
        C(peer_descriptor) what peers must hold to reach this cluster (as
        M(gloomesh.multicluster.eastwest_gateway_info) reads it); C(root_of_trust) Secret C(cacerts).
      - C(agents) (read only when named, not part of C(all); for the management cluster with automatic
        linking) whether each workload cluster's Gloo agent is connected to the Gloo management server,
        as Solo's C(meshctl check) reads it - gauge C(relay_push_clients_connected) by cluster, from the
        metrics (port O(management_metrics_port)) of every running pod labelled
        C(app=gloo-mesh-mgmt-server) in O(management_namespace), through the API server's pod proxy
        (a GET of subresource C(pods/proxy)).
    type: list
    elements: str
    choices: [all, reachability, service_mesh, components, eastwest, peers, peer_descriptor, root_of_trust, agents]
    default: [all]
  service_mesh_name:
    description: Name of the ServiceMeshController.
    type: str
    default: managed-istio
  service_mesh_namespace:
    description: Namespace of the ServiceMeshController.
    type: str
    default: gloo-mesh
  install_namespace:
    description: Namespace of istiod, its DaemonSets, its mesh ConfigMap and Secret C(cacerts).
    type: str
    default: istio-system
  eastwest_namespace:
    description: Namespace of the east-west Gateway.
    type: str
    default: istio-eastwest
  trust_domain_source:
    description:
      - Which trust domain wins when the mesh ConfigMap and the ServiceMeshController disagree (see
        M(gloomesh.multicluster.eastwest_gateway_info)); unset, a disagreement is reported in
        RV(peer_descriptor_error).
    type: str
    choices: [mesh_config, service_mesh]
  cluster:
    description:
      - Name of this cluster in the mesh (the inventory's C(cluster_name)); it is not its own
        expected peer. Required with O(mesh_clusters) or O(link_to).
    type: str
  mesh_clusters:
    description:
      - Names of every cluster of the mesh; with O(linking) and O(link_to) they decide
        RV(expected_peers). Unset, no peer is expected.
    type: list
    elements: str
  linking:
    description:
      - How the mesh is linked. C(manual) expects a peer for each of O(link_to) when given, else
        for every other cluster; C(automatic) for every other cluster.
    type: str
    choices: [manual, automatic]
    default: manual
  link_to:
    description:
      - Manual linking only - the clusters this one links to (the inventory's C(mesh_link_to)).
    type: list
    elements: str
    aliases: [link_peers]
  wait_timeout:
    description:
      - Seconds to watch the peer Gateways until every expected peer is connected; C(0) reads once.
      - With section C(agents), seconds to read the management server's metrics again (every 2 seconds)
        until every agent of O(agent_clusters) is connected.
    type: int
    default: 0
  agent_clusters:
    description:
      - Section C(agents) - the clusters whose Gloo agent must be connected (the workload clusters).
        Unset, every cluster of O(mesh_clusters) but O(cluster).
    type: list
    elements: str
  management_namespace:
    description: Section C(agents) - namespace of the Gloo management server.
    type: str
    default: gloo-mesh
  management_metrics_port:
    description: Section C(agents) - the port the management server serves its metrics on.
    type: int
    default: 9091
  disconnected_agents:
    description:
      - Clusters whose Gloo agent is known not to be connected (C(disconnected) in RV(agents) of the management
        cluster's result). Automatic peers travel over the agents' connections, so the peer Gateways are
        then read once instead of watched for O(wait_timeout) (RV(wait_skipped) says why).
    type: list
    elements: str
    default: []
seealso:
  - module: gloomesh.multicluster.mesh_verify
  - module: gloomesh.multicluster.eastwest_gateway_info
"""

EXAMPLES = r"""
- name: Check that the API server answers (preflight)
  gloomesh.multicluster.mesh_info:
    sections: [reachability]

- name: Read the whole mesh state, waiting up to a minute for the other clusters' links
  gloomesh.multicluster.mesh_info:
    cluster: "{{ cluster_name }}"
    mesh_clusters: "{{ groups['workload_clusters'] | map('extract', hostvars, 'cluster_name') | list }}"
    wait_timeout: 60
  register: mesh

- name: Show the peers that are not connected
  ansible.builtin.debug:
    var: mesh.pending_peers
"""

RETURN = r"""
context:
  description: The kubeconfig context read.
  returned: always
  type: str
  sample: cluster1
reachable:
  description: The API server answered (false only on failure, with RV(unreachable)).
  returned: always
  type: bool
  sample: true
unreachable:
  description: Set when the task failed because the API server did not answer.
  returned: failure
  type: bool
  sample: true
unanswered_seconds:
  description:
    - Seconds the request went without an answer, when the task failed because a bound fired (the
      message says which, "no answer to the connection within 10s" or "no answer within 30s").
  returned: failure, when a bound fired
  type: float
  sample: 30.0
sections:
  description: The sections read.
  returned: always
  type: list
  elements: str
  sample: [service_mesh, components, eastwest, peers, peer_descriptor, root_of_trust]
install_namespace_exists:
  description: Whether the install namespace exists.
  returned: always
  type: bool
  sample: true
expected_peers:
  description: The clusters this cluster should be connected to.
  returned: always
  type: list
  elements: str
  sample: [cluster2, cluster3]
service_mesh:
  description: The ServiceMeshController.
  returned: when section service_mesh is read
  type: dict
  contains:
    exists:
      description: Whether it exists.
      type: bool
    phase:
      description: C(status.phase).
      type: str
      sample: SUCCEEDED
    generation:
      description: C(metadata.generation).
      type: int
      sample: 1
    conditions:
      description: Its status conditions (type, status, reason, message, observedGeneration).
      type: list
      elements: dict
    ready:
      description:
        - Condition C(Ready) True for the current generation, phase SUCCEEDED, and no condition of the
          current generation False.
      type: bool
      sample: true
    missing:
      description: What keeps it from being ready; null when ready.
      type: str
      sample: "ServiceMeshController gloo-mesh/managed-istio: phase is INSTALLING, not SUCCEEDED"
    stale_conditions:
      description:
        - Conditions the operator left at an older generation, as C(<type> (generation <n>)). Reported,
          not judged - once C(Ready) is current they do not keep the controller from being ready.
      type: list
      elements: str
      sample: ["Initialized (generation 1)"]
  sample:
    exists: true
    name: managed-istio
    namespace: gloo-mesh
    phase: SUCCEEDED
    generation: 1
    ready: true
    missing: null
components:
  description: istiod's Deployment and the DaemonSets C(istio-cni-node) and C(ztunnel).
  returned: when section components is read
  type: list
  elements: dict
  sample:
    - {kind: Deployment, name: istiod-gloo, namespace: istio-system, exists: true, ready: true, state: ready}
    - {kind: DaemonSet, name: ztunnel, namespace: istio-system, exists: true, ready: false, state: 0/1 pods ready}
eastwest:
  description: The east-west Gateway (addresses, listeners, conditions) and its Service.
  returned: when section eastwest is read
  type: dict
  sample:
    exists: true
    name: istio-eastwest
    namespace: istio-eastwest
    addresses: [172.18.255.10]
    advertised_address: 172.18.255.10
    listeners: {cross-network: 15008, xds-tls: 15012}
    programmed: "True"
    service: {name: istio-eastwest, namespace: istio-eastwest, type: LoadBalancer, load_balancer: [172.18.255.10]}
    problem: null
peers:
  description:
    - Every C(istio-remote) Gateway - the cluster it describes (C(peer)), whether we manage it, the
      fields peering reads (C(addresses), C(listeners), topology C(labels), identity
      C(annotations)), its conditions and its C(link) state.
    - C(link.connected) is true when Solo's istiod reports both C(gloo.solo.io/PeeringSucceeded) and
      C(gloo.solo.io/PeerConnected) True, as Solo's C(istioctl multicluster check) counts a peer
      connected. A condition not reported yet means not yet. C(gloo.solo.io/PeerDataPlaneProgrammed)
      (an HBONE listener exists) and Istio's C(Programmed) (written on every C(istio-remote) Gateway)
      are listed in C(link.reported) but do not decide. C(link.failing) holds the deciding conditions
      that are not True (one not reported has no C(status)).
  returned: when section peers is read
  type: list
  elements: dict
  sample:
    - name: istio-remote-peer-cluster2
      namespace: istio-eastwest
      peer: cluster2
      managed: true
      addresses: [{type: IPAddress, value: 172.18.255.11}]
      listeners: {cross-network: 15008, xds-tls: 15012}
      labels: {topology.istio.io/network: cluster2, topology.istio.io/cluster: cluster2}
      annotations: {gateway.istio.io/trust-domain: cluster2, gateway.istio.io/service-account: istio-eastwest}
      conditions:
        - {type: Programmed, status: "True", reason: Programmed, message: "This Gateway is remote; Istio will not program it"}
        - {type: gloo.solo.io/PeerConnected, status: "True", reason: Programmed}
        - {type: gloo.solo.io/PeeringSucceeded, status: "True", reason: Programmed}
        - {type: gloo.solo.io/PeerDataPlaneProgrammed, status: "True", reason: Programmed,
           message: peering data plane programmed for cross-network traffic with LoadBalancer service type}
      link:
        connected: true
        failing: []
        reported: [gloo.solo.io/PeeringSucceeded, gloo.solo.io/PeerConnected, gloo.solo.io/PeerDataPlaneProgrammed,
                   Programmed]
pending_peers:
  description: Expected peers still not connected after the wait, with why.
  returned: when section peers is read
  type: dict
  sample: {cluster3: "gloo.solo.io/PeerConnected=False (Pending: not connected to peer); also not True: gloo.solo.io/PeeringSucceeded"}
wait_skipped:
  description: Why the peer Gateways were read once instead of watched (O(disconnected_agents)).
  returned: when section peers is read and O(disconnected_agents) is set
  type: str
  sample: the Gloo agents of cluster2 are not connected
agents:
  description:
    - The Gloo agents' relay connections as the management server counts them (gauge
      C(relay_push_clients_connected) of every running C(gloo-mesh-mgmt-server) pod). An agent connects
      to one replica; while a replica cannot be read no agent is called disconnected, and C(problems)
      say why.
  returned: when section agents is read
  type: dict
  sample:
    namespace: gloo-mesh
    pods: [gloo-mesh/gloo-mesh-mgmt-server-6c8b9d7f4-x2x7q]
    clusters: {cluster1: {connected: 1, pods: [gloo-mesh/gloo-mesh-mgmt-server-6c8b9d7f4-x2x7q]},
               cluster2: {connected: 0, pods: []}}
    expected: [cluster1, cluster2]
    connected: [cluster1]
    disconnected: [cluster2]
    problems: []
    waited: 10.0
waited:
  description: Seconds spent reading and watching the peer Gateways.
  returned: when section peers is read
  type: float
  sample: 0.1
peer_descriptor:
  description: This cluster's peer descriptor (see M(gloomesh.multicluster.eastwest_gateway_info)); null when it cannot be linked.
  returned: when section peer_descriptor is read
  type: dict
  sample: {cluster: cluster1, network: cluster1, address: 172.18.255.10, address_type: IPAddress, trust_domain: cluster1,
           service_account: istio-eastwest, namespace: istio-eastwest, region: null, zone: null,
           trust_domain_source: ServiceMeshController gloo-mesh/managed-istio spec.cluster}
peer_descriptor_error:
  description: Why this cluster cannot be linked now; null when RV(peer_descriptor) is set.
  returned: when section peer_descriptor is read
  type: str
  sample: "cluster cluster1 is not ready to link: Service istio-eastwest/istio-eastwest has no load-balancer address yet ..."
root_of_trust:
  description: Secret C(cacerts) - the fingerprint of every root of C(root-cert.pem), summaries of the roots and
    the intermediate, whether the chain verifies and the key matches, and every problem. No key material.
  returned: when section root_of_trust is read
  type: dict
  sample:
    exists: true
    root_fingerprints: ["3A:5F:0C:..."]
    chain_verifies: true
    key_matches: true
    problems: []
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import mesh_info as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    sections=dict(type="list", elements="str", default=["all"],
                  choices=["all", "reachability"] + list(operation.SECTIONS) + [operation.AGENTS]),
    service_mesh_name=dict(type="str", default="managed-istio"),
    service_mesh_namespace=dict(type="str", default="gloo-mesh"),
    install_namespace=dict(type="str", default="istio-system"),
    eastwest_namespace=dict(type="str", default="istio-eastwest"),
    trust_domain_source=dict(type="str", choices=["mesh_config", "service_mesh"]),
    cluster=dict(type="str"),
    mesh_clusters=dict(type="list", elements="str"),
    linking=dict(type="str", choices=["manual", "automatic"], default="manual"),
    link_to=dict(type="list", elements="str", aliases=["link_peers"]),
    wait_timeout=dict(type="int", default=0),
    agent_clusters=dict(type="list", elements="str"),
    management_namespace=dict(type="str", default="gloo-mesh"),
    management_metrics_port=dict(type="int", default=9091),
    disconnected_agents=dict(type="list", elements="str", default=[]),
)

MODULE_KWARGS = dict(required_by={"mesh_clusters": "cluster", "link_to": "cluster"})


def main():
    run_module(ARGUMENT_SPEC, operation.run, **MODULE_KWARGS)


if __name__ == "__main__":
    main()
