# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What root_of_trust_info does: read one cluster's cacerts Secret and report whether it is a sound
plug-in CA of the expected root, how long each of its certificates lives, and where the cluster
stands in a root rotation. Read-only; summaries only, never key material."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.gloomesh.multicluster.plugins.module_utils import root_files
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates, rotation_records
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ROOT_OF_TRUST_SECRET as SECRET_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import get_object


def expected_root(params):
    """The fingerprint the Secret must trust, from expected_root_fingerprint or root_cert_path."""
    if params["expected_root_fingerprint"]:
        try:
            return certificates.normalize_fingerprint(params["expected_root_fingerprint"])
        except ValueError as exc:
            raise GloomeshError("expected_root_fingerprint: %s" % exc)
    if params["root_cert_path"]:
        return root_files.fingerprint_of(params["root_cert_path"], "root_cert_path")
    return None


def _expiry_report(report, data, now):
    """Every certificate of the bundle with its days left: roots, the intermediate, and any CA
    between them in cert-chain.pem (an external issuing CA)."""
    entries = [certificates.expiry(root, "root", now) for root in report["root_certs"]]
    if report["ca_chain"]:
        entries.append(certificates.expiry(report["ca_chain"][0], "intermediate", now))
        seen = set(e["fingerprint_sha256"] for e in entries)
        try:
            chain = certificates.load_certs(data.get("cert-chain.pem") or "", "cert-chain.pem")
        except ValueError:
            chain = []
        for cert in chain:
            if certificates.fingerprint(cert) not in seen:
                seen.add(certificates.fingerprint(cert))
                entries.append(certificates.expiry(cert, "issuing CA", now))
    return entries


def _rotation(roots, issuer, record, expected, new):
    """Where this cluster stands in the rotation from ``expected`` to ``new`` (None: not known yet)."""
    if expected and new:
        phase = rotation_records.content_phase(roots, issuer, expected, new)
        finished = rotation_records.finished_phase(record, expected, new)
    elif record and record["phase"] < 3:
        phase = rotation_records.content_phase(roots, issuer, record["previous_root"], record["new_root"])
        finished = record["phase"]
    else:
        steady = len(roots) == 1 and issuer == roots[0] and (expected is None or roots == [expected])
        phase, finished = (0 if steady else None), 0
    if phase:
        # Phase N is only written once N-1 finished in the cluster.
        finished = max(finished, phase - 1)
    return {
        "record": record,
        "new_root_fingerprint": new,
        "phase": phase,
        "finished_phase": finished,
        "finished_to_expected": bool(record and record["phase"] == 3 and expected
                                     and record["new_root"] == expected and roots == [expected]),
    }


def summarize(data, expected_fingerprint=None, new_fingerprint=None, record=None, threshold=None, now=None):
    """The info result for a decoded cacerts bundle (None: the Secret does not exist)."""
    now = now or certificates.utcnow()
    report = certificates.inspect_bundle(data or {}, now)
    roots, ca_chain = report["root_certs"], report["ca_chain"]
    problems = list(report["problems"]) if data is not None else ["Secret %s does not exist" % SECRET_NAME]
    fingerprints = [certificates.fingerprint(r) for r in roots]
    issuer = certificates.fingerprint(report["issuing_root"]) if report["issuing_root"] is not None else None
    root_matches = None
    if expected_fingerprint:
        root_matches = expected_fingerprint in fingerprints
        if not root_matches:
            problems.append("root-cert.pem (%s) does not hold the expected root %s"
                            % (", ".join(fingerprints) or "no root", expected_fingerprint))
    expiries = _expiry_report(report, data or {}, now)
    expiring = []
    if threshold is not None:
        expiring = ["%s %s (%s) expires on %s: %d days left, fewer than %d"
                    % (e["role"], e["subject"], e["fingerprint_sha256"], e["not_after"], e["days_left"], threshold)
                    for e in expiries if e["days_left"] < threshold]
    return {
        "exists": data is not None,
        "root_fingerprint": fingerprints[0] if fingerprints else None,
        "root_fingerprints": fingerprints,
        "issuing_root_fingerprint": issuer,
        "intermediate_fingerprint": certificates.fingerprint(ca_chain[0]) if ca_chain else None,
        "root": certificates.summary(roots[0]) if roots else None,
        "roots": [e for e in expiries if e["role"] == "root"],
        "intermediate": certificates.summary(ca_chain[0]) if ca_chain else None,
        "not_after": certificates.iso(certificates.not_after(ca_chain[0])) if ca_chain else None,
        "certificates": expiries,
        "min_days_left": min([e["days_left"] for e in expiries]) if expiries else None,
        "expiring": expiring,
        "chain_verifies": report["chain_verifies"],
        "key_matches": report["key_matches"],
        "expected_root_fingerprint": expected_fingerprint,
        "root_matches": root_matches,
        "rotation": _rotation(fingerprints, issuer, record, expected_fingerprint, new_fingerprint),
        "problems": problems,
        "valid": not problems,
    }


def run(invocation):
    root_files.require_cryptography()
    params = invocation.params
    if params["expiry_threshold_days"] is not None and params["expiry_threshold_days"] < 0:
        raise GloomeshError("expiry_threshold_days must be 0 or more (days), got %d" % params["expiry_threshold_days"])
    expected = expected_root(params)
    new = None
    if params["new_root_cert_path"] and os.path.exists(params["new_root_cert_path"]):
        new = root_files.fingerprint_of(params["new_root_cert_path"], "new_root_cert_path")
    cluster = invocation.cluster()
    namespace = params["namespace"]
    secret = get_object(cluster, "v1", "Secret", SECRET_NAME, namespace)
    record = rotation_records.parse_rotation_record(
        get_object(cluster, "v1", "ConfigMap", rotation_records.RECORD_NAME, namespace))
    data = certificates.decode_secret(secret) if secret is not None else None
    if data and data.get("ca-key.pem"):
        invocation.mask(data["ca-key.pem"])
    result = summarize(data, expected, new, record, params["expiry_threshold_days"])
    result.update(changed=False, namespace=namespace)
    return result
