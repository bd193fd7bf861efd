# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Helm 3 release records, chart values and redaction (pure: no cluster, no helm binary).

Helm 3 keeps each revision of a release in a Secret of its namespace (helm's default storage
driver; helm v3 pkg/storage/driver/secrets.go, newSecretsObject): name
``sh.helm.release.v1.<release>.v<revision>`` (pkg/storage/storage.go, makeKey), type
``helm.sh/release.v1``, labels ``owner=helm``, ``name``, ``status``, ``version``. Its data key
``release`` is base64(gzip(JSON of the release)) (pkg/storage/driver/util.go, encodeRelease);
through the API, Secret data is base64 encoded once more. In that JSON, ``config`` holds the
values the user supplied and ``chart.metadata`` the chart's name and version
(pkg/release/release.go, pkg/chart/chart.go). The deployed release is the highest revision whose
``status`` label is ``deployed`` (pkg/storage/storage.go, Deployed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import gzip
import json
import re
import zlib

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

RELEASE_SECRET_TYPE = "helm.sh/release.v1"
RELEASE_SECRET_PREFIX = "sh.helm.release.v1."
DEPLOYED = "deployed"
# What stands for a secret in text (as Ansible's no_log does) and in values shown by --diff.
MASK = "********"
REDACTED = "<redacted>"

# gzip's magic number: releases stored before helm compressed them are plain JSON.
_GZIP_MAGIC = b"\x1f\x8b\x08"
# Values under keys named like these are secrets, whoever set them: a Gloo Platform release keeps
# its license keys in licensing.*LicenseKey, the old gloo-operator role in SOLO_ISTIO_LICENSE_KEY.
_SECRET_KEY_NAME = re.compile(r"(licen[cs]e[-_]?key|password|passwd|token|private[-_]?key|secret[-_]?key)$", re.I)


# ---------------------------------------------------------------- release records

def release_selector(release, deployed_only=False):
    """Label selector of a release's records, as helm queries them (History, DeployedAll)."""
    selector = "owner=helm,name=%s" % release
    return selector + ",status=" + DEPLOYED if deployed_only else selector


def decode_release(secret):
    """The release JSON of one helm release Secret (as the API returns it) as a dict."""
    name = (secret.get("metadata") or {}).get("name", "?")
    data = (secret.get("data") or {}).get("release")
    if not data:
        raise GloomeshError("helm release Secret %s has no data key 'release'" % name, secret=name)
    try:
        raw = base64.b64decode(base64.b64decode(data))
        if raw[:3] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
        release = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error) as exc:
        raise GloomeshError("helm release Secret %s cannot be decoded: %s" % (name, exc), secret=name)
    if not isinstance(release, dict):
        raise GloomeshError("helm release Secret %s does not hold a release" % name, secret=name)
    return release


def revision_of(secret):
    """The revision of a release Secret (its ``version`` label), 0 when unreadable."""
    try:
        return int(((secret.get("metadata") or {}).get("labels") or {}).get("version", 0))
    except (TypeError, ValueError):
        return 0


def latest(secrets):
    """The Secret of the highest revision among ``secrets`` (None for none)."""
    return max(secrets, key=revision_of) if secrets else None


def summary(release):
    """What a result may say about a release: never its values."""
    info = release.get("info") or {}
    metadata = (release.get("chart") or {}).get("metadata") or {}
    return {"name": release.get("name"), "namespace": release.get("namespace"),
            "revision": release.get("version"), "status": info.get("status"),
            "chart": metadata.get("name"), "chart_version": metadata.get("version"),
            "app_version": metadata.get("appVersion")}


def chart_name(chart_ref, version=None):
    """The chart name a reference installs: its last path element, without ``.tgz`` and version."""
    name = chart_ref.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(".tgz"):
        name = name[:-len(".tgz")]
        if version and name.endswith("-" + version):
            name = name[:-len(version) - 1]
    return name


# ---------------------------------------------------------------- values

def merge_values(base, override):
    """``override`` merged into a copy of ``base``: maps recursively, anything else replaced
    (what ``helm upgrade -f base -f override`` makes of two values files)."""
    merged = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def normalized(values):
    """Values as helm stores them (JSON): tuples become lists, keys strings."""
    return json.loads(json.dumps(values or {}))


def _same(left, right):
    # True == 1 in Python; helm keeps true and 1 apart.
    return left == right and isinstance(left, bool) == isinstance(right, bool)


def differences(before, after, path=""):
    """Dotted paths where two values trees differ (a path per added, removed or changed leaf)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            child = "%s.%s" % (path, key) if path else str(key)
            if key not in before or key not in after:
                found.append(child)
            else:
                found.extend(differences(before[key], after[key], child))
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (old, new) in enumerate(zip(before, after)):
            found.extend(differences(old, new, "%s[%d]" % (path, index)))
        return found
    return [] if _same(before, after) else [path or "."]


def secret_values(values):
    """String values held under secret-looking keys (e.g. ``licensing.glooMeshLicenseKey``)."""
    found = []
    if isinstance(values, dict):
        for key, value in values.items():
            if isinstance(value, str) and value and _SECRET_KEY_NAME.search(str(key)):
                found.append(value)
            else:
                found.extend(secret_values(value))
    elif isinstance(values, list):
        for value in values:
            found.extend(secret_values(value))
    return found


def redact_values(values, secrets=()):
    """A copy of ``values`` fit to show: secret-looking keys and every known secret hidden."""
    if isinstance(values, dict):
        return dict((key, REDACTED if isinstance(value, str) and value and _SECRET_KEY_NAME.search(str(key))
                     else redact_values(value, secrets)) for key, value in values.items())
    if isinstance(values, list):
        return [redact_values(value, secrets) for value in values]
    if isinstance(values, str):
        return redact_text(values, secrets, REDACTED)
    return values


def redact_text(text, secrets, mask=MASK):
    """``text`` with every secret, and its base64 form, replaced by ``mask``."""
    if not text:
        return text
    forms = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(base64.b64encode(secret.encode("utf-8")).decode("ascii"))
    # Longest first: a secret that contains another is hidden whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, mask)
    return text
