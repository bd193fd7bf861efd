# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Verify rules: the one home of what a healthy cluster, a healthy link and a healthy mesh are.

mesh_info summarises one cluster's objects with the functions of the first half (what the
objects say, judged object by object); mesh_verify runs ``verdict`` over every cluster's
mesh_info result on the controller (what the clusters say about each other) and ``render`` turns
the verdict into the table a person reads. Pure: no requests, no Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, planning, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates, gateway, rotation_records
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ANNOTATION_ADVERTISED_ADDRESS,
    ANNOTATION_SERVICE_ACCOUNT,
    ANNOTATION_TRUST_DOMAIN,
    LABEL_CLUSTER,
    LABEL_NETWORK,
    LABEL_REGION,
    LABEL_ZONE,
    LINKING_MODES,
    PEER_CONNECTED,
    PEER_DATAPLANE_PROGRAMMED,
    PEERING_SUCCEEDED,
    ROOT_OF_TRUST_SECRET,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import describe, is_managed_by_us
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import (
    condition_in,
    daemonset_ready,
    deployment_available,
    describe_condition,
)

# What we write on a peer Gateway besides its addresses and listener ports (builders/gateway.py).
OWNED_LABELS = (LABEL_NETWORK, LABEL_CLUSTER, LABEL_REGION, LABEL_ZONE)
OWNED_ANNOTATIONS = (ANNOTATION_TRUST_DOMAIN, ANNOTATION_SERVICE_ACCOUNT)
PROGRAMMED = "Programmed"
# A link is up when Solo's istiod says so: PeeringSucceeded (the peer's network synced) and
# PeerConnected both True, as Solo's `istioctl multicluster check` counts a peer connected
# (istioctl/pkg/peer/check.go checkPeers; statuses from platform/discovery/peering/controller.go
# reconcileGatewayStatus, in Solo's istiod source published at
# github.com/PetrMc/istio-petrmc-upstream-fork@d89b44066a). Most telling first.
LINK_DECIDING = (PEER_CONNECTED, PEERING_SUCCEEDED)
# Shown, never deciding: PeerDataPlaneProgrammed only says the Gateway has an HBONE listener (same
# function), and Istio writes Programmed=True on every istio-remote Gateway ("This Gateway is remote;
# Istio will not program it": istio/istio pilot/pkg/config/kube/gateway/conversion.go
# reportUnmanagedGatewayStatus).
LINK_SHOWN = (PEERING_SUCCEEDED, PEER_CONNECTED, PEER_DATAPLANE_PROGRAMMED, PROGRAMMED)


# ---------------------------------------------------------------- one cluster's objects (mesh_info)

def conditions_of(obj):
    """status.conditions without timestamps: type, status, reason, message, observedGeneration."""
    keep = ("type", "status", "reason", "message", "observedGeneration")
    return [dict((k, c[k]) for k in keep if c.get(k) is not None)
            for c in ((obj or {}).get("status") or {}).get("conditions") or []]


def service_mesh_state(obj, name, namespace):
    """The ServiceMeshController, ready as the servicemeshcontroller module waits for it
    (mesh_state.service_mesh_readiness)."""
    where = describe("ServiceMeshController", name, namespace)
    if obj is None:
        return {"exists": False, "name": name, "namespace": namespace, "phase": None, "ready": False,
                "missing": "%s does not exist" % where}
    ready, missing, _failed = mesh_state.service_mesh_readiness(obj)
    return {"exists": True, "name": name, "namespace": namespace,
            "generation": (obj.get("metadata") or {}).get("generation"),
            "phase": (obj.get("status") or {}).get("phase"), "conditions": conditions_of(obj), "ready": ready,
            "missing": "%s: %s" % (where, missing) if missing else None,
            # Reported, not judged: see mesh_state.stale_conditions.
            "stale_conditions": mesh_state.stale_conditions(obj)}


def workload_state(kind, name, namespace, obj):
    """istiod's Deployment or an ambient DaemonSet: ready as the servicemeshcontroller module waits for it."""
    predicate = deployment_available if kind == "Deployment" else daemonset_ready
    ready, state = predicate(obj)
    return {"kind": kind, "name": name, "namespace": namespace, "exists": obj is not None,
            "ready": ready, "state": state or "ready"}


def listeners_of(gw):
    """{listener name: port} of a Gateway."""
    return dict((entry.get("name"), entry.get("port"))
                for entry in ((gw or {}).get("spec") or {}).get("listeners") or [])


def owned_fields(gw):
    """The fields of a peer Gateway that peering depends on and mesh_link writes."""
    metadata = gw.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    return {
        "addresses": [{"type": a.get("type") or "IPAddress", "value": a.get("value")}
                      for a in (gw.get("spec") or {}).get("addresses") or []],
        "listeners": listeners_of(gw),
        "labels": dict((k, labels[k]) for k in OWNED_LABELS if labels.get(k)),
        "annotations": dict((k, annotations[k]) for k in OWNED_ANNOTATIONS if annotations.get(k)),
    }


def link_state(conditions):
    """Whether a peer Gateway's link is up: PeeringSucceeded and PeerConnected both True.

    A condition not reported yet means not yet (Solo's istiod has not looked at the Gateway), never
    up. ``failing`` holds the deciding conditions that are not True, most telling first; one not
    reported is ``{"type": ...}`` without a status.
    """
    failing = []
    for condition_type in LINK_DECIDING:
        found = condition_in(conditions, condition_type) or {"type": condition_type}
        if found.get("status") != "True":
            failing.append(found)
    return {"connected": not failing, "failing": failing,
            "reported": [t for t in LINK_SHOWN if condition_in(conditions, t) is not None]}


def link_up(gw):
    """wait_for predicate: (the peer Gateway's link is up, why not)."""
    if gw is None:
        return False, "the Gateway does not exist"
    link = link_state(conditions_of(gw))
    return link["connected"], "" if link["connected"] else link_text(link)


def peer_state(gw):
    """One istio-remote Gateway as mesh_info reports it."""
    metadata = gw["metadata"]
    conditions = conditions_of(gw)
    state = {"name": metadata["name"], "namespace": metadata.get("namespace"),
             "peer": gateway.peer_cluster_of(gw), "managed": is_managed_by_us(gw),
             "conditions": conditions, "link": link_state(conditions)}
    state.update(owned_fields(gw))
    return state


def eastwest_state(gw, service, name, namespace):
    """The east-west Gateway (listeners, status) and the Service istiod deployed for it."""
    if gw is None:
        return {"exists": False, "name": name, "namespace": namespace,
                "problem": "%s does not exist" % describe("Gateway", name, namespace)}
    conditions = conditions_of(gw)
    unreported = {"type": PROGRAMMED, "status": "Unknown", "message": "not reported yet"}
    programmed = condition_in(conditions, PROGRAMMED) or unreported
    advertised = ((gw.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_ADVERTISED_ADDRESS)
    problem = None
    # With an advertised address peers do not need a load balancer address (eastwest_gateway's
    # address option): istiod's AddressNotAssigned is expected then.
    if programmed.get("status") != "True" and not (advertised and programmed.get("reason") == "AddressNotAssigned"):
        problem = "east-west %s is not programmed: %s" % (describe("Gateway", name, namespace), describe_condition(programmed))
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return {
        "exists": True, "name": name, "namespace": namespace,
        "addresses": [a.get("value") for a in (gw.get("status") or {}).get("addresses") or []],
        "advertised_address": advertised or gateway.advertised_address(service, gw),
        "listeners": listeners_of(gw), "conditions": conditions, "programmed": programmed.get("status"),
        "service": None if service is None else {
            "name": service["metadata"]["name"], "namespace": service["metadata"].get("namespace"),
            "type": (service.get("spec") or {}).get("type"),
            "load_balancer": [i.get("ip") or i.get("hostname") for i in ingress]},
        "problem": problem,
    }


def root_of_trust_state(data):
    """Secret cacerts (decoded entries, None: absent) as fingerprints and verdicts, never key material."""
    if data is None:
        return {"exists": False, "root_fingerprints": [], "problems": ["Secret %s does not exist" % ROOT_OF_TRUST_SECRET]}
    report = certificates.inspect_bundle(data)
    roots, chain = report["root_certs"], report["ca_chain"]
    return {
        "exists": True,
        # Every root of root-cert.pem: a bundle holds two while a root is being replaced.
        "root_fingerprints": [certificates.fingerprint(root) for root in roots],
        "roots": [certificates.summary(root) for root in roots],
        "intermediate": certificates.summary(chain[0]) if chain else None,
        # The root the intermediate chains to: with the bundle, the phase of a root rotation.
        "issuing_root_fingerprint": (certificates.fingerprint(report["issuing_root"])
                                     if report["issuing_root"] is not None else None),
        "chain_verifies": report["chain_verifies"],
        "key_matches": report["key_matches"],
        "problems": list(report["problems"]),
    }


# ---------------------------------------------------------------- Gloo agents (automatic linking)

# Automatic peers travel over the relay connection between each cluster's Gloo agent and the
# management server (Solo's istiod builds them "to be distributed to remote clusters using GMEs
# agent-mgmt relay connection": platform/discovery/peering/watcher.go TranslateEastWestGateway,
# github.com/PetrMc/istio-petrmc-upstream-fork@d89b44066a). Solo publishes no resource status for
# that connection: its own check (meshctl check, "cluster %v registered but agent is not
# connected", solo-io/gloo-mesh@f8f23f2ad7 pkg/meshctl/checks/enterprise_registration_check.go) and
# its Gloo Mesh 2.7 labs (solo-io/workshops@0602bdef07 gloo-mesh/enterprise/2-7/default/README.md,
# "Deploy and register Gloo Mesh") read this gauge from the metrics port (9091) of every pod
# labelled app=gloo-mesh-mgmt-server: 1 per connected agent, by cluster.
RELAY_METRIC = "relay_push_clients_connected"
MGMT_SERVER_SELECTOR = "app=gloo-mesh-mgmt-server"
_SAMPLE = re.compile(r"^%s\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)" % RELAY_METRIC)
_CLUSTER_LABEL = re.compile(r'(?:^|,)\s*cluster="(?P<cluster>[^"]*)"')


def relay_connections(text):
    """{cluster: connected agents} from one management server replica's metrics (Prometheus text)."""
    found = {}
    for line in (text or "").splitlines():
        sample = _SAMPLE.match(line.strip())
        label = _CLUSTER_LABEL.search(sample.group("labels")) if sample else None
        if label is None:
            continue
        try:
            value = float(sample.group("value"))
        except ValueError:
            continue
        found[label.group("cluster")] = found.get(label.group("cluster"), 0) + int(value)
    return found


def agents_state(scrapes, expected, namespace):
    """Whether each cluster of ``expected`` has its Gloo agent connected to the management server.

    ``scrapes``: one per running management server replica, ``{"pod", "text"}`` or ``{"pod",
    "error"}``. An agent connects to one replica, so the counts add up; while a replica cannot be
    read an agent may be connected to it, so no agent is called disconnected (``problems`` say why).
    """
    clusters, problems = {}, []
    for scrape in scrapes:
        if scrape.get("error"):
            problems.append("%s: %s" % (scrape["pod"], scrape["error"]))
            continue
        for name, count in relay_connections(scrape["text"]).items():
            entry = clusters.setdefault(name, {"connected": 0, "pods": []})
            entry["connected"] += max(count, 0)
            if count > 0:
                entry["pods"].append(scrape["pod"])
    if not scrapes:
        problems.append("no running pod labelled %s in namespace %s" % (MGMT_SERVER_SELECTOR, namespace))
    connected = sorted(c for c in expected if (clusters.get(c) or {}).get("connected"))
    return {"namespace": namespace, "pods": [s["pod"] for s in scrapes], "clusters": clusters,
            "expected": sorted(expected), "connected": connected,
            "disconnected": [] if problems else sorted(set(expected) - set(connected)), "problems": problems}


def agent_text(name, agents):
    """Why a cluster's peers cannot travel: its agent is not connected to any replica."""
    return ("Gloo agent not connected to the management server (%s{cluster=\"%s\"} is 0 or absent on %s): "
            "the management plane cannot distribute its peers"
            % (RELAY_METRIC, name, ", ".join(agents["pods"])))


# ---------------------------------------------------------------- expected peers

def expected_peers(cluster, clusters, linking="manual", link_to=None):
    """The clusters ``cluster`` must have a connected peer Gateway for.

    Manual linking: its ``link_to`` (the inventory's ``mesh_link_to``) when set (asymmetric linking),
    else every other cluster of the mesh. Automatic linking: every other cluster (its own peer is
    tolerated, see verdict). Never the cluster itself: verdict refuses a ``link_to`` naming it.
    """
    if linking not in LINKING_MODES:
        validation.fail("linking", linking, "must be one of %s" % ", ".join(LINKING_MODES))
    if linking == "manual" and link_to is not None:
        return sorted(set(link_to) - set([cluster]))
    return sorted(set(c for c in clusters if c and c != cluster))


# ---------------------------------------------------------------- across clusters (mesh_verify)

def advertised_fields(info):
    """What a peer Gateway for a destination must hold: the Gateway mesh_link builds from the
    destination's peer descriptor, with the ports its east-west Gateway listens on now."""
    expected = owned_fields(gateway.peer_gateway(validation.peer(info["peer_descriptor"])))
    listening = (info.get("eastwest") or {}).get("listeners") or {}
    for name in expected["listeners"]:
        if listening.get(name) is not None:
            expected["listeners"][name] = listening[name]
    return expected


def field_differences(live, expected, peer):
    """Each owned field where a peer Gateway differs from what ``peer`` advertises, as text."""
    differences = []
    want = expected["addresses"][0]
    values = [a["value"] for a in live["addresses"]]
    if want["value"] not in values:
        differences.append("address is %s, %s advertises %s" % (", ".join(values) or "not set", peer, want["value"]))
    else:
        have = next(a["type"] for a in live["addresses"] if a["value"] == want["value"])
        if have != want["type"]:
            differences.append("address %s has type %s, not %s" % (want["value"], have, want["type"]))
    for name, port in sorted(expected["listeners"].items()):
        have = live["listeners"].get(name)
        if have != port:
            differences.append("listener %s %s, %s's east-west gateway listens on %s"
                               % (name, "port is %s" % have if have is not None else "is missing", peer, port))
    for kind in ("labels", "annotations"):
        for key in sorted(set(live[kind]) | set(expected[kind])):
            if live[kind].get(key) != expected[kind].get(key):
                differences.append("%s %s is %s, %s advertises %s" % (
                    kind[:-1], key, live[kind].get(key) or "not set", peer, expected[kind].get(key) or "none"))
    return differences


def _short(fingerprint):
    return fingerprint.replace(":", "").lower()[:12] if fingerprint else "-"


def link_text(link):
    """Why a link is not up: the deciding conditions that are not True, the first with its message."""
    if not link["failing"]:
        return "connected"
    first = link["failing"][0]
    text = describe_condition(first) if first.get("status") else "%s not reported yet" % first["type"]
    others = [c["type"] for c in link["failing"][1:]]
    return text + ("; also not True: %s" % ", ".join(others) if others else "")


class _Cluster(object):
    """One row of the verdict, collecting its problems."""

    def __init__(self, entry):
        self.host = entry["host"]
        self.name = entry.get("cluster") or entry["host"]
        self.info = entry.get("info")
        self.problems = []
        self.row = {"cluster": self.name, "host": self.host, "state": "reachable", "service_mesh": None,
                    "components": None, "eastwest_address": None, "roots": [], "expected_peers": [],
                    "connected_peers": [], "missing_peers": []}
        if self.info is None:
            self.row["state"] = entry.get("state") or "not read"
            self.problems.append(entry.get("absent") or "not read")
        elif self.info.get("failed"):
            self.row["state"] = "unreachable" if self.info.get("unreachable") else "failed"
            self.problems.append("%s: %s" % (self.row["state"], self.info.get("msg") or "no message"))
            self.info = None

    def report(self):
        self.row["problems"] = self.problems
        self.row["ok"] = not self.problems
        return self.row


def _own_problems(cluster):
    """What one cluster's mesh_info result says is wrong with the cluster itself."""
    info, row, problems = cluster.info, cluster.row, cluster.problems
    mesh = info.get("service_mesh")
    if mesh is not None:
        row["service_mesh"] = mesh.get("phase") or ("absent" if not mesh.get("exists") else "-")
        if not mesh.get("ready"):
            problems.append(mesh.get("missing"))
    components = info.get("components")
    if components is not None:
        ready = [c for c in components if c["ready"]]
        row["components"] = "%d/%d" % (len(ready), len(components))
        problems.extend("%s %s/%s: %s" % (c["kind"], c["namespace"], c["name"], c["state"])
                        for c in components if not c["ready"])
    eastwest = info.get("eastwest")
    if eastwest is not None:
        row["eastwest_address"] = eastwest.get("advertised_address")
        if eastwest.get("problem"):
            problems.append(eastwest["problem"])
    if "peer_descriptor" in info and not info.get("peer_descriptor"):
        problems.append(info.get("peer_descriptor_error") or "no peer descriptor")
    trust = info.get("root_of_trust")
    if trust is not None:
        row["roots"] = list(trust.get("root_fingerprints") or [])
        row["issuing_root"] = trust.get("issuing_root_fingerprint")
        problems.extend("%s: %s" % (ROOT_OF_TRUST_SECRET, p) for p in trust.get("problems") or [])


def _links(cluster, by_name, linking):
    """The cluster's peer Gateways against its expected peers and what each peer advertises."""
    info, row = cluster.info, cluster.row
    if info.get("peers") is None:
        return []
    found = {}
    for peer in info["peers"]:
        found.setdefault(peer["peer"], []).append(peer)
    links = []
    for name in sorted(set(found) | set(row["expected_peers"])):
        gateways = found.get(name, [])
        if name == cluster.name and linking == "automatic":
            continue  # istiod's own local peer (automatic peering)
        link = {"cluster": cluster.name, "peer": name, "gateway": None, "address": None,
                "conditions": {}, "fields": [], "problems": []}
        links.append(link)
        if not gateways:
            row["missing_peers"].append(name)
            link["problems"].append("no istio-remote Gateway for peer %s" % name)
            continue
        live = gateways[0]
        link.update(gateway="%s/%s" % (live["namespace"], live["name"]),
                    address=", ".join(a["value"] for a in live["addresses"]) or None,
                    conditions=dict((c["type"], c["status"]) for c in live["conditions"]))
        if len(gateways) > 1:
            link["problems"].append("%d istio-remote Gateways for peer %s (%s); istiod needs exactly one" % (
                len(gateways), name, ", ".join(sorted("%s/%s" % (g["namespace"], g["name"]) for g in gateways))))
        if name == cluster.name:
            link["problems"].append("istio-remote Gateway %s for the cluster itself" % link["gateway"])
            continue
        if name not in row["expected_peers"]:
            link["problems"].append("unexpected istio-remote Gateway %s for %s (not a peer of this cluster)"
                                    % (link["gateway"], name))
            continue
        destination = by_name.get(name)
        if destination is not None and destination.info is not None and destination.info.get("peer_descriptor"):
            try:
                link["fields"] = field_differences(live, advertised_fields(destination.info), name)
            except GloomeshError as exc:
                link["fields"] = ["%s cannot be linked: %s" % (name, exc.message)]
            link["problems"].extend("peer %s: %s" % (name, d) for d in link["fields"])
        else:
            link["fields"] = None  # unknown: the destination's own row says why
        if live["link"]["connected"]:
            row["connected_peers"].append(name)
        else:
            link["problems"].append("peer %s not connected: %s" % (name, link_text(live["link"])))
    for link in links:
        link["ok"] = not link["problems"]
        cluster.problems.extend(link["problems"])
    return links


def _agent_problems(clusters, agents):
    """The AGENT column and the problems of the Gloo agents' relay connections (automatic linking).

    ``agents``: the management cluster's mesh_info result with section agents, plus ``host`` (the
    management cluster's host); a failed read has no ``agents`` and goes to that host's row.
    """
    for cluster in clusters:
        cluster.row["agent"] = "-"
    owner = next((c for c in clusters if c.host == agents.get("host")), None)
    state = agents.get("agents")
    if state is None:
        state = {"expected": [], "problems": ["cannot read them: %s" % (agents.get("msg") or "no message")]}
    if owner is not None:
        owner.problems.extend("Gloo agents' relay connections: %s" % p for p in state["problems"])
    for cluster in clusters:
        if cluster.name not in state["expected"]:
            continue
        if cluster.name in state["connected"]:
            cluster.row["agent"] = "connected"
        elif cluster.name in state["disconnected"]:
            cluster.row["agent"] = "not connected"
            cluster.problems.append(agent_text(cluster.name, state))
        else:
            cluster.row["agent"] = "unknown"


def root_of_trust_problems(clusters, expected_root=None):
    """{cluster name: [problem]} across clusters: every cluster trusts the same roots, and the
    controller's root (``expected_root``, a fingerprint) when given.

    While a root is replaced (issue 15) clusters one phase apart hold different bundles by design:
    the rotation's phase per cluster (builders/rotation_records.py mesh_rotation_phases, from each
    cluster's roots in bundle order and the root its intermediate chains to) replaces the
    equal-roots rule, with a problem when two clusters are more than one phase apart, and the
    row gets a ``phase`` (shown as a PHASE column while a rotation is in sight).
    """
    problems = {}
    roots = dict((c.name, tuple(sorted(c.row["roots"]))) for c in clusters if c.row["roots"])
    rotation = rotation_records.mesh_rotation_phases(dict(
        (c.name, {"roots": c.row["roots"], "issuer": c.row.get("issuing_root"), "record": None})
        for c in clusters if c.row["roots"]))
    if expected_root and expected_root not in (rotation["old"], rotation["new"]):
        for name, fingerprints in roots.items():
            if expected_root not in fingerprints:
                problems.setdefault(name, []).append("%s does not trust the controller's root %s (it trusts %s)" % (
                    ROOT_OF_TRUST_SECRET, _short(expected_root), ", ".join(_short(f) for f in fingerprints)))
    if rotation["old"] is not None or rotation["problems"]:
        for cluster in clusters:
            cluster.row["phase"] = rotation["phases"].get(cluster.name)
        for name, found in rotation["problems"].items():
            problems.setdefault(name, []).extend(found)
        return problems
    groups = {}
    for name, fingerprints in roots.items():
        groups.setdefault(fingerprints, []).append(name)
    if len(groups) > 1:
        largest = max(len(names) for names in groups.values())
        majority = [f for f, names in groups.items() if len(names) == largest]
        for fingerprints, names in groups.items():
            if len(majority) > 1 or fingerprints != majority[0]:
                others = sorted(n for n in roots if n not in names)
                for name in names:
                    problems.setdefault(name, []).append(
                        "root of trust %s is not the one of %s (%s): the clusters do not share one root" % (
                            ", ".join(_short(f) for f in fingerprints), ", ".join(others),
                            "; ".join(sorted(set(", ".join(_short(f) for f in roots[o]) for o in others)))))
    return problems


def verdict(entries, linking="manual", expected_root=None, agents=None):
    """The mesh's verdict from every cluster's mesh_info result.

    ``entries``: one per cluster of the mesh, ``{"host", "cluster", "link_to", "link_to_var", "info"}``
    with ``link_to`` the clusters it links to, read from the host variable ``link_to_var`` (named in
    messages; planning.host_link_to), and ``info`` the host's mesh_info result; without one, ``state``
    (short) and ``absent`` say why.
    ``agents``: automatic linking, the Gloo agents' relay connections (see _agent_problems); a
    cluster whose agent is not connected fails, and the rows get an ``agent`` (AGENT column).
    Returns ``{"ok", "linking", "clusters": [row], "links": [link], "problems": ["<cluster>: ..."]}``.
    """
    clusters = [_Cluster(entry) for entry in entries]
    names = [c.name for c in clusters]
    by_name = dict((c.name, c) for c in clusters)
    for cluster, entry in zip(clusters, entries):
        if linking == "manual":
            # The rule preflight and mesh_link apply, in their words.
            cluster.problems.extend(planning.link_to_problems(
                cluster.name, entry.get("link_to"), [n for n in names if n],
                entry.get("link_to_var") or planning.LINK_TO_VARIABLE))
        cluster.row["expected_peers"] = expected_peers(cluster.name, names, linking, entry.get("link_to"))
    links = []
    if agents is not None:
        _agent_problems(clusters, agents)
    for cluster in clusters:
        if cluster.info is not None:
            _own_problems(cluster)
    for cluster in clusters:
        if cluster.info is not None:
            links.extend(_links(cluster, by_name, linking))
    for name, problems in sorted(root_of_trust_problems(clusters, expected_root).items()):
        by_name[name].problems.extend(problems)
    rows = [c.report() for c in clusters]
    problems = ["%s: %s" % (row["cluster"], p) for row in rows for p in row["problems"]]
    return {"ok": not problems, "linking": linking, "clusters": rows, "links": links, "problems": problems}


def problems_by_host(report):
    """{host: ["<cluster>: <problem>"]}: which host's failure each problem of ``report`` is. A link to a
    cluster that failed earlier in the run is that cluster's problem (its own row says why), not the
    source's: a healthy cluster is not failed for a peer that could not be linked."""
    rows = dict((row["cluster"], row) for row in report["clusters"])
    moved = {}
    for link in report["links"]:
        peer = rows.get(link["peer"])
        if peer is not None and peer["state"] == "failed earlier":
            for problem in link["problems"]:
                moved[(link["cluster"], problem)] = peer["host"]
    found = {}
    for row in report["clusters"]:
        for problem in row["problems"]:
            host = moved.get((row["cluster"], problem), row["host"])
            found.setdefault(host, []).append("%s: %s" % (row["cluster"], problem))
    return found


# ---------------------------------------------------------------- the table

def _status(problems):
    return "OK" if not problems else "FAIL (%d)" % len(problems)


def _condition_cell(conditions, condition_type):
    return conditions.get(condition_type) or "-"


CLUSTER_COLUMNS = (
    ("CLUSTER", lambda r: r["cluster"]),
    ("STATE", lambda r: r["state"]),
    ("MESH", lambda r: r["service_mesh"] or "-"),
    ("ISTIO", lambda r: r["components"] or "-"),
    ("EAST-WEST", lambda r: r["eastwest_address"] or "-"),
    ("PEERS", lambda r: "%d/%d connected" % (len(r["connected_peers"]), len(r["expected_peers"]))
     if r["state"] == "reachable" else "-"),
    ("MISSING", lambda r: ",".join(r["missing_peers"]) or "-"),
    ("ROOT", lambda r: ",".join(_short(f) for f in r["roots"]) or "-"),
    ("STATUS", lambda r: _status(r["problems"])),
)
# Joins the table while a root rotation is in sight: its phase in each cluster.
PHASE_COLUMN = ("PHASE", lambda r: "-" if r.get("phase") is None else "%d/3" % r["phase"])
# Joins the table with automatic linking: the cluster's Gloo agent, as the management server counts it.
AGENT_COLUMN = ("AGENT", lambda r: r["agent"])
# One row per peer Gateway: Solo's link conditions (SUCCEEDED and CONNECTED decide, DATAPLANE is shown).
LINK_COLUMNS = (
    ("CLUSTER", lambda r: r["cluster"]),
    ("PEER", lambda r: r["peer"]),
    ("GATEWAY", lambda r: r["gateway"] or "(missing)"),
    ("ADDRESS", lambda r: r["address"] or "-"),
    ("SUCCEEDED", lambda r: _condition_cell(r["conditions"], PEERING_SUCCEEDED)),
    ("CONNECTED", lambda r: _condition_cell(r["conditions"], PEER_CONNECTED)),
    ("DATAPLANE", lambda r: _condition_cell(r["conditions"], PEER_DATAPLANE_PROGRAMMED)),
    ("FIELDS", lambda r: "?" if r["fields"] is None else ("match" if not r["fields"] else "%d differ" % len(r["fields"]))),
    ("STATUS", lambda r: _status(r["problems"])),
)


def table(columns, rows):
    """Aligned text lines: a header, then one line per row."""
    cells = [[header for header, _value in columns]] + [[str(value(row)) for _header, value in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in cells]


def render(report):
    """The verdict for a person: the clusters, the links, then every problem."""
    extra = ()
    if any("agent" in row for row in report["clusters"]):
        extra += (AGENT_COLUMN,)
    if any("phase" in row for row in report["clusters"]):
        extra += (PHASE_COLUMN,)
    columns = CLUSTER_COLUMNS[:-1] + extra + CLUSTER_COLUMNS[-1:]
    lines = table(columns, report["clusters"])
    if report["links"]:
        lines += [""] + table(LINK_COLUMNS, report["links"])
    if report["problems"]:
        lines += ["", "%d problem(s):" % len(report["problems"])] + ["  - " + p for p in report["problems"]]
    return lines
