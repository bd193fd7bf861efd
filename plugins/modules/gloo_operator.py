#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gloo_operator
short_description: Install the Gloo Operator with Helm, keeping the license out of Helm
version_added: 0.2.0
description:
  - Installs or upgrades the Gloo Operator chart (C(helm upgrade --install)) and waits until the
    operator Deployment (label C(app.kubernetes.io/name=gloo-operator)) is available.
  - The license key never reaches Helm. With O(license_key), the module writes it to a Secret of
    its own (O(license_secret_name), type C(Opaque), label
    C(app.kubernetes.io/managed-by=gloomesh.multicluster), server-side apply) in O(namespace), and
    the chart gets only the reference C(manager.env.SOLO_ISTIO_LICENSE_KEY_SECRET_REF=<namespace>/<name>).
    With O(license_secret_ref), that reference is passed through untouched (and a license Secret
    this module created earlier is deleted).
  - C(manager.env.WATCH_NAMESPACES) is set to O(install_namespace) when the operator does not watch
    it by default (O(watched_by_default)). O(values) are merged over these values.
  - Helm runs only when needed. The module reads Helm's own record of the release (the Secret
    C(sh.helm.release.v1.<release>.v<revision>) with status C(deployed)) through the Kubernetes API
    and compares its chart name, chart version and values with the wanted ones; when they match,
    no helm process is started and nothing is written. Otherwise C(helm upgrade --install
    --reset-values), so the release's values are exactly the wanted ones.
  - Helm is run with a deadline (O(helm_timeout)), its values in a file readable only by the
    controller user and removed afterwards, the cluster connection in its environment. A failure
    reports helm's exit code and output with every secret removed (the license, every C(no_log)
    option, and values under keys such as C(*LicenseKey), C(*password) or C(*token)), even when
    helm echoes its values.
  - Helm's own requests have no deadline, so the module watches the cluster for it - a
    C(GET /version) right before helm starts and every 3 seconds while it runs, each bounded by
    O(request_timeout). A cluster that stops answering fails the task after at most 3 seconds plus
    O(request_timeout) without an answer, plus helm's stop (SIGTERM, then SIGKILL, at most 10
    seconds), not after O(helm_timeout); the error names the cluster and says its API server
    stopped answering during helm.
  - A helm killed mid-operation (a frozen API server cannot take its last write) leaves the
    release C(pending-install) or C(pending-upgrade), and helm then refuses every change
    ("another operation (install/upgrade/rollback) is in progress"). A re-run recovers it, with
    a warning - when the newest revision is pending and began more than
    O(helm_timeout) + O(request_timeout) + 10 seconds ago (so no helm of this module can still be
    running it), C(helm rollback) to the newest deployed revision, or C(helm uninstall) when no
    revision was ever deployed, then the usual upgrade. A younger pending revision fails the
    task before any write, saying when to run again. Check mode predicts the recovery.
  - With O(reuse_values=true) the module manages settings in another, existing Gloo release (the
    C(gloo-platform) charts, for automatic peering) - O(values) are merged over the values the
    release has, the chart version it runs is kept unless O(chart_version) is set, and nothing
    of the operator (license, C(WATCH_NAMESPACES), wait) is added. A missing release is an error.
  - With O(helm=false) (operator installed by Argo CD or similar) nothing is installed; the module
    only waits for the operator Deployment.
  - O(state=absent) runs C(helm uninstall) when the release has a record (no helm otherwise),
    deletes the license Secret this module created, and waits for the operator Deployment to go.
    The namespace stays.
  - Every rule is checked before anything is read or written; errors name the option.
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
    details:
      - Predicts from Helm's release record whether helm would run. No helm process and no write (the
        namespace and license Secret are server-side dry runs), no wait. A missing helm binary fails
        as the real run would when a change is predicted.
  diff_mode:
    support: full
    details:
      - The namespace and license Secret as changed (Secret data hidden), and the release's chart and
        values before and after, with secrets shown as C(<redacted>).
options:
  state:
    description: C(present) installs or upgrades the release, C(absent) uninstalls it.
    type: str
    choices: [present, absent]
    default: present
  release:
    description: Helm release name (at most 53 characters).
    type: str
    default: gloo-operator
  namespace:
    description:
      - Namespace of the release and of the license Secret; created (labelled
        C(app.kubernetes.io/managed-by=gloomesh.multicluster)) when missing, unless O(reuse_values=true).
    type: str
    default: gloo-mesh
  chart:
    description:
      - Chart reference as helm takes it - an C(oci://) reference (for example a mirror in an
        air-gapped registry), a chart name with O(chart_repo_url), or a local path.
      - Default C(oci://us-docker.pkg.dev/solo-public/gloo-operator-helm/gloo-operator); with
        O(reuse_values=true), the name of the chart the release runs.
    type: str
  chart_version:
    description:
      - Chart version. Default C(0.2.3); with O(reuse_values=true), the version the release runs.
    type: str
  chart_repo_url:
    description: Chart repository URL (C(helm --repo)), for a chart given by name.
    type: str
  license_key:
    description:
      - Gloo license key (keep it in a vault). Written to the Secret O(license_secret_name), never
        given to Helm. Leading and trailing whitespace is dropped.
      - Exactly one of O(license_key) and O(license_secret_ref) when installing the operator.
    type: str
  license_secret_ref:
    description:
      - C(<namespace>/<name>) of an existing Secret holding the license, for example
        C(gloo-mesh/license-keys), the Secret Gloo Mesh creates. Passed to the chart as is.
    type: str
  license_secret_name:
    description: Name of the Secret this module writes O(license_key) to, in O(namespace).
    type: str
    default: gloo-operator-license
  license_secret_key:
    description:
      - Data key of that Secret holding the license.
      - The default follows the layout of Gloo Mesh's own C(license-keys) Secret, the one the
        procedure points C(SOLO_ISTIO_LICENSE_KEY_SECRET_REF) at. Which key the operator reads is
        not published; set this if your operator version expects another one.
    type: str
    default: gloo-mesh-license-key
  install_namespace:
    description: Namespace the mesh is installed into; decides C(manager.env.WATCH_NAMESPACES).
    type: str
    default: istio-system
  watched_by_default:
    description: Namespaces the operator watches without C(WATCH_NAMESPACES).
    type: list
    elements: str
    default: [gloo-system, gloo-mesh, istio-system]
  values:
    description:
      - Chart values merged over the ones the module sets (maps recursively).
      - With O(reuse_values=true), merged over the release's current values.
    type: dict
    default: {}
  reuse_values:
    description:
      - Keep the existing release's values and merge O(values) over them, like C(helm get values)
        followed by C(helm upgrade -f current.yaml -f values.yaml). See the description.
    type: bool
    default: false
  helm:
    description:
      - Install with Helm. C(false) when the operator is installed by something else; the module then
        only waits for it (O(state=present)) or only removes its license Secret (O(state=absent)).
    type: bool
    default: true
  binary_path:
    description: Path of the helm binary on the controller. Default C(helm) on the controller's PATH.
    type: path
  helm_timeout:
    description:
      - Seconds helm may run. It is then stopped (SIGTERM, then SIGKILL) and the task fails.
      - A pending revision older than O(helm_timeout) + O(request_timeout) + 10 seconds is taken as
        left by a killed helm and recovered (see the notes in the description).
    type: int
    default: 300
notes:
  - Helm 3 with its default storage driver (Secrets) is required; the module sets C(HELM_DRIVER=secret)
    for its helm calls so that helm and the module read the same records.
  - Helm is needed on the controller only when something must change; a re-run with everything in
    place starts no process.
  - Connection options helm cannot take (O(username), O(password), O(client_cert), O(client_key),
    O(proxy)) are refused; put them in a kubeconfig.
  - O(wait) waits for the Deployments labelled C(app.kubernetes.io/name=gloo-operator) in
    O(namespace) to have all replicas available; it is not used with O(reuse_values=true).
seealso:
  - module: gloomesh.multicluster.servicemeshcontroller
"""

EXAMPLES = r"""
- name: Install the Gloo Operator, the license kept in a Secret of ours
  gloomesh.multicluster.gloo_operator:
    context: cluster1
    license_key: "{{ vault_gloo_license_key }}"

- name: Use the license Secret Gloo Mesh created
  gloomesh.multicluster.gloo_operator:
    context: cluster1
    license_secret_ref: gloo-mesh/license-keys

- name: From an air-gapped mirror, for a mesh in another namespace
  gloomesh.multicluster.gloo_operator:
    chart: oci://registry.example.com/solo/gloo-operator
    chart_version: 0.2.3
    license_key: "{{ vault_gloo_license_key }}"
    install_namespace: mesh-system
    values:
      manager:
        image:
          registry: registry.example.com/solo

- name: Turn on ConfigDistribution in Gloo Mesh, keeping the release's values and chart version
  gloomesh.multicluster.gloo_operator:
    release: gloo-platform
    chart: gloo-platform
    chart_repo_url: https://storage.googleapis.com/gloo-platform/helm-charts
    reuse_values: true
    values:
      featureGates:
        ConfigDistribution: true

- name: Uninstall
  gloomesh.multicluster.gloo_operator:
    state: absent
"""

RETURN = r"""
actions:
  description:
    - What happened to each part - C(namespace) and C(license_secret) (C(created), C(updated),
      C(unchanged), C(deleted), C(absent), or C(unmanaged) for a Secret of that name not created by
      this module) and C(release) (C(installed), C(upgraded), C(unchanged), C(uninstalled),
      C(absent), or C(skipped) with O(helm=false)); C(pending_release) (C(rolled_back) or
      C(uninstalled)) only when a release a killed helm left pending was recovered first.
  returned: always
  type: dict
  sample: {"namespace": "unchanged", "license_secret": "unchanged", "release": "unchanged"}
release:
  description: The deployed release as Helm records it (as found before the change in check mode); never its values.
  returned: when O(state=present) and the release exists
  type: dict
  sample: {"name": "gloo-operator", "namespace": "gloo-mesh", "revision": 1, "status": "deployed",
           "chart": "gloo-operator", "chart_version": "0.2.3", "app_version": "0.2.3"}
values_changed:
  description: Dotted paths of the values that differ between the release and the wanted values.
  returned: always
  type: list
  elements: str
  sample: ["manager.env.SOLO_ISTIO_LICENSE_KEY", "manager.env.SOLO_ISTIO_LICENSE_KEY_SECRET_REF"]
license_secret_ref:
  description: The C(<namespace>/<name>) the chart was pointed at.
  returned: when O(state=present), O(helm=true) and O(reuse_values=false)
  type: str
  sample: gloo-mesh/gloo-operator-license
deployments:
  description: The operator Deployments and whether they are available.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "gloo-operator", "available": true}]
diff:
  description: With C(--diff), before/after of each part that changed, and of the release.
  returned: when diff mode is on
  type: list
  elements: dict
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import OPERATOR_WATCHED
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import WAIT_ARG_SPEC
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import gloo_operator as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    release=dict(type="str", default="gloo-operator"),
    namespace=dict(type="str", default="gloo-mesh"),
    chart=dict(type="str"),
    chart_version=dict(type="str"),
    chart_repo_url=dict(type="str"),
    license_key=dict(type="str", no_log=True),
    license_secret_ref=dict(type="str", no_log=False),
    license_secret_name=dict(type="str", default="gloo-operator-license", no_log=False),
    license_secret_key=dict(type="str", default="gloo-mesh-license-key", no_log=False),
    install_namespace=dict(type="str", default="istio-system"),
    watched_by_default=dict(type="list", elements="str", default=list(OPERATOR_WATCHED)),
    values=dict(type="dict", default={}),
    reuse_values=dict(type="bool", default=False),
    helm=dict(type="bool", default=True),
    binary_path=dict(type="path"),
    helm_timeout=dict(type="int", default=300),
)
ARGUMENT_SPEC.update(WAIT_ARG_SPEC)


def main():
    run_module(ARGUMENT_SPEC, operation.run)


if __name__ == "__main__":
    main()
