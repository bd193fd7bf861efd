#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: servicemeshcontroller
short_description: Install Istio with the Gloo Operator through a ServiceMeshController
version_added: 0.1.0
description:
  - Applies a C(operator.gloo.solo.io/v1) ServiceMeshController with server-side apply (field
    manager C(gloomesh)) and waits until the Gloo Operator reports it ready, that is every status
    condition C(True) and C(status.phase=SUCCEEDED). Phase C(FAILED) fails the task at once with
    the operator's message.
  - With O(extensions), also applies the C(gloo-extensions-config) ConfigMap beside the
    controller (before it, since the operator reads it while reconciling). When O(extensions) is
    empty, that ConfigMap is removed if this collection created it (label
    C(app.kubernetes.io/managed-by=gloomesh.multicluster)); one created by someone else is left alone.
  - The controller's namespace is created when missing.
  - Every rule is checked before anything is written; errors name the option and the allowed values.
  - Re-running with nothing to change sends no write request.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - gloomesh.multicluster.connection
  - gloomesh.multicluster.attributes
  - gloomesh.multicluster.wait
attributes:
  check_mode:
    support: full
    details: Server-side dry run; no wait.
  diff_mode:
    support: full
    details: One diff per object (namespace, extensions ConfigMap, controller), without server noise.
options:
  state:
    description:
      - C(present) applies the controller (and its extensions), C(absent) deletes it and the
        extensions ConfigMap we created. The namespace stays.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: Name of the ServiceMeshController.
    type: str
    default: managed-istio
  namespace:
    description: Namespace of the ServiceMeshController and of C(gloo-extensions-config).
    type: str
    default: gloo-mesh
  labels:
    description:
      - Labels of the ServiceMeshController. Default C(app.kubernetes.io/name=<name>).
      - C(app.kubernetes.io/managed-by=gloomesh.multicluster) is always added.
      - Labels this module set before and no longer lists are removed.
    type: dict
  cluster:
    description:
      - Name of the cluster Istio is installed into (C(spec.cluster)); sets istiod's C(CLUSTER_ID)
        and the default trust domain. Required when O(state=present).
    type: str
  network:
    description:
      - Default network of the workload endpoints (C(spec.network)). Defaults to O(cluster).
    type: str
  allow_cluster_change:
    description:
      - Change C(spec.cluster) or C(spec.network) of an existing ServiceMeshController.
      - Istio's cluster ID is no rename-in-place field (every peer knows the cluster by it and its network),
        so by default a different O(cluster) or O(network) than the live controller's is refused before
        anything is written, naming the current and the new value; a second inventory host that reaches the
        same cluster under another name would otherwise reconfigure it.
    type: bool
    default: false
  dataplane_mode:
    description:
      - Data plane mode (C(spec.dataplaneMode)).
      - Must be C(Ambient) when O(multicluster=true); the multicluster procedure requires it, even
        for sidecar meshes.
    type: str
    choices: [Ambient, Sidecar]
    default: Ambient
  install_namespace:
    description:
      - Namespace for the mesh components (C(spec.installNamespace)).
      - Other than C(gloo-system), C(gloo-mesh) or C(istio-system), the operator needs
        C(manager.env.WATCH_NAMESPACES) to include it; the module warns.
    type: str
    default: istio-system
  version:
    description:
      - Istio patch version, C(1.25.2) or C(1.25.2-solo); written without C(-solo) (the operator adds it).
      - With O(multicluster=true), 1.24.3 or later, and not 1.26.0 or 1.26.1.
      - Required when O(state=present).
    type: str
  record_previous_version:
    description:
      - When O(version) changes the ServiceMeshController's C(spec.version), record the version it had in
        annotation C(gloomesh.multicluster/previous-istio-version), the version a rollback of
        C(gloomesh.multicluster.upgrade_mesh) returns the cluster to. A change that resumes a halted one
        (the live install not ready) keeps the version recorded first.
      - Whatever this says, an annotation recorded earlier is kept (a later install run writes nothing for it).
    type: bool
    default: false
  distribution:
    description: Istio image distribution (C(spec.distribution)); the operator's default is C(Standard).
    type: str
    choices: [Standard, FIPS]
  image:
    description: Istio images (C(spec.image)).
    type: dict
    suboptions:
      repository:
        description: Image repository, e.g. a private registry. Default is Solo's repository for the minor version.
        type: str
      secrets:
        description: Names of C(kubernetes.io/dockerconfigjson) Secrets in O(install_namespace) to pull images with.
        type: list
        elements: str
  on_conflict:
    description:
      - What the operator does when existing Istio resources conflict (C(spec.onConflict)).
        C(Force) updates them, C(Abort) leaves them and fails. The operator's default is C(Abort).
    type: str
    choices: [Force, Abort]
  repository:
    description: Artifact registry for the manifests (C(spec.repository)).
    type: dict
    suboptions:
      secrets:
        description: Names of C(kubernetes.io/dockerconfigjson) Secrets to pull manifests with.
        type: list
        elements: str
      insecure_skip_verify:
        description: Do not verify the registry's certificate chain and host name.
        type: bool
  scaling_profile:
    description: istiod scaling settings (C(spec.scalingProfile)); the operator's default is C(Default).
    type: str
    choices: [Default, Demo, Large]
  traffic_capture_mode:
    description:
      - Traffic capture mode (C(spec.trafficCaptureMode)); the operator's default is C(Auto).
      - C(InitContainer) only with O(dataplane_mode=Sidecar).
    type: str
    choices: [Auto, InitContainer]
  trust_domain:
    description:
      - Trust domain of the workloads (C(spec.trustDomain)). The operator defaults it to
        O(cluster), else C(cluster.local).
    type: str
  multicluster:
    description:
      - The mesh spans several clusters. Enforces the multicluster rules on O(version) and
        O(dataplane_mode).
    type: bool
    default: true
  force_conflicts:
    description:
      - Take back fields of the ServiceMeshController and the extensions ConfigMap that another field
        manager (C(kubectl edit), another tool) changed, instead of failing with the conflict.
      - In check mode the diff shows what would be taken.
      - When the task does not set it, the host variable C(gloomesh_force_conflicts) decides (true, or a
        list of module names such as C([servicemeshcontroller, eastwest_gateway])).
    type: bool
    default: false
  extensions:
    description:
      - Advanced settings written to the C(gloo-extensions-config) ConfigMap in O(namespace).
      - Each document is written as sorted YAML text, so the same options always give the same ConfigMap.
    type: dict
    suboptions:
      stable:
        description: Document for data key C(stable), for example C(serviceMeshController.istiod.discoverySelectors).
        type: dict
      beta:
        description: Document for data key C(beta), for example C(serviceMeshController.cni.confDir).
        type: dict
      istiod_values:
        description: Document for data key C(values.istiod) (istiod Helm values, for example C(env) variables).
        type: dict
      peering:
        description:
          - C(automatic) turns on automatic multicluster peering as the procedure does - it adds
            C(serviceMeshController.multiClusterMode=Peering) to O(extensions.beta) and
            C(env.PEERING_AUTOMATIC_LOCAL_GATEWAY="true") to O(extensions.istiod_values). A different
            value for either in those options is an error.
          - C(manual) adds nothing (link clusters with M(gloomesh.multicluster.mesh_link)).
        type: str
        choices: [automatic, manual]
        default: manual
notes:
  - Ready means every status condition C(True) and C(status.phase=SUCCEEDED) for the current
    generation (C(status.observedGeneration)); the list of condition types is not assumed.
  - Check mode performs a server-side dry run and does not wait.
seealso:
  - module: gloomesh.multicluster.eastwest_gateway
  - module: gloomesh.multicluster.mesh_link
"""

EXAMPLES = r"""
- name: Istio for a multicluster mesh, as the procedure does
  gloomesh.multicluster.servicemeshcontroller:
    context: cluster1
    cluster: cluster1
    version: 1.25.2-solo

- name: With automatic peering and an istiod discovery selector
  gloomesh.multicluster.servicemeshcontroller:
    context: cluster1
    cluster: cluster1
    network: net1
    version: 1.25.2
    extensions:
      peering: automatic
      stable:
        serviceMeshController:
          istiod:
            discoverySelectors:
              - matchLabels:
                  mesh: enabled

- name: A single-cluster sidecar mesh with init-container traffic capture
  gloomesh.multicluster.servicemeshcontroller:
    cluster: lab
    version: 1.27.1
    multicluster: false
    dataplane_mode: Sidecar
    traffic_capture_mode: InitContainer
    scaling_profile: Demo

- name: Remove it
  gloomesh.multicluster.servicemeshcontroller:
    context: cluster1
    state: absent
"""

RETURN = r"""
resource:
  description: The ServiceMeshController as stored (as the dry run predicts in check mode), without managedFields; empty after O(state=absent).
  returned: always
  type: dict
  sample: {"apiVersion": "operator.gloo.solo.io/v1", "kind": "ServiceMeshController",
           "metadata": {"name": "managed-istio", "namespace": "gloo-mesh"},
           "spec": {"cluster": "cluster1", "network": "cluster1", "dataplaneMode": "Ambient",
                    "installNamespace": "istio-system", "version": "1.25.2"},
           "status": {"phase": "SUCCEEDED"}}
phase:
  description: C(status.phase) reported by the operator (null when not reported yet, e.g. in check mode).
  returned: always
  type: str
  sample: SUCCEEDED
conditions:
  description: C(status.conditions) reported by the operator.
  returned: always
  type: list
  elements: dict
  sample: [{"type": "Ready", "status": "True", "reason": "SystemReady", "message": "All conditions are met"}]
actions:
  description:
    - What happened to each object - C(created), C(updated), C(unchanged), C(deleted) or C(absent);
      C(unmanaged) for an extensions ConfigMap this collection did not create (left alone).
  returned: always
  type: dict
  sample: {"namespace": "unchanged", "extensions_config": "absent", "controller": "created"}
diff:
  description: With C(--diff), before/after of each object that changed (and always of the controller).
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import WAIT_ARG_SPEC
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import service_mesh as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    name=dict(type="str", default="managed-istio"),
    namespace=dict(type="str", default="gloo-mesh"),
    labels=dict(type="dict"),
    cluster=dict(type="str"),
    network=dict(type="str"),
    allow_cluster_change=dict(type="bool", default=False),
    dataplane_mode=dict(type="str", choices=["Ambient", "Sidecar"], default="Ambient"),
    install_namespace=dict(type="str", default="istio-system"),
    version=dict(type="str"),
    record_previous_version=dict(type="bool", default=False),
    distribution=dict(type="str", choices=["Standard", "FIPS"]),
    image=dict(type="dict", options=dict(
        repository=dict(type="str"),
        secrets=dict(type="list", elements="str", no_log=False),
    )),
    on_conflict=dict(type="str", choices=["Force", "Abort"]),
    repository=dict(type="dict", options=dict(
        secrets=dict(type="list", elements="str", no_log=False),
        insecure_skip_verify=dict(type="bool"),
    )),
    scaling_profile=dict(type="str", choices=["Default", "Demo", "Large"]),
    traffic_capture_mode=dict(type="str", choices=["Auto", "InitContainer"]),
    trust_domain=dict(type="str"),
    multicluster=dict(type="bool", default=True),
    force_conflicts=dict(type="bool", default=False),
    extensions=dict(type="dict", options=dict(
        stable=dict(type="dict"),
        beta=dict(type="dict"),
        istiod_values=dict(type="dict"),
        peering=dict(type="str", choices=["automatic", "manual"], default="manual"),
    )),
)
ARGUMENT_SPEC.update(WAIT_ARG_SPEC)


def main():
    run_module(ARGUMENT_SPEC, operation.run)


if __name__ == "__main__":
    main()
