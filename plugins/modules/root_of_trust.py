#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: root_of_trust
short_description: Give a cluster Istio's plug-in CA (Secret cacerts) from a root shared by the mesh
version_added: 0.2.0
description:
  - Keeps Secret C(cacerts) (type C(Opaque)) in I(namespace) with C(ca-cert.pem) (this cluster's
    intermediate CA), C(ca-key.pem) (its key), C(root-cert.pem) and C(cert-chain.pem)
    (intermediate, then root), as Istio's plug-in CA expects. Every cluster of a multicluster mesh
    must get an intermediate of the same root.
  - Runs on the controller (C(connection=local) or C(delegate_to=localhost)); the root files are
    controller paths.
  - The root is generated when neither I(root_cert_path) nor I(root_key_path) exists, with
    Istio's reference defaults (O=Istio, CN=Root CA, 3650 days, RSA 4096, SHA-256,
    C(basicConstraints) critical CA:true, C(keyUsage) critical digitalSignature, nonRepudiation,
    keyEncipherment, keyCertSign), or loaded when both exist (your own PKI). A root is never
    regenerated once it exists; when only one of the two files exists the module fails.
  - Safe for many hosts at once. Ansible runs each inventory host in its own process, so the
    generation of a missing root and its writing happen under an exclusive C(flock) on
    C(<root_key_path>.lock) (left in place on purpose). The first host generates the root; the
    others wait and load it. C(run_once) is not needed.
  - An existing root is only read, without the lock; no lock file is created (a read-only directory
    works) and another run holding the lock (a suspended one) does not hold this one up. The holder
    writes its pid, host and start time into the lock file; a run that must generate the root waits
    at most 300 seconds for it, then fails naming the lock file and its holder.
  - The key file is written atomically (temporary file in the same directory created with mode
    0600, fsync, rename); the certificate file gets mode 0644. A missing directory is created with
    mode 0700.
  - The intermediate (O=Istio, CN=Intermediate CA, L=I(cluster), C(basicConstraints) critical
    CA:true pathlen:0, the root's keyUsage, SAN C(DNS:istiod.istio-system.svc), SHA-256) is issued
    only when the Secret is missing, its root is not ours, its intermediate is not signed by the
    root, its key does not match, or it expires within I(renew_before) days. Otherwise the Secret
    is left as it is and a re-run sends no write request.
  - A C(cacerts) whose C(root-cert.pem) is another root is never replaced (the error names both
    SHA-256 fingerprints) unless I(force=true).
  - A C(root-cert.pem) holding several roots (a root rotation under way) is accepted when it holds
    ours and the intermediate chains to ours; it is kept as it is. When it would have to change
    (a reissue), the module fails and asks to finish the rotation (or I(force=true)).
  - With I(rotation_phase), the module moves this cluster through one phase of a root rotation
    from the root in I(root_cert_path) to the one in I(new_root_cert_path); the
    C(gloomesh.multicluster.rotate_root_of_trust) playbook runs the phases across the clusters.
    C(trust_both) appends the new root to C(root-cert.pem) (the old text kept byte for byte) and
    generates the new root first when neither new file exists; C(reissue) issues this cluster's
    intermediate from the new root (or stores I(intermediate_cert)); C(drop_old) leaves only the
    new root in C(root-cert.pem). After writing C(cacerts) the phase restarts istiod when it will
    not reload by itself (see I(istiod_restart)), waits until istiod serves it and has published
    the bundle in ConfigMap C(istio-ca-root-cert) of every mesh namespace, rolls the workloads of
    I(workload_namespaces) in batches, and records the phase as finished in ConfigMap
    C(gloomesh-root-rotation) (data C(previous-root), C(new-root), C(phase)). A phase this cluster
    finished already sends no write request; an interrupted one is completed.
  - I(rotation_phase=promote), once every cluster dropped the old root, moves the old root files
    to C(retired/<fingerprint>/) beside I(root_cert_path) and the new ones in their place (renames
    under the root lock, repeatable after a crash).
  - Whenever the Secret changes while istiod runs (Deployment C(istiod-gloo) or C(istiod) in
    I(namespace)), RV(restart_required) is true and a warning says so, since istiod reads C(cacerts) at
    start-up only.
  - With I(intermediate_cert) and I(intermediate_key) (for example from Vault), no root key is
    needed; the supplied intermediate is verified against I(root_cert_path) and stored.
  - Check mode and C(--diff) show subjects, issuers, SHA-256 fingerprints and validity dates of
    the certificates, never key material; the Secret write is a server-side dry run.
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - gloomesh.multicluster.connection
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written, neither the root files nor the Secret (server-side dry run). A root or
        intermediate that would be issued shows C((issued when applied)) instead of its fingerprint.
  diff_mode:
    support: full
    details:
      - Certificate summaries of the Secret's entries before and after; the key only as
        C((private key, matches ca-cert.pem)).
options:
  state:
    description:
      - C(present) makes sure the Secret holds a valid intermediate of the root.
      - C(absent) deletes the Secret (refused when it holds another root than I(root_cert_path),
        unless I(force)). The root files are never deleted.
    type: str
    choices: [present, absent]
    default: present
  namespace:
    description:
      - Namespace of Secret C(cacerts), where istiod runs. Created when missing.
    type: str
    default: istio-system
  cluster:
    description:
      - Name of this cluster, written as the intermediate's C(L=) (locality) attribute.
      - Required to issue an intermediate (not with I(intermediate_cert)).
    type: str
  root_cert_path:
    description:
      - Root certificate (PEM) on the controller. Generated when it and I(root_key_path) are both
        missing.
    type: path
    required: true
  root_key_path:
    description:
      - Root private key (PEM) on the controller. Required unless I(intermediate_cert) is given.
      - The lock file C(<root_key_path>.lock) is created beside it when a root is generated or put in place.
    type: path
  root_key_passphrase:
    description:
      - Passphrase of the root key; a generated key is written encrypted with it.
    type: str
  root_key_type:
    description:
      - Key type of a generated root. Ignored when the root exists.
      - RSA 4096 (Istio's default) takes seconds to generate.
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384]
    default: rsa4096
  root_validity_days:
    description:
      - Validity of a generated root, in days.
    type: int
    default: 3650
  root_subject:
    description:
      - Subject of a generated root. The intermediate takes the root's organization.
    type: dict
    default: {}
    suboptions:
      organization:
        description: C(O=) attribute.
        type: str
        default: Istio
      common_name:
        description: C(CN=) attribute.
        type: str
        default: Root CA
  intermediate_key_type:
    description:
      - Key type of an issued intermediate.
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384]
    default: rsa4096
  intermediate_validity_days:
    description:
      - Validity of an issued intermediate, in days; it never extends past the root's expiry.
      - Changing it does not reissue a valid intermediate; it applies to the next one.
    type: int
    default: 3650
  renew_before:
    description:
      - Reissue the intermediate when it expires within this many days (only when the new one
        would expire later). With I(intermediate_cert), a warning instead.
      - Must be smaller than I(intermediate_validity_days).
    type: int
    default: 30
  intermediate_cert:
    description:
      - PEM B(content) (not a path; use C(lookup('file', ...)) for a file) of this cluster's
        intermediate CA certificate, optionally followed by the certificates between it and the
        root (for example a Vault issuing CA). Requires I(intermediate_key).
      - The module then never uses a root key; it verifies the chain against I(root_cert_path),
        that the key matches, and stores them.
    type: str
  intermediate_key:
    description:
      - PEM B(content) of the private key of I(intermediate_cert), unencrypted.
    type: str
  force:
    description:
      - Replace (or with I(state=absent), delete) a C(cacerts) Secret whose root differs from ours.
        Every workload of that cluster then needs new certificates.
      - Does not reissue an intermediate that is still valid.
      - Not used with I(rotation_phase), since a rotation never replaces a root it did not put there.
    type: bool
    default: false
  rotation_phase:
    description:
      - Move this cluster through one phase of a root rotation (see the description), or C(promote)
        the new root files on the controller once every cluster finished C(drop_old).
      - A phase starts only when this cluster finished the previous one; phases are global
        barriers, which the C(rotate_root_of_trust) playbook enforces across clusters.
    type: str
    choices: [trust_both, reissue, drop_old, promote]
  new_root_cert_path:
    description:
      - The root the mesh moves to (PEM, on the controller). Required with I(rotation_phase).
      - Phase C(trust_both) generates it (with I(root_key_type), I(root_subject),
        I(root_validity_days)) when neither it nor I(new_root_key_path) exists.
    type: path
  new_root_key_path:
    description:
      - Key of the new root; needed to issue intermediates in phase C(reissue), unless
        I(intermediate_cert) gives them (an external CA such as Vault).
    type: path
  new_root_key_passphrase:
    description:
      - Passphrase of the new root's key; a generated key is written encrypted with it.
    type: str
  istiod_restart:
    description:
      - C(auto) restarts istiod only where it does not take the new C(cacerts) by itself in a way
        the Kubernetes API shows. istiod reloads a new intermediate on its own (Istio 1.19 and
        later) but reports it nowhere, so phase C(reissue) restarts it; a changed C(root-cert.pem)
        it reloads only with C(ISTIO_MULTIROOT_MESH=true) (Istio 1.20 and later), which then shows
        in C(istio-ca-root-cert), so phases C(trust_both) and C(drop_old) restart it otherwise.
      - C(always) restarts istiod in every phase.
      - A restart sets annotation C(gloomesh.multicluster/cacerts) on istiod's pod template, whose
        value only changes with the certificates, then waits for the rollout.
    type: str
    choices: [auto, always]
    default: auto
  mesh_namespaces:
    description:
      - Namespaces whose C(istio-ca-root-cert) must show the new bundle before a phase counts as
        finished, besides I(namespace), I(workload_namespaces) and every namespace labelled
        C(istio.io/dataplane-mode=ambient), C(istio-injection=enabled) or C(istio.io/rev).
    type: list
    elements: str
    default: []
  workload_namespaces:
    description:
      - Namespaces whose Deployments and DaemonSets are rolled out after each phase, so that their
        workloads get certificates and trust bundles of that phase (annotation
        C(gloomesh.multicluster/root-rotation) on the pod template, set once per phase).
      - Workloads not rolled keep their certificate and bundle until they renew them (half of the
        certificate lifetime, 12 hours with Istio's default 24 hours); see docs/rotation.md.
    type: list
    elements: str
    default: []
  workload_batch_size:
    description:
      - How many workloads are rolled at once; the next batch starts when the previous one is rolled out.
    type: int
    default: 5
  wait_timeout:
    description:
      - Seconds each wait of a rotation phase may take (istiod's rollout, a namespace's
        C(istio-ca-root-cert), a batch of workloads); the error names what is still missing.
    type: int
    default: 300
notes:
  - C(cacerts) must exist before istiod first starts; run this module before installing the
    ServiceMeshController.
  - An extra entry such as C(ca-crl.pem) in an existing Secret is kept.
seealso:
  - module: gloomesh.multicluster.root_of_trust_info
  - name: Istio plug-in CA certificates
    description: Istio's documentation of the cacerts Secret.
    link: https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/
"""

EXAMPLES = r"""
- name: One root for the mesh, one intermediate per cluster (hosts are clusters)
  gloomesh.multicluster.root_of_trust:
    context: "{{ inventory_hostname }}"
    cluster: "{{ inventory_hostname }}"
    root_cert_path: "{{ playbook_dir }}/pki/root-cert.pem"
    root_key_path: "{{ playbook_dir }}/pki/root-key.pem"
  delegate_to: localhost
  register: ca

- name: Restart istiod when its CA changed
  ansible.builtin.debug:
    msg: "istiod in {{ inventory_hostname }} must be restarted"
  when: ca.restart_required

- name: Smaller, faster keys and a one-year intermediate renewed 60 days before expiry
  gloomesh.multicluster.root_of_trust:
    context: cluster1
    cluster: cluster1
    root_cert_path: /etc/mesh-pki/root-cert.pem
    root_key_path: /etc/mesh-pki/root-key.pem
    root_key_type: ecdsa-p384
    intermediate_key_type: ecdsa-p256
    intermediate_validity_days: 365
    renew_before: 60

- name: Store an intermediate issued by Vault (no root key on the controller)
  gloomesh.multicluster.root_of_trust:
    context: cluster2
    root_cert_path: /etc/mesh-pki/root-cert.pem
    intermediate_cert: "{{ vault_issued.data.certificate }}\n{{ vault_issued.data.issuing_ca }}"
    intermediate_key: "{{ vault_issued.data.private_key }}"

- name: Rotation phase 1 in one cluster - trust the old and the new root
  gloomesh.multicluster.root_of_trust:
    context: cluster1
    cluster: cluster1
    root_cert_path: /etc/mesh-pki/root-cert.pem
    root_key_path: /etc/mesh-pki/root-key.pem
    new_root_cert_path: /etc/mesh-pki/next/root-cert.pem
    new_root_key_path: /etc/mesh-pki/next/root-key.pem
    rotation_phase: trust_both
    workload_namespaces: [shop]

- name: Remove the plug-in CA
  gloomesh.multicluster.root_of_trust:
    context: cluster1
    root_cert_path: /etc/mesh-pki/root-cert.pem
    state: absent
"""

RETURN = r"""
action:
  description: What happened to Secret C(cacerts).
  returned: always
  type: str
  choices: [created, updated, unchanged, deleted, absent]
namespace:
  description: Namespace of the Secret.
  returned: always
  type: str
  sample: istio-system
root_created:
  description: Whether this run generated the root (check mode, would generate); with
    I(rotation_phase), the new root.
  returned: when I(state=present)
  type: bool
root_fingerprint:
  description: SHA-256 fingerprint of the root, upper-case hex pairs joined by colons; with
    I(rotation_phase), of the new root.
  returned: when I(state=present); null in check mode when the root would be generated
  type: str
  sample: "3A:5F:...:9C"
intermediate_fingerprint:
  description: SHA-256 fingerprint of the intermediate in the Secret.
  returned: when I(state=present); null in check mode when it would be issued
  type: str
not_after:
  description: Expiry of the intermediate (UTC, ISO 8601).
  returned: when I(state=present)
  type: str
  sample: "2036-11-25T18:30:00Z"
reissued:
  description: Whether a new intermediate was issued (check mode, would be).
  returned: when I(state=present)
  type: bool
reasons:
  description: Why the intermediate was issued; empty when it was kept or supplied.
  returned: when I(state=present)
  type: list
  elements: str
  sample: ["ca-cert.pem expires on 2026-12-01T00:00:00Z, within renew_before (30 days)"]
root_fingerprints:
  description: SHA-256 fingerprints of every root in C(root-cert.pem) after the run, in order.
  returned: when I(state=present)
  type: list
  elements: str
  sample: ["3A:5F:...:9C", "7B:01:...:E2"]
previous_root_fingerprint:
  description: The root the mesh moves away from (I(root_cert_path)).
  returned: with I(rotation_phase) other than C(promote)
  type: str
restart_required:
  description:
    - True when the Secret changed while istiod runs in I(namespace); istiod must be restarted
      and workloads rolled out. Always false with I(rotation_phase), which restarts istiod itself.
  returned: always
  type: bool
rotation:
  description:
    - The phase in this cluster. In check mode, the plan.
  returned: with I(rotation_phase) other than C(promote)
  type: dict
  contains:
    phase:
      description: Number of the phase (1 trust_both, 2 reissue, 3 drop_old).
      type: int
    phase_name:
      description: Name of the phase.
      type: str
    finished_before:
      description: Last phase this cluster had finished (its record), 0 for none.
      type: int
    cacerts_phase_before:
      description: The phase the content of C(cacerts) was at before the run.
      type: int
    istiod:
      description: Per istiod Deployment, C(restart) or C(reload) and why.
      type: list
      elements: dict
    wait_namespaces:
      description: Namespaces whose C(istio-ca-root-cert) was (or would be) waited for.
      type: list
      elements: str
    rolled:
      description: Workloads rolled (or to roll), as C(namespace/kind/name).
      type: list
      elements: str
    record:
      description: What happened to ConfigMap C(gloomesh-root-rotation).
      type: str
  sample:
    phase: 1
    phase_name: trust_both
    finished_before: 0
    cacerts_phase_before: 0
    istiod: [{"name": "istiod-gloo", "action": "restart", "why": "istiod ignores a changed root-cert.pem ..."}]
    wait_namespaces: [istio-system, shop]
    rolled: [shop/Deployment/cart]
    record: created
promoted:
  description: With I(rotation_phase=promote), whether the new root files took the old ones' place.
  returned: with I(rotation_phase=promote)
  type: bool
retired_dir:
  description: Where the old root files went.
  returned: when I(promoted)
  type: str
  sample: /home/me/.gloomesh/pki/retired/3A5F0C11D2E4B6A8
diff:
  description:
    - With C(--diff), certificate summaries (subject, issuer, fingerprint, serial number, validity)
      of each Secret entry before and after. No key material.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.certificates import KEY_TYPES
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import root_of_trust as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    namespace=dict(type="str", default="istio-system"),
    cluster=dict(type="str"),
    root_cert_path=dict(type="path", required=True),
    root_key_path=dict(type="path"),
    root_key_passphrase=dict(type="str", no_log=True),
    root_key_type=dict(type="str", choices=list(KEY_TYPES), default="rsa4096"),
    root_validity_days=dict(type="int", default=3650),
    root_subject=dict(type="dict", default={}, options=dict(
        organization=dict(type="str", default="Istio"),
        common_name=dict(type="str", default="Root CA"),
    )),
    intermediate_key_type=dict(type="str", choices=list(KEY_TYPES), default="rsa4096"),
    intermediate_validity_days=dict(type="int", default=3650),
    renew_before=dict(type="int", default=30),
    intermediate_cert=dict(type="str"),
    intermediate_key=dict(type="str", no_log=True),
    force=dict(type="bool", default=False),
    rotation_phase=dict(type="str", choices=["trust_both", "reissue", "drop_old", "promote"]),
    new_root_cert_path=dict(type="path"),
    new_root_key_path=dict(type="path"),
    new_root_key_passphrase=dict(type="str", no_log=True),
    istiod_restart=dict(type="str", choices=["auto", "always"], default="auto"),
    mesh_namespaces=dict(type="list", elements="str", default=[]),
    workload_namespaces=dict(type="list", elements="str", default=[]),
    workload_batch_size=dict(type="int", default=5),
    wait_timeout=dict(type="int", default=300),
)

MODULE_KWARGS = dict(required_together=[("intermediate_cert", "intermediate_key")])


def main():
    run_module(ARGUMENT_SPEC, operation.run, **MODULE_KWARGS)


if __name__ == "__main__":
    main()
