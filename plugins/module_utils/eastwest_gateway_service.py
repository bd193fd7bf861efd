# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What eastwest_gateway does: resolve the cluster's topology, apply the east-west Gateway,
wait until istiod has programmed it with an address, report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils import gateway_builder as gb
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_apply import (
    apply_object,
    delete_object,
    describe,
    diff_of,
    ensure_namespace,
    get_object,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_client import get_k8s_client
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s_wait import wait_for

# The Gloo Operator's revision "gloo" first, then a default-revision install.
ISTIOD_DEPLOYMENTS = ("istiod-gloo", "istiod")


def discover_network(client, install_namespace):
    """Label topology.istio.io/network of istiod's namespace, or None."""
    namespace = get_object(client, "v1", "Namespace", install_namespace)
    return ((namespace or {}).get("metadata", {}).get("labels") or {}).get(gb.LABEL_NETWORK) or None


def discover_cluster(client, install_namespace):
    """istiod's CLUSTER_ID (istiod-gloo first, then istiod), or None when unset."""
    for name in ISTIOD_DEPLOYMENTS:
        deployment = get_object(client, "apps/v1", "Deployment", name, install_namespace)
        if deployment is not None:
            return gb.cluster_id_of(deployment)
    return None


def _not_discovered(option, install_namespace):
    if option == "network":
        return ("network is not set and namespace %s has no label %s"
                % (install_namespace, gb.LABEL_NETWORK))
    return ("cluster is not set and no Deployment %s in namespace %s sets CLUSTER_ID (other than "
            "the default Kubernetes)" % (" or ".join(ISTIOD_DEPLOYMENTS), install_namespace))


def resolve_topology(client, install_namespace, network=None, cluster=None, needed=("network", "cluster")):
    """Given values win; the rest comes from the cluster. Error naming every option still unknown."""
    values = {"network": network, "cluster": cluster}
    discover = {"network": discover_network, "cluster": discover_cluster}
    missing = []
    for option in needed:
        if not values[option]:
            values[option] = discover[option](client, install_namespace)
            if not values[option]:
                missing.append(option)
    if missing:
        raise GloomeshError(
            "%s; set option%s %s (they must match the ServiceMeshController's cluster and network)"
            % ("; ".join(_not_discovered(o, install_namespace) for o in missing),
               "s" if len(missing) > 1 else "", " and ".join(missing)),
            missing=missing)
    return values["network"], values["cluster"]


def _programmed_with_address(gateway):
    if gateway is None:
        return False, "the Gateway does not exist"
    missing = []
    if gb.condition_status(gateway, "Programmed") != "True":
        missing.append("condition Programmed not True")
    if not gb.gateway_address(gateway):
        missing.append("no address in status.addresses")
    return not missing, "; ".join(missing)


def _report(gateway):
    resource = dict(gateway or {})
    # managedFields is bookkeeping nobody reads in a task result.
    resource["metadata"] = dict((k, v) for k, v in (resource.get("metadata") or {}).items() if k != "managedFields")
    return {"resource": resource, "address": gb.gateway_address(gateway),
            "programmed": gb.condition_status(gateway, "Programmed") == "True"}


def eastwest_gateway(module):
    params = module.params
    namespace = gb.validate_namespace(params["namespace"])
    gb.validate_namespace(params["install_namespace"], "install_namespace")

    if params["state"] == "absent":
        client = get_k8s_client(module)
        result = delete_object(client, gb.API_VERSION, gb.KIND, gb.EASTWEST_NAME, namespace,
                               module.check_mode)
        report = {"changed": result.changed, "action": result.action, "resource": {}}
        if module._diff:
            report["diff"] = diff_of(result)
        return report

    # Validate what was given before any request; discovered values are validated below.
    gb.validate_eastwest(namespace, params["network"], params["cluster"], params["region"],
                         params["zone"], params["address"])
    client = None
    network, cluster = params["network"], params["cluster"]
    if not (network and cluster):
        client = get_k8s_client(module)
        network, cluster = resolve_topology(client, params["install_namespace"], network, cluster)
        gb.validate_eastwest(namespace, network, cluster)
    desired = gb.eastwest_gateway(namespace, network, cluster, params["region"], params["zone"],
                                  params["address"])
    if params["generate"]:
        return {"changed": False, "action": "generated", "resource": desired,
                "network": network, "cluster": cluster}

    client = client or get_k8s_client(module)
    namespace_result = ensure_namespace(client, namespace, module.check_mode)
    result = apply_object(client, desired, module.check_mode, force_conflicts=params["force_conflicts"])
    gateway = result.after
    if params["wait"] and not module.check_mode:
        gateway = wait_for(client, gb.API_VERSION, gb.KIND, gb.EASTWEST_NAME, namespace,
                           _programmed_with_address, params["wait_timeout"],
                           "%s to be programmed with an address" % describe(gb.KIND, gb.EASTWEST_NAME, namespace))
    report = {"changed": result.changed or namespace_result.changed, "action": result.action,
              "network": network, "cluster": cluster}
    report.update(_report(gateway))
    if module._diff:
        report["diff"] = diff_of(result)
    return report
