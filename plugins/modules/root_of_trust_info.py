#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: root_of_trust_info
short_description: Verify a cluster's Istio plug-in CA (Secret cacerts)
version_added: 0.2.0
description:
  - Reads Secret C(cacerts) in I(namespace) and reports its roots and intermediate (subject,
    SHA-256 fingerprint, expiry, days left), whether the chain verifies against C(root-cert.pem),
    whether C(ca-key.pem) matches C(ca-cert.pem), and every problem found. Never returns key material.
  - C(root-cert.pem) may hold several roots (a root rotation under way). Every one is reported in
    RV(roots), and the chain verifies when it leads to any of them (RV(issuing_root_fingerprint)).
  - Compare RV(root_fingerprints) across clusters (one module run per cluster) to check that the
    whole mesh trusts the same roots, or give I(expected_root_fingerprint) or I(root_cert_path) and
    read RV(root_matches).
  - RV(rotation) says where the cluster stands in a root rotation, from the content of
    C(cacerts) and the phase recorded in ConfigMap C(gloomesh-root-rotation).
  - Problems are reported, not raised; use RV(valid) in an C(assert). Certificates expiring within
    I(expiry_threshold_days) are listed in RV(expiring).
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - gloomesh.multicluster.connection
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
options:
  namespace:
    description:
      - Namespace of Secret C(cacerts).
    type: str
    default: istio-system
  expected_root_fingerprint:
    description:
      - SHA-256 fingerprint the root must have, as C(AB:CD:...), plain hex or C(sha256:<hex>).
      - Takes precedence over I(root_cert_path).
    type: str
  root_cert_path:
    description:
      - Root certificate (PEM) on the controller that C(root-cert.pem) must hold.
    type: path
  new_root_cert_path:
    description:
      - The root a rotation moves to (PEM, on the controller). When the file exists, RV(rotation)
        is reported relative to the rotation from I(root_cert_path) (or
        I(expected_root_fingerprint)) to this root.
    type: path
  expiry_threshold_days:
    description:
      - List in RV(expiring) every certificate of C(cacerts) with fewer days left than this.
    type: int
seealso:
  - module: gloomesh.multicluster.root_of_trust
"""

EXAMPLES = r"""
- name: Read each cluster's plug-in CA
  gloomesh.multicluster.root_of_trust_info:
    context: "{{ inventory_hostname }}"
    root_cert_path: "{{ playbook_dir }}/pki/root-cert.pem"
  delegate_to: localhost
  register: ca_info

- name: Every cluster has a sound CA of our root
  ansible.builtin.assert:
    that: ca_info.valid
    fail_msg: "{{ inventory_hostname }}: {{ ca_info.problems | join('; ') }}"

- name: All clusters share one root
  ansible.builtin.assert:
    that: >-
      ansible_play_hosts | map('extract', hostvars, ['ca_info', 'root_fingerprint'])
      | unique | length == 1
  run_once: true
"""

RETURN = r"""
exists:
  description: Whether Secret C(cacerts) exists.
  returned: always
  type: bool
namespace:
  description: Namespace read.
  returned: always
  type: str
root_fingerprint:
  description: SHA-256 fingerprint of the first certificate in C(root-cert.pem).
  returned: always
  type: str
  sample: "3A:5F:...:9C"
root_fingerprints:
  description: SHA-256 fingerprints of every root in C(root-cert.pem), in order.
  returned: always
  type: list
  elements: str
  sample: ["3A:5F:...:9C", "7B:01:...:E2"]
issuing_root_fingerprint:
  description: The root of C(root-cert.pem) the intermediate chains to; null when none.
  returned: always
  type: str
roots:
  description: Every root of C(root-cert.pem) with its expiry, same fields as RV(certificates).
  returned: always
  type: list
  elements: dict
certificates:
  description:
    - Every certificate of C(cacerts) (roots, the intermediate, any issuing CA of C(cert-chain.pem)),
      each with C(role), C(subject), C(issuer), C(fingerprint_sha256), C(serial_number),
      C(not_before), C(not_after) and C(days_left).
  returned: always
  type: list
  elements: dict
  sample:
    - {"role": "root", "subject": "CN=Root CA,O=Istio", "fingerprint_sha256": "3A:5F:...:9C",
       "not_after": "2036-01-01T00:00:00Z", "days_left": 3650}
min_days_left:
  description: The fewest days left of any certificate of C(cacerts); null when there is none.
  returned: always
  type: int
  sample: 364
expiring:
  description: Certificates with fewer than I(expiry_threshold_days) days left, one sentence each.
  returned: always
  type: list
  elements: str
rotation:
  description: Where this cluster stands in a root rotation.
  returned: always
  type: dict
  contains:
    record:
      description: ConfigMap C(gloomesh-root-rotation) (C(previous_root), C(new_root), C(phase)), or null.
      type: dict
    new_root_fingerprint:
      description: Fingerprint of I(new_root_cert_path) when it exists.
      type: str
    phase:
      description:
        - Phase of the content of C(cacerts) (0 before, 1 both roots trusted, 2 intermediate from the
          new root, 3 old root dropped); null when it is no step of the rotation.
      type: int
    finished_phase:
      description: The last phase this cluster finished in that rotation (its record), 0 for none.
      type: int
    finished_to_expected:
      description: The cluster finished a rotation to the expected root and trusts only it.
      type: bool
intermediate_fingerprint:
  description: SHA-256 fingerprint of C(ca-cert.pem).
  returned: always
  type: str
root:
  description: Summary of the root (subject, issuer, fingerprint_sha256, serial_number, not_before, not_after).
  returned: always
  type: dict
intermediate:
  description: Summary of the intermediate, same fields as RV(root).
  returned: always
  type: dict
not_after:
  description: Expiry of the intermediate (UTC, ISO 8601).
  returned: always
  type: str
chain_verifies:
  description: C(ca-cert.pem) and C(cert-chain.pem) lead to C(root-cert.pem), every certificate valid now.
  returned: always
  type: bool
key_matches:
  description: C(ca-key.pem) is the key of C(ca-cert.pem).
  returned: always
  type: bool
expected_root_fingerprint:
  description: The fingerprint compared with, normalized; null when none was given.
  returned: always
  type: str
root_matches:
  description: Whether C(root-cert.pem) holds the expected root; null when nothing was expected.
  returned: always
  type: bool
problems:
  description: Everything wrong with the Secret, empty when it is sound.
  returned: always
  type: list
  elements: str
  sample: ["ca-key.pem does not match ca-cert.pem"]
valid:
  description: True when RV(problems) is empty.
  returned: always
  type: bool
"""

from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import root_of_trust_info as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", default="istio-system"),
    expected_root_fingerprint=dict(type="str"),
    root_cert_path=dict(type="path"),
    new_root_cert_path=dict(type="path"),
    expiry_threshold_days=dict(type="int"),
)


def main():
    run_module(ARGUMENT_SPEC, operation.run)


if __name__ == "__main__":
    main()
