#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gateway_api_crds
short_description: Install the pinned Kubernetes Gateway API CRDs without ever downgrading them
version_added: 0.2.0
description:
  - Decides from the C(gateway.networking.k8s.io/bundle-version) and C(gateway.networking.k8s.io/channel)
    annotations of the installed CRDs, read as metadata only. A cluster already on O(version) costs one
    list request; the manifest is then neither downloaded nor read.
  - Versions are compared as SemVer (C(v1.4.0-rc.1) < C(v1.4.0) < C(v1.10.0); build metadata such as
    C(+build) does not count), never as strings.
  - Installs only when C(GatewayClass) or C(Gateway) is missing or a CRD of the bundle is older than
    O(version); then the manifest's missing and older CRDs, and its other objects (from v1.5.0 the
    C(safe-upgrades.gateway.networking.k8s.io) admission policy), are server-side applied with field
    manager C(gloomesh), and the CRDs are waited for until C(Established).
  - "Leaves the whole bundle alone, with a warning and RV(left_alone), when any of its CRDs is: newer than
    O(version) (Gateway API CRDs are never downgraded); of another channel (C(experimental)); of a version
    that is no release (none, or C(v0.0.0-dev)); or managed by the cluster provider (label
    C(addonmanager.kubernetes.io/mode=Reconcile), or GKE's C(components.gke.io/*) annotations). This follows
    the Gateway API project's rules for tools that bundle its CRDs (gateway-api.sigs.k8s.io, CRD Management,
    Who Should Manage CRDs?)."
  - Before the first write, every object is applied as a server-side dry run. When another field manager
    owns fields the install would change, the task fails naming that manager and the fields, and nothing is
    written; O(force_conflicts=true) takes them over.
  - A bundle CRD other than C(GatewayClass) and C(Gateway) deleted by hand from a cluster whose other CRDs are
    on O(version) is not noticed, since the manifest is not read then.
  - O(policy=skip) only checks, without writing, that the cluster serves C(GatewayClass) and C(Gateway) at
    C(gateway.networking.k8s.io/v1), for sites that manage the CRDs themselves.
  - Every outcome checks that C(GatewayClass) and C(Gateway) are served, else fails naming the cluster.
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
    details: Server-side dry run of what would be applied; no wait. A manifest to download is kept in memory only.
  diff_mode:
    support: full
    details: The objects that would be created or upgraded, with their bundle version before and after (not their schemas).
options:
  version:
    description:
      - The pinned Gateway API release, as its tag is named (C(v1.3.0)); the standard channel is installed.
    type: str
    required: true
  policy:
    description:
      - C(install) installs or upgrades as described above.
      - C(skip) writes nothing and fails unless C(GatewayClass) and C(Gateway) are served.
    type: str
    choices: [install, skip]
    default: install
  src:
    description:
      - Path of a local copy of the release's C(standard-install.yaml), used instead of O(url) (air-gapped
        sites). Read only when something must be installed.
      - The path is on the host running the module (the controller, with a local connection).
    type: path
  url:
    description:
      - Where to download C(standard-install.yaml) when O(src) is not set and something must be installed.
      - Defaults to the release asset
        C(https://github.com/kubernetes-sigs/gateway-api/releases/download/<version>/standard-install.yaml).
    type: str
  cache_dir:
    description:
      - Directory for the downloaded manifest, kept as C(<cache_dir>/<version>/standard-install.yaml) and
        downloaded once for all hosts.
    type: path
    default: ~/.cache/gloomesh/gateway-api
  force_conflicts:
    description:
      - Take over fields another field manager owns (for example CRDs first installed with C(kubectl apply)
        or Helm) instead of failing. The fields taken are listed in RV(conflicts) and in a warning, also in
        check mode.
    type: bool
    default: false
notes:
  - Ready (O(wait)) means condition C(Established=True) on every applied CRD.
  - Requires list and get on C(customresourcedefinitions); installing requires patch too (and, from
    Gateway API v1.5.0, on C(validatingadmissionpolicies) and their bindings).
seealso:
  - name: Gateway API CRD management
    description: Who should manage the CRDs, and the rules for tools that bundle them.
    link: https://gateway-api.sigs.k8s.io/guides/crd-management/
  - name: Gateway API versioning
    description: The bundle-version and channel annotations.
    link: https://gateway-api.sigs.k8s.io/concepts/versioning/
"""

EXAMPLES = r"""
- name: Install Gateway API v1.3.0 unless the cluster has it, or something newer
  gloomesh.multicluster.gateway_api_crds:
    context: cluster1
    version: v1.3.0

- name: Air-gapped, from a local copy of the release manifest
  gloomesh.multicluster.gateway_api_crds:
    version: v1.3.0
    src: /srv/mirror/gateway-api/v1.3.0/standard-install.yaml

- name: The site manages the CRDs; only check that the mesh can use them
  gloomesh.multicluster.gateway_api_crds:
    version: v1.3.0
    policy: skip

- name: Upgrade CRDs first installed with kubectl, taking their fields over
  gloomesh.multicluster.gateway_api_crds:
    version: v1.3.0
    force_conflicts: true
"""

RETURN = r"""
action:
  description: What happened to the bundle.
  returned: always
  type: str
  choices: [applied, unchanged, left_alone, skipped]
  sample: unchanged
version:
  description: The pinned version.
  returned: always
  type: str
  sample: v1.3.0
policy:
  description: O(policy).
  returned: always
  type: str
  sample: install
left_alone:
  description:
    - Why the installed bundle was left as it is, or null.
    - C(newer), C(other_channel) (experimental), C(unrecognized) (no release version), C(provider_managed).
  returned: always
  type: str
  sample: newer
message:
  description: One line on the decision, naming the CRDs and versions it rests on.
  returned: always
  type: str
  sample: "Gateway API CRDs left alone (pinned v1.3.0): a newer bundle is installed and Gateway API CRDs are
    never downgraded: gateways.gateway.networking.k8s.io is bundle v1.5.0, newer than v1.3.0"
crds:
  description:
    - One entry per Gateway API CRD installed or required, with its action (C(created), C(upgraded),
      C(unchanged), C(left_alone)), bundle version before and after, channel, and how it compared with
      O(version) (C(state)).
  returned: always
  type: list
  elements: dict
  sample:
    - name: gateways.gateway.networking.k8s.io
      action: upgraded
      version_before: v1.2.1
      version_after: v1.3.0
      channel: standard
      state: older
conflicts:
  description: Fields another field manager owns that the install changes (taken over with O(force_conflicts)).
  returned: always
  type: list
  elements: dict
  sample:
    - object: CustomResourceDefinition gateways.gateway.networking.k8s.io
      manager: kubectl
      field: .metadata.annotations.gateway.networking.k8s.io/bundle-version
objects:
  description: Every object applied (in check mode, that would be), with its action and bundle versions.
  returned: when RV(action=applied)
  type: list
  elements: dict
  sample:
    - object: CustomResourceDefinition grpcroutes.gateway.networking.k8s.io
      action: created
      version_before: null
      version_after: v1.3.0
manifest_read:
  description: Whether the manifest was read (only when something had to be installed).
  returned: always
  type: bool
  sample: false
manifest:
  description: The manifest file read (O(src), or the cached download).
  returned: when RV(manifest_read)
  type: str
  sample: /home/user/.cache/gloomesh/gateway-api/v1.3.0/standard-install.yaml
diff:
  description: C(<Kind>/<name>) of each object created or upgraded, with its bundle version before and after.
  returned: when diff mode is on and something is applied
  type: dict
  sample:
    before:
      CustomResourceDefinition/gateways.gateway.networking.k8s.io: v1.2.1
    after:
      CustomResourceDefinition/gateways.gateway.networking.k8s.io: v1.3.0
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import WAIT_ARG_SPEC
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import gateway_api_crds as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    version=dict(type="str", required=True),
    policy=dict(type="str", choices=["install", "skip"], default="install"),
    src=dict(type="path"),
    url=dict(type="str"),
    cache_dir=dict(type="path", default="~/.cache/gloomesh/gateway-api"),
    force_conflicts=dict(type="bool", default=False),
)
ARGUMENT_SPEC.update(WAIT_ARG_SPEC)


def main():
    run_module(ARGUMENT_SPEC, operation.run)


if __name__ == "__main__":
    main()
