"""An inline kubeconfig (a mapping, as AWX credentials give one) with every kind of secret, the task
keywords the in-process path must honour, and the credential files the kubernetes client writes
(issue 21 items 1, 3 and 4). Each test runs the modules both ways: in process and as a process.

test_inline_kubeconfig_secrets_hidden runs in the version-matrix cells too (Makefile
MATRIX_PLAYBOOK): kubernetes.core 5.0.0 and 6.6.0 declare ``kubeconfig`` without no_log.
"""
from __future__ import annotations

import base64
import os
import stat
import sys

import pytest
import yaml

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates
from tests.harness.playbook_run import run_playbook

BOTH_WAYS = pytest.mark.parametrize("in_process", [True, False], ids=["in_process", "module_process"])


def client_key_pair():
    """A client key and its self-signed certificate (PEM): the server does not ask for one, but the
    kubernetes client writes both to files all the same."""
    key = certificates.generate_key("ecdsa-p256")
    return certificates.key_pem(key), certificates.cert_pem(certificates.build_root(key, common_name="gloomesh-test-client"))


def loaded_kubeconfig(path, context):
    """The kubeconfig at ``path`` with one user for ``context``: its token plus a client key pair, a
    password, an exec plugin's secret environment and an auth provider's tokens (all unused: the
    client authenticates with the token first). Returns (kubeconfig, {secret name: text})."""
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    config["current-context"] = context
    user_name = next(c["context"]["user"] for c in config["contexts"] if c["name"] == context)
    user = next(u["user"] for u in config["users"] if u["name"] == user_name)
    key_pem, cert_pem = client_key_pair()
    secrets = {"token": user["token"], "password": "gloomesh-test-password-3b9d", "client-key PEM": key_pem,
               "client-key-data": base64.b64encode(key_pem.encode()).decode(),
               "exec env": "gloomesh-test-exec-secret-51aa", "auth-provider": "gloomesh-test-refresh-token-c0de"}
    user.update({
        "username": "admin", "password": secrets["password"], "client-key-data": secrets["client-key-data"],
        "client-certificate-data": base64.b64encode(cert_pem.encode()).decode(),
        "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "false",
                 "env": [{"name": "GLOOMESH_SECRET", "value": secrets["exec env"]}]},
        "auth-provider": {"name": "gloomesh-example", "config": {"refresh-token": secrets["auth-provider"]}},
    })
    return config, secrets


def host(context, **variables):
    return {"all": {"hosts": {context: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                        "kube_context": context, **variables}}}}


def playbook(tmp_path, tasks, **play_vars):
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "vars": play_vars, "tasks": tasks}]))
    return path


def counts(secrets, run):
    text = run["stdout"] + run["stderr"]
    return dict((name, text.count(value)) for name, value in secrets.items())


@BOTH_WAYS
def test_inline_kubeconfig_secrets_hidden(make_control_plane, tmp_path, in_process):
    """At -vvv (invocation, results, diffs, errors) no secret of an inline kubeconfig shows."""
    cp = make_control_plane(names=("cluster1",), simulators=False)
    config, secrets = loaded_kubeconfig(cp.kubeconfig_path, "cluster1")
    tasks = [
        {"name": "reads", "gloomesh.multicluster.root_of_trust_info": {"namespace": "no-such-namespace"},
         "register": "read"},
        {"name": "check mode with a diff",
         "gloomesh.multicluster.eastwest_gateway": {"network": "cluster1", "cluster": "cluster1"},
         "check_mode": True, "diff": True},
        {"name": "an error", "gloomesh.multicluster.eastwest_gateway_info": {"context": "no-such-context"},
         "ignore_errors": True},
        {"name": "invalid options", "gloomesh.multicluster.root_of_trust_info": {"no_such_option": 1},
         "ignore_errors": True},
        {"name": "the read reached the cluster", "ansible.builtin.assert": {"that": ["read is succeeded"]}},
    ]
    run = run_playbook(playbook(tmp_path, tasks, gloomesh_in_process=in_process), host("cluster1", kubeconfig=config),
                       verbosity=3)
    found = counts(secrets, run)
    print("secret occurrences (in_process=%s): %s" % (in_process, found))
    assert found == dict.fromkeys(secrets, 0), found
    assert run["recap"]["cluster1"]["failed"] == 0 and run["recap"]["cluster1"]["ignored"] == 2, run["stdout"][-3000:]
    # Only the secrets are hidden: the rest of the kubeconfig reads as given in invocation.module_args.
    assert '"current-context": "cluster1"' in run["stdout"] and '"apiVersion": "v1"' in run["stdout"]


@BOTH_WAYS
def test_environment_keyword_reaches_the_operation(kubeconfig, tmp_path, in_process):
    """environment: K8S_AUTH_KUBECONFIG names the kubeconfig, no default one exists: both ways read."""
    home = tmp_path / "home"
    home.mkdir()
    tasks = [{"gloomesh.multicluster.root_of_trust_info": {"namespace": "no-such-namespace"},
              "environment": {"K8S_AUTH_KUBECONFIG": kubeconfig}}]
    run = run_playbook(playbook(tmp_path, tasks, gloomesh_in_process=in_process), host("cluster1"), verbosity=1,
                       env={"HOME": str(home), "KUBECONFIG": "", "ANSIBLE_LOCAL_TEMP": str(home / "tmp")})
    assert run["rc"] == 0 and run["recap"]["cluster1"]["ok"] == 1, run["stdout"][-3000:]
    assert ("runs as a module process" in run["stdout"]) is not in_process


def test_another_interpreter_runs_as_a_process_and_says_why(kubeconfig, tmp_path):
    """A host whose Python is not the controller's: the module runs with that Python, -v says so."""
    wrapper = tmp_path / "python"
    wrapper.write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    tasks = [{"gloomesh.multicluster.root_of_trust_info": {"namespace": "no-such-namespace"}}]
    run = run_playbook(playbook(tmp_path, tasks), host("cluster1", kubeconfig=kubeconfig,
                                                       ansible_python_interpreter=str(wrapper)), verbosity=1)
    assert run["rc"] == 0, run["stdout"][-3000:]
    assert ("gloomesh.multicluster.root_of_trust_info runs as a module process: ansible_python_interpreter is %s"
            % wrapper) in run["stdout"]


@BOTH_WAYS
def test_no_credential_files_left_in_tmpdir(kubeconfig, tmp_path, in_process):
    """A kubeconfig with client key, certificate and CA data: nothing of them stays in $TMPDIR."""
    config, secrets = loaded_kubeconfig(kubeconfig, "cluster1")
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    private = tmp_path / "tmp"
    private.mkdir()
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    tasks = [{"gloomesh.multicluster.root_of_trust_info": {"namespace": "no-such-namespace"}},
             {"gloomesh.multicluster.eastwest_gateway_info": {"namespace": "no-such-namespace"}, "ignore_errors": True},
             {"gloomesh.multicluster.eastwest_gateway_info": {"context": "no-such-context"}, "ignore_errors": True},
             # Preflight asks every cluster from its own threads, outside any module's task.
             {"gloomesh.multicluster.mesh_preflight": {}, "ignore_errors": True}]
    before = sorted(os.listdir(private))
    run = run_playbook(playbook(tmp_path, tasks, gloomesh_in_process=in_process),
                       host("cluster1", kubeconfig=str(path)), env={"TMPDIR": str(private)})
    assert run["recap"]["cluster1"]["failed"] == 0, run["stdout"][-3000:]
    after = sorted(os.listdir(private))

    def holding(text):
        return [name for name in after if text in (private / name).read_text(errors="replace")]
    print("TMPDIR files (in_process=%s): before %d, after %d: %s" % (in_process, len(before), len(after), after))
    assert (before, holding(secrets["client-key PEM"]), holding(ca)) == ([], [], [])
    # What may stay: kubernetes.core's discovery cache (plugins/module_utils/client/discovery.py), whose
    # presence shows the client wrote to this TMPDIR (so nothing else being there means something).
    assert after and [name for name in after if not name.startswith("k8srcp-")] == [], after
