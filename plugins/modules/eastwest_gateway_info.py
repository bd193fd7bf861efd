#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: eastwest_gateway_info
short_description: Read a cluster's east-west gateway as a peer descriptor for mesh_link
version_added: 0.1.0
description:
  - Reads one cluster the way C(istioctl multicluster link) reads a destination cluster and
    returns a peer descriptor that M(gloomesh.multicluster.mesh_link) accepts in its O(gloomesh.multicluster.mesh_link#module:peers).
  - The east-west Service is the Service labelled C(istio.io/expose-istiod) (istiod creates it
    for the Gateway of M(gloomesh.multicluster.eastwest_gateway)). The address is the one the Gateway
    advertises in annotation C(gloomesh.multicluster/advertised-address) (option O(gloomesh.multicluster.eastwest_gateway#module:address)),
    else the Service's first C(status.loadBalancer.ingress) entry (IP, then hostname); never a ClusterIP.
  - Network, cluster, region and zone come from the Service's topology labels. When the Service
    has no network or cluster label (older releases), they are discovered as
    M(gloomesh.multicluster.eastwest_gateway) does.
  - The trust domain is the top-level C(trustDomain) of the C(mesh) key of ConfigMap
    C(istio-gloo), else C(istio), in O(install_namespace); C(cluster.local) when absent.
  - A cluster whose east-west Service has no address yet is an error ("not ready to link"),
    never a descriptor without an address.
  - Never changes anything.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - gloomesh.multicluster.connection
  - gloomesh.multicluster.trust_domain
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
options:
  namespace:
    description:
      - Namespace of the east-west Service (the namespace given to
        M(gloomesh.multicluster.eastwest_gateway)).
    type: str
    default: istio-eastwest
  all_namespaces:
    description:
      - Look for the east-west Service in every namespace instead of O(namespace). More than one
        labelled Service is an error unless exactly one is named C(istio-eastwest).
    type: bool
    default: false
  install_namespace:
    description:
      - Namespace of istiod and its mesh ConfigMap.
    type: str
    default: istio-system
seealso:
  - module: gloomesh.multicluster.eastwest_gateway
  - module: gloomesh.multicluster.mesh_link
"""

EXAMPLES = r"""
- name: Read every cluster's peer descriptor
  gloomesh.multicluster.eastwest_gateway_info:
    context: "{{ item }}"
  loop: [cluster1, cluster2, cluster3]
  register: east_west

- name: Link cluster1 to all the others
  gloomesh.multicluster.mesh_link:
    context: cluster1
    peers: "{{ east_west.results | map(attribute='peer') | rejectattr('cluster', 'eq', 'cluster1') }}"
"""

RETURN = r"""
peer:
  description: Peer descriptor of this cluster, the item format of mesh_link's O(gloomesh.multicluster.mesh_link#module:peers).
  returned: success
  type: dict
  contains:
    cluster:
      description: Cluster name (label C(topology.istio.io/cluster) or istiod's C(CLUSTER_ID)).
      type: str
      sample: cluster2
    network:
      description: Network (label C(topology.istio.io/network)).
      type: str
      sample: cluster2
    address:
      description:
        - Address peers use to reach this cluster's east-west gateway - the one it advertises
          (eastwest_gateway's O(gloomesh.multicluster.eastwest_gateway#module:address)), else its Service's first
          load-balancer ingress.
      type: str
      sample: 172.18.255.20
    address_type:
      description: Gateway API address type of RV(peer.address).
      type: str
      choices: [IPAddress, Hostname]
    trust_domain:
      description: Trust domain of this cluster's mesh (see O(trust_domain_source)).
      type: str
      sample: cluster.local
    trust_domain_source:
      description: Where RV(peer.trust_domain) was read from.
      type: str
      sample: ConfigMap istio-system/istio-gloo
    service_account:
      description: Service account of the east-west gateway (the Service's name).
      type: str
      sample: istio-eastwest
    namespace:
      description: Namespace of the east-west gateway; peers put their Gateway for this cluster there.
      type: str
      sample: istio-eastwest
    region:
      description: Label C(topology.kubernetes.io/region), if any.
      type: str
    zone:
      description: Label C(topology.kubernetes.io/zone), if any.
      type: str
trust_domain_source:
  description:
    - Where the trust domain came from (also in RV(peer.trust_domain_source)) - the mesh ConfigMap, the
      ServiceMeshController's C(trustDomain) or C(cluster), or C(default).
  returned: success
  type: str
  sample: ConfigMap istio-system/istio-gloo
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import eastwest_gateway_info as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", default="istio-eastwest"),
    all_namespaces=dict(type="bool", default=False),
    install_namespace=dict(type="str", default="istio-system"),
    trust_domain_source=dict(type="str", choices=["mesh_config", "service_mesh"]),
)


def main():
    run_module(ARGUMENT_SPEC, operation.run)


if __name__ == "__main__":
    main()
