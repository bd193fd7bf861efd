"""Root rotation across three clusters (issue 15), proven with the plug-in CA simulator.

The mesh: three fresh local clusters, istiod-gloo in istio-system of each, and two Deployments in
the ambient namespace `shop` of each, whose pods get certificates from their cluster's simulated
istiod (tests/harness/simulators/trust.py). Every cross-cluster pair of workloads is checked with
X.509 path validation after every change of any certificate, bundle or istiod CA while the
rotation runs; runs are killed inside each phase and resumed.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import yaml
from cryptography import x509
from kubernetes import client as k8s

from ansible_collections.gloomesh.multicluster.plugins.module_utils import verify
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates, rotation_records
from tests.harness.collection_path import ansible_env
from tests.harness.module_runner import run_module
from tests.harness.playbook_run import run_playbook
from tests.harness.simulators import trust

CLUSTERS = ("cluster1", "cluster2", "cluster3")
PLAYBOOK = os.path.join(os.path.dirname(__file__), "..", "..", "playbooks", "rotate_root_of_trust.yml")
EXPIRY = os.path.join(os.path.dirname(__file__), "..", "..", "playbooks", "root_of_trust_expiry.yml")
ISTIOD_IMAGE = "us-docker.pkg.dev/soloio-img/istio/pilot:1.25.2-solo"
WORKLOADS = ("cart", "pay")
FAST = {"root_rotation_key_type": "ecdsa-p256", "root_rotation_intermediate_key_type": "ecdsa-p256"}
PHASE_TASKS = {1: "Phase 1 - trust the old", 2: "Phase 2 - reissue", 3: "Phase 3 - drop the old root",
               "promote": "Put the new root in place"}


# --- the mesh ------------------------------------------------------------------------------------

def _deployment(name, labels, image, replicas=1, env=None):
    container = {"name": "discovery" if name.startswith("istiod") else "app", "image": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


class Mesh:
    def __init__(self, cp, tmp):
        self.cp = cp
        self.sims = cp.simulators
        self.trust = self.sims.trust
        self.pki = os.path.join(tmp, "pki")
        self.tmp = tmp

    def setup(self):
        for context in CLUSTERS:
            result = run_module("root_of_trust", dict(
                kubeconfig=self.cp.kubeconfig_path, context=context, cluster=context,
                root_cert_path=self.root_path(), root_key_path=os.path.join(self.pki, "root-key.pem"),
                root_key_type="ecdsa-p256", intermediate_key_type="ecdsa-p256"))
            assert result["changed"], result
        for context in CLUSTERS:
            with self.cp.api_client(context, simulator=True) as api:
                core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
                core.create_namespace({"metadata": {"name": "shop", "labels": {"istio.io/dataplane-mode": "ambient"}}})
                apps.create_namespaced_deployment("istio-system", _deployment(
                    "istiod-gloo", {"app": "istiod"}, ISTIOD_IMAGE, replicas=2 if context == "cluster1" else 1))
                for name in WORKLOADS:
                    apps.create_namespaced_deployment("shop", _deployment(name, {"app": name}, "shop/" + name))
        self.wait(lambda: len(self.trust.workloads()) == len(CLUSTERS) * len(WORKLOADS),
                  "every workload holds a certificate")

    def root_path(self):
        return os.path.join(self.pki, "root-cert.pem")

    def root(self):
        with open(self.root_path(), "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read())

    def wait(self, predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting until " + what
            time.sleep(0.05)

    def inventory(self):
        return {"all": {"vars": {"ansible_connection": "local", "gloomesh_pki_dir": self.pki},
                        "children": {"workload_clusters": {"hosts": {c: {
                            "cluster_name": c, "kube_context": c, "kubeconfig": self.cp.kubeconfig_path,
                            "ansible_python_interpreter": sys.executable} for c in CLUSTERS}}}}}

    def extra(self, **more):
        return dict(FAST, root_rotation_workload_namespaces=["shop"], root_rotation_wait_timeout=60, **more)

    def play(self, check=False, **more):
        mark = self.cp.audit_mark()
        began = time.monotonic()
        result = run_playbook(PLAYBOOK, self.inventory(), self.extra(**more), check=check, diff=check,
                              env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})
        result["seconds"] = time.monotonic() - began
        result["writes"] = self.cp.writes_since(mark)
        assert "PRIVATE KEY" not in result["stdout"] + result["stderr"]
        return result

    def start(self, **more):
        """The playbook as a process group of its own, to be killed."""
        paths = {}
        for name, content in (("inventory.yml", self.inventory()), ("extra.json", self.extra(**more))):
            paths[name] = os.path.join(tempfile.mkdtemp(prefix="gloomesh-rot-"), name)
            with open(paths[name], "w", encoding="utf-8") as fh:
                yaml.safe_dump(content, fh) if name.endswith(".yml") else json.dump(content, fh)
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK,
               "-i", paths["inventory.yml"], "-e", "@" + paths["extra.json"]]
        return subprocess.Popen(cmd, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    # what the clusters hold, from the simulators' caches (no request)
    def cacerts(self, context):
        secret = self.sims.cluster(context).cached(trust.SECRETS, "cacerts", "istio-system")
        data = dict((k, base64.b64decode(v).decode()) for k, v in (secret.get("data") or {}).items())
        report = certificates.inspect_bundle(data)
        roots = [certificates.fingerprint(r) for r in report["root_certs"]]
        issuer = certificates.fingerprint(report["issuing_root"]) if report["issuing_root"] is not None else None
        return roots, issuer

    def verify_problems(self):
        """What verify's cross-cluster root rule says of the clusters now."""
        rows = []
        for context in CLUSTERS:
            roots, issuer = self.cacerts(context)
            rows.append(type("Row", (), {"name": context, "row": {"roots": roots, "issuing_root": issuer}})())
        return verify.root_of_trust_problems(rows), dict((r.name, r.row.get("phase")) for r in rows)

    def content_phase(self, context, old, new):
        return rotation_records.content_phase(*self.cacerts(context), old, new)

    def recorded(self, context, old, new):
        from tests.harness.simulators.base import CONFIGMAPS
        record = rotation_records.parse_rotation_record(
            self.sims.cluster(context).cached(CONFIGMAPS, rotation_records.RECORD_NAME, "istio-system"))
        return rotation_records.finished_phase(record, old, new)

    def new_root_fingerprint(self):
        path = os.path.join(self.pki, "next", "root-cert.pem")
        if not os.path.exists(path):
            return None
        with open(path, "rb") as fh:
            return certificates.fingerprint(x509.load_pem_x509_certificate(fh.read()))

    def istiod_annotation(self, context):
        from tests.harness.simulators.base import DEPLOYMENTS
        dep = self.sims.cluster(context).cached(DEPLOYMENTS, "istiod-gloo", "istio-system")
        return (dep["spec"]["template"]["metadata"].get("annotations") or {}).get("gloomesh.multicluster/cacerts")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    if os.environ.get("GLOOMESH_TEST_KUBECONFIG"):
        pytest.skip("needs the plug-in CA simulator of fresh local clusters")
    from tests.harness.controlplane import LocalControlPlane
    from tests.harness.simulators import Simulators

    # No CRDs: nothing here needs them, and installing them is the slowest part of a start.
    cp = LocalControlPlane(CLUSTERS).start()
    try:
        cp.simulators = Simulators(cp.simulator_kubeconfig_path, list(cp.names)).start()
        built = Mesh(cp, str(tmp_path_factory.mktemp("rotation")))
        built.setup()
        yield built
    finally:
        cp.stop()


def _phase_seconds(stdout):
    """Per-phase wall time from the profile_tasks summary."""
    seconds = {}
    for key, title in PHASE_TASKS.items():
        match = re.search(re.escape(title) + r"[^\n]*?-+ (\d+\.\d+)s", stdout)
        if match:
            seconds[key] = float(match.group(1))
    return seconds


def _assert_steady_on(mesh, root_fp):
    for context in CLUSTERS:
        assert mesh.cacerts(context) == ([root_fp], root_fp), context
    for workload in mesh.trust.workloads():
        assert [certificates.fingerprint(c) for c in workload.bundle] == [root_fp], workload.name
        assert certificates.issued_by(workload.chain[1], workload.bundle[0]), workload.name


# --- the rotation --------------------------------------------------------------------------------

def test_rotation_keeps_every_cross_cluster_pair_connected(mesh):
    old = mesh.root()
    old_fp = certificates.fingerprint(old)
    count, broken = mesh.trust.check_pairs()
    assert count == 2 * 3 * len(WORKLOADS) ** 2 and broken == []

    plan = mesh.play(check=True)
    assert plan["rc"] == 0, plan["stdout"][-3000:]
    assert plan["writes"] == []
    assert not os.path.exists(os.path.join(mesh.pki, "next"))  # the new root is not generated in check mode
    for context in CLUSTERS:
        assert re.search(r"%s\] => \{\s+\"msg\": \"plan: phase 1 \(trust_both\) after 0 finished: cacerts updated, "
                         r"istiod restart, 2 workloads rolled, istio-ca-root-cert awaited in istio-system, shop"
                         % context, plan["stdout"]), plan["stdout"][-3000:]

    with mesh.trust.monitor() as monitor:
        run = mesh.play()
    assert run["rc"] == 0, run["stdout"][-4000:]
    assert monitor.broken == [], monitor.broken[:5]
    assert monitor.rounds > 10
    new = mesh.root()
    new_fp = certificates.fingerprint(new)
    assert new_fp != old_fp
    _assert_steady_on(mesh, new_fp)
    for context in CLUSTERS:
        assert mesh.recorded(context, old_fp, new_fp) == 3
    retired = os.path.join(mesh.pki, "retired", old_fp.replace(":", "")[:16])
    assert sorted(os.listdir(retired)) == ["root-cert.pem", "root-key.pem"]
    assert os.stat(os.path.join(retired, "root-key.pem")).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(mesh.pki, "root-key.pem")).st_mode & 0o777 == 0o600
    assert not os.path.exists(os.path.join(mesh.pki, "next"))
    phases = _phase_seconds(run["stdout"])
    print("\nMEASURE rotation 3 clusters, 2 workloads each: total %.1fs, phases %s, %d rounds, %d verifications"
          % (run["seconds"], json.dumps(phases), monitor.rounds, monitor.verifications))

    again = mesh.play()
    assert again["rc"] == 0 and all(r["changed"] == 0 for r in again["recap"].values()), again["recap"]
    assert again["writes"] == []
    assert "finished its rotation to root %s: nothing to do" % new_fp in again["stdout"]
    check = mesh.play(check=True)
    assert check["rc"] == 0 and check["writes"] == [] and "nothing to do" in check["stdout"]


def _kill_when(mesh, process, condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before " + what
        assert time.monotonic() < deadline, "timed out waiting until " + what
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def test_interrupted_rotation_resumes_in_every_phase(mesh):
    """The next rotation, with istiod reloading root bundles itself (ISTIO_MULTIROOT_MESH=true):
    killed in phase 1, 2 and 3 (SIGKILL to the whole run), resumed each time."""
    for context in CLUSTERS:
        with mesh.cp.api_client(context, simulator=True) as api:
            k8s.AppsV1Api(api).patch_namespaced_deployment("istiod-gloo", "istio-system", {"spec": {"template": {
                "spec": {"containers": [{"name": "discovery", "env": [
                    {"name": "ISTIO_MULTIROOT_MESH", "value": "true"}]}]}}}})
    mesh.wait(lambda: all(all(p.ca is not None for p in mesh.trust.istiod_pods(c)) and mesh.trust.istiod_pods(c)
                          for c in CLUSTERS), "istiod restarted with ISTIO_MULTIROOT_MESH")
    old_fp = certificates.fingerprint(mesh.root())
    kills = []
    with mesh.trust.monitor() as monitor:
        for phase in (1, 2, 3):
            process = mesh.start(root_rotation_again=True)

            def inside(phase=phase):
                new_fp = mesh.new_root_fingerprint()
                if new_fp is None:
                    return False
                at = [mesh.content_phase(c, old_fp, new_fp) for c in CLUSTERS]
                done = [mesh.recorded(c, old_fp, new_fp) for c in CLUSTERS]
                return phase in at and min(done) < phase
            _kill_when(mesh, process, inside, "a cluster is inside phase %d" % phase)
            new_fp = mesh.new_root_fingerprint()
            problems, phases = mesh.verify_problems()
            assert problems == {} and phase in phases.values(), (problems, phases)
            kills.append({"phase": phase, "new_root": new_fp,
                          "cacerts": [mesh.content_phase(c, old_fp, new_fp) for c in CLUSTERS],
                          "finished": [mesh.recorded(c, old_fp, new_fp) for c in CLUSTERS]})
        final = mesh.play(root_rotation_again=True)
    assert final["rc"] == 0, final["stdout"][-4000:]
    assert monitor.broken == [], monitor.broken[:5]
    new_fp = certificates.fingerprint(mesh.root())
    assert [k["new_root"] for k in kills] == [new_fp] * 3  # one rotation, resumed twice
    _assert_steady_on(mesh, new_fp)
    for context in CLUSTERS:
        assert mesh.recorded(context, old_fp, new_fp) == 3
        # Phases 1 and 3 relied on istiod's own reload: the last restart was phase 2's.
        intermediate = certificates.fingerprint(mesh.trust.istiod_pods(context)[0].ca.cert)
        assert mesh.istiod_annotation(context) == rotation_records.cacerts_digest([old_fp, new_fp], intermediate)
    print("\nMEASURE interrupted rotation: kills %s; resumed in %.1fs; %d rounds, %d verifications"
          % (json.dumps(kills), final["seconds"], monitor.rounds, monitor.verifications))
    again = mesh.play()
    assert again["rc"] == 0 and again["writes"] == [] and all(r["changed"] == 0 for r in again["recap"].values())


def test_expiry_report(mesh):
    """Days left on every root and intermediate, published with set_stats, failing under a threshold."""
    mark = mesh.cp.audit_mark()
    report = run_playbook(EXPIRY, mesh.inventory(), {"root_of_trust_expiry_days": 30}, verbosity=1)
    assert report["rc"] == 0, report["stdout"][-3000:]
    stats = re.findall(r'"ansible_stats": (\{.*?"per_host": false\s*\})', report["stdout"], re.S)
    assert len(stats) == len(CLUSTERS), report["stdout"][-3000:]
    for text in stats:
        entry = json.loads(text)
        assert entry["aggregate"] is True
        ((context, value),) = entry["data"]["root_of_trust_expiry"].items()
        assert context in CLUSTERS and value["expiring"] == [] and value["min_days_left"] > 300
        assert [c["role"] for c in value["certificates"]] == ["root", "intermediate"]
    assert "PRIVATE KEY" not in report["stdout"]
    failing = run_playbook(EXPIRY, mesh.inventory(), {"root_of_trust_expiry_days": 4000})
    assert failing["rc"] != 0
    assert re.search(r"root CN=Root CA,O=Istio \([0-9A-F:]+\) expires on \S+: \d+ days left, fewer than 4000",
                     failing["stdout"]), failing["stdout"][-3000:]
    assert sorted(failing["recap"]) == list(CLUSTERS) and all(r["failed"] == 1 for r in failing["recap"].values())
    assert [(e["context"], e["verb"], e["requestURI"]) for e in mesh.cp.writes_since(mark)] == []


def test_naive_replacement_breaks_a_pair(mesh, tmp_path):
    """The order the rotation avoids: cacerts of one cluster replaced by a new root, istiod restarted,
    its workloads rolled. The checker sees every pair across that cluster break, both ways."""
    naive = str(tmp_path / "naive")
    replaced = run_module("root_of_trust", dict(
        kubeconfig=mesh.cp.kubeconfig_path, context="cluster1", cluster="cluster1", force=True,
        root_cert_path=os.path.join(naive, "root-cert.pem"), root_key_path=os.path.join(naive, "root-key.pem"),
        root_key_type="ecdsa-p256", intermediate_key_type="ecdsa-p256"))
    assert replaced["changed"] and replaced["restart_required"]
    with mesh.cp.api_client("cluster1", simulator=True) as api:
        apps = k8s.AppsV1Api(api)
        for namespace, name in [("istio-system", "istiod-gloo")] + [("shop", w) for w in WORKLOADS]:
            apps.patch_namespaced_deployment(name, namespace, {"spec": {"template": {"metadata": {
                "annotations": {"kubectl.kubernetes.io/restartedAt": "naive"}}}}})
    mesh.wait(lambda: [certificates.fingerprint(w.bundle[0]) for w in mesh.trust.workloads("cluster1")]
              == [replaced["root_fingerprint"]] * len(WORKLOADS), "cluster1's workloads trust only the new root")
    count, broken = mesh.trust.check_pairs()
    crossing = {(a.split("/")[0], b.split("/")[0]) for a, b, _why in broken}
    assert crossing == {("cluster1", "cluster2"), ("cluster1", "cluster3"), ("cluster2", "cluster1"),
                        ("cluster3", "cluster1")}
    assert len(broken) == 2 * len(WORKLOADS) * 2 * len(WORKLOADS)
    assert all("candidates exhausted" in why or "signature" in why for _a, _b, why in broken)
    problems, _phases = mesh.verify_problems()
    assert list(problems) == ["cluster1"] and "do not share one root" in problems["cluster1"][0]
    print("\nMEASURE naive replacement: %d of %d cross-cluster verifications fail" % (len(broken), count))
