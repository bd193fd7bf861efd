#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 or GNU General Public License v3.0+ (see LICENSE)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istioctl_fetch
short_description: Install the Solo distribution of istioctl
version_added: 0.1.0
description:
  - Downloads the Solo build of C(istioctl) for one Istio version and installs it as
    O(dest)/istioctl, the way the Gloo Mesh multicluster procedure does with C(curl | tar).
  - Istio 1.28 and older come from C(istio-binaries-<REPO_KEY>/<version>-solo/istioctl-<version>-solo-<os>-<arch>.tar.gz)
    with the binary at the archive root; 1.29 and later from
    C(soloio-istio-binaries/release/<version>-solo/istio-<version>-solo-<os>-<arch>.tar.gz)
    with the binary at C(istio-<version>-solo/bin/istioctl).
  - "Idempotent without network access: when O(dest)/istioctl already reports the wanted version
    (C(istioctl version --remote=false) prints C(client version: <version>-solo)), nothing is downloaded."
  - Otherwise the archive is downloaded into a temp file in O(dest), checked against O(checksum)
    when given, only the C(istioctl) member is extracted (refusing absolute paths, C(..), links,
    devices and anything else that is not a regular file), run to confirm its version and renamed
    into place atomically with mode 0755. On any failure the previous binary stays as it was and
    no temp file is left behind.
  - The binary must be runnable on the target host, because it is executed to read its version.
  - HTTP goes through Ansible's own URL helpers, so proxies (E(https_proxy), E(no_proxy)),
    O(validate_certs), client certificates and basic authentication work as in M(ansible.builtin.get_url).
author:
  - gloomesh.multicluster maintainers (@gloomesh)
extends_documentation_fragment:
  - ansible.builtin.url
  - gloomesh.multicluster.attributes
attributes:
  check_mode:
    support: full
    details: Nothing is downloaded or written; reports whether the installed binary would change.
  diff_mode:
    support: full
    details: The installed version before and after.
options:
  version:
    description:
      - Istio version of the Solo istioctl, with or without the C(-solo) suffix.
    type: str
    required: true
  repo_key:
    description:
      - The Solo repository key for the Istio minor version (provided by Solo support).
      - Required for Istio 1.28 and older unless O(url) is given; ignored from 1.29.
      - Treated as a secret, so it is masked in the returned O(url) and in messages.
    type: str
  base_url:
    description:
      - Scheme and host (and optional path prefix) that replaces C(https://storage.googleapis.com),
        for a mirror on air-gapped sites. The bucket paths below it stay the same.
      - Defaults to C(https://storage.googleapis.com).
    type: str
  url:
    description:
      - Full URL of the tarball, overriding the computed one (O(repo_key) and O(base_url) are
        then not used). The archive may hold the binary at its root or at
        C(istio-<version>-solo/bin/istioctl).
    type: str
  checksum:
    description:
      - Expected checksum of the downloaded C(.tar.gz), as C(sha256:<64 hex digits>).
      - Solo does not publish checksums; pin the value returned as RV(archive_sha256) by a first run.
    type: str
  dest:
    description:
      - Folder to install C(istioctl) into; created when missing. C(~) is expanded.
    type: path
    default: ~/.istioctl/bin
  os:
    description:
      - Operating system of the binary. Detected from C(uname) when omitted (C(Darwin) becomes C(osx)).
    type: str
    choices: [linux, osx]
  arch:
    description:
      - CPU architecture of the binary. Detected from C(uname -m) when omitted
        (C(x86_64) becomes C(amd64), C(aarch64) C(arm64), C(armv7l) C(armv7)).
    type: str
    choices: [amd64, arm64, armv7]
  force:
    description:
      - Download and install even when O(dest)/istioctl already reports O(version).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for the server (per network operation) and for C(istioctl version) to answer.
    type: int
    default: 30
notes:
  - Several hosts installing into the same O(dest) at once is safe; the last rename wins and
    every rename installs a complete, verified binary.
"""

EXAMPLES = r"""
- name: Install the Solo istioctl 1.25.2 into ~/.istioctl/bin
  gloomesh.multicluster.istioctl_fetch:
    version: 1.25.2
    repo_key: "{{ solo_repo_key }}"
  delegate_to: localhost
  run_once: true

- name: Istio 1.29 and later need no repo key
  gloomesh.multicluster.istioctl_fetch:
    version: 1.29.0-solo
    dest: /usr/local/bin

- name: From an internal mirror, pinned to a known archive
  gloomesh.multicluster.istioctl_fetch:
    version: 1.25.2
    repo_key: "{{ solo_repo_key }}"
    base_url: https://artifacts.example.internal/gcs
    checksum: sha256:8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4
    validate_certs: true
  register: istioctl

- name: Use it
  ansible.builtin.command: "{{ istioctl.path }} version --remote=false"
  changed_when: false
"""

RETURN = r"""
path:
  description: Path of the installed (or, in check mode, to be installed) binary.
  returned: success
  type: str
  sample: /home/user/.istioctl/bin/istioctl
version:
  description: Version the binary reports, the Solo image tag.
  returned: success
  type: str
  sample: 1.25.2-solo
url:
  description: URL the archive is (or in check mode would be) downloaded from; O(repo_key) is masked.
  returned: success
  type: str
  sample: https://storage.googleapis.com/istio-binaries-********/1.25.2-solo/istioctl-1.25.2-solo-linux-amd64.tar.gz
previous_version:
  description:
    - Version the replaced binary reported; V(null) when it did not run or report a version.
  returned: when an existing O(dest)/istioctl is (or in check mode would be) replaced
  type: str
  sample: 1.25.1-solo
archive_sha256:
  description: SHA-256 of the downloaded archive, to pin it with O(checksum).
  returned: when an archive was downloaded
  type: str
  sample: 8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4
"""

from ansible.module_utils.urls import url_argument_spec

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.istioctl import SUPPORTED_ARCH, SUPPORTED_OS
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations import istioctl_fetch as operation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import run_module

KUBERNETES = False
ARGUMENT_SPEC = url_argument_spec()
ARGUMENT_SPEC.update(
    version=dict(type="str", required=True),
    repo_key=dict(type="str", no_log=True),
    base_url=dict(type="str"),
    url=dict(type="str"),
    checksum=dict(type="str"),
    dest=dict(type="path", default="~/.istioctl/bin"),
    os=dict(type="str", choices=list(SUPPORTED_OS)),
    arch=dict(type="str", choices=list(SUPPORTED_ARCH)),
    force=dict(type="bool", default=False),
    timeout=dict(type="int", default=30),
)
MODULE_KWARGS = dict(mutually_exclusive=[("url", "base_url")])


def main():
    run_module(ARGUMENT_SPEC, operation.run, kubernetes=KUBERNETES, **MODULE_KWARGS)


if __name__ == "__main__":
    main()
