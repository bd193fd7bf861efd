"""The playbooks end to end on fresh local clusters with simulators (issue 5).

Manual linking runs on three *workload* clusters (cluster1, cluster2, cluster3; no management
cluster) so that a bi-directional full mesh is 3*2 = 6 peer Gateways. Automatic linking runs on
cluster1, cluster2 (workload) and mgmt (management cluster, meshed too), with the Gloo
management-plane simulator distributing the peers.

In the short install run (test_install_rerun_verify) upstream istiod plays istiod in each cluster
(tests/harness/istiod.py with_deployment: the pod of the operator's Deployment istiod-gloo): it
deploys the east-west gateway, writes the Gateways' status and is the CA; the test checks that it
did, and that every link is a network gateway there.

Helm: the real helm, behind a recording wrapper first on PATH that notes every call (the license
value replaced by "<secret>"), installs our local charts (same names, versions and values shape as
Solo's) from a chart repository on 127.0.0.1 (tests/harness/helm_charts.py).
"""
from __future__ import annotations

import json
import os

from kubernetes import client

from tests.harness.helm_charts import repository_url
from tests.harness.playbook_run import GATEWAY_API, LICENSE, Run, failures

TIMINGS = {}


# -- helpers -------------------------------------------------------------------------------------
def ok(result, what):
    assert result["rc"] == 0, f"{what} failed (rc={result['rc']}):\n{failures(result)}\n{result['stderr'][-3000:]}"


def no_change(result, what):
    ok(result, what)
    changed = {h: c["changed"] for h, c in result["recap"].items() if c["changed"]}
    assert not changed, f"{what}: changed tasks on a re-run: {changed}"
    assert result["writes"] == [], f"{what}: write requests on a re-run: " + ", ".join(
        f"{e['context']} {e['verb']} {e['requestURI']}" for e in result["writes"])


def full_mesh(names):
    return {n: {f"istio-remote-peer-{p}" for p in names if p != n} for n in names}


def network_of(cp, context):
    """The cluster's network as its istio-system namespace says (what istiod reads)."""
    with cp.api_client(context) as api:
        return client.CoreV1Api(api).read_namespace("istio-system").metadata.labels["topology.istio.io/network"]


# -- manual linking ------------------------------------------------------------------------------
def test_install_rerun_verify(make_control_plane, tmp_path):
    """The short run each cell of the version matrix makes (hack/version-matrix.sh): install two
    clusters, re-run with nothing to do, verify alone."""
    names = ("cluster1", "cluster2")
    # Each istiod starts as the install creates its Deployment.
    cp = make_control_plane(names=names, simulators=True, install_operator=False, istiod=names)
    istiods = cp.istiods
    run = Run(cp, tmp_path, names)
    result = run.play("install_manual_link")
    ok(result, "install_manual_link")
    assert {n: set(run.peers(n)) for n in names} == full_mesh(names)
    for name in names:
        assert istiods[name].running() and istiods[name].restarts == 0, istiods[name].log_tail()
        assert upstream_writers(cp, name) == {"istio-eastwest": {"pilot-discovery"},
                                              **{g: {"pilot-discovery", "gloomesh-sim-solo-peering-status"}
                                                 for g in full_mesh(names)[name]}}
        # Each link is, in the source cluster's real istiod, the peer's network at its east-west address.
        istiods[name].wait_network_gateways("istio-eastwest", [
            (network_of(cp, peer), cp.simulators.lb_address(peer), 15008) for peer in names if peer != name])
    no_change(run.play("install_manual_link"), "re-run of install_manual_link")
    no_change(run.play("verify"), "verify")


def upstream_writers(cp, context):
    """Who wrote the status of each Gateway in istio-eastwest, and the east-west Deployment, as
    managedFields record it: upstream istiod's status writer is pilot-discovery, its gateway
    deployment controller istio.io/gateway-controller (gatewaycommon/deploymentcontroller.go,
    FieldManager features.ManagedGatewayController); no simulator of istiod wrote."""
    with cp.api_client(context) as api:
        gateways = client.CustomObjectsApi(api).list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", "istio-eastwest", "gateways")["items"]
        deployment = client.AppsV1Api(api).read_namespaced_deployment("istio-eastwest", "istio-eastwest")
    deployment_writers = {f.manager for f in deployment.metadata.managed_fields if not f.subresource}
    assert deployment_writers == {"istio.io/gateway-controller"}
    return {g["metadata"]["name"]: {f["manager"] for f in g["metadata"]["managedFields"] if f.get("subresource") == "status"}
            for g in gateways}


def test_manual_link_lifecycle(make_control_plane, tmp_path):
    names = ("cluster1", "cluster2", "cluster3")
    cp = make_control_plane(names=names, simulators=True, install_operator=False)
    run = Run(cp, tmp_path, names)

    # 1. Preflight reports every problem of every cluster at once, before any write.
    bad = run.inventory(host_vars={"cluster2": {"cluster_name": "cluster1"},
                                   "cluster3": {"kube_context": "no-such-context"}})
    result = run.play("install_manual_link", bad, extra={"gloomesh_istio_version": "1.26.1",
                                                         "gloomesh_license_key": ""})
    assert result["rc"] != 0
    out = result["stdout"]
    for problem in ("Istio 1.26.1 is refused for multicluster",
                    "no license: set gloomesh_license_key",
                    "cluster_name cluster1 is used by cluster1, cluster2",
                    "cluster3: cluster no-such-context: cannot load the connection settings"):
        assert problem in out, f"preflight did not report {problem!r}:\n{out[-5000:]}"
    assert "Preflight found 4 problem(s); nothing was changed" in out
    assert "PLAY [Deploy the mesh components" not in out
    assert result["writes"] == []

    # 2. Check mode on the fresh clusters predicts changes and writes nothing.
    result = run.play("install_manual_link", check=True)
    ok(result, "check mode on fresh clusters")
    assert result["writes"] == [], [f"{e['context']} {e['verb']} {e['requestURI']}" for e in result["writes"]]
    for host in names:
        assert result["recap"][host]["changed"] >= 3, result["recap"]
    assert all(not run.peers(n) for n in names)
    assert not os.path.exists(tmp_path / "pki" / "root-key.pem"), "check mode wrote the root key"

    # One cluster runs an older Gateway API bundle: only it gets the CRDs applied.
    _set_bundle_version(cp, "cluster1", "gateways.gateway.networking.k8s.io", "v1.2.1")

    # 3. Full install: 6 peer Gateways, verify passes, the license went to Helm only.
    result = run.play("install_manual_link")
    ok(result, "install_manual_link")
    TIMINGS["manual install (3 clusters)"] = result["seconds"]
    assert {n: set(run.peers(n)) for n in names} == full_mesh(names)
    assert sum(len(run.peers(n)) for n in names) == 6
    assert "Mesh verified: 3 clusters" in result["stdout"]
    assert "CLUSTER" in result["stdout"] and "3 problem(s)" not in result["stdout"]
    crd_writes = [e for e in result["writes"] if "customresourcedefinitions" in e["requestURI"]]
    assert {e["context"] for e in crd_writes} == {"cluster1"}, crd_writes
    _assert_operator_installs(run, names)

    # 4. Re-run: nothing changes, no write request at all.
    result = run.play("install_manual_link")
    no_change(result, "re-run of install_manual_link")
    TIMINGS["manual no-op re-run (3 clusters)"] = result["seconds"]
    assert len([c for c in run.helm_calls() if "upgrade" in c["argv"]]) == 3, "helm upgraded on a re-run"

    # 5. Asymmetric: cluster3 may reach only cluster1; its link to cluster2 is removed.
    asym = run.inventory(host_vars={"cluster3": {"mesh_link_to": ["cluster1"]}})
    result = run.play("install_manual_link", asym, tags="link,verify")
    ok(result, "asymmetric linking")
    assert set(run.peers("cluster3")) == {"istio-remote-peer-cluster1"}
    assert set(run.peers("cluster1")) == {"istio-remote-peer-cluster2", "istio-remote-peer-cluster3"}
    assert set(run.peers("cluster2")) == {"istio-remote-peer-cluster1", "istio-remote-peer-cluster3"}
    assert "Mesh verified" in result["stdout"]

    # 6. A cluster dropped from the inventory is unlinked by the others (exclusive).
    result = run.play("install_manual_link", run.inventory(workload=["cluster1", "cluster2"]), tags="link,verify")
    ok(result, "install without cluster3")
    assert set(run.peers("cluster1")) == {"istio-remote-peer-cluster2"}
    assert set(run.peers("cluster2")) == {"istio-remote-peer-cluster1"}

    # Back to the full mesh.
    ok(run.play("install_manual_link", tags="link,verify"), "full mesh again")
    assert {n: set(run.peers(n)) for n in names} == full_mesh(names)

    # 7. A peer removed by hand: verify fails and names it.
    _delete_gateway(cp, "cluster1", "istio-eastwest", "istio-remote-peer-cluster2")
    result = run.play("verify", verbosity=0)
    assert result["rc"] != 0
    assert "cluster1: no istio-remote Gateway for peer cluster2" in result["stdout"]
    assert "Mesh verification found 1 problem(s)" in result["stdout"]
    assert "CLUSTER" in result["stdout"] and "MISSING" in result["stdout"]
    assert result["writes"] == []

    # 8. Unlink removes every peer Gateway of ours; a second unlink does nothing.
    ok(run.play("unlink"), "unlink")
    assert all(not run.peers(n) for n in names)
    no_change(run.play("unlink"), "second unlink")

    # 9. Uninstall leaves nothing of ours; a second uninstall does nothing.
    ok(run.play("uninstall"), "uninstall")
    _assert_nothing_of_ours(run, names)
    no_change(run.play("uninstall"), "second uninstall")


def _set_bundle_version(cp, context, crd, version):
    """As if an older install of ours had put the bundle there (our field manager owns the annotation)."""
    from kubernetes import client

    with cp.api_client(context) as api:
        live = client.ApiextensionsV1Api(api).read_custom_resource_definition(crd)
        body = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": crd, "annotations": {"gateway.networking.k8s.io/bundle-version": version}},
                "spec": api.sanitize_for_serialization(live.spec)}
        client.ApiextensionsV1Api(api).patch_custom_resource_definition(
            crd, body, field_manager="gloomesh", force=True, _content_type="application/apply-patch+yaml")


def _delete_gateway(cp, context, namespace, name):
    from kubernetes import client

    with cp.api_client(context) as api:
        client.CustomObjectsApi(api).delete_namespaced_custom_object(*GATEWAY_API[:2], namespace, GATEWAY_API[2], name)


def _assert_operator_installs(run, names):
    installs = [c for c in run.helm_calls() if "upgrade" in c["argv"] and c.get("chart") == "gloo-operator"]
    assert sorted(c["context"] for c in installs) == sorted(names)
    for call in installs:
        assert call["rc"] == 0, call
        assert call["chart_ref"] == "gloo-operator"
        assert call["argv"][call["argv"].index("--repo") + 1] == repository_url()
        assert call["version"] == "0.2.3"
        assert call["namespace"] == "gloo-mesh"
        # The namespace and the license Secret are ours; helm only gets the reference to it.
        assert "--create-namespace" not in call["argv"]
        assert call["secret_passed"] is False, "the license reached helm"
        assert call["values"]["manager"]["env"] == {
            "SOLO_ISTIO_LICENSE_KEY_SECRET_REF": "gloo-mesh/gloo-operator-license"}


def _assert_nothing_of_ours(run, names):
    from kubernetes import client

    for name in names:
        assert run.custom(name, *GATEWAY_API) == [], f"{name}: Gateways left"
        assert run.custom(name, "operator.gloo.solo.io", "v1", "servicemeshcontrollers") == [], f"{name}: SMC left"
        with run.cp.api_client(name) as api:
            core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
            assert [s.metadata.name for s in core.list_secret_for_all_namespaces().items
                    if s.metadata.name == "cacerts"] == [], f"{name}: cacerts left"
            assert [c.metadata.name for c in core.list_config_map_for_all_namespaces().items
                    if c.metadata.name == "gloo-extensions-config"] == [], f"{name}: extensions left"
            left = [f"{d.metadata.namespace}/{d.metadata.name}" for d in apps.list_deployment_for_all_namespaces().items
                    if d.metadata.name in ("gloo-operator", "istiod-gloo", "istio-eastwest")]
            assert left == [], f"{name}: Deployments left: {left}"
            # helm's release record and our license Secret are gone too.
            left = [s.metadata.name for s in core.list_namespaced_secret("gloo-mesh").items
                    if s.metadata.name.startswith("sh.helm.release.v1.gloo-operator.")
                    or s.metadata.name == "gloo-operator-license"]
            assert left == [], f"{name}: Secrets left: {left}"


# -- automatic linking ---------------------------------------------------------------------------
def test_automatic_link_refuses_what_it_cannot_honour_before_any_write(make_control_plane, tmp_path):
    """Issue 20 items 2 and 3: an advertised address (Gloo Mesh builds automatic peers from the east-west
    Gateway's status.addresses) and a management plane older than Gloo Mesh 2.7 are refused by preflight."""
    names = ("cluster1", "cluster2", "mgmt")
    cp = make_control_plane(names=names, simulators=False, install_operator=False)
    run = Run(cp, tmp_path, ["cluster1", "cluster2"], management=["mgmt"])
    for name in names:
        run.seed_release(name, "gloo-platform-crds", "2.6.3", {"installEnterpriseCrds": False})
    run.seed_release("mgmt", "gloo-platform", "2.6.3", {"common": {"cluster": "mgmt"}})
    inventory = run.inventory(linking="automatic", host_vars={"cluster1": {"eastwest_gateway_address": "203.0.113.7"}})
    result = run.play("install_automatic_link", inventory)
    out = failures(result)
    assert result["rc"] != 0, out
    assert ("cluster1: eastwest_gateway_address '203.0.113.7' cannot be used with gloomesh_linking automatic: Gloo "
            "Mesh builds each peer from the east-west Gateway's status.addresses and ignores this address") in out
    assert ("mgmt: Helm release gloo-platform in namespace gloo-mesh (chart version): multicluster peering with the "
            "Gloo Operator needs Gloo Mesh 2.7 or later; got 2.6.3") in out
    assert result["writes"] == [], [f"{e['context']} {e['verb']} {e['requestURI']}" for e in result["writes"]]


def test_automatic_link(make_control_plane, tmp_path):
    names = ("cluster1", "cluster2", "mgmt")
    cp = make_control_plane(names=names, simulators=True, install_operator=False)
    cp.simulators.management_plane(True, mgmt_context="mgmt")
    run = Run(cp, tmp_path, ["cluster1", "cluster2"], management=["mgmt"])
    existing = {}
    for name in names:
        existing[(name, "gloo-platform-crds")] = {"installEnterpriseCrds": False, "keep": {"me": name}}
        run.seed_release(name, "gloo-platform-crds", "2.7.0", existing[(name, "gloo-platform-crds")])
    existing[("mgmt", "gloo-platform")] = {"common": {"cluster": "mgmt"}, "licensing": {"glooMeshLicenseKey": LICENSE}}
    run.seed_release("mgmt", "gloo-platform", "2.7.0", existing[("mgmt", "gloo-platform")])
    inventory = run.inventory(linking="automatic")
    # Where the simulated management server serves its metrics (9091 in a real cluster).
    inventory["all"]["vars"]["verify_management_metrics_port"] = cp.simulators.management_metrics_port()

    result = run.play("install_automatic_link", inventory)
    ok(result, "install_automatic_link")
    TIMINGS["automatic install (3 clusters)"] = result["seconds"]
    assert "Mesh verified: 3 clusters" in result["stdout"]
    assert agent_cells(result) == {"cluster1": "connected", "cluster2": "connected", "mgmt": "-"}
    for name in names:
        others = {f"istio-remote-peer-{p}" for p in names if p != name}
        assert others <= set(run.peers(name)) <= others | {f"istio-remote-peer-{name}"}, run.peers(name)

    upgrades = {(c["context"], c["chart"]): c for c in run.helm_calls()
                if "upgrade" in c["argv"] and c.get("chart", "").startswith("gloo-platform")}
    assert set(upgrades) == {("cluster1", "gloo-platform-crds"), ("cluster2", "gloo-platform-crds"),
                             ("mgmt", "gloo-platform-crds"), ("mgmt", "gloo-platform")}
    flags = {("mgmt", "gloo-platform-crds"): {"featureGates": {"ConfigDistribution": True}, "installEnterpriseCrds": True},
             ("mgmt", "gloo-platform"): {"featureGates": {"ConfigDistribution": True}},
             ("cluster1", "gloo-platform-crds"): {"installEnterpriseCrds": True},
             ("cluster2", "gloo-platform-crds"): {"installEnterpriseCrds": True}}
    for key, call in upgrades.items():
        assert call["rc"] == 0 and call["namespace"] == "gloo-mesh" and call["context"] == key[0], call
        argv = call["argv"]
        assert call["chart_ref"] == key[1] and argv[argv.index("--repo") + 1] == repository_url(), argv
        assert call["version"] == "2.7.0", "the installed chart version must be kept"
        kept = json.loads(json.dumps(existing[key]).replace(LICENSE, "<secret>"))
        assert call["values"] == _merged(kept, flags[key]), call["values"]
    mgmt_calls = [c for c in run.helm_calls() if c["context"] == "mgmt" and "upgrade" in c["argv"]
                  and c["chart"].startswith("gloo-platform")]
    assert [c["chart"] for c in mgmt_calls] == ["gloo-platform-crds", "gloo-platform"]

    calls_before = len(run.helm_calls())
    result = run.play("install_automatic_link", inventory)
    no_change(result, "re-run of install_automatic_link")
    TIMINGS["automatic no-op re-run (3 clusters)"] = result["seconds"]
    assert not [c for c in run.helm_calls()[calls_before:] if "upgrade" in c["argv"]]

    result = run.play("verify", inventory, verbosity=0)
    ok(result, "verify (automatic)")
    assert result["writes"] == []

    _disconnected_agent_fails_verify_at_once(cp, run, inventory)


def agent_cells(result):
    """{cluster: its AGENT cell} from verify's cluster table."""
    lines = result["stdout"].splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["CLUSTER", "STATE"])
    start, end = lines[header].index("AGENT"), lines[header].index("STATUS")
    return {line.split()[0]: line[start:end].strip() for line in lines[header + 1:header + 4]}


def _disconnected_agent_fails_verify_at_once(cp, run, inventory):
    """Issue 20 item 3: a workload cluster whose Gloo agent is not connected to the management server
    (as the server's relay_push_clients_connected gauge says) fails verify, named, without the wait
    for peers that cannot arrive; connected again, verify passes."""
    from kubernetes import client

    cp.simulators.set_agent("cluster2", False)
    # cluster2's copy of cluster1's peer goes; with its agent down nothing brings it back.
    with cp.api_client("cluster2") as api:
        client.CustomObjectsApi(api).delete_namespaced_custom_object(*GATEWAY_API[:2], "istio-eastwest", GATEWAY_API[2],
                                                                     "istio-remote-peer-cluster1")
    # Longer than a loaded machine needs for the playbook, so that a verify that waits cannot pass.
    wait = 300
    result = run.play("verify", inventory, extra={"verify_wait_timeout": wait}, verbosity=1)
    out = failures(result)
    assert result["rc"] != 0, out
    assert ('cluster2: Gloo agent not connected to the management server (relay_push_clients_connected{cluster="cluster2"} '
            "is 0 or absent on gloo-mesh/gloo-mesh-mgmt-server-") in out, out
    assert "cluster2: no istio-remote Gateway for peer cluster1" in out, out
    assert agent_cells(result) == {"cluster1": "connected", "cluster2": "not connected", "mgmt": "-"}
    # Every cluster read its peers once (mesh_info's wait_skipped), so verify ended well within the wait.
    assert result["stdout"].count('"wait_skipped": "the Gloo agents of cluster2 are not connected"') == 3, out
    assert result["seconds"] < wait, f"verify waited {result['seconds']:.0f}s for peers that cannot arrive"
    assert result["writes"] == []
    TIMINGS["verify, an agent disconnected"] = result["seconds"]

    cp.simulators.set_agent("cluster2", True)
    result = run.play("verify", inventory, extra={"verify_wait_timeout": 120}, verbosity=0)
    ok(result, "verify (agent connected again)")
    assert agent_cells(result) == {"cluster1": "connected", "cluster2": "connected", "mgmt": "-"}
    assert "istio-remote-peer-cluster1" in run.peers("cluster2")


def _merged(base, override):
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def teardown_module(module):
    if TIMINGS:
        print("\nplaybook wall times: " + ", ".join(f"{k}: {v:.1f}s" for k, v in TIMINGS.items()))
