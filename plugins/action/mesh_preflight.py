# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""mesh_preflight: every input of every cluster of the play, and what each cluster answered, checked
at once on the controller before anything is written (see plugin_utils/inventory_inputs.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible.plugins.action import ActionBase

from ansible_collections.gloomesh.multicluster.plugins.module_utils import helm, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import OPERATOR_NAMESPACE
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s import access
from ansible_collections.gloomesh.multicluster.plugins.module_utils.k8s.client import credential_files_removed, get_cluster
from ansible_collections.gloomesh.multicluster.plugins.plugin_utils import inventory_inputs

# The Gloo Mesh releases automatic linking upgrades (procedure, "Enable automatic peering of clusters").
PLATFORM_RELEASE = "gloo-platform"
AUTOMATIC_RELEASES_MANAGEMENT = ("gloo-platform-crds", PLATFORM_RELEASE)
AUTOMATIC_RELEASES_WORKLOAD = ("gloo-platform-crds",)
OPERATOR_RELEASE = "gloo-operator"
# Host variables preflight reads: the inputs its role declares, the role variables handed to modules.
_DECLARED = inventory_inputs.declared_inputs()  # (per host, inventory-wide)
_VARIABLES = _DECLARED[0] + tuple(inventory_inputs.MODULE_OPTIONS)
_INVENTORY_VARIABLES = _DECLARED[1] + tuple(
    name for name, _file in inventory_inputs.ROOT_FILE_VARIABLES)


def _platform_version_problem(cluster):
    """Why the management plane's gloo-platform release cannot peer automatically (None: 2.7 or later, or
    not deployed). Automatic peering needs Gloo Mesh 2.7 or later (procedure, "Version requirements" and
    "Enable automatic peering of clusters"); the chart version is the one helm recorded for the release."""
    release = helm.deployed_release(cluster, OPERATOR_NAMESPACE, PLATFORM_RELEASE)
    if release is None:
        return None
    version = ((release.get("chart") or {}).get("metadata") or {}).get("version") or "unknown"
    return validation.gloo_version_problem(version, "Helm release %s in namespace %s (chart version)"
                                           % (PLATFORM_RELEASE, OPERATOR_NAMESPACE))


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
    def _cluster_problems(host, variables, timeout, in_play, releases, helm_missing, writes):
        """(problems, identity) of one cluster. Every cluster of the mesh says who it is (k8s/access.py),
        so that two hosts reaching one cluster are found in a --limit run too; one outside the play that
        does not answer is no problem (mesh_link skips it). A cluster of the play must answer; then the
        Helm releases automatic linking upgrades, from helm's own release records; without a helm
        binary, whether the Gloo Operator still has to be installed; and whether our identity may
        send the run's writes."""
        options = {"context": variables.get("kube_context"), "kubeconfig": variables.get("kubeconfig"),
                   "request_timeout": timeout}
        try:
            cluster = get_cluster(options)  # discovery: /version and the API groups
            identity = access.identity(cluster)
            if not in_play:
                return [], identity
            missing = [release for release in releases
                       if not helm.release_records(cluster, OPERATOR_NAMESPACE, release, deployed_only=True)]
            too_old = _platform_version_problem(cluster) if PLATFORM_RELEASE in releases else None
            install = helm_missing and not helm.release_records(cluster, OPERATOR_NAMESPACE, OPERATOR_RELEASE,
                                                                deployed_only=True)
            denied = access.denied(cluster, writes)
        except GloomeshError as exc:
            return (["%s: %s" % (host, exc.message)] if in_play else []), None
        problems = ["%s: Helm release %s not found in namespace %s: automatic linking upgrades an existing Gloo "
                    "Mesh installation" % (host, release, OPERATOR_NAMESPACE) for release in missing]
        if too_old:
            problems.append("%s: %s" % (host, too_old))
        if install:
            problems.append("%s: the Gloo Operator is not installed yet and %s" % (host, helm_missing))
        if denied:
            problems.append("%s: cluster %s: the credential of this context may not %s (SelfSubjectAccessReview): "
                            "the run would fail with 403 at its first write here; grant it these (RBAC) or use "
                            "another credential" % (host, cluster.name, ", ".join(denied)))
        return problems, identity

    def _clusters(self, host_variables, play_hosts, timeout, releases, helm_missing, writes):
        """Ask every cluster at once (threads): a dead cluster costs one timeout, not one per cluster."""
        hosts = [h for h, v in sorted(host_variables.items()) if v.get("kube_context")]
        if not hosts:
            return []
        # The clients of every thread write key and CA files; none outlives the questions.
        with credential_files_removed(), ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            answers = list(pool.map(lambda h: self._cluster_problems(
                h, host_variables[h], timeout, h in play_hosts, releases.get(h, ()), helm_missing, writes), hosts))
        identities = dict((host, identity) for host, (_problems, identity) in zip(hosts, answers) if identity)
        return [problem for problems, _identity in answers for problem in problems] + \
            inventory_inputs.same_cluster_problems(identities)

    def _problems(self, args, task_vars, hosts, mesh, workload, management):
        """Every problem of the inputs of ``mesh`` and of the clusters of ``hosts`` (the play's)."""
        hostvars = task_vars["hostvars"]
        linking = args.get("linking", "manual")
        host_variables = dict((host, self._variables(host, hostvars, _VARIABLES)) for host in mesh)
        # Inventory-wide inputs as the first host sees them (group_vars/all in practice).
        inventory = self._variables(hosts[0], hostvars, _INVENTORY_VARIABLES)
        install_namespace = inventory.get("gloomesh_install_namespace") or "istio-system"
        problems = inventory_inputs.inventory_problems(inventory)
        problems += inventory_inputs.topology_problems(host_variables, workload, management, linking,
                                                       *self._group_names(args))
        for host in mesh:
            problems += inventory_inputs.host_problems(
                host, host_variables[host], inventory.get("gloomesh_istio_version"), install_namespace)
        automatic = linking == "automatic"
        releases = dict((host, (AUTOMATIC_RELEASES_MANAGEMENT if host in management else AUTOMATIC_RELEASES_WORKLOAD)
                         if automatic else ()) for host in hosts)
        operator_helm = inventory_inputs.inventory_values(inventory)[0]["gloomesh_operator_helm"]
        helm_missing = None
        if operator_helm:
            try:
                helm.find_binary()
            except GloomeshError as exc:
                helm_missing = exc.message
        writes = inventory_inputs.run_writes(install_namespace, inventory.get("gloomesh_gateway_api_crds") or "install",
                                             operator_helm)
        problems += self._clusters(host_variables, set(hosts), int(args.get("request_timeout") or 30), releases,
                                   helm_missing, writes)
        failed = set(task_vars.get("ansible_play_hosts_all") or []) - set(task_vars.get("ansible_play_hosts") or [])
        return problems + ["%s: failed during preflight (see above)" % host for host in sorted(failed)]

    @staticmethod
    def _group_names(args):
        return args.get("workload_group", "workload_clusters"), args.get("management_group", "management_cluster")

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        given = args.get("hosts")
        hosts = list(given if given is not None else task_vars.get("ansible_play_hosts_all") or [])
        groups = task_vars.get("groups") or {}
        workload_group, management_group = self._group_names(args)
        workload, management = list(groups.get(workload_group) or []), list(groups.get(management_group) or [])
        linking = args.get("linking", "manual")

        # The mesh is the inventory's groups, not the play: a --limit run links its clusters with
        # the others (mesh_link writes into them), so their inputs count too. Only the play's
        # clusters must answer; mesh_link skips, with a warning, a cluster outside the run that does not.
        mesh = [host for host in workload + (management if linking == "automatic" else []) if host in task_vars["hostvars"]]
        mesh += [host for host in hosts if host not in mesh]
        if hosts:
            problems = self._problems(args, task_vars, hosts, mesh, workload, management)
        else:
            # hosts: [] (a first play on localhost) checks the groups only: a play whose group is empty
            # or null runs nothing and ends with rc 0.
            problems = inventory_inputs.group_problems(workload, management, linking, workload_group, management_group)
        result.update(changed=False, problems=problems, clusters=sorted(mesh))
        if problems:
            result.update(failed=True, msg="Preflight found %d problem(s); nothing was changed: %s"
                          % (len(problems), " | ".join(problems)))
        else:
            result["msg"] = "Preflight passed for %d clusters%s: %s" % (
                len(mesh), "" if hosts else " (their groups only)", ", ".join(sorted(mesh)))
        return result
