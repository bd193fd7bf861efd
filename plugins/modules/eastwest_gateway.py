#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: eastwest_gateway
short_description: Expose a cluster to its multicluster mesh peers with an east-west Gateway
version_added: 0.1.0
description:
  - Applies the C(istio-eastwest) Gateway that C(istioctl multicluster expose) creates, with
    server-side apply (field manager C(gloomesh)), and waits until istiod has programmed it
    and its load balancer has an address.
  - The Gateway carries the labels C(istio.io/expose-istiod=15012),
    C(topology.istio.io/network), C(topology.istio.io/cluster), the optional
    C(topology.kubernetes.io/region) and C(topology.kubernetes.io/zone), and
    C(app.kubernetes.io/managed-by=gloomesh.multicluster). The east-west Service istiod creates
    inherits them.
  - The namespace is created when it does not exist.
  - I(network) and I(cluster) default to what the cluster says, as istioctl does. The network is
    the label C(topology.istio.io/network) of the I(install_namespace) namespace; the cluster is
    the C(CLUSTER_ID) environment variable of Deployment C(istiod-gloo), else C(istiod), in that
    namespace (the value C(Kubernetes) counts as unset).
  - Re-running with nothing to change sends no write request.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - gloomesh.multicluster.connection
  - gloomesh.multicluster.trust_domain
  - gloomesh.multicluster.attributes
  - gloomesh.multicluster.wait
attributes:
  check_mode:
    support: full
    details: Server-side dry run; no wait.
  diff_mode:
    support: full
options:
  state:
    description:
      - C(present) applies the Gateway, C(absent) deletes it (the namespace stays).
    type: str
    choices: [present, absent]
    default: present
  namespace:
    description:
      - Namespace of the east-west Gateway (C(istioctl multicluster expose -n)).
      - Peers link to this cluster in the same namespace.
    type: str
    default: istio-eastwest
  network:
    description:
      - Network of this cluster, label C(topology.istio.io/network).
      - Defaults to the label C(topology.istio.io/network) of the I(install_namespace) namespace.
      - Must match the ServiceMeshController's C(network).
    type: str
  cluster:
    description:
      - Name of this cluster, label C(topology.istio.io/cluster); peers name their Gateway
        C(istio-remote-peer-<cluster>) after it.
      - Defaults to istiod's C(CLUSTER_ID).
      - Must match the ServiceMeshController's C(cluster).
    type: str
  region:
    description:
      - Optional label C(topology.kubernetes.io/region).
    type: str
  zone:
    description:
      - Optional label C(topology.kubernetes.io/zone).
    type: str
  address:
    description:
      - Address (IP or hostname) the other clusters dial instead of the load balancer's, behind NAT or
        where no LoadBalancer implementation gives the east-west Service an address (kind without
        cloud-provider-kind, bare metal).
      - Kept in the Gateway's annotation C(gloomesh.multicluster/advertised-address) (ours; Istio reads
        none for this), where M(gloomesh.multicluster.eastwest_gateway_info) finds it for peers.
      - With it, O(wait) waits for C(Accepted=True) and the Service istiod deploys for the Gateway, not
        for a load-balancer address.
    type: str
  install_namespace:
    description:
      - Namespace where istiod runs, read to discover I(network) and I(cluster).
    type: str
    default: istio-system
  force_conflicts:
    description:
      - Take over fields of the Gateway that another field manager set to other values (for
        example a Gateway first created by C(istioctl multicluster expose)), instead of failing.
      - When the task does not set it, the host variable C(gloomesh_force_conflicts) decides (true, or a
        list of module names).
    type: bool
    default: false
  generate:
    description:
      - Return the Gateway in RV(resource) without applying it, like
        C(istioctl multicluster expose --generate).
      - The cluster is contacted only to discover I(network) or I(cluster) when they are not given.
    type: bool
    default: false
notes:
  - Ready (O(wait)) means condition C(Programmed=True) on the Gateway and an address in its
    C(status.addresses) (the load balancer IP or hostname of the east-west Service). While the
    Service is pending Istio reports C(Programmed=False), reason C(AddressNotAssigned), and puts the
    Service's ClusterIP in C(status.addresses); a timeout names the pending Service and the fixes
    (a LoadBalancer implementation, or O(address)).
  - Requires the Gateway API CRDs and an Istio control plane with GatewayClass C(istio-eastwest)
    (installed by the Gloo Operator's ServiceMeshController).
seealso:
  - module: gloomesh.multicluster.eastwest_gateway_info
  - module: gloomesh.multicluster.mesh_link
"""

EXAMPLES = r"""
- name: Expose cluster1 (network and cluster discovered from istiod)
  gloomesh.multicluster.eastwest_gateway:
    context: cluster1

- name: Expose cluster2 with explicit topology, behind NAT
  gloomesh.multicluster.eastwest_gateway:
    context: cluster2
    network: cluster2
    cluster: cluster2
    region: us-east-1
    address: 203.0.113.20
    wait_timeout: 120

- name: Show the Gateway without applying it
  gloomesh.multicluster.eastwest_gateway:
    network: cluster1
    cluster: cluster1
    generate: true
  register: generated

- name: Remove the east-west Gateway
  gloomesh.multicluster.eastwest_gateway:
    context: cluster1
    state: absent
"""

RETURN = r"""
resource:
  description:
    - The Gateway as stored (as the server would store it in check mode, as generated with
      I(generate)). Empty after C(state=absent).
  returned: always
  type: dict
address:
  description: First address in the Gateway's C(status.addresses).
  returned: when I(state=present) and the Gateway has an address
  type: str
  sample: 172.18.255.10
programmed:
  description: Whether condition C(Programmed) is C(True).
  returned: when I(state=present)
  type: bool
network:
  description: Network written to the Gateway (given or discovered).
  returned: when I(state=present)
  type: str
  sample: cluster1
cluster:
  description: Cluster name written to the Gateway (given or discovered).
  returned: when I(state=present)
  type: str
  sample: cluster1
peer:
  description:
    - This cluster's peer descriptor, as M(gloomesh.multicluster.eastwest_gateway_info) returns it, read once
      the Gateway is ready.
  returned: when I(state=present), O(wait=true) and not in check mode
  type: dict
  sample:
    cluster: cluster1
    network: cluster1
    address: 172.18.255.10
    address_type: IPAddress
    trust_domain: cluster1
    trust_domain_source: ServiceMeshController gloo-mesh/managed-istio spec.cluster
    service_account: istio-eastwest
    namespace: istio-eastwest
    region: null
    zone: null
action:
  description: What happened to the Gateway.
  returned: always
  type: str
  choices: [created, updated, unchanged, deleted, absent, generated]
diff:
  description: Before and after of the Gateway, with C(--diff).
  returned: when diff mode is on and not I(generate)
  type: dict
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import WAIT_ARG_SPEC
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import eastwest_gateway as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    namespace=dict(type="str", default="istio-eastwest"),
    network=dict(type="str"),
    cluster=dict(type="str"),
    region=dict(type="str"),
    zone=dict(type="str"),
    address=dict(type="str"),
    install_namespace=dict(type="str", default="istio-system"),
    force_conflicts=dict(type="bool", default=False),
    generate=dict(type="bool", default=False),
    trust_domain_source=dict(type="str", choices=["mesh_config", "service_mesh"]),
)
ARGUMENT_SPEC.update(WAIT_ARG_SPEC)


def main():
    run_module(ARGUMENT_SPEC, operation.run)


if __name__ == "__main__":
    main()
