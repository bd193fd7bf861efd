"""What an AWX job keeps of our runs holds no secret (issue 21 item 2).

AWX runs playbooks through ansible-runner and stores every job event (``event_data.res``, the
whole task result, included) where anyone who can read the job reads it. Here install, verify,
drift and root rotation run through ansible-runner the way an AWX job runs them (docs/awx.md): a
private data directory with the project's one-line playbooks, an inventory of kube_context only,
the kubeconfig injected as a file named by K8S_AUTH_KUBECONFIG and KUBECONFIG, the license as an
extra var in env/extravars. Then everything the runs leave in the private data directory (job
events, stdout, artifacts with set_stats, fact cache, env) is scanned for the license, the API
token and the key material of every root and intermediate CA.

env/extravars is the input AWX writes (and deletes after the job), so it holds the license by
design and is not scanned.
"""
from __future__ import annotations

import base64
import json
import os
import sys

import ansible_runner
import yaml

from tests.harness.collection_path import ansible_env
from tests.harness.playbook_run import LICENSE, Run

FAST = {"root_rotation_key_type": "ecdsa-p256", "root_rotation_intermediate_key_type": "ecdsa-p256",
        "root_rotation_wait_timeout": 60, "gloomesh_root_key_type": "ecdsa-p256",
        "gloomesh_intermediate_key_type": "ecdsa-p256"}
PLAYBOOKS = ("install_manual_link", "verify", "drift", "rotate_root_of_trust")


def private_data_dir(run, tmp_path, kubeconfig_file):
    """The directory AWX gives ansible-runner: project, inventory, env (envvars, extravars)."""
    root = tmp_path / "job"
    for sub in ("project", "inventory", "env"):
        (root / sub).mkdir(parents=True)
    for name in PLAYBOOKS:
        (root / "project" / (name + ".yml")).write_text(yaml.safe_dump(
            [{"name": name, "ansible.builtin.import_playbook": "gloomesh.multicluster." + name}]))
    hosts = dict((n, {"cluster_name": n, "kube_context": n}) for n in run.workload)
    group_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (root / "inventory" / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"vars": group_vars, "children": {"workload_clusters": {"hosts": hosts}}}}))
    env = {"K8S_AUTH_KUBECONFIG": str(kubeconfig_file), "KUBECONFIG": str(kubeconfig_file)}
    (root / "env" / "envvars").write_text(yaml.safe_dump(env))
    extra = dict(run.extra, gloomesh_drift_report_dir=str(tmp_path / "drift"), **FAST)
    (root / "env" / "extravars").write_text(yaml.safe_dump(extra))
    return root


def key_material(run, pki_dir):
    """Every private key of the mesh: the roots on the controller, each cluster's intermediate."""
    keys = []
    for folder, _dirs, files in os.walk(pki_dir):
        keys += [open(os.path.join(folder, f), encoding="utf-8").read() for f in files if f.endswith("key.pem")]
    for name in run.workload:
        with run.cp.api_client(name) as api:
            from kubernetes import client

            secret = client.CoreV1Api(api).read_namespaced_secret("cacerts", "istio-system")
            keys.append(base64.b64decode(secret.data["ca-key.pem"]).decode())
    return keys


def needles(run, pki_dir, kubeconfig):
    """What must not be found: the secrets, plain and base64, and each key's PEM body lines (JSON
    escapes a PEM's line breaks, its body lines stay as they are)."""
    found = {"license": [LICENSE, base64.b64encode(LICENSE.encode()).decode()],
             "token": [u["user"]["token"] for u in kubeconfig["users"]]}
    keys = [pem for pem in key_material(run, pki_dir) if "PRIVATE KEY" in pem]
    found["key material"] = [line for pem in keys for line in pem.splitlines() if len(line) >= 40 and "-----" not in line]
    found["key material"] += [base64.b64encode(pem.encode()).decode()[:64] for pem in keys]
    assert len(keys) >= 1 + len(run.workload), keys
    return found


def scan(root):
    """{path: text} of every file in the private data directory but env/extravars."""
    texts = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.relpath(path, root) != os.path.join("env", "extravars"):
                with open(path, "rb") as fh:
                    texts[os.path.relpath(path, root)] = fh.read().decode("utf-8", "replace")
    return texts


def test_awx_job_keeps_no_secret(make_control_plane, tmp_path):
    names = ("cluster1", "cluster2")
    run = Run(make_control_plane(names=names, simulators=True, install_operator=False), tmp_path, names)
    kubeconfig_file = tmp_path / "credential-kubeconfig"
    kubeconfig_file.write_text(open(run.cp.kubeconfig_path, encoding="utf-8").read())
    root = private_data_dir(run, tmp_path, kubeconfig_file)
    for playbook in PLAYBOOKS:
        # The test's helm recorder, not AWX: its redaction secret must not be the license (ansible-runner
        # keeps the whole environment in artifacts/<ident>/command).
        harness = dict(ansible_env(run.env()), GLOOMESH_HELM_SECRET="not-the-license")
        result = ansible_runner.run(private_data_dir=str(root), playbook=playbook + ".yml", inventory="hosts.yml",
                                    ident=playbook, quiet=True, envvars=harness)
        assert result.rc == 0, (playbook, result.stdout.read()[-4000:])
    texts = scan(root)
    events = [t for p, t in texts.items() if "job_events" in p]
    assert len(events) > 100 and any('"res"' in t for t in events)
    stats = [json.loads(t) for t in events if '"playbook_on_stats"' in t]
    assert any(e["event_data"].get("artifact_data", {}).get("gloomesh_drift") is not None for e in stats)
    with open(kubeconfig_file, encoding="utf-8") as fh:
        kubeconfig = yaml.safe_load(fh)
    leaks = dict((kind, sorted(path for path, text in texts.items() if any(v in text for v in values)))
                 for kind, values in needles(run, tmp_path / "pki", kubeconfig).items())
    print("files scanned: %d (%d job events); files holding a secret: %s" % (len(texts), len(events), leaks))
    assert leaks == {"license": [], "token": [], "key material": []}
