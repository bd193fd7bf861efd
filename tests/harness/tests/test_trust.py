"""The trust simulator's plug-in CA rules (tests/harness/simulators/trust.py), without clusters.

Where upstream istiod was seen to decide otherwise (tests/integration/test_rotation_istiod.py runs
the pinned pilot-discovery), the rule follows it for that version and keeps the older behaviour for
older tags.
"""
from __future__ import annotations

import datetime

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates as certs
from tests.harness.simulators import trust

# Every certificate here is issued at NOW: a test that runs minutes after the import (other
# harness tests first) must not find them not yet valid.
NOW = datetime.datetime.now(datetime.timezone.utc)


def _deployment(tag: str, multiroot: bool = True) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{
        "image": f"docker.io/istio/pilot:{tag}",
        "env": [{"name": "ISTIO_MULTIROOT_MESH", "value": str(multiroot).lower()}]}]}}}}


def _bundle(root_texts: list[str]):
    """cacerts files under the first root, whose root-cert.pem holds `root_texts` in that order."""
    root, key = ROOTS[0]
    ca_key = certs.generate_key("ecdsa-p256")
    data = certs.bundle_data([certs.build_intermediate(root, key, ca_key, "c1", now=NOW)], ca_key, root)
    data["root-cert.pem"] = "".join(root_texts)
    return {k: v.encode() for k, v in data.items()}


def _root():
    key = certs.generate_key("ecdsa-p256")
    return certs.build_root(key, now=NOW), key


ROOTS = [_root(), _root()]
A, B = (certs.cert_pem(r) for r, _k in ROOTS)


def test_a_reordered_root_bundle_is_taken_as_a_set_from_1_31_only():
    """[A, B] -> [B, A]: the same roots. bytes.Contains refuses it (1.25.2); the pinned master
    (1.31) compares certificate sets and takes it, as real istiod did in test_rotation_istiod."""
    loaded, why = trust.load_ca(_bundle([A, B]), NOW)
    assert why == ""
    reordered = _bundle([B, A])
    kept, said = trust.reload(_deployment("1.25.2-solo"), loaded, reordered, NOW)
    assert kept is loaded and said == "Updating new ROOT-CA not supported"
    taken, said = trust.reload(_deployment("1.31.0"), loaded, reordered, NOW)
    assert taken is not loaded and said.startswith("Istiod has detected the newly added intermediate CA")
    assert taken.roots_pem == (B + A).encode()


def test_a_root_bundle_that_shares_no_subset_is_refused_by_every_version():
    loaded, _why = trust.load_ca(_bundle([A]), NOW)
    other = _bundle([B])
    for tag in ("1.25.2", "1.31.0"):
        kept, said = trust.reload(_deployment(tag), loaded, other, NOW)
        assert kept is loaded and said == "Updating new ROOT-CA not supported", tag
    kept, said = trust.reload(_deployment("1.31.0", multiroot=False), loaded, _bundle([A, B]), NOW)
    assert kept is loaded and said == "Multi root is disabled, updating new ROOT-CA not supported"


def test_an_incomplete_bundle_stops_istiod_from_1_31_and_was_loaded_before():
    """cacerts without cert-chain.pem: 1.25.2 took ca-cert.pem as the chain; the pinned master
    exits (test_rotation_istiod saw it), and no files at all stay the self-signed CA."""
    files = _bundle([A])
    del files["cert-chain.pem"]
    assert trust.load_ca(files, NOW, (1, 25, 2))[1] == ""
    assert trust.load_ca(files, NOW, (1, 31, 0)) == (
        None, "failed to create an istiod CA: incomplete signing CA bundle detected")
    assert trust.load_ca({}, NOW, (1, 31, 0))[1].startswith("no plugged-in CA")
