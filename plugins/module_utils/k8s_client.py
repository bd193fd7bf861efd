# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Connection: kubernetes.core's auth options, module class and client, reused as kubevirt.core does.

Modules document the options with ``extends_documentation_fragment: kubernetes.core.k8s_auth_options``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    AUTH_ARG_SPEC,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (
    get_api_client,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import (
    CoreException,
)

from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

__all__ = ["AUTH_ARG_SPEC", "get_k8s_client", "gloomesh_module"]


def gloomesh_module(argument_spec, **kwargs):
    """An AnsibleK8SModule with kubernetes.core's auth options merged in and check mode on.

    AnsibleK8SModule fails with missing_required_lib() when the kubernetes or PyYAML
    Python libraries are absent, before any of our code needs them.
    """
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    return AnsibleK8SModule(module_class=AnsibleModule, argument_spec=spec, **kwargs)


def get_k8s_client(module=None, **auth):
    """kubernetes.core's K8SClient for the module's auth options (or explicit ``auth`` keywords).

    ``client.client`` is the dynamic client used by k8s_apply / k8s_wait. Configuration
    problems (bad kubeconfig, unknown context) become GloomeshError.
    """
    try:
        return get_api_client(module=module, **auth)
    except CoreException as exc:
        raise GloomeshError(str(exc))
