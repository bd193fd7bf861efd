# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What mesh_link does: in the source cluster, one istio-remote peer Gateway per listed peer
(``istioctl multicluster link``), refusing anything that would leave two peer Gateways for
one cluster; optionally unlink peers no longer listed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils import gateway_builder as gb
from ansible_collections.gloomesh.multicluster.plugins.module_utils.eastwest_gateway_service import (
    resolve_topology,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_apply import (
    apply_object,
    delete_object,
    describe,
    diff_of,
    ensure_namespace,
    is_managed_by_us,
    list_objects,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_client import get_k8s_client
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_wait import condition_true, wait_for

PEER_CONNECTED = "gloo.solo.io/PeerConnected"
# ApplyResult actions as mesh_link reports them.
_ACTIONS = {"created": "created", "updated": "updated", "unchanged": "unchanged",
            "deleted": "removed", "absent": "unchanged"}


def _key(gateway):
    return gateway["metadata"]["namespace"], gateway["metadata"]["name"]


def _where(gateway):
    return describe(gb.KIND, gateway["metadata"]["name"], gateway["metadata"]["namespace"])


def _peer_gateways(client):
    """Every istio-remote Gateway of the source cluster, grouped by the cluster it describes."""
    by_cluster = {}
    for gateway in list_objects(client, gb.API_VERSION, gb.KIND):
        cluster = gb.peer_cluster_of(gateway)
        if cluster:
            by_cluster.setdefault(cluster, []).append(gateway)
    return by_cluster


def _plan(peers, by_cluster, state, adopt, exclusive):
    """(deletions, applications, refusals) decided from the listing, before any write.

    Deletions are live Gateways; applications are (peer, desired Gateway, adopted) tuples,
    ``adopted`` being the unmanaged live Gateway to take over at the target, if any.
    """
    deletions, applications, refusals = [], [], []
    listed = set()
    for peer in peers:
        listed.add(peer["cluster"])
        target = (peer["namespace"], gb.peer_gateway_name(peer["cluster"]))
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
        adopted = next((g for g in foreign if _key(g) == target), None)
        applications.append((peer, gb.peer_gateway(peer), adopted))
    if exclusive and state == "present":
        for cluster, gateways in sorted(by_cluster.items()):
            if cluster not in listed:
                deletions.extend(g for g in gateways if is_managed_by_us(g))
    return deletions, applications, refusals


def _entry(cluster, namespace, name, action):
    return {"cluster": cluster, "name": name, "namespace": namespace, "action": action}


def _diff(result, header):
    diff = diff_of(result)
    diff["before_header"] = diff["after_header"] = header
    return diff


def mesh_link(module):
    params = module.params
    state = params["state"]
    link = state == "present"
    install_namespace = gb.validate_namespace(params["install_namespace"], "install_namespace")
    if params["cluster"]:
        gb.validate_cluster_name(params["cluster"])
    # Shape rules first: no request is sent for input that could never be linked.
    gb.validate_peers(params["peers"], params["cluster"], for_link=link)

    client = get_k8s_client(module)
    source = params["cluster"]
    if link and not source:
        source = gb.validate_cluster_name(
            resolve_topology(client, install_namespace, needed=("cluster",))[1])
    peers = gb.validate_peers(params["peers"], source, for_link=link)

    by_cluster = _peer_gateways(client)
    deletions, applications, refusals = _plan(peers, by_cluster, state, params["adopt"], params["exclusive"])
    if refusals:
        raise GloomeshError("; ".join(refusals), source=source)

    check_mode = module.check_mode
    entries, diffs, changed = [], [], False
    # Deletions first: never two Gateways for one peer, not even for a moment.
    for gateway in deletions:
        namespace, name = _key(gateway)
        result = delete_object(client, gb.API_VERSION, gb.KIND, name, namespace, check_mode)
        changed = changed or result.changed
        entries.append(_entry(gb.peer_cluster_of(gateway), namespace, name, _ACTIONS[result.action]))
        if result.changed:
            diffs.append(_diff(result, _where(gateway)))
    for peer, desired, adopted in applications:
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        changed = ensure_namespace(client, namespace, check_mode).changed or changed
        if adopted is None:
            result = apply_object(client, desired, check_mode, force_conflicts=params["force_conflicts"])
        else:
            result = apply_object(client, desired, check_mode, take_ownership=True)
        changed = changed or result.changed
        entries.append(_entry(peer["cluster"], namespace, name, _ACTIONS[result.action]))
        if result.changed:
            diffs.append(_diff(result, _where(desired)))
    if state == "absent":
        for peer in peers:
            if not by_cluster.get(peer["cluster"]):
                entries.append(_entry(peer["cluster"], peer["namespace"],
                                      gb.peer_gateway_name(peer["cluster"]), "unchanged"))

    if link and params["wait"] and not check_mode:
        deadline = time.monotonic() + params["wait_timeout"]
        for peer, desired, adopted in applications:
            namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
            wait_for(client, gb.API_VERSION, gb.KIND, name, namespace, condition_true(PEER_CONNECTED),
                     max(1, int(math.ceil(deadline - time.monotonic()))),
                     "%s to be connected to peer %s" % (describe(gb.KIND, name, namespace), peer["cluster"]))

    report = {"changed": changed, "peers": entries, "cluster": source}
    if module._diff:
        report["diff"] = diffs
    return report
