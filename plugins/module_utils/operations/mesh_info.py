# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""What mesh_info does: read one cluster's whole mesh state in one task, optionally watching its
peer Gateways until the expected peers are connected. Read-only; summaries, never key material."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import time

from ansible.module_utils.common.text.converters import to_text

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, validation, verify
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import certificates, gateway
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    EASTWEST_NAME,
    GATEWAY_API_VERSION,
    GATEWAY_KIND,
    ISTIOD_DEPLOYMENTS,
    MESH_DAEMONSETS,
    ROOT_OF_TRUST_SECRET,
    SERVICE_MESH_API_VERSION,
    SERVICE_MESH_KIND,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import (
    api_error,
    get_object,
    list_objects,
    resource_for,
    served,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import watch_until

try:
    from kubernetes.dynamic.exceptions import DynamicApiError
except ImportError:  # reported by the client module (missing_libraries)
    DynamicApiError = Exception


SECTIONS = ("service_mesh", "components", "eastwest", "peers", "peer_descriptor", "root_of_trust")
# Read only when asked for, from the management cluster (not part of "all").
AGENTS = "agents"
# Seconds between two reads of the management server's metrics while agents are not connected.
AGENT_POLL = 2.0


def _sections(requested):
    """The sections to read; ``reachability`` alone reads only the install namespace."""
    agents = (AGENTS,) if AGENTS in requested else ()
    if "all" in requested:
        return SECTIONS + agents
    return tuple(s for s in SECTIONS if s in requested) + agents


def _service_mesh(cluster, params):
    name, namespace = params["service_mesh_name"], params["service_mesh_namespace"]
    obj = None
    if served(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND):
        obj = get_object(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND, name, namespace)
    return verify.service_mesh_state(obj, name, namespace)


def _components(cluster, namespace):
    """istiod (the operator's revision gloo, else the default one) and the ambient DaemonSets."""
    deployments = dict((d["metadata"]["name"], d) for d in list_objects(cluster, "apps/v1", "Deployment", namespace)
                       if d["metadata"]["name"] in ISTIOD_DEPLOYMENTS)
    istiod = next((n for n in ISTIOD_DEPLOYMENTS if n in deployments), ISTIOD_DEPLOYMENTS[0])
    daemonsets = dict((d["metadata"]["name"], d) for d in list_objects(cluster, "apps/v1", "DaemonSet", namespace))
    return ([verify.workload_state("Deployment", istiod, namespace, deployments.get(istiod))]
            + [verify.workload_state("DaemonSet", n, namespace, daemonsets.get(n)) for n in MESH_DAEMONSETS])


def _eastwest(cluster, namespace):
    eastwest = get_object(cluster, GATEWAY_API_VERSION, GATEWAY_KIND, EASTWEST_NAME, namespace)
    try:
        service = mesh_state.eastwest_service(cluster, namespace, cluster.name)
    except GloomeshError as exc:
        if exc.details.get("unreachable"):
            raise
        service = None  # reported through the Gateway's status and the peer descriptor
    return verify.eastwest_state(eastwest, service, EASTWEST_NAME, namespace)


def _peer_descriptor(cluster, params):
    """(descriptor, None) or (None, why this cluster cannot be linked now)."""
    try:
        peer = mesh_state.peer_descriptor(cluster, params["eastwest_namespace"], params["install_namespace"],
                                          params["trust_domain_source"])
        validation.peer(peer)
    except GloomeshError as exc:
        if exc.details.get("unreachable"):
            raise
        return None, exc.message
    return peer, None


def _root_of_trust(invocation, cluster, namespace):
    if certificates.CRYPTOGRAPHY_IMPORT_ERROR:
        raise GloomeshError(missing_required_lib("cryptography"), exception=certificates.CRYPTOGRAPHY_IMPORT_ERROR)
    secret = get_object(cluster, "v1", "Secret", ROOT_OF_TRUST_SECRET, namespace)
    data = None
    if secret is not None:
        data = dict((k, base64.b64decode(v)) for k, v in (secret.get("data") or {}).items())
        if data.get("ca-key.pem"):
            invocation.mask(data["ca-key.pem"].decode("utf-8", "replace"))
    return verify.root_of_trust_state(data)


# ---------------------------------------------------------------- Gloo agents (management cluster)

def _scrape(cluster, pod, port):
    """One management server replica's metrics, through the API server's pod proxy (a GET)."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    where = "%s/%s" % (namespace, name)
    try:
        path = "/api/v1/namespaces/%s/pods/%s:%d/proxy/metrics" % (namespace, name, port)
        response = cluster.api.request("GET", path, serialize=False, header_params={"Accept": "text/plain"})
    except DynamicApiError as exc:
        return {"pod": where, "error": api_error(exc, "reading", "its metrics on port %d" % port).message}
    return {"pod": where, "text": to_text(response.data, errors="surrogate_or_replace")}


def _agents(cluster, params, timeout):
    """The Gloo agents' relay connections (verify.agents_state), read again every AGENT_POLL
    seconds (at most ``timeout``) while an expected agent is not connected."""
    namespace, port = params["management_namespace"], params["management_metrics_port"]
    expected = params["agent_clusters"]
    if expected is None:
        expected = [c for c in params["mesh_clusters"] or [] if c != params["cluster"]]
    began = time.monotonic()
    while True:
        pods = [p for p in list_objects(cluster, "v1", "Pod", namespace, verify.MGMT_SERVER_SELECTOR)
                if (p.get("status") or {}).get("phase") == "Running" and (p.get("status") or {}).get("podIP")]
        state = verify.agents_state([_scrape(cluster, p, port) for p in pods], expected, namespace)
        left = timeout - (time.monotonic() - began)
        if (not state["disconnected"] and not state["problems"]) or left <= 0:
            state["waited"] = round(time.monotonic() - began, 1)
            return state
        time.sleep(min(AGENT_POLL, left))


# ---------------------------------------------------------------- peer Gateways, read and watched

def _pending(gateways, expected):
    """{peer: why it is not connected} over the expected peers."""
    states = [verify.peer_state(g) for g in gateways.values() if gateway.peer_cluster_of(g)]
    pending = {}
    for peer in expected:
        mine = [s for s in states if s["peer"] == peer]
        if not mine:
            pending[peer] = "no istio-remote Gateway"
        elif not any(s["link"]["connected"] for s in mine):
            pending[peer] = "; ".join(verify.link_text(s["link"]) for s in mine)
    return states, pending


def _peers(cluster, expected, timeout):
    """Every istio-remote Gateway, after watching them (at most ``timeout`` seconds) until each
    expected peer has a connected one. Returns (states, {peer: why still not connected})."""
    def check(gateways):
        states, pending = _pending(gateways, expected)
        return not pending, (states, pending)

    _gateways, _done, (states, pending) = watch_until(
        cluster, resource_for(cluster, GATEWAY_API_VERSION, GATEWAY_KIND), "Gateways in all namespaces", check, timeout)
    return sorted(states, key=lambda s: (s["peer"] or "", s["namespace"] or "", s["name"])), pending


def run(invocation):
    params = invocation.params
    for option in ("service_mesh_namespace", "install_namespace", "eastwest_namespace"):
        validation.namespace(params[option], option)
    validation.object_name(params["service_mesh_name"], "service_mesh_name")
    if params["cluster"]:
        validation.cluster_name(params["cluster"])
    expected = verify.expected_peers(params["cluster"], params["mesh_clusters"] or [], params["linking"],
                                     params["link_to"])
    if params["wait_timeout"] < 0:
        validation.fail("wait_timeout", params["wait_timeout"], "must be 0 (do not wait) or more seconds")
    validation.namespace(params["management_namespace"], "management_namespace")
    if not 0 < params["management_metrics_port"] < 65536:
        validation.fail("management_metrics_port", params["management_metrics_port"], "must be a port (1-65535)")
    sections = _sections(params["sections"])
    cluster = invocation.cluster()
    install_namespace = params["install_namespace"]
    # Reachability, and the network label istiod's namespace carries.
    namespace = get_object(cluster, "v1", "Namespace", install_namespace)
    result = {"changed": False, "context": cluster.name, "sections": list(sections), "reachable": True,
              "install_namespace_exists": namespace is not None, "expected_peers": expected}
    if "service_mesh" in sections:
        result["service_mesh"] = _service_mesh(cluster, params)
    if "components" in sections:
        result["components"] = _components(cluster, install_namespace)
    if "eastwest" in sections:
        result["eastwest"] = _eastwest(cluster, params["eastwest_namespace"])
    if "peer_descriptor" in sections:
        result["peer_descriptor"], result["peer_descriptor_error"] = _peer_descriptor(cluster, params)
    if "root_of_trust" in sections:
        result["root_of_trust"] = _root_of_trust(invocation, cluster, install_namespace)
    timeout = 0 if invocation.check_mode else params["wait_timeout"]
    if AGENTS in sections:
        result["agents"] = _agents(cluster, params, timeout)
    if "peers" in sections:
        # An agent that is not connected leaves peers undistributed: waiting would only time out.
        if params["disconnected_agents"]:
            timeout = 0
            result["wait_skipped"] = "the Gloo agents of %s are not connected" % ", ".join(params["disconnected_agents"])
        began = time.monotonic()
        result["peers"], pending = _peers(cluster, expected, timeout)
        result["pending_peers"] = pending
        result["waited"] = round(time.monotonic() - began, 1)
    return result
