# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""upgrade_plan: every cluster's ServiceMeshController (version, readiness, the version recorded before
the last upgrade) and Gloo Operator release, read at once on the controller, and the plan of the
rolling upgrade or its rollback (module_utils/upgrade.py), refused before anything is written."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible.utils.display import Display

from ansible_collections.gloomesh.multicluster.plugins.module_utils import helm, mesh_state, upgrade, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ANNOTATION_PREVIOUS_VERSION,
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
    version=dict(type="str"),
    rollback=dict(type="bool", default=False),
    canary=dict(type="raw"),
    batch_size=dict(type="raw", default=1),
    operator_chart_version=dict(type="str"),
    operator_release=dict(type="str", default="gloo-operator"),
    operator_namespace=dict(type="str", default=OPERATOR_NAMESPACE),
    istioctl=dict(type="dict", default={}, options=dict(
        install=dict(type="bool", default=False),
        repo_key=dict(type="str", no_log=True),
        base_url=dict(type="str"),
        url=dict(type="str"),
    )),
    service_mesh_name=dict(type="str", default=SERVICE_MESH_NAME),
    service_mesh_namespace=dict(type="str", default=OPERATOR_NAMESPACE),
    request_timeout=dict(type="int", default=30),
)
# Host variables naming a host's cluster and its connection.
_HOST_VARIABLES = ("cluster_name", "kube_context", "kubeconfig")


def _cluster_state(args, variables):
    """({version, ready, previous, operator}, problem or None) of one cluster: its ServiceMeshController
    and helm's record of the Gloo Operator release (chart version; None when helm did not install it).
    Reads only."""
    options = {"context": variables.get("kube_context"), "kubeconfig": variables.get("kubeconfig"),
               "request_timeout": args["request_timeout"]}
    try:
        cluster = get_cluster(options)
        live = get_object(cluster, SERVICE_MESH_API_VERSION, SERVICE_MESH_KIND, args["service_mesh_name"],
                          args["service_mesh_namespace"])
        release = helm.deployed_release(cluster, args["operator_namespace"], args["operator_release"])
    except GloomeshError as exc:
        return {}, "%s: %s" % (variables.get("cluster_name"), exc.message)
    metadata = (live or {}).get("metadata") or {}
    return {"version": ((live or {}).get("spec") or {}).get("version"),
            "ready": mesh_state.service_mesh_readiness(live)[0],
            "previous": (metadata.get("annotations") or {}).get(ANNOTATION_PREVIOUS_VERSION),
            "operator": (((release or {}).get("chart") or {}).get("metadata") or {}).get("version")}, None


def _refusals(args, current, states):
    """The operator's and istioctl's refusals of an upgrade (none for a rollback: it returns to what ran)."""
    if args["rollback"]:
        return []
    target = validation.check_multicluster_version(args["version"], "gloomesh_istio_version")
    istioctl = args["istioctl"] or {}
    problems = [upgrade.operator_problem(cluster, target, state.get("operator"), args["operator_chart_version"])
                for (_host, cluster, _v, _r, _p), state in zip(current, states)]
    problems.append(upgrade.istioctl_problem(target, istioctl.get("install"), istioctl.get("repo_key"),
                                             istioctl.get("base_url"), istioctl.get("url")))
    return [problem for problem in problems if problem]


class ActionModule(RunOnceAction):
    """Runs once for the play (like mesh_preflight); writes nothing."""

    def _variables(self, host, hostvars):
        return dict((name, self._templar.template(hostvars[host][name]))
                    for name in _HOST_VARIABLES if name in hostvars[host])

    def _current(self, args, hosts, hostvars):
        """[(host, cluster, version, ready, previous)] in the order of ``hosts``, every cluster's state, and
        the clusters that did not answer. Every cluster is asked at once (threads): a dead one costs one
        timeout."""
        variables = [self._variables(host, hostvars) for host in hosts]
        with credential_files_removed(), ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            answers = list(pool.map(lambda v: _cluster_state(args, v), variables))
        current = [(host, v.get("cluster_name") or host, state.get("version"), state.get("ready", False),
                    state.get("previous")) for host, v, (state, _problem) in zip(hosts, variables, answers)]
        return current, [state for state, _problem in answers], [problem for _state, problem in answers if problem]

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hosts = list(args["hosts"] if args["hosts"] is not None else task_vars.get("ansible_play_hosts_all") or [])
        result["changed"] = False
        if not hosts:
            result.update(failed=True, msg="upgrade_plan: no cluster to upgrade (the play has no hosts)")
            return result
        current, states, unread = self._current(args, hosts, task_vars["hostvars"])
        try:
            if unread:
                raise GloomeshError("upgrade_mesh refused, nothing was changed: %s" % " | ".join(unread), problems=unread)
            plan = upgrade.plan(current, args["version"], args["canary"], args["batch_size"], args["rollback"],
                                _refusals(args, current, states))
        except GloomeshError as exc:
            result.update(failed=True, msg=exc.message, problems=exc.details.get("problems") or [exc.message])
            return result
        operator_moves = [] if args["rollback"] else upgrade.operator_moves(
            plan, [state.get("operator") for state in states], args["operator_chart_version"])
        lines = upgrade.render(plan)
        display.display("\n".join(lines))
        stages = dict((step["host"], step["stage"]) for step in plan["steps"])
        result.update(plan, stages=stages, operator_upgrades=operator_moves, problems=[], msg=" | ".join(lines))
        return result
