# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""upgrade_plan: every cluster's ServiceMeshController version, read at once on the controller, and the
plan of the rolling upgrade (module_utils/upgrade.py), refused before anything is written."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible.utils.display import Display

from ansible_collections.gloomesh.multicluster.plugins.module_utils import mesh_state, upgrade
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    OPERATOR_NAMESPACE,
    SERVICE_MESH_API_VERSION,
    SERVICE_MESH_KIND,
    SERVICE_MESH_NAME,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.apply import get_object
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import credential_files_removed, get_cluster
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils.controller_action import RunOnceAction

display = Display()

ARGUMENT_SPEC = dict(
    hosts=dict(type="list", elements="str"),
    version=dict(type="str", required=True),
    canary=dict(type="raw"),
    batch_size=dict(type="raw", default=1),
    service_mesh_name=dict(type="str", default=SERVICE_MESH_NAME),
    service_mesh_namespace=dict(type="str", default=OPERATOR_NAMESPACE),
    request_timeout=dict(type="int", default=30),
)
# Host variables naming a host's cluster and its connection.
_HOST_VARIABLES = ("cluster_name", "kube_context", "kubeconfig")


def _spec_version(args, variables):
    """((spec.version or None, ready), problem or None) of one cluster's ServiceMeshController: a read only."""
    options = {"context": variables.get("kube_context"), "kubeconfig": variables.get("kubeconfig"),
               "request_timeout": args["request_timeout"]}
    try:
        cluster = get_cluster(options)
        live = get_object(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND, args["service_mesh_name"],
                          args["service_mesh_namespace"])
    except GloomeshError as exc:
        return (None, False), "%s: %s" % (variables.get("cluster_name"), exc.message)
    return (((live or {}).get("spec") or {}).get("version"), mesh_state.service_mesh_readiness(live)[0]), None


class ActionModule(RunOnceAction):
    """Runs once for the play (like mesh_preflight); writes nothing."""

    def _variables(self, host, hostvars):
        return dict((name, self._templar.template(hostvars[host][name]))
                    for name in _HOST_VARIABLES if name in hostvars[host])

    def _current(self, args, hosts, hostvars):
        """[(host, cluster, version, ready)] in the order of ``hosts``, and the clusters that did not answer.
        Every cluster is asked at once (threads): a dead one costs one timeout."""
        variables = [self._variables(host, hostvars) for host in hosts]
        with credential_files_removed(), ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            answers = list(pool.map(lambda v: _spec_version(args, v), variables))
        current = [(host, v.get("cluster_name") or host, version, ready)
                   for host, v, ((version, ready), _problem) in zip(hosts, variables, answers)]
        return current, [problem for _version, problem in answers if problem]

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hosts = list(args["hosts"] if args["hosts"] is not None else task_vars.get("ansible_play_hosts_all") or [])
        result["changed"] = False
        if not hosts:
            result.update(failed=True, msg="upgrade_plan: no cluster to upgrade (the play has no hosts)")
            return result
        current, unread = self._current(args, hosts, task_vars["hostvars"])
        try:
            if unread:
                raise GloomeshError("upgrade to %s refused, nothing was changed: %s"
                                    % (args["version"], " | ".join(unread)), problems=unread)
            plan = upgrade.plan(current, args["version"], args["canary"], args["batch_size"])
        except GloomeshError as exc:
            result.update(failed=True, msg=exc.message, problems=exc.details.get("problems") or [exc.message])
            return result
        lines = upgrade.render(plan)
        display.display("\n".join(lines))
        stages = dict((step["host"], step["stage"]) for step in plan["steps"])
        result.update(plan, stages=stages, problems=[], msg=" | ".join(lines))
        return result
