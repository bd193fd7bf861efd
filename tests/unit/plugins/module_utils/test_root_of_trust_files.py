"""The root of trust's files on the controller (root_files.load_or_create):
an existing root is only read (issue 22 item 5)."""
import os
import stat
import threading

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import root_files
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import Invocation
from tests.harness.locks import lock_held_elsewhere

PARAMS = {"root_key_type": "ecdsa-p256", "root_validity_days": 30,
          "root_subject": {"organization": "test", "common_name": "test root"}}


def paths(directory):
    return str(directory / "root-cert.pem"), str(directory / "root-key.pem")


def create_root(directory):
    cert_path, key_path = paths(directory)
    cert, _key, created = root_files.load_or_create(Invocation(dict(PARAMS)), PARAMS, cert_path, key_path, None)
    assert created
    return cert


@pytest.fixture
def existing_root(tmp_path):
    directory = tmp_path / "pki"
    cert = create_root(directory)
    os.unlink(str(directory / "root-key.pem.lock"))  # left by the generation
    return directory, cert


def test_an_existing_root_is_read_without_a_lock_file_even_in_a_read_only_directory(existing_root):
    directory, cert = existing_root
    os.chmod(str(directory), stat.S_IRUSR | stat.S_IXUSR)
    try:
        loaded, key, created = root_files.load_or_create(
            Invocation(dict(PARAMS)), PARAMS, *paths(directory), passphrase=None)
    finally:
        os.chmod(str(directory), 0o700)
    assert (loaded.fingerprint(loaded.signature_hash_algorithm), key, created) == (
        cert.fingerprint(cert.signature_hash_algorithm), None, False)
    assert sorted(os.listdir(str(directory))) == ["root-cert.pem", "root-key.pem"]  # no lock file


def test_a_lock_held_by_a_suspended_run_does_not_block_reading_an_existing_root(existing_root):
    directory, _cert = existing_root
    cert_path, key_path = paths(directory)
    outcome = []
    with lock_held_elsewhere(key_path + ".lock", suspended=True):
        reader = threading.Thread(target=lambda: outcome.append(root_files.load_or_create(
            Invocation(dict(PARAMS)), PARAMS, cert_path, key_path, None)), daemon=True)
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "reading an existing root waited for the lock"
    assert outcome and outcome[0][2] is False


def test_half_a_root_is_still_refused(tmp_path):
    directory = tmp_path / "pki"
    create_root(directory)
    os.unlink(str(directory / "root-cert.pem"))
    with pytest.raises(GloomeshError, match="only one of .*root-cert.pem and .*root-key.pem exists"):
        root_files.load_or_create(Invocation(dict(PARAMS)), PARAMS, *paths(directory), passphrase=None)


def test_one_policy_for_reading_a_root(tmp_path):
    """read_cert and read_key, what root_of_trust, root_of_trust_info, mesh_verify and preflight read roots with."""
    from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates

    directory = tmp_path / "pki"
    cert = create_root(directory)
    cert_path, key_path = paths(directory)
    assert root_files.fingerprint_of(cert_path) == certificates.fingerprint(cert)
    root_files.read_key(key_path, root_files.read_cert(cert_path), cert_path=cert_path)
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(certificates.cert_pem(cert) * 2)
    with pytest.raises(GloomeshError, match="root_cert_path .*bundle.pem holds 2 certificates, expected exactly the root"):
        root_files.fingerprint_of(str(bundle))
    other = tmp_path / "other-key.pem"
    other_key = certificates.key_pem(certificates.generate_key("ecdsa-p256"))
    other.write_text(other_key)
    masked = []
    with pytest.raises(GloomeshError, match="root_key_path .*other-key.pem is not the key of root_cert_path") as info:
        root_files.read_key(str(other), cert, cert_path=cert_path, mask=masked.append)
    assert masked == [other_key] and "PRIVATE KEY" not in info.value.message
