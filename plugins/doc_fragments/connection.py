# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The cluster connection of k8s/client.py, on top of kubernetes.core.k8s_auth_options.
    DOCUMENTATION = r"""
options:
  request_timeout:
    description:
      - Seconds every request to the API server may take (connect and read), and how long a watch
        may stay silent before the server counts as not answering.
      - A dead or frozen API server fails the task after this long, naming the cluster's context.
    type: int
    default: 30
notes:
  - Inventory hosts are clusters. When neither the task nor C(module_defaults) set O(context) and
    O(kubeconfig), they come from the host variables C(kube_context) and C(kubeconfig).
  - With a local connection the module runs in the controller process (no module process per
    task); set the variable C(gloomesh_in_process=false) to run it as a process.
"""
