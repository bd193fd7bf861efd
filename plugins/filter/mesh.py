# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Filters the roles use to plan and check a mesh over an inventory whose hosts are clusters.

They are pure: inventory facts and registered module results in, plain data out. The version
rules and Gateway helpers come from module_utils so roles and modules agree on them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders.gateway import (
    condition_status,
    gateway_address,
    peer_cluster_of,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.validation import (
    gloo_version_problem,
    multicluster_version_problem,
    parse_istio_version,
)

LINKING_MODES = ("manual", "automatic")


def _hostvar(hostvars, host, name, default=None):
    value = hostvars[host].get(name, default)
    return default if value is None else value


def mesh_version_problems(istio_version, gloo_version=None, istio_option="gloomesh_istio_version",
                          gloo_option="gloomesh_gloo_version"):
    """Problems (list of str) with the Istio / Gloo versions of a multicluster mesh."""
    problems = []
    if not istio_version:
        problems.append("%s is not set: give the Solo Istio version to install (e.g. 1.25.2)" % istio_option)
    else:
        try:
            problem = multicluster_version_problem(parse_istio_version(istio_version, istio_option), istio_option)
        except GloomeshError as exc:
            problem = exc.message
        if problem:
            problems.append(problem)
    return problems + mesh_gloo_version_problems(gloo_version, gloo_option)


def mesh_gloo_version_problems(gloo_version, option="gloomesh_gloo_version"):
    """Problems with a Gloo Mesh version (empty when it is not set or 2.7 and later)."""
    problem = gloo_version_problem(gloo_version, option)
    return [problem] if problem else []


def mesh_peer_clusters(hostvars, host, hosts, mode="manual", peers_var="mesh_link_peers"):
    """Cluster names ``host`` links to (manual) or should receive peers for (automatic).

    Manual: the host's ``mesh_link_peers`` list when set (asymmetric linking), else every
    other cluster of ``hosts`` (bi-directional full mesh). Automatic: every other cluster.
    """
    if mode not in LINKING_MODES:
        raise AnsibleFilterError("linking mode %r is not one of %s" % (mode, ", ".join(LINKING_MODES)))
    own = _hostvar(hostvars, host, "cluster_name")
    others = [_hostvar(hostvars, other, "cluster_name") for other in hosts]
    others = [name for name in others if name and name != own]
    if mode == "manual":
        explicit = _hostvar(hostvars, host, peers_var)
        if explicit is not None:
            unknown = sorted(set(explicit) - set(others))
            if unknown:
                raise AnsibleFilterError("%s of %s names %s, not another cluster of the mesh (known: %s)"
                                         % (peers_var, host, ", ".join(unknown), ", ".join(sorted(others))))
            return sorted(set(explicit))
    return sorted(set(others))


def mesh_hosts_of_clusters(hostvars, hosts, clusters):
    """The hosts among ``hosts`` whose cluster_name is in ``clusters`` (in ``hosts`` order)."""
    wanted = set(clusters or [])
    return [host for host in hosts if _hostvar(hostvars, host, "cluster_name") in wanted]


def mesh_host_facts(hostvars, hosts, name):
    """{host: hostvars[host][name]} for the hosts among ``hosts`` that have ``name`` set."""
    return dict((host, _hostvar(hostvars, host, name)) for host in hosts
                if _hostvar(hostvars, host, name) is not None)


def mesh_topology_problems(hostvars, hosts, peers_var="mesh_link_peers"):
    """Inventory problems across clusters: missing names/contexts, duplicates, bad peer lists."""
    problems = []
    by_name = {}
    for host in hosts:
        name = _hostvar(hostvars, host, "cluster_name")
        if not name:
            problems.append("%s: cluster_name is not set" % host)
        else:
            by_name.setdefault(name, []).append(host)
        if not _hostvar(hostvars, host, "kube_context"):
            problems.append("%s: kube_context is not set" % host)
    for name, owners in sorted(by_name.items()):
        if len(owners) > 1:
            problems.append("cluster_name %s is used by %s; every cluster needs a unique name"
                            % (name, ", ".join(sorted(owners))))
    for host in hosts:
        explicit = _hostvar(hostvars, host, peers_var)
        if explicit is None:
            continue
        if not isinstance(explicit, list):
            problems.append("%s: %s must be a list of cluster names" % (host, peers_var))
            continue
        own = _hostvar(hostvars, host, "cluster_name")
        for peer in explicit:
            if peer == own:
                problems.append("%s: %s lists the cluster itself (%s); a cluster is never linked to itself"
                                % (host, peers_var, peer))
            elif peer not in by_name:
                problems.append("%s: %s names %s, which is not a cluster of this mesh (known: %s)"
                                % (host, peers_var, peer, ", ".join(sorted(by_name))))
    return problems


def mesh_problem_summary(problems_by_host):
    """{host: [problem, ...]} -> sorted lines, identical problems of several hosts merged."""
    hosts_by_problem = {}
    for host, problems in (problems_by_host or {}).items():
        for problem in problems or []:
            hosts_by_problem.setdefault(problem, []).append(host)
    return ["%s: %s" % (", ".join(sorted(hosts)), problem)
            for problem, hosts in sorted(hosts_by_problem.items(), key=lambda item: (sorted(item[1]), item[0]))]


def _smc_state(smc_resources):
    if not smc_resources:
        return "absent", ["ServiceMeshController not found"]
    status = smc_resources[0].get("status") or {}
    phase = status.get("phase") or "-"
    problems = []
    if phase != "SUCCEEDED":
        problems.append("ServiceMeshController phase is %s, not SUCCEEDED" % phase)
    failing = [c.get("type") for c in status.get("conditions") or [] if c.get("status") != "True"]
    if failing:
        problems.append("ServiceMeshController conditions not True: %s" % ", ".join(failing))
    return phase, problems


def _eastwest_state(eastwest_resources):
    if not eastwest_resources:
        return None, ["east-west gateway not found"]
    gateway = eastwest_resources[0]
    address = gateway_address(gateway)
    problems = []
    if condition_status(gateway, "Programmed") != "True":
        problems.append("east-west gateway not Programmed")
    if not address:
        problems.append("east-west gateway has no address")
    return address, problems


def mesh_verify_report(cluster, smc_resources, eastwest_resources, gateways, ca_info, expected_peers,
                       mode="manual"):
    """One cluster's verification: what is there, and what is missing (``problems``).

    ``gateways``: every Gateway of the cluster (k8s_info resources); ``ca_info``: the
    registered result of ``mesh_ca_info`` for this cluster.
    """
    phase, problems = _smc_state(smc_resources)
    address, eastwest_problems = _eastwest_state(eastwest_resources)
    problems.extend(eastwest_problems)

    peers = {}
    for gateway in gateways or []:
        peer = peer_cluster_of(gateway)
        if peer:
            peers.setdefault(peer, []).append(gateway)
    expected = sorted(set(expected_peers or []))
    for peer in expected:
        if peer not in peers:
            problems.append("no istio-remote Gateway for peer %s" % peer)
    for peer, found in sorted(peers.items()):
        if len(found) > 1:
            problems.append("%d istio-remote Gateways for peer %s (%s); istiod needs exactly one"
                            % (len(found), peer, ", ".join(sorted(g["metadata"]["name"] for g in found))))
        if peer == cluster:
            if mode != "automatic":
                problems.append("istio-remote Gateway for the cluster itself (%s)" % peer)
        elif peer not in expected:
            problems.append("unexpected istio-remote Gateway for %s" % peer)

    root = (ca_info or {}).get("root_fingerprint")
    ca_problems = list((ca_info or {}).get("problems") or [])
    if (ca_info or {}).get("failed"):
        ca_problems.append((ca_info or {}).get("msg") or "cacerts could not be verified")
    elif not root:
        ca_problems.append("cacerts has no root certificate")
    problems.extend("cacerts: %s" % p for p in ca_problems)

    return {
        "cluster": cluster,
        "phase": phase,
        "eastwest_address": address,
        "peers": {peer: [spec_address(g) for g in found] for peer, found in sorted(peers.items())},
        "expected_peers": expected,
        "root_fingerprint": root,
        "problems": problems,
    }


def mesh_peer_clusters_of(gateways):
    """Sorted cluster names the istio-remote Gateways among ``gateways`` describe."""
    return sorted(set(filter(None, (peer_cluster_of(gateway) for gateway in gateways or []))))


def spec_address(gateway):
    """First spec address of a peer Gateway (the address istiod dials)."""
    for entry in ((gateway.get("spec") or {}).get("addresses")) or []:
        if entry.get("value"):
            return entry["value"]
    return None


def mesh_verify_summary(reports):
    """Cross-cluster checks over per-cluster reports, and one table for the whole mesh.

    Returns ``{'table': [line, ...], 'problems': ['<cluster>: <what is missing>', ...], 'ok': bool}``.
    """
    reports = sorted(reports or [], key=lambda r: r["cluster"])
    addresses = dict((r["cluster"], r["eastwest_address"]) for r in reports)
    roots = dict((r["cluster"], r["root_fingerprint"]) for r in reports if r["root_fingerprint"])
    problems = []
    for report in reports:
        problems.extend("%s: %s" % (report["cluster"], p) for p in report["problems"])
        for peer, peer_addresses in sorted(report["peers"].items()):
            want = addresses.get(peer)
            if peer != report["cluster"] and want and any(a != want for a in peer_addresses):
                problems.append("%s: istio-remote Gateway for %s points at %s, but %s's east-west address is %s"
                                % (report["cluster"], peer, ", ".join(str(a) for a in peer_addresses), peer, want))
    if len(set(roots.values())) > 1:
        problems.append("clusters do not share one root of trust: %s"
                        % ", ".join("%s=%s" % (c, _short(f)) for c, f in sorted(roots.items())))

    header = ("CLUSTER", "MESH", "EAST-WEST", "PEERS", "MISSING", "ROOT", "STATUS")
    rows = []
    for report in reports:
        present = [p for p in report["peers"] if p != report["cluster"]]
        missing = [p for p in report["expected_peers"] if p not in report["peers"]]
        rows.append((
            report["cluster"],
            report["phase"],
            report["eastwest_address"] or "-",
            "%d/%d %s" % (len(set(present) & set(report["expected_peers"])), len(report["expected_peers"]),
                          ",".join(sorted(present)) or "-"),
            ",".join(missing) or "-",
            _short(report["root_fingerprint"]),
            "OK" if not report["problems"] else "%d problem(s)" % len(report["problems"]),
        ))
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    table = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in [header] + rows]
    return {"table": table, "problems": problems, "ok": not problems}


def _short(fingerprint):
    if not fingerprint:
        return "-"
    text = str(fingerprint).replace(":", "").lower()
    return text[:12]


class FilterModule(object):
    """gloomesh.multicluster mesh planning and verification filters."""

    def filters(self):
        return {
            "mesh_version_problems": mesh_version_problems,
            "mesh_gloo_version_problems": mesh_gloo_version_problems,
            "mesh_peer_clusters": mesh_peer_clusters,
            "mesh_topology_problems": mesh_topology_problems,
            "mesh_hosts_of_clusters": mesh_hosts_of_clusters,
            "mesh_host_facts": mesh_host_facts,
            "mesh_problem_summary": mesh_problem_summary,
            "mesh_verify_report": mesh_verify_report,
            "mesh_peer_clusters_of": mesh_peer_clusters_of,
            "mesh_verify_summary": mesh_verify_summary,
        }
