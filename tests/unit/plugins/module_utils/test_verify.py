"""verify: the verify rules, one cluster at a time and across clusters, and the table."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils import verify
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

ROOT_A = "AA:" * 31 + "AA"
ROOT_B = "BB:" * 31 + "BB"
# What Istio and Solo's istiod write on a connected peer Gateway (Solo's
# tests/integration/pilot/ambientmulticluster/status_test.go TestStatus).
PROGRAMMED = {"type": "Programmed", "status": "True", "reason": "Programmed",
              "message": "This Gateway is remote; Istio will not program it"}
CONNECTED = (PROGRAMMED,
             {"type": "gloo.solo.io/PeerConnected", "status": "True", "reason": "Programmed"},
             {"type": "gloo.solo.io/PeeringSucceeded", "status": "True", "reason": "Programmed"},
             {"type": "gloo.solo.io/PeerDataPlaneProgrammed", "status": "True", "reason": "Programmed",
              "message": "peering data plane programmed for cross-network traffic with LoadBalancer service type"})
NOT_CONNECTED = {"type": "gloo.solo.io/PeerConnected", "status": "False", "reason": "Pending",
                 "message": "not connected to peer"}
NOT_SYNCED = {"type": "gloo.solo.io/PeeringSucceeded", "status": "Unknown", "reason": "Pending",
              "message": "network not yet synced check istiod log for more details"}


def descriptor(name):
    return {"cluster": name, "network": name, "address": "198.51.100.%d" % (10 + int(name[-1])),
            "address_type": "IPAddress", "trust_domain": name, "service_account": "istio-eastwest",
            "namespace": "istio-eastwest", "region": None, "zone": None, "trust_domain_source": "test"}


def peer_gateway(name, conditions=CONNECTED, change=None):
    """The Gateway mesh_link writes for peer ``name``, with a status, changed by ``change(gw)``."""
    gw = gateway.peer_gateway(descriptor(name))
    gw["status"] = {"conditions": copy.deepcopy(list(conditions))}
    if change:
        change(gw)
    return gw


def info(name, peers, roots=(ROOT_A,)):
    """A mesh_info result of a healthy cluster whose peer Gateways are ``peers`` (Gateway objects)."""
    return {
        "service_mesh": {"exists": True, "phase": "SUCCEEDED", "ready": True, "missing": None},
        "components": [{"kind": "Deployment", "name": "istiod-gloo", "namespace": "istio-system", "ready": True,
                        "state": "ready"}],
        "eastwest": {"exists": True, "advertised_address": descriptor(name)["address"],
                     "listeners": {"cross-network": 15008, "xds-tls": 15012}, "problem": None},
        "peers": [verify.peer_state(gw) for gw in peers],
        "peer_descriptor": descriptor(name),
        "peer_descriptor_error": None,
        "root_of_trust": {"exists": True, "root_fingerprints": list(roots), "problems": []},
    }


def full_mesh(names=("cluster1", "cluster2", "cluster3"), **changes):
    """Entries of a healthy full mesh; ``changes[source]`` maps a peer to a change of its Gateway."""
    entries = []
    for name in names:
        gateways = [peer_gateway(p, change=changes.get(name, {}).get(p)) for p in names if p != name]
        entries.append({"host": name, "cluster": name, "info": info(name, gateways)})
    return entries


def by_cluster(report):
    return {row["cluster"]: row for row in report["clusters"]}


# ---------------------------------------------------------------- one cluster's objects

def controller(phase="SUCCEEDED", generation=2, conditions=None, message=None):
    status = {"phase": phase, "conditions": conditions if conditions is not None else [
        {"type": "ControlPlaneDeployed", "status": "True", "observedGeneration": generation},
        {"type": "Ready", "status": "True", "observedGeneration": generation}]}
    if message:
        status["message"] = message
    return {"metadata": {"name": "managed-istio", "namespace": "gloo-mesh", "generation": generation},
            "status": status}


def test_service_mesh_ready_only_for_the_current_generation():
    assert verify.service_mesh_state(controller(), "managed-istio", "gloo-mesh")["ready"]
    stale = controller(conditions=[{"type": "Ready", "status": "True", "observedGeneration": 1}])
    state = verify.service_mesh_state(stale, "managed-istio", "gloo-mesh")
    assert not state["ready"]
    assert state["missing"] == ("ServiceMeshController gloo-mesh/managed-istio: the operator has not reported "
                                "condition Ready for generation 2 yet (reported for older ones: Ready (generation 1))")
    # A top-level observedGeneration counts for conditions that carry none.
    top = controller(conditions=[{"type": "Ready", "status": "True"}])
    top["status"]["observedGeneration"] = 1
    assert not verify.service_mesh_state(top, "managed-istio", "gloo-mesh")["ready"]
    # Ready current, another condition left behind: ready, and the stale one is reported.
    untidy = controller(conditions=[{"type": "CRDInstalled", "status": "True", "observedGeneration": 1},
                                    {"type": "Ready", "status": "True", "observedGeneration": 2}])
    state = verify.service_mesh_state(untidy, "managed-istio", "gloo-mesh")
    assert state["ready"] and state["stale_conditions"] == ["CRDInstalled (generation 1)"]


def test_service_mesh_failed_and_absent_say_why():
    failed = controller(phase="FAILED", message="istiod crashed",
                        conditions=[{"type": "ControlPlaneDeployed", "status": "False", "reason": "Crash",
                                     "observedGeneration": 2}])
    missing = verify.service_mesh_state(failed, "managed-istio", "gloo-mesh")["missing"]
    assert missing == ("ServiceMeshController gloo-mesh/managed-istio: phase FAILED: istiod crashed; "
                       "conditions False: ControlPlaneDeployed=False (Crash)")
    absent = verify.service_mesh_state(None, "managed-istio", "gloo-mesh")
    assert not absent["ready"] and absent["missing"] == "ServiceMeshController gloo-mesh/managed-istio does not exist"


def test_link_state_is_solos_peering_succeeded_and_peer_connected():
    assert verify.link_state(list(CONNECTED))["connected"]
    state = verify.link_state([PROGRAMMED, NOT_CONNECTED, NOT_SYNCED, CONNECTED[3]])
    assert not state["connected"]
    assert verify.link_text(state) == ("gloo.solo.io/PeerConnected=False (Pending: not connected to peer); "
                                       "also not True: gloo.solo.io/PeeringSucceeded")
    # Connected but not synced yet: PeeringSucceeded stays Unknown, the link is not up.
    state = verify.link_state([PROGRAMMED, CONNECTED[1], NOT_SYNCED])
    assert not state["connected"] and verify.link_text(state).startswith("gloo.solo.io/PeeringSucceeded=Unknown")


def test_a_link_with_only_istios_programmed_is_not_up_yet():
    """Issue 20 item 1: before Solo's status writer has run, Programmed=True is all there is."""
    state = verify.link_state([PROGRAMMED])
    assert not state["connected"] and state["reported"] == ["Programmed"]
    assert verify.link_text(state) == ("gloo.solo.io/PeerConnected not reported yet; "
                                       "also not True: gloo.solo.io/PeeringSucceeded")
    assert not verify.link_state([])["connected"]
    # PeerDataPlaneProgrammed only says an HBONE listener exists: it neither makes nor breaks a link.
    assert not verify.link_state([PROGRAMMED, CONNECTED[3]])["connected"]
    down_dataplane = dict(CONNECTED[3], status="False", reason="Invalid")
    assert verify.link_state(list(CONNECTED[:3]) + [down_dataplane])["connected"]
    report = verify.verdict([{"host": n, "cluster": n, "info": info(n, [peer_gateway(p, conditions=[PROGRAMMED])
                                                                        for p in ("cluster1", "cluster2") if p != n])}
                             for n in ("cluster1", "cluster2")])
    assert report["problems"] == [
        "cluster1: peer cluster2 not connected: gloo.solo.io/PeerConnected not reported yet; also not True: "
        "gloo.solo.io/PeeringSucceeded",
        "cluster2: peer cluster1 not connected: gloo.solo.io/PeerConnected not reported yet; also not True: "
        "gloo.solo.io/PeeringSucceeded"]


def test_link_up_is_the_wait_predicate_of_the_same_rule():
    assert verify.link_up(None) == (False, "the Gateway does not exist")
    assert verify.link_up(peer_gateway("cluster2")) == (True, "")
    done, why = verify.link_up(peer_gateway("cluster2", conditions=[PROGRAMMED, CONNECTED[1]]))
    assert not done and why == "gloo.solo.io/PeeringSucceeded not reported yet"


def test_eastwest_without_load_balancer_is_fine_with_an_advertised_address():
    pending = {"type": "Programmed", "status": "False", "reason": "AddressNotAssigned", "message": "address pending"}
    gw = {"metadata": {"name": "istio-eastwest", "namespace": "istio-eastwest"},
          "spec": {"listeners": gateway.listeners()}, "status": {"conditions": [pending]}}
    assert verify.eastwest_state(gw, None, "istio-eastwest", "istio-eastwest")["problem"] == (
        "east-west Gateway istio-eastwest/istio-eastwest is not programmed: Programmed=False (AddressNotAssigned: "
        "address pending)")
    gw["metadata"]["annotations"] = {"gloomesh.multicluster/advertised-address": "203.0.113.7"}
    state = verify.eastwest_state(gw, None, "istio-eastwest", "istio-eastwest")
    assert state["problem"] is None and state["advertised_address"] == "203.0.113.7"


@pytest.mark.parametrize("linking, link_to, expected", [
    ("manual", None, ["cluster2", "cluster3"]),
    ("manual", ["cluster3"], ["cluster3"]),
    ("automatic", ["cluster3"], ["cluster2", "cluster3"]),
])
def test_expected_peers(linking, link_to, expected):
    assert verify.expected_peers("cluster1", ["cluster1", "cluster2", "cluster3"], linking, link_to) == expected


def test_expected_peers_refuses_an_unknown_linking_mode():
    with pytest.raises(GloomeshError) as err:
        verify.expected_peers("cluster1", ["cluster1"], "mesh")
    assert err.value.details == {"option": "linking"} and "manual, automatic" in err.value.message


# ---------------------------------------------------------------- across clusters

def test_full_mesh_is_ok():
    report = verify.verdict(full_mesh())
    assert report["ok"] and report["problems"] == []
    assert len(report["links"]) == 6 and all(link["fields"] == [] for link in report["links"])
    assert by_cluster(report)["cluster1"]["connected_peers"] == ["cluster2", "cluster3"]


def _xds_port(port):
    def change(gw):
        next(entry for entry in gw["spec"]["listeners"] if entry["name"] == "xds-tls")["port"] = port
    return change


def test_every_owned_field_is_compared_with_what_the_peer_advertises():
    def everything(gw):
        _xds_port(15999)(gw)
        gw["spec"]["addresses"] = [{"type": "Hostname", "value": "peer.example.com"}]
        gw["metadata"]["labels"]["topology.istio.io/network"] = "elsewhere"
        gw["metadata"]["annotations"]["gateway.istio.io/trust-domain"] = "cluster.local"
        del gw["metadata"]["annotations"]["gateway.istio.io/service-account"]
    report = verify.verdict(full_mesh(cluster2={"cluster3": everything}))
    assert not report["ok"]
    assert report["problems"] == [
        "cluster2: peer cluster3: address is peer.example.com, cluster3 advertises 198.51.100.13",
        "cluster2: peer cluster3: listener xds-tls port is 15999, cluster3's east-west gateway listens on 15012",
        "cluster2: peer cluster3: label topology.istio.io/network is elsewhere, cluster3 advertises cluster3",
        "cluster2: peer cluster3: annotation gateway.istio.io/service-account is not set, cluster3 advertises "
        "istio-eastwest",
        "cluster2: peer cluster3: annotation gateway.istio.io/trust-domain is cluster.local, cluster3 advertises "
        "cluster3",
    ]
    rows = by_cluster(report)
    assert [rows[c]["ok"] for c in ("cluster1", "cluster2", "cluster3")] == [True, False, True]


def test_address_type_and_the_destinations_own_listener_port():
    def wrong_type(gw):
        gw["spec"]["addresses"][0]["type"] = "Hostname"
    entries = full_mesh(cluster1={"cluster2": wrong_type})
    # cluster3 exposes istiod on another port: the peers still say 15012.
    entries[2]["info"]["eastwest"]["listeners"]["xds-tls"] = 15443
    problems = verify.verdict(entries)["problems"]
    assert "cluster1: peer cluster2: address 198.51.100.12 has type Hostname, not IPAddress" in problems
    assert ("cluster1: peer cluster3: listener xds-tls port is 15012, cluster3's east-west gateway listens on 15443"
            in problems)


def test_missing_unexpected_duplicate_and_self_peers():
    entries = full_mesh()
    peers = entries[0]["info"]["peers"]
    entries[0]["info"]["peers"] = [p for p in peers if p["peer"] != "cluster2"] + [
        verify.peer_state(peer_gateway("cluster9")), verify.peer_state(peer_gateway("cluster1"))]
    duplicate = peer_gateway("cluster1")
    duplicate["metadata"]["name"] = "by-hand"
    entries[1]["info"]["peers"].append(verify.peer_state(duplicate))
    report = verify.verdict(entries)
    assert report["problems"] == [
        "cluster1: istio-remote Gateway istio-eastwest/istio-remote-peer-cluster1 for the cluster itself",
        "cluster1: no istio-remote Gateway for peer cluster2",
        "cluster1: unexpected istio-remote Gateway istio-eastwest/istio-remote-peer-cluster9 for cluster9 (not a "
        "peer of this cluster)",
        "cluster2: 2 istio-remote Gateways for peer cluster1 (istio-eastwest/by-hand, "
        "istio-eastwest/istio-remote-peer-cluster1); istiod needs exactly one",
    ]
    assert by_cluster(report)["cluster1"]["missing_peers"] == ["cluster2"]
    # Automatic peering: each cluster's own peer is istiod's, not a problem.
    entries = full_mesh()
    entries[0]["info"]["peers"].append(verify.peer_state(peer_gateway("cluster1")))
    assert verify.verdict(entries, linking="automatic")["ok"]


def test_asymmetric_links_and_unknown_names():
    entries = full_mesh()
    entries[2]["link_to"] = ["cluster1"]
    report = verify.verdict(entries)
    assert report["problems"] == [
        "cluster3: unexpected istio-remote Gateway istio-eastwest/istio-remote-peer-cluster2 for cluster2 (not a "
        "peer of this cluster)"]
    entries[2]["link_to"] = ["cluster1", "cluster7"]
    assert ("cluster3: mesh_link_to 'cluster7' is not a cluster of this mesh (known: cluster1, cluster2, cluster3)"
            in verify.verdict(entries)["problems"])
    # A self-link is refused as preflight and mesh_link refuse it, naming the variable the host set.
    entries[2].update(link_to=["cluster3"], link_to_var="mesh_link_peers")
    assert ("cluster3: mesh_link_peers 'cluster3' is the cluster itself: a cluster is never linked to itself"
            in verify.verdict(entries)["problems"])


def test_not_connected_link_names_the_condition_message():
    down = [PROGRAMMED, NOT_CONNECTED, NOT_SYNCED]
    entries = full_mesh()
    entries[0]["info"]["peers"][0] = verify.peer_state(peer_gateway("cluster2", conditions=down))
    report = verify.verdict(entries)
    assert report["problems"] == [
        "cluster1: peer cluster2 not connected: gloo.solo.io/PeerConnected=False (Pending: not connected to peer); "
        "also not True: gloo.solo.io/PeeringSucceeded"]
    link = report["links"][0]
    assert (link["cluster"], link["peer"], link["conditions"]["gloo.solo.io/PeerConnected"]) == (
        "cluster1", "cluster2", "False")


def test_clusters_without_a_result_are_rows_of_their_own():
    entries = full_mesh()
    entries[1] = {"host": "cluster2", "cluster": "cluster2", "info": {
        "failed": True, "unreachable": True, "msg": "cluster cluster2 (https://127.0.0.1:1): connection refused"}}
    entries[2] = {"host": "cluster3", "cluster": "cluster3", "state": "failed earlier",
                  "absent": "failed earlier in this run, not read"}
    report = verify.verdict(entries)
    rows = by_cluster(report)
    assert [rows[c]["state"] for c in ("cluster1", "cluster2", "cluster3")] == [
        "reachable", "unreachable", "failed earlier"]
    assert report["problems"] == [
        "cluster2: unreachable: cluster cluster2 (https://127.0.0.1:1): connection refused",
        "cluster3: failed earlier in this run, not read"]
    # cluster1's peers for them cannot be compared with anything: unknown, not wrong.
    assert [link["fields"] for link in report["links"]] == [None, None]


def test_a_missing_link_to_a_cluster_that_failed_earlier_is_that_clusters_problem():
    names = ("cluster1", "cluster2", "cluster3")
    # cluster2 failed during the install: the others linked with each other only.
    entries = [{"host": n, "cluster": n, "info": info(n, [peer_gateway(p) for p in names if p not in (n, "cluster2")])}
               for n in ("cluster1", "cluster3")]
    entries.insert(1, {"host": "cluster2", "cluster": "cluster2", "state": "failed earlier",
                       "absent": "failed earlier in this run, not read"})
    report = verify.verdict(entries)
    assert report["problems"] == ["cluster1: no istio-remote Gateway for peer cluster2",
                                  "cluster2: failed earlier in this run, not read",
                                  "cluster3: no istio-remote Gateway for peer cluster2"]
    assert verify.problems_by_host(report) == {"cluster2": report["problems"]}
    # A link broken for another reason stays the source's.
    entries[0]["info"]["peers"][0]["link"]["connected"] = False
    assert sorted(verify.problems_by_host(verify.verdict(entries))) == ["cluster1", "cluster2"]


def test_one_root_of_trust():
    entries = full_mesh()
    entries[2]["info"]["root_of_trust"]["root_fingerprints"] = [ROOT_B]
    problems = verify.verdict(entries)["problems"]
    assert problems == ["cluster3: root of trust bbbbbbbbbbbb is not the one of cluster1, cluster2 (aaaaaaaaaaaa): "
                        "the clusters do not share one root"]
    assert verify.verdict(full_mesh(), expected_root=ROOT_B)["problems"][0] == (
        "cluster1: cacerts does not trust the controller's root bbbbbbbbbbbb (it trusts aaaaaaaaaaaa)")


def test_cluster_problems_of_its_own_objects():
    entries = full_mesh()
    own = entries[0]["info"]
    own["service_mesh"] = {"exists": True, "phase": "INSTALLING", "ready": False,
                           "missing": "ServiceMeshController gloo-mesh/managed-istio: phase is INSTALLING"}
    own["components"][0].update(ready=False, state="0/1 replicas available")
    own["root_of_trust"]["problems"] = ["ca-key.pem does not match ca-cert.pem"]
    entries[1]["info"].update(peer_descriptor=None, peer_descriptor_error="cluster cluster2 is not ready to link")
    report = verify.verdict(entries)
    assert report["problems"][:3] == [
        "cluster1: ServiceMeshController gloo-mesh/managed-istio: phase is INSTALLING",
        "cluster1: Deployment istio-system/istiod-gloo: 0/1 replicas available",
        "cluster1: cacerts: ca-key.pem does not match ca-cert.pem"]
    assert "cluster2: cluster cluster2 is not ready to link" in report["problems"]


# ---------------------------------------------------------------- the table

def test_render_marks_every_row_with_a_problem():
    entries = full_mesh(cluster2={"cluster3": _xds_port(15999)})
    entries[0] = {"host": "cluster1", "cluster": "cluster1", "info": {"failed": True, "unreachable": True, "msg": "down"}}
    lines = verify.render(verify.verdict(entries))
    assert lines[0].split() == ["CLUSTER", "STATE", "MESH", "ISTIO", "EAST-WEST", "PEERS", "MISSING", "ROOT", "STATUS"]
    rows = dict((line.split()[0], line) for line in lines[1:4])
    assert rows["cluster1"].split()[1] == "unreachable" and rows["cluster1"].endswith("FAIL (1)")
    assert rows["cluster2"].endswith("FAIL (1)") and rows["cluster3"].endswith("OK")
    links = lines[lines.index("") + 1:]
    assert links[0].split()[:9] == ["CLUSTER", "PEER", "GATEWAY", "ADDRESS", "SUCCEEDED", "CONNECTED", "DATAPLANE",
                                    "FIELDS", "STATUS"]
    drift = next(line for line in links if line.startswith("cluster2  cluster3"))
    assert drift.endswith("1 differ  FAIL (1)")
    assert "2 problem(s):" in lines
    assert "  - cluster1: unreachable: down" in lines


# ---------------------------------------------------------------- Gloo agents (automatic linking)

# What the Gloo management server serves on its metrics port (Solo's Gloo Mesh 2.7 labs, "Deploy and
# register Gloo Mesh"): the relay push gauge by cluster, next to other metrics.
METRICS = """# HELP relay_pull_clients_connected Current number of connected Relay pull clients (Relay Agents).
# TYPE relay_pull_clients_connected gauge
relay_pull_clients_connected{cluster="cluster2"} 1
# HELP relay_push_clients_connected Current number of connected Relay push clients (Relay Agents).
# TYPE relay_push_clients_connected gauge
relay_push_clients_connected{cluster="cluster1"} 1
relay_push_clients_connected{cluster="cluster2"} 0
relay_push_clients_connected_total{cluster="cluster3"} 1
"""
POD_A, POD_B = "gloo-mesh/gloo-mesh-mgmt-server-a", "gloo-mesh/gloo-mesh-mgmt-server-b"


def test_relay_connections_reads_the_push_gauge_by_cluster():
    assert verify.relay_connections(METRICS) == {"cluster1": 1, "cluster2": 0}
    assert verify.relay_connections('relay_push_clients_connected{pod="x",cluster="c1"} 2\n'
                                    'relay_push_clients_connected{cluster="c2"} NaNx\nnot a metric') == {"c1": 2}
    assert verify.relay_connections("") == {} and verify.relay_connections(None) == {}


def test_agents_state_adds_up_replicas_and_never_guesses():
    # The pull gauge is not the agent (a dashboard pulls too): cluster2 is disconnected.
    state = verify.agents_state([{"pod": POD_A, "text": METRICS}], ["cluster1", "cluster2"], "gloo-mesh")
    assert (state["connected"], state["disconnected"], state["problems"]) == (["cluster1"], ["cluster2"], [])
    # An agent connects to one replica: connected on either is connected.
    other = 'relay_push_clients_connected{cluster="cluster2"} 1\n'
    state = verify.agents_state([{"pod": POD_A, "text": METRICS}, {"pod": POD_B, "text": other}],
                                ["cluster1", "cluster2"], "gloo-mesh")
    assert state["disconnected"] == [] and state["clusters"]["cluster2"] == {"connected": 1, "pods": [POD_B]}
    # A replica that cannot be read may hold the agent: nobody is called disconnected.
    state = verify.agents_state([{"pod": POD_A, "text": METRICS}, {"pod": POD_B, "error": "503"}],
                                ["cluster1", "cluster2"], "gloo-mesh")
    assert state["disconnected"] == [] and state["problems"] == [POD_B + ": 503"]
    state = verify.agents_state([], ["cluster1"], "gloo-mesh")
    assert state["problems"] == ["no running pod labelled app=gloo-mesh-mgmt-server in namespace gloo-mesh"]
    assert state["connected"] == state["disconnected"] == []


def automatic_mesh(agents):
    """cluster3 is the management cluster: it runs the management server and no agent."""
    return verify.verdict(full_mesh(), "automatic", agents=dict(agents, host="cluster3"))


def test_a_cluster_whose_agent_is_not_connected_fails_first_and_by_name():
    state = verify.agents_state([{"pod": POD_A, "text": METRICS}], ["cluster1", "cluster2"], "gloo-mesh")
    report = automatic_mesh({"agents": state})
    rows = by_cluster(report)
    assert [rows[c]["agent"] for c in ("cluster1", "cluster2", "cluster3")] == ["connected", "not connected", "-"]
    assert not report["ok"] and rows["cluster1"]["ok"] and rows["cluster3"]["ok"]
    assert report["problems"][0] == (
        'cluster2: Gloo agent not connected to the management server (relay_push_clients_connected{cluster="cluster2"} '
        "is 0 or absent on %s): the management plane cannot distribute its peers" % POD_A)
    assert verify.problems_by_host(report) == {"cluster2": report["problems"]}
    lines = verify.render(report)
    assert lines[0].split()[-2:] == ["AGENT", "STATUS"]
    assert lines[2].startswith("cluster2") and lines[2].endswith("not connected  FAIL (1)")


def test_every_agent_connected_is_ok_and_an_unread_server_is_the_management_clusters_problem():
    text = 'relay_push_clients_connected{cluster="cluster1"} 1\nrelay_push_clients_connected{cluster="cluster2"} 1\n'
    report = automatic_mesh({"agents": verify.agents_state([{"pod": POD_A, "text": text}], ["cluster1", "cluster2"],
                                                           "gloo-mesh")})
    assert report["ok"], report["problems"]
    assert [row["agent"] for row in report["clusters"]] == ["connected", "connected", "-"]
    report = automatic_mesh({"failed": True, "msg": "listing Pod in namespace gloo-mesh failed: forbidden"})
    assert report["problems"] == ["cluster3: Gloo agents' relay connections: cannot read them: listing Pod in namespace "
                                  "gloo-mesh failed: forbidden"]
    assert [row["agent"] for row in report["clusters"]] == ["-", "-", "-"]
    # Without agents (manual linking) the table has no AGENT column.
    assert "AGENT" not in verify.render(verify.verdict(full_mesh()))[0]
