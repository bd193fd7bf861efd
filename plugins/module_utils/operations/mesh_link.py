# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What mesh_link does: in the source cluster, one istio-remote peer Gateway per listed peer
(``istioctl multicluster link``), refusing anything that would leave two peer Gateways for
one cluster; optionally unlink peers no longer listed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    GATEWAY_API_VERSION,
    GATEWAY_KIND,
    PEER_CONNECTED,
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
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import condition_true, wait_for

# ApplyResult actions as mesh_link reports them.
_ACTIONS = {"created": "created", "updated": "updated", "unchanged": "unchanged",
            "deleted": "removed", "absent": "unchanged"}


def _key(obj):
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


def _where(obj):
    return describe(GATEWAY_KIND, obj["metadata"]["name"], obj["metadata"]["namespace"])


def _plan(peers, by_cluster, state, adopt, exclusive):
    """(deletions, applications, refusals) decided from the listing, before any write.

    Deletions are live Gateways; applications are (peer, desired Gateway, adopted) tuples,
    ``adopted`` being the unmanaged live Gateway to take over at the target, if any.
    """
    deletions, applications, refusals = [], [], []
    listed = set()
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
        adopted = next((g for g in foreign if _key(g) == target), None)
        applications.append((peer, gateway.peer_gateway(peer), adopted))
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


def run(task):
    params = task.params
    state = params["state"]
    link = state == "present"
    install_namespace = validation.namespace(params["install_namespace"], "install_namespace")
    if params["cluster"]:
        validation.cluster_name(params["cluster"])
    # Shape rules first: no request is sent for input that could never be linked.
    validation.peers(params["peers"], params["cluster"], for_link=link)

    client = task.client()
    source = params["cluster"]
    if link and not source:
        source = validation.cluster_name(
            mesh_state.resolve_topology(client, install_namespace, needed=("cluster",))[1])
    peers = validation.peers(params["peers"], source, for_link=link)

    by_cluster = mesh_state.peer_gateways(client)
    deletions, applications, refusals = _plan(peers, by_cluster, state, params["adopt"], params["exclusive"])
    if refusals:
        raise GloomeshError("; ".join(refusals), source=source)

    check_mode = task.check_mode
    entries, diffs, changed = [], [], False
    # Deletions first: never two Gateways for one peer, not even for a moment.
    for stale in deletions:
        namespace, name = _key(stale)
        result = delete_object(client, GATEWAY_API_VERSION, GATEWAY_KIND, name, namespace, check_mode)
        changed = changed or result.changed
        entries.append(_entry(gateway.peer_cluster_of(stale), namespace, name, _ACTIONS[result.action]))
        if result.changed:
            diffs.append(_diff(result, _where(stale)))
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
                                      gateway.peer_gateway_name(peer["cluster"]), "unchanged"))

    if link and params["wait"] and not check_mode:
        deadline = time.monotonic() + params["wait_timeout"]
        for peer, desired, adopted in applications:
            namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
            wait_for(client, GATEWAY_API_VERSION, GATEWAY_KIND, name, namespace, condition_true(PEER_CONNECTED),
                     max(1, int(math.ceil(deadline - time.monotonic()))),
                     "%s to be connected to peer %s" % (describe(GATEWAY_KIND, name, namespace), peer["cluster"]))

    report = {"changed": changed, "peers": entries, "cluster": source}
    if task.diff:
        report["diff"] = diffs
    return report
