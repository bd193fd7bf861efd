# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""The Secret cacerts as root_of_trust reads and writes it, whether it installs the root of trust
(operations/root_of_trust.py) or moves a cluster through a root rotation
(operations/root_rotation.py): its entries, its intermediate (kept, supplied or issued), its --diff
view.

Key material never leaves this file in a result, a diff or an error: views are built from
certificate summaries, and every private key PEM is registered with ``invocation.mask`` so Ansible masks
it should it show up anywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime

from ansible_collections.gloomesh.multicluster.plugins.module_utils import root_files
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ISTIOD_DEPLOYMENTS,
    MANAGED_BY,
    ROOT_OF_TRUST_SECRET as SECRET_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import get_object

# Shown instead of fingerprints of certificates a check-mode run only pretends to issue.
NOT_YET_ISSUED = "(issued when applied)"


def read_secret(invocation, secret):
    """Decoded data of our Secret (None when missing), its key masked in all output."""
    if secret is None:
        return None
    data = certificates.decode_secret(secret)
    if data.get("ca-key.pem"):
        invocation.mask(data["ca-key.pem"])
    return data


def fingerprints(certs):
    return [certificates.fingerprint(c) for c in certs]


def view(data, key_matches, placeholders=()):
    """--diff view of a bundle: certificate summaries per entry, the key only as a verdict."""
    if data is None:
        return {}
    view = {"secret": SECRET_NAME}
    for entry in ("root-cert.pem", "ca-cert.pem", "cert-chain.pem"):
        try:
            certs = certificates.load_certs(data[entry], entry) if data.get(entry) else []
        except ValueError as exc:
            view[entry] = str(exc)
            continue
        summaries = [certificates.summary(c) for c in certs]
        for summary in summaries:
            if summary["fingerprint_sha256"] in placeholders:
                summary.update(fingerprint_sha256=NOT_YET_ISSUED, serial_number=NOT_YET_ISSUED)
        view[entry] = summaries
    if not data.get("ca-key.pem"):
        view["ca-key.pem"] = "(missing)"
    else:
        view["ca-key.pem"] = "(private key, %s ca-cert.pem)" % ("matches" if key_matches else "does not match")
    return view


def prefer_existing(existing, existing_key, desired, desired_key):
    """Keep each existing entry's text when it encodes the same thing (openssl's PKCS#1 keys,
    comments, line endings): rewriting equivalent text would look like a change and ask for an
    istiod restart for nothing."""
    merged = dict(desired)
    for entry, text in desired.items():
        old = existing.get(entry)
        if not old:
            continue
        if entry == "ca-key.pem":
            same = existing_key is not None and certificates.same_key(existing_key, desired_key)
        else:
            try:
                same = fingerprints(certificates.load_certs(old, entry)) == fingerprints(certificates.load_certs(text, entry))
            except ValueError:
                same = False
        if same:
            merged[entry] = old
    return merged


def reasons_to_reissue(report, root_cert, params, now):
    """Why the intermediate in ``report`` cannot be kept under ``root_cert``; [] to keep it."""
    reasons = []
    ca_chain, ca_key = report["ca_chain"], report["ca_key"]
    if not ca_chain:
        reasons.append("ca-cert.pem is missing or unreadable")
    elif not certificates.issued_by(ca_chain[0], root_cert):
        reasons.append("ca-cert.pem is not signed by the current root")
    if ca_key is None:
        reasons.append("ca-key.pem is missing or unreadable")
    elif ca_chain and not certificates.key_matches(ca_chain[0], ca_key):
        reasons.append("ca-key.pem does not match ca-cert.pem")
    if ca_chain and not reasons:
        expires = certificates.not_after(ca_chain[0])
        renew_at = expires - datetime.timedelta(days=params["renew_before"])
        # Only renew when a new intermediate would actually live longer (it never outlives the root).
        if renew_at <= now and certificates.intermediate_not_after(
                root_cert, params["intermediate_validity_days"], now) > expires:
            reasons.append("ca-cert.pem expires on %s, within renew_before (%d days)"
                           % (certificates.iso(expires), params["renew_before"]))
    return reasons


def supplied_bundle(invocation, params, root_cert, now):
    """cacerts entries from the user's intermediate_cert/intermediate_key, verified against the root."""
    try:
        chain = certificates.load_certs(params["intermediate_cert"], "intermediate_cert")
        key = certificates.load_key(params["intermediate_key"], "intermediate_key")
    except ValueError as exc:
        raise GloomeshError(str(exc))
    if certificates.fingerprint(chain[-1]) == certificates.fingerprint(root_cert) and len(chain) > 1:
        chain = chain[:-1]
    problems = certificates.chain_problems(chain, root_cert, now)
    if not certificates.key_matches(chain[0], key):
        problems.append("intermediate_key does not match the first certificate of intermediate_cert")
    if problems:
        raise GloomeshError("the supplied intermediate cannot be used with root %s: %s"
                            % (certificates.fingerprint(root_cert), "; ".join(problems)), problems=problems)
    expires = certificates.not_after(chain[0])
    if expires - datetime.timedelta(days=params["renew_before"]) <= now:
        invocation.warn("intermediate_cert expires on %s, within renew_before (%d days); supply a renewed one"
                        % (certificates.iso(expires), params["renew_before"]))
    data = certificates.bundle_data(chain, key, root_cert)
    data["ca-key.pem"] = params["intermediate_key"].strip() + "\n"
    invocation.mask(data["ca-key.pem"])
    return data, key


def issue(invocation, root_cert, root_key, params, now):
    """(entries, key, fingerprints of certificates that only exist for a check-mode dry run)."""
    placeholders = []
    if root_key is None:  # check mode, root not generated yet
        root_cert, root_key = root_files.dry_run_root(params, now)
        placeholders.append(certificates.fingerprint(root_cert))
    key = certificates.generate_key(root_files.DRY_RUN_KEY_TYPE if invocation.check_mode else params["intermediate_key_type"])
    cert = certificates.build_intermediate(root_cert, root_key, key, params["cluster"],
                                           params["intermediate_validity_days"], now)
    if invocation.check_mode:
        placeholders.append(certificates.fingerprint(cert))
    data = certificates.bundle_data([cert], key, root_cert)
    invocation.mask(data["ca-key.pem"])
    return data, key, tuple(placeholders)


def intermediate_under(invocation, params, report, root_cert, load_key, now):
    """(entries, key, reasons, placeholders) of an intermediate of ``root_cert``: the supplied one,
    the existing one when it can be kept, else a new one (reasons say why). ``load_key()`` gives
    the root key, loaded only when a new intermediate is issued."""
    if params["intermediate_cert"]:
        data, key = supplied_bundle(invocation, params, root_cert, now)
        return data, key, [], ()
    reasons = reasons_to_reissue(report, root_cert, params, now)
    if not reasons:
        data = certificates.bundle_data(report["ca_chain"][:1], report["ca_key"], root_cert)
        invocation.mask(data["ca-key.pem"])
        return data, report["ca_key"], reasons, ()
    data, key, placeholders = issue(invocation, root_cert, load_key(), params, now)
    return data, key, reasons, placeholders


def secret(namespace, data):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": SECRET_NAME, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "data": dict((entry, base64.b64encode(data[entry].encode("utf-8")).decode("ascii"))
                     for entry in certificates.BUNDLE_KEYS),
    }


def istiods(cluster, namespace):
    return [dep for dep in (get_object(cluster, "apps/v1", "Deployment", name, namespace)
                            for name in ISTIOD_DEPLOYMENTS) if dep is not None]


def root_fingerprints(data):
    return fingerprints(certificates.load_certs(data["root-cert.pem"], "root-cert.pem"))
