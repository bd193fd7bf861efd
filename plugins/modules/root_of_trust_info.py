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
version_added: 0.1.0
description:
  - Reads Secret C(cacerts) in I(namespace) and reports its root and intermediate (subject,
    SHA-256 fingerprint, expiry), whether the chain verifies against C(root-cert.pem), whether
    C(ca-key.pem) matches C(ca-cert.pem), and every problem found. Never returns key material.
  - Compare RV(root_fingerprint) across clusters (one module run per cluster) to check that the
    whole mesh shares one root, or give I(expected_root_fingerprint) or I(root_cert_path) and
    read RV(root_matches).
  - Problems are reported, not raised; use RV(valid) in an C(assert).
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
      - Root certificate (PEM) on the controller whose fingerprint the Secret's root must have.
    type: path
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
  description: SHA-256 fingerprint of the (first) certificate in C(root-cert.pem).
  returned: always
  type: str
  sample: "3A:5F:...:9C"
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
  description: Whether the root is the expected one; null when nothing was expected.
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
)


def main():
    run_module(ARGUMENT_SPEC, operation.run)


if __name__ == "__main__":
    main()
