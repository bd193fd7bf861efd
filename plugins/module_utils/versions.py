# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Istio version parsing and the multicluster version rules (pure: no cluster, no Ansible)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

# Solo's multicluster peering needs 1.24.3-solo or later; 1.26.0 and 1.26.1 are known bad.
MULTICLUSTER_MINIMUM = (1, 24, 3)
MULTICLUSTER_REFUSED = ((1, 26, 0), (1, 26, 1))

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(-solo)?$")


class IstioVersion(namedtuple("IstioVersion", ["major", "minor", "patch"])):
    """A released Istio version; str() is the form the operator expects (no -solo)."""

    __slots__ = ()

    def __str__(self):
        return "%d.%d.%d" % self

    @property
    def solo(self):
        """The Solo image tag / istioctl release name, e.g. 1.25.2-solo."""
        return "%s-solo" % (self,)


def _fmt(version_tuple):
    return "%d.%d.%d" % tuple(version_tuple)


def parse_istio_version(value, option="version"):
    """'1.25.2' or '1.25.2-solo' -> IstioVersion(1, 25, 2); anything else is an error naming option."""
    text = str(value).strip() if value is not None else ""
    match = _VERSION_RE.match(text)
    if not match:
        raise GloomeshError(
            "%s: %r is not an Istio version; expected MAJOR.MINOR.PATCH, optionally with "
            "the -solo suffix (e.g. 1.25.2 or 1.25.2-solo)" % (option, value),
            option=option,
        )
    return IstioVersion(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def multicluster_version_problem(version, option="version"):
    """Why ``version`` (IstioVersion or string) cannot run a multicluster mesh, or None."""
    if not isinstance(version, IstioVersion):
        version = parse_istio_version(version, option)
    allowed = "%s or later, except %s" % (
        _fmt(MULTICLUSTER_MINIMUM), " and ".join(_fmt(v) for v in MULTICLUSTER_REFUSED))
    if tuple(version) < MULTICLUSTER_MINIMUM:
        return "%s: multicluster requires Istio %s; got %s" % (option, allowed, version)
    if tuple(version) in MULTICLUSTER_REFUSED:
        return "%s: Istio %s is refused for multicluster (known peering defects); use %s" % (
            option, version, allowed)
    return None


def check_multicluster_version(version, option="version"):
    """Raise GloomeshError when ``version`` cannot run a multicluster mesh; return the parsed version."""
    if not isinstance(version, IstioVersion):
        version = parse_istio_version(version, option)
    problem = multicluster_version_problem(version, option)
    if problem:
        raise GloomeshError(problem, option=option)
    return version
