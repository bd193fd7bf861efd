# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""mesh_preflight: every input of every cluster of the play, and what each cluster answered, checked
at once on the controller before anything is written (see plugin_utils/inventory_inputs.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.gloomesh.multicluster.plugins.module_utils import helm
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import OPERATOR_NAMESPACE
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import get_k8s_client
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import inventory_inputs

# The Gloo Mesh releases automatic linking upgrades (procedure, "Enable automatic peering of clusters").
AUTOMATIC_RELEASES_MANAGEMENT = ("gloo-platform-crds", "gloo-platform")
AUTOMATIC_RELEASES_WORKLOAD = ("gloo-platform-crds",)
OPERATOR_RELEASE = "gloo-operator"
# Host variables preflight reads: the inputs, the role variables handed to modules, the groups.
_VARIABLES = tuple(inventory_inputs.HOST_INPUTS) + tuple(inventory_inputs.MODULE_OPTIONS)
_INVENTORY_VARIABLES = ("gloomesh_istio_version", "gloomesh_gloo_version", "gloomesh_linking",
                        "gloomesh_install_namespace", "gloomesh_operator_helm", "gloomesh_license_key",
                        "gloomesh_license_secret_ref", "gloomesh_pki_dir", "gloomesh_force_conflicts",
                        "gloomesh_gateway_api_version", "gloomesh_gateway_api_crds")


class ActionModule(ActionBase):
    """Runs once for the play; reads every host's variables and its registered cluster check."""

    _supports_check_mode = True
    _VALID_ARGS = frozenset(("hosts", "workload_group", "management_group", "linking", "request_timeout"))

    def _variables(self, host, hostvars, names):
        values = {}
        for name in names:
            if name in hostvars[host]:
                values[name] = self._templar.template(hostvars[host][name])
        return values

    @staticmethod
    def _cluster_problems(host, variables, timeout, releases, helm_missing):
        """What a cluster answers: nothing when it does not answer through its context; the Helm releases
        automatic linking upgrades, from helm's own release records; and, without a helm binary, whether
        the Gloo Operator still has to be installed."""
        options = {"context": variables.get("kube_context"), "kubeconfig": variables.get("kubeconfig"),
                   "request_timeout": timeout}
        try:
            client = get_k8s_client(options)  # discovery: /version and the API groups
            missing = [release for release in releases
                       if not helm.release_records(client, OPERATOR_NAMESPACE, release, deployed_only=True)]
            install = helm_missing and not helm.release_records(client, OPERATOR_NAMESPACE, OPERATOR_RELEASE,
                                                                deployed_only=True)
        except GloomeshError as exc:
            return ["%s: %s" % (host, exc.message)]
        problems = ["%s: Helm release %s not found in namespace %s: automatic linking upgrades an existing Gloo "
                    "Mesh installation" % (host, release, OPERATOR_NAMESPACE) for release in missing]
        if install:
            problems.append("%s: the Gloo Operator is not installed yet and %s" % (host, helm_missing))
        return problems

    def _clusters(self, host_variables, timeout, releases, helm_missing):
        """Ask every cluster at once (threads): a dead cluster costs one timeout, not one per cluster."""
        hosts = [h for h, v in sorted(host_variables.items()) if v.get("kube_context")]
        if not hosts:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            answers = pool.map(lambda h: self._cluster_problems(h, host_variables[h], timeout, releases[h],
                                                                helm_missing), hosts)
        return [problem for problems in answers for problem in problems]

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        hostvars = task_vars["hostvars"]
        hosts = list(args.get("hosts") or task_vars.get("ansible_play_hosts_all") or [])
        groups = task_vars.get("groups") or {}
        workload = list(groups.get(args.get("workload_group", "workload_clusters")) or [])
        management = list(groups.get(args.get("management_group", "management_cluster")) or [])
        linking = args.get("linking", "manual")

        # The mesh is the inventory's groups, not the play: a --limit run links its clusters with
        # the others (mesh_link writes into them), so their inputs count too. Only the play's
        # clusters must answer; mesh_link skips, with a warning, a cluster outside the run that does not.
        mesh = [host for host in workload + (management if linking == "automatic" else []) if host in hostvars]
        mesh += [host for host in hosts if host not in mesh]
        host_variables = dict((host, self._variables(host, hostvars, _VARIABLES)) for host in mesh)
        # Inventory-wide inputs as the first host sees them (group_vars/all in practice).
        inventory = self._variables(hosts[0], hostvars, _INVENTORY_VARIABLES) if hosts else {}
        problems = inventory_inputs.inventory_problems(inventory)
        problems += inventory_inputs.topology_problems(host_variables, workload, management, linking)
        for host in mesh:
            problems += inventory_inputs.host_problems(
                host, host_variables[host], inventory.get("gloomesh_istio_version"),
                inventory.get("gloomesh_install_namespace") or "istio-system")
        automatic = linking == "automatic"
        releases = dict((host, (AUTOMATIC_RELEASES_MANAGEMENT if host in management else AUTOMATIC_RELEASES_WORKLOAD)
                         if automatic else ()) for host in hosts)
        helm_missing = None
        if boolean(inventory.get("gloomesh_operator_helm", True), strict=False):
            try:
                helm.find_binary()
            except GloomeshError as exc:
                helm_missing = exc.message
        problems += self._clusters(dict((host, host_variables[host]) for host in hosts),
                                   int(args.get("request_timeout") or 30), releases, helm_missing)
        failed = set(task_vars.get("ansible_play_hosts_all") or []) - set(task_vars.get("ansible_play_hosts") or [])
        problems += ["%s: failed during preflight (see above)" % host for host in sorted(failed)]
        result.update(changed=False, problems=problems, clusters=sorted(mesh))
        if problems:
            result.update(failed=True, msg="Preflight found %d problem(s); nothing was changed: %s"
                          % (len(problems), " | ".join(problems)))
        else:
            result["msg"] = "Preflight passed for %d clusters: %s" % (len(mesh), ", ".join(sorted(mesh)))
        return result
