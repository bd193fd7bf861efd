# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What eastwest_gateway does: resolve the cluster's topology, apply the east-west Gateway,
wait until istiod has programmed it with an address (or, with an advertised address, until it is
accepted and its Service deployed), report the cluster's peer descriptor."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    EASTWEST_NAME,
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
    get_object,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.wait import condition_not_true, condition_of, exists, wait_for


def programmed_with_address(obj):
    """Ready for peers: Programmed=True and an address in status.addresses."""
    if obj is None:
        return False, "the Gateway does not exist"
    programmed = condition_not_true(condition_of(obj, "Programmed"), "Programmed")
    missing = [programmed] if programmed else []
    if not gateway.gateway_address(obj):
        missing.append("no address in status.addresses")
    return not missing, "; ".join(missing)


def accepted(obj):
    """Ready when peers dial an advertised address: istiod accepted the Gateway and deployed it;
    the load balancer's own address does not matter."""
    if obj is None:
        return False, "the Gateway does not exist"
    why = condition_not_true(condition_of(obj, "Accepted"), "Accepted")
    return why is None, why or ""


def _wait_for_peers(cluster, namespace, params):
    """The Gateway once peers can use it. With an advertised address: once istiod accepted it and
    deployed its Service, whose labels the peer descriptor reads. istiod's status writer and its
    gateway deployment controller (pilot/pkg/config/kube/gateway/deploymentcontroller.go) work
    independently: Accepted can come before the Service."""
    what = describe(GATEWAY_KIND, EASTWEST_NAME, namespace)
    if not params["address"]:
        return wait_for(cluster, GATEWAY_API_VERSION, GATEWAY_KIND, EASTWEST_NAME, namespace,
                        programmed_with_address, params["wait_timeout"], "%s to be programmed with an address" % what)
    deadline = time.monotonic() + params["wait_timeout"]
    obj = wait_for(cluster, GATEWAY_API_VERSION, GATEWAY_KIND, EASTWEST_NAME, namespace, accepted,
                   params["wait_timeout"], "%s to be accepted" % what)
    wait_for(cluster, "v1", "Service", EASTWEST_NAME, namespace, exists, max(deadline - time.monotonic(), 1),
             "istiod to deploy Service %s/%s for %s" % (namespace, EASTWEST_NAME, what))
    return obj


def _no_address_hint(cluster, namespace, exc):
    """Enrich a timed-out wait for an address with the pending Service and the ways out."""
    service = get_object(cluster, "v1", "Service", EASTWEST_NAME, namespace)
    if service is None:
        return GloomeshError(
            "%s. istiod has not deployed Service %s/%s for the Gateway: is istiod running (the "
            "service_mesh step) with GatewayClass %s installed?" % (exc.message, namespace, EASTWEST_NAME,
                                                                    EASTWEST_NAME), **exc.details)
    if ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        return exc
    return GloomeshError(
        "%s. Service %s/%s (type %s) is pending: it has no load-balancer address. Install a LoadBalancer "
        "implementation in this cluster (a cloud provider's, MetalLB, cloud-provider-kind for kind), or "
        "set eastwest_gateway_address (module option address) to an address the other clusters can reach"
        % (exc.message, namespace, EASTWEST_NAME, (service.get("spec") or {}).get("type")),
        **dict(exc.details, pending_service="%s/%s" % (namespace, EASTWEST_NAME)))


def _report(obj):
    resource = dict(obj or {})
    # managedFields is bookkeeping nobody reads in a task result.
    resource["metadata"] = dict((k, v) for k, v in (resource.get("metadata") or {}).items() if k != "managedFields")
    return {"resource": resource, "address": gateway.gateway_address(obj),
            "programmed": (condition_of(obj, "Programmed") or {}).get("status") == "True"}


def _absent(invocation, namespace):
    result = delete_object(invocation.cluster(), GATEWAY_API_VERSION, GATEWAY_KIND, EASTWEST_NAME, namespace,
                           invocation.check_mode)
    report = {"changed": result.changed, "action": result.action, "resource": {}}
    if invocation.diff:
        report["diff"] = diff_of(result)
    return report


def _validate(params, network, cluster):
    """The options given (network and cluster may still be unknown: they are discovered)."""
    if network:
        validation.label_value(network, "network")
    if cluster:
        validation.cluster_name(cluster)
    for option in ("region", "zone"):
        if params[option]:
            validation.label_value(params[option], option)
    if params["address"]:
        validation.address(params["address"])


def run(invocation):
    params = invocation.params
    namespace = validation.namespace(params["namespace"])
    install_namespace = validation.namespace(params["install_namespace"], "install_namespace")
    if params["state"] == "absent":
        return _absent(invocation, namespace)

    # What was given is validated before any request; discovered values once known.
    network, cluster_name = params["network"], params["cluster"]
    _validate(params, network, cluster_name)
    if not (network and cluster_name):
        network, cluster_name = mesh_state.resolve_topology(invocation.cluster(), install_namespace, network, cluster_name)
        _validate(params, network, cluster_name)
    desired = gateway.eastwest_gateway(namespace, network, cluster_name, params["region"], params["zone"],
                                       params["address"])
    if params["generate"]:
        return {"changed": False, "action": "generated", "resource": desired,
                "network": network, "cluster": cluster_name}

    cluster = invocation.cluster()
    namespace_result = ensure_namespace(cluster, namespace, invocation.check_mode)
    result = apply_object(cluster, desired, invocation.check_mode, force_conflicts=params["force_conflicts"])
    obj = result.after
    report = {"changed": result.changed or namespace_result.changed, "action": result.action,
              "network": network, "cluster": cluster_name}
    if params["wait"] and not invocation.check_mode:
        try:
            obj = _wait_for_peers(cluster, namespace, params)
        except GloomeshError as exc:
            exc.details.setdefault("changed", report["changed"])
            if params["address"] or "timed out" not in exc.message:
                raise
            raise _no_address_hint(cluster, namespace, exc)
        report["peer"] = mesh_state.peer_descriptor(cluster, namespace, install_namespace,
                                                    params["trust_domain_source"], cluster_name)
    report.update(_report(obj))
    if params["address"]:
        report["address"] = params["address"]
    if invocation.diff:
        report["diff"] = diff_of(result)
    return report
