# -*- coding: utf-8 -*-
# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Pure rules for downloading the Solo istioctl: platform names, URLs, archive members.

Nothing here touches the network or the file system, so every rule is unit-tested on its own.
The URL layouts are those of Solo's procedure, section "Set up tools".
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible_collections.gloomesh.multicluster.plugins.module_utils import validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

DEFAULT_BASE_URL = "https://storage.googleapis.com"


# Values the Solo buckets use, in the order error messages list them.
SUPPORTED_OS = ("linux", "osx")
SUPPORTED_ARCH = ("amd64", "arm64", "armv7")

# `uname` / `uname -m` spellings -> bucket names, as the procedure's sed expressions map them
# (macOS `uname -m` already says arm64, FreeBSD says amd64).
_OS_ALIASES = {"linux": "linux", "darwin": "osx"}
_ARCH_ALIASES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armv7",
}

# From Istio 1.29 Solo publishes the full distribution in one public bucket (no REPO_KEY).
_FIRST_RELEASE_BUCKET_MINOR = (1, 29)

_CHECKSUM_RE = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_CLIENT_VERSION_RE = re.compile(r"^\s*client version:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)


def _platform_name(value, aliases, supported, option, what):
    """Map a uname value to the bucket's name, or an error naming `option` and the allowed values."""
    name = aliases.get((value or "").strip().lower())
    if name is None:
        raise GloomeshError(
            "unsupported %s %r: istioctl is published for %s; set %s to one of them "
            "if this host can run such a binary" % (what, value, ", ".join(supported), option),
            option=option, detected=value, allowed=list(supported))
    return name


def detect_os(system):
    """Map `uname` output (platform.system()) to the bucket's OS name."""
    return _platform_name(system, _OS_ALIASES, SUPPORTED_OS, "os", "operating system")


def detect_arch(machine):
    """Map `uname -m` output (platform.machine()) to the bucket's architecture name."""
    return _platform_name(machine, _ARCH_ALIASES, SUPPORTED_ARCH, "arch", "architecture")


def uses_release_bucket(version):
    """True when `version` (IstioVersion) is published in the public `soloio-istio-binaries` bucket."""
    return (version.major, version.minor) >= _FIRST_RELEASE_BUCKET_MINOR


def build_url(version, os_name, arch, repo_key=None, base_url=None):
    """Download URL of the istioctl tarball for `version` (IstioVersion; image = `<version>-solo`).

    Up to 1.28: {base}/istio-binaries-{REPO_KEY}/{image}/istioctl-{image}-{os}-{arch}.tar.gz
    From 1.29:  {base}/soloio-istio-binaries/release/{image}/istio-{image}-{os}-{arch}.tar.gz
    """
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    image = version.solo
    if uses_release_bucket(version):
        return "%s/soloio-istio-binaries/release/%s/istio-%s-%s-%s.tar.gz" % (base, image, image, os_name, arch)
    if not repo_key:
        raise GloomeshError(
            "repo_key is required for Istio %d.%d: Solo publishes 1.28 and older under "
            "istio-binaries-<REPO_KEY> (ask Solo support for the key of this minor version), "
            "or give the full url" % (version.major, version.minor),
            option="repo_key")
    return "%s/istio-binaries-%s/%s/istioctl-%s-%s-%s.tar.gz" % (base, repo_key, image, image, os_name, arch)


def resolve_url(version, os_name, arch, repo_key=None, base_url=None, url=None):
    """Where istioctl_fetch downloads ``version`` from: ``url`` when given, else build_url's; a
    GloomeshError naming the option when it cannot tell (upgrade_mesh's preflight asks the same)."""
    if url:
        return validation.url(url, "url")
    return build_url(version, os_name, arch, repo_key, validation.url(base_url, "base_url") if base_url else None)


def binary_members(version):
    """Archive paths of the istioctl binary for `version`, the one of its layout first.

    The other layout's path is accepted too, so a `url` override pointing at a differently
    packaged mirror copy still works.
    """
    root, full = "istioctl", "istio-%s/bin/istioctl" % version.solo
    return (full, root) if uses_release_bucket(version) else (root, full)


def member_path(name):
    """Normalised archive path of a tar member, or raise when it could leave the target folder."""
    if name.startswith("/"):
        raise GloomeshError("archive member %r has an absolute path; refusing the archive" % name,
                            member=name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise GloomeshError("archive member %r escapes the archive root; refusing the archive" % name,
                            member=name)
    return posixpath.join(*parts) if parts else ""


def parse_checksum(checksum):
    """`sha256:<64 hex>` -> lower-case hex digest."""
    match = _CHECKSUM_RE.match((checksum or "").strip())
    if not match:
        raise GloomeshError("checksum must be 'sha256:' followed by 64 hex digits, got %r" % checksum,
                            option="checksum")
    return match.group(1).lower()


def parse_client_version(output):
    """Version from `istioctl version --remote=false` output (`client version: 1.25.2-solo`)."""
    match = _CLIENT_VERSION_RE.search(output or "")
    return match.group(1) if match else None
