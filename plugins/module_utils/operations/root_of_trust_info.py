# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What root_of_trust_info does: read one cluster's cacerts Secret and report whether it is a sound
plug-in CA of the expected root. Read-only; summaries only, never key material."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ROOT_OF_TRUST_SECRET as SECRET_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import get_object
from ansible_collections.gloomesh.multicluster.plugins.module_utils.operations.root_of_trust import (
    decode_secret,
    require_cryptography,
)


def expected_root(params):
    """The fingerprint the Secret's root must have, from expected_root_fingerprint or root_cert_path."""
    if params["expected_root_fingerprint"]:
        try:
            return certificates.normalize_fingerprint(params["expected_root_fingerprint"])
        except ValueError as exc:
            raise GloomeshError("expected_root_fingerprint: %s" % exc)
    if params["root_cert_path"]:
        try:
            with open(params["root_cert_path"], "rb") as handle:
                certs = certificates.load_certs(handle.read(), "root_cert_path %s" % params["root_cert_path"])
        except (OSError, ValueError) as exc:
            raise GloomeshError(str(exc))
        return certificates.fingerprint(certs[0])
    return None


def summarize(data, expected_fingerprint=None):
    """The info result for a decoded cacerts bundle (None: the Secret does not exist)."""
    report = certificates.inspect_bundle(data or {})
    roots, ca_chain = report["root_certs"], report["ca_chain"]
    problems = list(report["problems"]) if data is not None else ["Secret %s does not exist" % SECRET_NAME]
    root_fingerprint = certificates.fingerprint(roots[0]) if roots else None
    if len(roots) > 1:
        problems.append("root-cert.pem holds %d certificates" % len(roots))
    root_matches = None
    if expected_fingerprint:
        root_matches = root_fingerprint == expected_fingerprint
        if not root_matches:
            problems.append("root fingerprint %s is not the expected %s" % (root_fingerprint, expected_fingerprint))
    return {
        "exists": data is not None,
        "root_fingerprint": root_fingerprint,
        "intermediate_fingerprint": certificates.fingerprint(ca_chain[0]) if ca_chain else None,
        "root": certificates.summary(roots[0]) if roots else None,
        "intermediate": certificates.summary(ca_chain[0]) if ca_chain else None,
        "not_after": certificates.iso(certificates.not_after(ca_chain[0])) if ca_chain else None,
        "chain_verifies": report["chain_verifies"],
        "key_matches": report["key_matches"],
        "expected_root_fingerprint": expected_fingerprint,
        "root_matches": root_matches,
        "problems": problems,
        "valid": not problems,
    }


def run(task):
    require_cryptography()
    expected = expected_root(task.params)
    client = task.client()
    namespace = task.params["namespace"]
    secret = get_object(client, "v1", "Secret", SECRET_NAME, namespace)
    result = summarize(decode_secret(secret) if secret is not None else None, expected)
    result.update(changed=False, namespace=namespace)
    return result
