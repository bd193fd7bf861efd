# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What mesh_link does: in the source cluster, one istio-remote peer Gateway per listed peer
(``istioctl multicluster link``), refusing anything that would leave two peer Gateways for
one cluster; optionally unlink peers no longer listed.

With ``mesh`` (every cluster of an inventory and whether it is in this run) the links are planned
by planning.py: the source's own peers, and the source's peer in each cluster outside the run, so a
run over part of the inventory leaves every pair it touches linked both ways. Every read and every
refusal comes before the first write, in every cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, planning, validation, verify
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    EASTWEST_NAME,
    EASTWEST_NAMESPACE,
    GATEWAY_API_VERSION,
    GATEWAY_KIND,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    apply_object,
    delete_object,
    describe,
    diff_of,
    ensure_namespace,
    is_managed_by_us,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import wait_for

# ApplyResult actions as mesh_link reports them.
_ACTIONS = {"created": "created", "updated": "updated", "unchanged": "unchanged",
            "deleted": "removed", "absent": "unchanged"}
# What peer_descriptor reports missing while a cluster's east-west gateway is still coming up.
_NOT_READY = ("service", "address")


def _key(obj):
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


def _where(obj):
    return describe(GATEWAY_KIND, obj["metadata"]["name"], obj["metadata"]["namespace"])


def _plan(peers, by_cluster, state, adopt, exclusive, keep=()):
    """(deletions, applications, refusals) decided from the listing, before any write.

    Deletions are live Gateways; applications are (peer, desired Gateway, adopted, listed) tuples,
    ``adopted`` being the unmanaged live Gateway to take over at the target, if any, and ``listed``
    the live Gateway at the target as the listing returned it, if any. ``exclusive``
    spares the clusters in ``keep`` besides the listed ones.
    """
    deletions, applications, refusals = [], [], []
    listed = set(keep)
    for peer in peers:
        listed.add(peer["cluster"])
        target = (peer["namespace"], gateway.peer_gateway_name(peer["cluster"]))
        existing = by_cluster.get(peer["cluster"], [])
        foreign = [g for g in existing if not is_managed_by_us(g)]
        if foreign and not adopt:
            refusals.append(
                "peer %s already has %s, not managed by gloomesh.multicluster (created by automatic "
                "peering or by hand); two peer Gateways for one cluster break peering: remove it "
                "or set adopt=true to take it over"
                % (peer["cluster"], " and ".join(_where(g) for g in foreign)))
            continue
        if state == "absent":
            deletions.extend(existing)
            continue
        # Ours elsewhere (the peer's namespace changed) or adopted strays: exactly one remains.
        deletions.extend(g for g in existing if _key(g) != target)
        at_target = next((g for g in existing if _key(g) == target), None)
        adopted = at_target if at_target is not None and not is_managed_by_us(at_target) else None
        applications.append((peer, gateway.peer_gateway(peer), adopted, at_target))
    if exclusive and state == "present":
        for cluster, gateways in sorted(by_cluster.items()):
            if cluster not in listed:
                deletions.extend(g for g in gateways if is_managed_by_us(g))
    return deletions, applications, refusals


class _Writer(object):
    """The writes of one run, in order, with what the result reports about them."""

    def __init__(self, invocation):
        self.invocation = invocation
        self.entries, self.diffs, self.waits = [], [], []
        self.changed = False

    def _record(self, target, result, cluster, namespace, name, header):
        self.changed = self.changed or result.changed
        entry = {"cluster": cluster, "name": name, "namespace": namespace, "action": _ACTIONS[result.action]}
        if target is not None:
            entry["target"] = target
        self.entries.append(entry)
        if result.changed:
            diff = diff_of(result)
            diff["before_header"] = diff["after_header"] = header if target is None else "%s in cluster %s" % (
                header, target)
            if target is not None:
                diff["target"] = target  # the cluster the object is in, for a drift report
            self.diffs.append(diff)

    def write(self, cluster, deletions, applications, force_conflicts, target=None):
        check_mode = self.invocation.check_mode
        # Deletions first: never two Gateways for one peer, not even for a moment.
        for stale in deletions:
            namespace, name = _key(stale)
            result = delete_object(cluster, GATEWAY_API_VERSION, GATEWAY_KIND, name, namespace, check_mode)
            self._record(target, result, gateway.peer_cluster_of(stale), namespace, name, _where(stale))
        namespaces = set()
        for peer, desired, adopted, listed in applications:
            namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
            if namespace not in namespaces:  # one read per namespace, not one per peer
                self.changed = ensure_namespace(cluster, namespace, check_mode).changed or self.changed
                namespaces.add(namespace)
            # The listing's copy spares a read per peer; a Gateway it did not list is read.
            if adopted is None:
                result = apply_object(cluster, desired, check_mode, force_conflicts=force_conflicts, listed=listed)
            else:
                result = apply_object(cluster, desired, check_mode, take_ownership=True, listed=listed)
            self._record(target, result, peer["cluster"], namespace, name, _where(desired))
            self.waits.append((cluster, target, peer["cluster"], namespace, name))

    def wait(self, timeout):
        """Until Solo's istiod reports every applied peer connected (verify's rule: PeeringSucceeded
        and PeerConnected True), all within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for cluster, target, peer, namespace, name in self.waits:
            where = describe(GATEWAY_KIND, name, namespace) + ("" if target is None else " in cluster " + target)
            wait_for(cluster, GATEWAY_API_VERSION, GATEWAY_KIND, name, namespace, verify.link_up,
                     max(1, int(math.ceil(deadline - time.monotonic()))),
                     "%s to be connected to peer %s" % (where, peer))

    def report(self, source):
        report = {"changed": self.changed, "peers": self.entries, "cluster": source}
        if self.invocation.diff:
            report["diff"] = self.diffs
        return report


# ---------------------------------------------------------------- one cluster, peers given

def _run_peers(invocation):
    params = invocation.params
    state = params["state"]
    link = state == "present"
    install_namespace = validation.namespace(params["install_namespace"], "install_namespace")
    if params["cluster"]:
        validation.cluster_name(params["cluster"])
    # Shape rules first: no request is sent for input that could never be linked.
    validation.peers(params["peers"], params["cluster"], for_link=link)

    cluster = invocation.cluster()
    source = params["cluster"]
    if link and not source:
        source = validation.cluster_name(
            mesh_state.resolve_topology(cluster, install_namespace, needed=("cluster",))[1])
    peers = validation.peers(params["peers"], source, for_link=link)

    by_cluster = mesh_state.peer_gateways(cluster)
    deletions, applications, refusals = _plan(peers, by_cluster, state, params["adopt"], params["exclusive"])
    if refusals:
        raise GloomeshError("; ".join(refusals), source=source)

    writer = _Writer(invocation)
    writer.write(cluster, deletions, applications, params["force_conflicts"])
    if state == "absent":
        for peer in peers:
            if not by_cluster.get(peer["cluster"]):
                writer.entries.append({"cluster": peer["cluster"], "namespace": peer["namespace"],
                                       "name": gateway.peer_gateway_name(peer["cluster"]), "action": "unchanged"})
    if link and params["wait"] and not invocation.check_mode:
        writer.wait(params["wait_timeout"])
    return writer.report(source)


# ---------------------------------------------------------------- a run over part of a mesh

def _auth(entry, params):
    """The connection of another cluster: its own context and kubeconfig, nothing of this host's."""
    return {"context": entry["context"], "kubeconfig": entry["kubeconfig"],
            "request_timeout": params["request_timeout"]}


def _descriptor(peer, name, option):
    """A validated descriptor that must describe cluster ``name``."""
    descriptor = validation.peer(peer, option)
    if descriptor["cluster"] != name:
        validation.fail(option + ".cluster", descriptor["cluster"],
                        "must be %s: the cluster's east-west gateway describes another cluster (is its "
                        "cluster_name the mesh cluster name of its ServiceMeshController?)" % name)
    return descriptor


def _read_descriptor(cluster, invocation, entry, install_namespace):
    """The descriptor of a cluster outside the run, read as eastwest_gateway_info reads it; its run
    may still be creating the east-west gateway: wait (watching the Service istiod deploys for it)."""
    namespace = entry["namespace"] or EASTWEST_NAMESPACE
    install_namespace = entry["install_namespace"] or install_namespace

    def read():
        return mesh_state.peer_descriptor(cluster, namespace, install_namespace, cluster_label=entry["cluster"])

    try:
        return read()
    except GloomeshError as exc:
        if exc.details.get("missing") not in _NOT_READY:
            raise
        if invocation.check_mode:
            return None  # not predicted: the caller says so
        if not invocation.params["ready_timeout"]:
            raise
    found = []

    def ready(service):
        if service is None:
            return False, "no Service %s/%s yet" % (namespace, EASTWEST_NAME)
        try:
            found.append(read())
        except GloomeshError as exc:
            if exc.details.get("missing") not in _NOT_READY:
                raise
            return False, exc.message
        return True, ""

    wait_for(cluster, "v1", "Service", EASTWEST_NAME, namespace, ready, invocation.params["ready_timeout"],
             "cluster %s to be ready to link" % entry["cluster"])
    return found[-1]


class _Others(object):
    """The clusters outside the run: reached with their own connection, read once. What goes wrong
    there is their problem: the pairs with such a cluster are skipped (warned, reported, never
    unlinked), this host's other links go on."""

    def __init__(self, invocation, mesh):
        self.invocation, self.mesh = invocation, mesh
        self.clusters, self.skipped = {}, {}

    def read(self, name, what, *args):
        """``what(cluster, *args)`` against cluster ``name``; None once the cluster is skipped."""
        if name in self.skipped:
            return None
        try:
            if name not in self.clusters:
                self.clusters[name] = self.invocation.cluster(**_auth(self.mesh[name], self.invocation.params))
            return what(self.clusters[name], *args)
        except GloomeshError as exc:
            self.skip(name, exc.message)
            return None

    def skip(self, name, why):
        self.skipped.setdefault(name, why)

    def report(self, report):
        for name, why in sorted(self.skipped.items()):
            self.invocation.warn("cluster %s: the links with it are left as they are (%s); a run that can "
                                 "reach it links it" % (name, why))
        report["skipped"] = self.skipped
        return report


def _peers_for(cluster, source):
    return mesh_state.peer_gateways(cluster).get(source, [])


def _unlink_mesh(invocation, source, plan, others):
    """Unlink the source both ways: every peer Gateway of ours in it, and ours for it in each
    cluster outside the run (the clusters of the run unlink themselves)."""
    params = invocation.params
    cluster = invocation.cluster()
    own = [g for gateways in mesh_state.peer_gateways(cluster).values() for g in gateways if is_managed_by_us(g)]
    targets = []
    for target, _linked in plan["into"]:
        existing = others.read(target, _peers_for, source)
        if existing is not None:
            targets.append((target, [g for g in existing if is_managed_by_us(g)]))
    writer = _Writer(invocation)
    writer.write(cluster, own, [], params["force_conflicts"], target=source)
    for target, deletions in targets:
        writer.write(others.clusters[target], deletions, [], params["force_conflicts"], target=target)
    return others.report(writer.report(source))


def _mesh_source(params):
    """(source cluster, install namespace, mesh) of option mesh, checked before anything is read."""
    if not params["cluster"]:
        validation.fail("cluster", None, "is required with option mesh: the cluster of this host")
    source = validation.cluster_name(params["cluster"])
    install_namespace = validation.namespace(params["install_namespace"], "install_namespace")
    mesh = planning.clusters(params["mesh"])
    if source not in mesh:
        validation.fail("cluster", source, "is not a cluster of option mesh (%s)" % ", ".join(sorted(mesh)))
    if not mesh[source]["in_run"]:
        validation.fail("cluster", source, "must be in the run (mesh[].in_run): it is this host's cluster")
    return source, install_namespace, mesh


def _read_descriptors(invocation, mesh, plan, given, others, install_namespace):
    """Adds to ``given`` the descriptors this run does not know, read from their clusters."""
    for name in plan["link_to"]:
        if name in given:
            continue
        if mesh[name]["in_run"]:
            others.skip(name, "no peer descriptor: it failed or was skipped earlier in this run")
            continue
        descriptor = others.read(name, _read_descriptor, invocation, mesh[name], install_namespace)
        if descriptor is not None:
            try:
                given[name] = _descriptor(descriptor, name, "the descriptor read from cluster %s" % name)
            except GloomeshError as exc:
                others.skip(name, exc.message)
        elif invocation.check_mode and name not in others.skipped:
            others.skip(name, "its east-west gateway is not ready (check mode does not wait)")


def _target_plans(params, source, plan, given, others, refusals):
    """(target, deletions, applications) for the source's peer in each cluster written to."""
    targets = []
    for target, linked in plan["into"]:
        existing = others.read(target, _peers_for, source)
        if existing is None:
            continue
        if not linked:
            # The target does not link to the source: only our own Gateway for the source goes.
            deletions, applications, problems = [g for g in existing if is_managed_by_us(g)], [], []
        elif source in given:
            deletions, applications, problems = _plan([given[source]], {source: existing}, "present",
                                                      params["adopt"], False)
        else:
            continue  # not predicted (check mode): skipped by _run_mesh
        refusals.extend("in cluster %s: %s" % (target, problem) for problem in problems)
        targets.append((target, deletions, applications))
    return targets


def _foreign_entries(source, plan, listed):
    """Peer Gateways someone else wrote for clusters the source does not link to: never ours to
    remove, but reported (a drift report shows them)."""
    return [{"cluster": cluster, "name": g["metadata"]["name"], "namespace": _key(g)[0], "action": "foreign",
             "target": source}
            for cluster, gateways in sorted(listed.items()) if cluster not in plan["link_to"]
            for g in gateways if not is_managed_by_us(g)]


def _run_mesh(invocation):
    params = invocation.params
    source, install_namespace, mesh = _mesh_source(params)
    index = dict((name, position) for position, name in enumerate(e["cluster"] for e in params["mesh"]))
    given = dict((name, _descriptor(entry["descriptor"], name, "mesh[%d].descriptor" % index[name]))
                 for name, entry in mesh.items() if entry["descriptor"])
    plan = planning.source_plan(mesh, source, set(n for n, e in mesh.items() if e["in_run"]))
    others = _Others(invocation, mesh)
    if params["state"] == "absent":
        return _unlink_mesh(invocation, source, plan, others)

    _read_descriptors(invocation, mesh, plan, given, others, install_namespace)
    if source not in given and any(linked for _target, linked in plan["into"]):
        others.skip(source, "no peer descriptor of this cluster yet (its east-west gateway is not ready)")
    cluster = invocation.cluster()
    peers = validation.peers([given[name] for name in plan["link_to"] if name in given], source)
    listed = mesh_state.peer_gateways(cluster)
    own = _plan(peers, listed, "present", params["adopt"], params["exclusive"], keep=plan["link_to"])
    refusals = list(own[2])
    targets = _target_plans(params, source, plan, given, others, refusals)
    if refusals:
        raise GloomeshError("; ".join(refusals), source=source)

    writer = _Writer(invocation)
    writer.write(cluster, own[0], own[1], params["force_conflicts"], target=source)
    writer.entries.extend(_foreign_entries(source, plan, listed))
    for target, deletions, applications in targets:
        writer.write(others.clusters[target], deletions, applications, params["force_conflicts"], target=target)
    if params["wait"] and not invocation.check_mode:
        writer.wait(params["wait_timeout"])
    return others.report(writer.report(source))


def run(invocation):
    if invocation.params["mesh"] is not None:
        return _run_mesh(invocation)
    return _run_peers(invocation)
