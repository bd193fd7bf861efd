# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Names shared by every layer: API groups, kinds, object names, labels and annotations.

Neutral on purpose: builders, the Kubernetes layer, operations and controller plugins all import
from here, and this module imports nothing of ours.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# ---------------------------------------------------------------- ownership of what we write
FIELD_MANAGER = "gloomesh"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gloomesh.multicluster"
MANAGED_BY = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}

# ---------------------------------------------------------------- namespaces
INSTALL_NAMESPACE = "istio-system"
OPERATOR_NAMESPACE = "gloo-mesh"
EASTWEST_NAMESPACE = "istio-eastwest"
# Namespaces the Gloo Operator installs into without manager.env.WATCH_NAMESPACES (procedure,
# "ServiceMeshController reference", installNamespace).
OPERATOR_WATCHED = ("gloo-system", "gloo-mesh", "istio-system")

# ---------------------------------------------------------------- the service mesh (Gloo Operator)
SERVICE_MESH_API_VERSION = "operator.gloo.solo.io/v1"
SERVICE_MESH_KIND = "ServiceMeshController"
SERVICE_MESH_NAME = "managed-istio"
EXTENSIONS_CONFIGMAP = "gloo-extensions-config"
NAME_LABEL = "app.kubernetes.io/name"
# The Gloo Operator's revision "gloo" first, then a default-revision install.
ISTIOD_DEPLOYMENTS = ("istiod-gloo", "istiod")
# Ambient components the operator deploys next to istiod (procedure, "Deploy mesh components" step 6).
MESH_DAEMONSETS = ("istio-cni-node", "ztunnel")
# The mesh ConfigMap of revision "gloo" first, then of the default revision.
MESH_CONFIGMAPS = ("istio-gloo", "istio")

# ---------------------------------------------------------------- Gateways
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
GATEWAY_KIND = "Gateway"
EASTWEST_NAME = "istio-eastwest"
EASTWEST_CLASS = "istio-eastwest"
REMOTE_CLASS = "istio-remote"
PEER_NAME_PREFIX = "istio-remote-peer-"
DEFAULT_TRUST_DOMAIN = "cluster.local"
# The east-west Service (and its ServiceAccount) is named after the Gateway.
DEFAULT_SERVICE_ACCOUNT = EASTWEST_NAME
XDS_LISTENER = "xds-tls"
HBONE_LISTENER = "cross-network"
XDS_PORT = 15012
HBONE_PORT = 15008

LABEL_EXPOSE_ISTIOD = "istio.io/expose-istiod"
LABEL_NETWORK = "topology.istio.io/network"
LABEL_CLUSTER = "topology.istio.io/cluster"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_ZONE = "topology.kubernetes.io/zone"
ANNOTATION_SERVICE_ACCOUNT = "gateway.istio.io/service-account"
ANNOTATION_TRUST_DOMAIN = "gateway.istio.io/trust-domain"
# Ours: the address a cluster advertises to its peers when its load balancer address is not the
# one peers can reach (NAT, no LoadBalancer implementation). Istio does not read it.
ANNOTATION_ADVERTISED_ADDRESS = "gloomesh.multicluster/advertised-address"
# On a ServiceMeshController: the spec.version it had before upgrade_mesh last changed it (its rollback).
ANNOTATION_PREVIOUS_VERSION = "gloomesh.multicluster/previous-istio-version"

ADDRESS_IP = "IPAddress"
ADDRESS_HOSTNAME = "Hostname"
ADDRESS_TYPES = (ADDRESS_IP, ADDRESS_HOSTNAME)

# Conditions Solo's istiod reports on istio-remote Gateways.
PEER_CONNECTED = "gloo.solo.io/PeerConnected"
PEERING_SUCCEEDED = "gloo.solo.io/PeeringSucceeded"
PEER_DATAPLANE_PROGRAMMED = "gloo.solo.io/PeerDataPlaneProgrammed"

# How the clusters of a mesh are linked: peer Gateways we write (mesh_link), or Gloo Mesh's
# automatic peering (the management plane distributes the peers).
LINKING_MODES = ("manual", "automatic")

# ---------------------------------------------------------------- root of trust (Istio plug-in CA)
ROOT_OF_TRUST_SECRET = "cacerts"
