"""An inline kubeconfig's secrets never leave a module, on either path, whatever kubernetes.core's
AUTH_ARG_SPEC says of ``kubeconfig`` (issue 21 item 1).

kubernetes.core declares it {"type": "raw", "no_log": True} in 5.1.0-5.4.1 and 6.0.0-6.2.0, and
{"type": "raw"} in 5.0.0 and 5.4.2+/6.3.0+ (plugins/module_utils/args_common.py): both shapes are
simulated here; tests/integration/test_inline_kubeconfig.py runs the real ones in the version matrix.
"""
from __future__ import annotations

import base64
import json
import types

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import runner
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import kubeconfig_secrets
from tests.harness.module_runner import run

TOKEN = "gloomesh-unit-token-7c1d2e3f"
PASSWORD = "gloomesh-unit-password-99"
# Made when the tests run: no key material is kept in the repository.
KEY_PEM = certificates.key_pem(certificates.generate_key("ecdsa-p256"))
KEY_DATA = base64.b64encode(KEY_PEM.encode()).decode()
ENV_SECRET = "aws-secret-access-key-0a9b8c"
PROVIDER_TOKEN = "oidc-refresh-token-5e6f7a"
SECRETS = (TOKEN, PASSWORD, KEY_DATA, KEY_PEM, ENV_SECRET, PROVIDER_TOKEN)
SHAPES = {"raw (5.0.0, 5.4.2+, 6.3.0+)": {"type": "raw"},
          "raw no_log (5.1.0-5.4.1, 6.0.0-6.2.0)": {"type": "raw", "no_log": True}}


def inline_kubeconfig():
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "cluster1",
        "clusters": [{"name": "cluster1", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "cluster1", "context": {"cluster": "cluster1", "user": "admin"}}],
        "users": [{"name": "admin", "user": {
            "token": TOKEN, "username": "admin", "password": PASSWORD, "client-key-data": KEY_DATA,
            "exec": {"command": "aws", "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": ENV_SECRET},
                                               {"name": "AWS_REGION", "value": "eu"}]},
            "auth-provider": {"name": "oidc", "config": {"client-id": "kubectl", "refresh-token": PROVIDER_TOKEN}}}}],
    }


def echo(invocation):
    """Puts the kubeconfig in every channel: a warning, a diff, the result, an error."""
    text = json.dumps(invocation.params["kubeconfig"])
    invocation.warn("warned with " + text)
    if invocation.params["fail"]:
        raise GloomeshError("failed with " + text, kubeconfig=invocation.params["kubeconfig"])
    return {"changed": True, "seen": invocation.params["kubeconfig"], "diff": {"before": text, "after": ""},
            "context": invocation.params["kubeconfig"]["current-context"]}


SPEC = {"fail": {"type": "bool", "default": False}}
MODULE = types.ModuleType("fake_module")
MODULE.ARGUMENT_SPEC = SPEC
MODULE.operation = types.SimpleNamespace(run=echo)
MODULE.main = lambda: runner.run_module(SPEC, echo)


@pytest.fixture(params=sorted(SHAPES))
def shape(request, monkeypatch):
    monkeypatch.setitem(runner.AUTH_ARG_SPEC, "kubeconfig", SHAPES[request.param])
    return request.param


@pytest.fixture
def syslog(monkeypatch):
    """What AnsibleModule logs (syslog or journal) when it starts."""
    from ansible.module_utils import basic

    lines = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: lines.append(msg))
    return lines


def test_kubeconfig_secrets_are_the_credentials_only():
    assert kubeconfig_secrets(inline_kubeconfig()) == set(SECRETS)
    assert kubeconfig_secrets("/home/me/.kube/config") == set()
    assert kubeconfig_secrets({"users": [None, {"user": "x"}, {"user": {"exec": {"env": "x"}}}]}) == set()


@pytest.mark.parametrize("path", ["module", "in_process"])
@pytest.mark.parametrize("fail", [False, True])
def test_no_secret_in_any_channel_and_the_rest_readable(shape, syslog, path, fail):
    result = run(MODULE, {"kubeconfig": inline_kubeconfig(), "fail": fail}, path=path, diff=True)
    text = json.dumps(result) + json.dumps(syslog)
    assert [s for s in SECRETS if s in text] == [], (shape, path)
    assert result.get("failed", False) is fail
    assert "warned with" in json.dumps(result["warnings"])
    shown = result["invocation"]["module_args"]["kubeconfig"]
    # Only the secrets are hidden: names, server and short environment values stay readable.
    assert shown["contexts"][0]["name"] == "cluster1" and shown["apiVersion"] == "v1"
    assert shown["users"][0]["user"]["exec"]["env"][1]["value"] == "eu"
    if not fail:
        assert result["context"] == "cluster1"


@pytest.mark.parametrize("path", ["module", "in_process"])
def test_invalid_options_fail_without_the_kubeconfig(shape, syslog, path):
    result = run(MODULE, {"kubeconfig": inline_kubeconfig(), "fail": "neither"}, path=path)
    assert result["failed"] and "fail" in result["msg"]
    assert [s for s in SECRETS if s in json.dumps(result) + json.dumps(syslog)] == []


def test_a_peer_kubeconfig_in_suboptions_is_hidden_too(shape):
    spec = runner.argument_spec({"mesh": {"type": "list", "elements": "dict", "options": {
        "cluster": {"type": "str"}, "kubeconfig": {"type": "raw"}}}})
    assert spec["mesh"]["options"]["kubeconfig"]["no_log"] is True
    params = {"kubeconfig": None, "api_key": "api-key-1234", "mesh": [{"cluster": "c2", "kubeconfig": inline_kubeconfig()}]}
    hidden = runner.output_secrets(spec, params)
    assert set(SECRETS) | {"api-key-1234"} <= hidden
    assert not {"cluster1", "v1", "admin", "c2"} & hidden


def test_another_clusters_connection_is_masked(monkeypatch):
    monkeypatch.setattr(runner, "get_cluster", lambda options: object())
    invocation = runner.Invocation({})
    invocation.cluster(kubeconfig=inline_kubeconfig(), context="cluster1")
    assert set(SECRETS) <= invocation.no_log_values
