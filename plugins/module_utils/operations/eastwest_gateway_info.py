# Copyright: gloomesh.multicluster contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""What eastwest_gateway_info does: read one cluster the way ``istioctl multicluster link``
reads a destination and return its peer descriptor. Read-only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError


def run(invocation):
    params = invocation.params
    namespace = None if params["all_namespaces"] else validation.namespace(params["namespace"])
    install_namespace = validation.namespace(params["install_namespace"], "install_namespace")
    cluster = invocation.cluster()
    peer = mesh_state.peer_descriptor(cluster, namespace, install_namespace, params["trust_domain_source"])
    # What mesh_link would refuse is refused here already, naming this cluster.
    try:
        validation.peer(peer)
    except GloomeshError as exc:
        raise GloomeshError("cluster %s cannot be linked: %s" % (peer["cluster"], exc.message), **exc.details)
    return {"changed": False, "peer": peer, "trust_domain_source": peer["trust_domain_source"]}
