"""The kubernetes client's credential files do not outlive the task (issue 21 item 4).

The client writes a kubeconfig's client-key-data, client-certificate-data and
certificate-authority-data to $TMPDIR and removes them at interpreter exit only, which Ansible's
workers never reach. runner.perform removes them when the operation ends, however it ends.
"""
from __future__ import annotations

import base64
import os
import tempfile

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.runner import Invocation, perform

# Made when the tests run: no key material is kept in the repository.
KEY_PEM = certificates.key_pem(certificates.generate_key("ecdsa-p256")).encode()


def kubeconfig(server):
    data = base64.b64encode(KEY_PEM).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "c1",
        "clusters": [{"name": "c1", "cluster": {"server": server, "certificate-authority-data": data}}],
        "contexts": [{"name": "c1", "context": {"cluster": "c1", "user": "u1"}}],
        "users": [{"name": "u1", "user": {"client-certificate-data": data, "client-key-data": data}}],
    }


@pytest.fixture
def tmpdir_files(tmp_path, monkeypatch):
    """A private $TMPDIR, and a client that has written no file yet (none of another test to reuse);
    returns a function listing the files in it."""
    from kubernetes.config import kube_config

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setattr(kube_config, "_temp_files", {})
    return lambda: sorted(os.listdir(private))


@pytest.fixture
def written(monkeypatch):
    """The files the kubernetes client writes credentials to, as it writes them."""
    from kubernetes.config import kube_config

    paths = []
    original = kube_config._create_temp_file_with_content

    def record(*args, **kwargs):
        paths.append(original(*args, **kwargs))
        return paths[-1]
    monkeypatch.setattr(kube_config, "_create_temp_file_with_content", record)
    return paths


def load(invocation):
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config_from_dict(invocation.params["kubeconfig"], client_configuration=configuration)
    with open(configuration.key_file, "rb") as fh:
        assert fh.read() == KEY_PEM  # the key is there while the operation runs
    return {"key_file": configuration.key_file}


def connect(invocation):
    invocation.cluster()
    return {}


def explode(invocation):
    load(invocation)
    raise RuntimeError("not a GloomeshError")


def params(server="https://127.0.0.1:9"):
    return {"kubeconfig": kubeconfig(server), "context": "c1", "request_timeout": 2}


def test_files_written_while_the_operation_runs_are_removed_when_it_succeeds(tmpdir_files):
    assert tmpdir_files() == []
    result = perform(load, Invocation(params()))
    assert os.path.basename(result["key_file"]) not in tmpdir_files()
    assert tmpdir_files() == []


def test_removed_when_it_fails(tmpdir_files, written):
    result = perform(connect, Invocation(params()))
    assert result["failed"] and "cluster c1" in result["msg"]
    assert written and tmpdir_files() == []


def test_removed_when_it_raises_anything_else(tmpdir_files, written):
    with pytest.raises(RuntimeError):
        perform(explode, Invocation(params()))
    assert written and tmpdir_files() == []


def test_files_of_an_earlier_load_are_left_to_their_owner(tmpdir_files):
    earlier = load(Invocation(params()))["key_file"]  # outside any task: the client's own, reused by it
    try:
        perform(load, Invocation(params()))
        assert tmpdir_files() == [os.path.basename(earlier)]
    finally:
        from kubernetes.config import kube_config

        kube_config._cleanup_temp_files()
