#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_link
short_description: Link a cluster to its multicluster mesh peers with istio-remote Gateways
version_added: 0.1.0
description:
  - Runs against one cluster, the source, and writes into it one Gateway
    C(istio-remote-peer-<peer cluster>) of class C(istio-remote) per peer in O(peers), as
    C(istioctl multicluster link) does. The source's istiod then peers with those clusters and
    its workloads can reach them.
  - Each peer Gateway goes into the peer's east-west namespace, carries the peer's topology
    labels (network, cluster, region, zone), the annotations
    C(gateway.istio.io/service-account) and C(gateway.istio.io/trust-domain), the peer's
    east-west address in C(spec.addresses) (type C(IPAddress) or C(Hostname)) and the
    listeners C(cross-network) (15008, HBONE) and C(xds-tls) (15012, TLS). It is labelled
    C(app.kubernetes.io/managed-by=gloomesh.multicluster).
  - A full mesh is every cluster linked to all the others (N*(N-1) Gateways); an asymmetric link
    lists only the peers the source may reach.
  - Before any write, it refuses a peer that is the source cluster, a peer listed twice, a peer
    without address or network, and an C(istio-remote) Gateway for a listed peer that
    gloomesh.multicluster does not manage (unless O(adopt=true)), since two peer Gateways for one
    cluster break peering.
  - Re-running with nothing to change sends no write request.
  - With O(mesh) instead of O(peers), the module plans the links of the source within a mesh of
    clusters (an inventory whose hosts are clusters, of which this run covers some). It writes the
    source's peers into the source, and into each cluster outside the run the source's peer when
    that cluster links to the source (else our peer for the source is removed from it). Pairs
    between two clusters outside the run are never touched, so runs over
    different slices of one inventory, one after the other or at the same time, give the mesh one
    full run gives. Every read (peer descriptors of the clusters outside the run, their peer
    Gateways) and every refusal comes before the first write. A cluster that cannot be read (down,
    not ready to link, no descriptor) only has its links with the source skipped, with a warning
    (RV(skipped)); they are never removed for that.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - gloomesh.multicluster.connection
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Server-side dry run; no wait.
  diff_mode:
    support: full
    details: One before/after pair per Gateway that changes.
options:
  peers:
    description:
      - The clusters to link to (C(state=present)) or unlink from (C(state=absent)), as the
        RV(gloomesh.multicluster.eastwest_gateway_info#module:peer) descriptors of
        M(gloomesh.multicluster.eastwest_gateway_info).
      - With C(state=absent) only O(peers[].cluster) and O(peers[].namespace) are used.
      - Exactly one of O(peers) and O(mesh) is required.
    type: list
    elements: dict
    suboptions:
      cluster:
        description: The peer's cluster name; the Gateway is named C(istio-remote-peer-<cluster>).
        type: str
        required: true
      network:
        description: The peer's network (label C(topology.istio.io/network)). Required to link.
        type: str
      address:
        description: The peer's east-west address, an IP address or a hostname. Required to link.
        type: str
      address_type:
        description: Type of O(peers[].address); derived from the address when omitted and must match it.
        type: str
        choices: [IPAddress, Hostname]
      trust_domain:
        description: The peer's trust domain.
        type: str
        default: cluster.local
      service_account:
        description: The peer's east-west service account (its Service's name).
        type: str
        default: istio-eastwest
      namespace:
        description: The peer's east-west namespace; the Gateway goes into this namespace of the source.
        type: str
        default: istio-eastwest
      region:
        description: Optional label C(topology.kubernetes.io/region).
        type: str
      zone:
        description: Optional label C(topology.kubernetes.io/zone).
        type: str
      trust_domain_source:
        description: Where eastwest_gateway_info found the trust domain; informational, not written.
        type: str
  mesh:
    description:
      - Every cluster of the mesh (for example each host of the inventory group), to plan the links
        of the source (O(cluster), which must be one of them) instead of listing O(peers).
      - A cluster links to the clusters O(mesh[].link_to) names, or to all the others when it is not
        set. The source's peers are written into the source (with O(exclusive), our peer Gateways for
        other clusters are removed there). For each cluster not O(mesh[].in_run), the source's peer
        is written into it when it links to the source, else our peer for the source is removed from
        it; nothing else is read or written there.
      - Descriptors of clusters outside the run are read from those clusters (their east-west
        gateway), waiting up to O(ready_timeout) for one that is still being created.
    type: list
    elements: dict
    suboptions:
      cluster:
        description: The cluster's name (its mesh cluster name).
        type: str
        required: true
      link_to:
        description: Names of the clusters it links to (asymmetric linking); all the others when not set.
        type: list
        elements: str
        aliases: [peers]
      in_run:
        description:
          - Whether this run also runs mesh_link for the cluster, so that it writes the cluster's own
            peers itself. Links between two clusters of the run are written by their source only.
        type: bool
        default: true
      descriptor:
        description:
          - The cluster's peer descriptor (RV(gloomesh.multicluster.eastwest_gateway_info#module:peer)),
            when this run knows it. Needed for the source (when a cluster outside the run links to
            it) and for the clusters of the run the source links to; without it the links with that
            cluster are skipped (RV(skipped)), never removed.
        type: dict
      context:
        description: Kubeconfig context of the cluster; how this module reaches a cluster outside the run.
        type: str
      kubeconfig:
        description: Kubeconfig (path or mapping) of that context; the default kubeconfig when not set.
        type: raw
      namespace:
        description: Namespace of the cluster's east-west gateway, read when its descriptor is not given.
        type: str
        default: istio-eastwest
      install_namespace:
        description: Namespace of the cluster's istiod, read with its descriptor; O(install_namespace) when not set.
        type: str
  ready_timeout:
    description:
      - With O(mesh), seconds to wait for a cluster outside the run to be ready to link (its east-west
        gateway to have an address), for example while another run creates it; V(0) does not wait.
        A cluster still not ready is skipped (RV(skipped) says what was missing). Check mode never waits.
    type: int
    default: 300
  cluster:
    description:
      - Name of the source cluster, used to refuse linking a cluster to itself; required with O(mesh).
      - Defaults to istiod's C(CLUSTER_ID) (Deployment C(istiod-gloo), else C(istiod), in
        O(install_namespace)); an error when neither is known and O(state=present).
    type: str
  install_namespace:
    description:
      - Namespace of the source cluster's istiod, read to discover O(cluster).
    type: str
    default: istio-system
  state:
    description:
      - C(present) creates or updates the listed peers' Gateways; C(absent) removes them.
      - With O(mesh), C(absent) unlinks the source both ways - every peer Gateway of ours in the
        source, and ours for the source in each cluster outside the run - and reads no descriptor.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With C(state=present), also remove the peer Gateways managed by gloomesh.multicluster
        whose cluster is not in O(peers) (unlink clusters dropped from the list).
      - Gateways it does not manage are never removed this way.
    type: bool
    default: false
  adopt:
    description:
      - Take over C(istio-remote) Gateways for listed peers that gloomesh.multicluster does not
        manage (for example created by automatic peering), instead of failing. The one named
        C(istio-remote-peer-<cluster>) in the peer's namespace is applied over (taking over
        conflicting fields); any other for the same cluster is deleted so exactly one remains.
      - With C(state=absent), also removes such Gateways.
    type: bool
    default: false
  force_conflicts:
    description:
      - Take over fields of our peer Gateways that another field manager changed to other values,
        instead of failing.
    type: bool
    default: false
  wait:
    description:
      - Wait (watching each Gateway) until Solo's istiod reports every linked peer connected - the rule
        verify applies, C(gloo.solo.io/PeeringSucceeded) and C(gloo.solo.io/PeerConnected) both True.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for all peers together; the error on timeout names the peer and what was missing.
    type: int
    default: 300
notes:
  - Link both directions for a bi-directional mesh (run the module against every cluster), or give
    O(mesh) and the module writes both directions of the pairs it touches.
  - With O(mesh), clusters outside the run are reached with their own O(mesh[].context) and
    O(mesh[].kubeconfig) only; none of this task's other connection options apply to them.
seealso:
  - module: gloomesh.multicluster.eastwest_gateway
  - module: gloomesh.multicluster.eastwest_gateway_info
"""

EXAMPLES = r"""
- name: Read every cluster's peer descriptor
  gloomesh.multicluster.eastwest_gateway_info:
    context: "{{ item }}"
  loop: [cluster1, cluster2, cluster3]
  register: east_west

- name: Full mesh - link every cluster to all the others
  gloomesh.multicluster.mesh_link:
    context: "{{ item }}"
    cluster: "{{ item }}"
    peers: "{{ east_west.results | map(attribute='peer') | rejectattr('cluster', 'eq', item) }}"
    exclusive: true
    wait: true
  loop: [cluster1, cluster2, cluster3]

- name: Asymmetric - cluster1 may reach cluster2, not the other way round
  gloomesh.multicluster.mesh_link:
    context: cluster1
    peers:
      - cluster: cluster2
        network: cluster2
        address: 172.18.255.20

- name: Link cluster3, newly added, both ways with the clusters already linked (as --limit cluster3)
  gloomesh.multicluster.mesh_link:
    context: cluster3
    cluster: cluster3
    exclusive: true
    mesh:
      - cluster: cluster1
        context: cluster1
        in_run: false
      - cluster: cluster2
        context: cluster2
        in_run: false
        peers: [cluster1]       # asymmetric: cluster2 does not reach cluster3
      - cluster: cluster3
        descriptor: "{{ cluster3_peer }}"   # eastwest_gateway_info's peer

- name: Unlink cluster3 from cluster1
  gloomesh.multicluster.mesh_link:
    context: cluster1
    state: absent
    peers:
      - cluster: cluster3
"""

RETURN = r"""
peers:
  description: One entry per peer Gateway handled, including those removed by O(exclusive) or O(adopt).
  returned: always
  type: list
  elements: dict
  contains:
    cluster:
      description: The peer cluster the Gateway describes.
      type: str
      sample: cluster2
    target:
      description: With O(mesh), the cluster the Gateway is in (the source, or a cluster outside the run).
      type: str
      returned: with O(mesh)
      sample: cluster1
    name:
      description: Gateway name.
      type: str
      sample: istio-remote-peer-cluster2
    namespace:
      description: Gateway namespace.
      type: str
      sample: istio-eastwest
    action:
      description:
        - What happened to the Gateway.
        - With O(mesh), C(foreign) is an C(istio-remote) Gateway in the source that gloomesh.multicluster
          did not create, for a cluster the source does not link to; it is left alone.
      type: str
      choices: [created, updated, unchanged, removed, foreign]
      sample: created
cluster:
  description: The source cluster's name (given or discovered); null when not needed (C(state=absent)).
  returned: always
  type: str
  sample: cluster1
skipped:
  description:
    - With O(mesh), the clusters whose links with the source were left as they were, and why (not
      reachable, not ready to link, no peer descriptor). Each is also a warning.
  returned: with O(mesh)
  type: dict
  sample: {cluster7: "cluster cluster7 (https://10.0.0.7:6443): no answer within 30s"}
diff:
  description:
    - Before and after of every Gateway that changed, with C(--diff); with O(mesh) the headers name
      the cluster the Gateway is in, and so does C(target) (as in RV(peers)).
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: Gateway istio-eastwest/istio-remote-peer-cluster3 in cluster cluster1
      after_header: Gateway istio-eastwest/istio-remote-peer-cluster3 in cluster cluster1
      target: cluster1
      before: {}
      after: {kind: Gateway, metadata: {name: istio-remote-peer-cluster3}}
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import mesh_link as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

PEER_SPEC = dict(
    cluster=dict(type="str", required=True),
    network=dict(type="str"),
    address=dict(type="str"),
    address_type=dict(type="str", choices=["IPAddress", "Hostname"]),
    trust_domain=dict(type="str", default="cluster.local"),
    trust_domain_source=dict(type="str"),
    service_account=dict(type="str", default="istio-eastwest"),
    namespace=dict(type="str", default="istio-eastwest"),
    region=dict(type="str"),
    zone=dict(type="str"),
)
MESH_SPEC = dict(
    cluster=dict(type="str", required=True),
    link_to=dict(type="list", elements="str", aliases=["peers"]),
    in_run=dict(type="bool", default=True),
    descriptor=dict(type="dict"),
    context=dict(type="str"),
    kubeconfig=dict(type="raw"),
    namespace=dict(type="str", default="istio-eastwest"),
    install_namespace=dict(type="str"),
)
ARGUMENT_SPEC = dict(
    peers=dict(type="list", elements="dict", options=PEER_SPEC),
    mesh=dict(type="list", elements="dict", options=MESH_SPEC),
    ready_timeout=dict(type="int", default=300),
    cluster=dict(type="str"),
    install_namespace=dict(type="str", default="istio-system"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    exclusive=dict(type="bool", default=False),
    adopt=dict(type="bool", default=False),
    force_conflicts=dict(type="bool", default=False),
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=300),
)


MODULE_KWARGS = dict(mutually_exclusive=[("peers", "mesh")], required_one_of=[("peers", "mesh")])


def main():
    run_module(ARGUMENT_SPEC, operation.run, **MODULE_KWARGS)


if __name__ == "__main__":
    main()
