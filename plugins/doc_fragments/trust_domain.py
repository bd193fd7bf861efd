# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The option of the modules that read a cluster's trust domain (mesh_state.resolve_trust_domain).
    DOCUMENTATION = r"""
options:
  trust_domain_source:
    description:
      - Which source wins when the cluster's trust domain sources disagree; by default disagreement is an error.
      - The trust domain is read from the mesh ConfigMap (C(istio-gloo), else C(istio)) in I(install_namespace)
        (C(mesh_config)), else the ServiceMeshController installing into it, its C(trustDomain), else its
        C(cluster) (C(service_mesh); procedure, "ServiceMeshController reference", trustDomain), else
        C(cluster.local).
    type: str
    choices: [mesh_config, service_mesh]
"""
