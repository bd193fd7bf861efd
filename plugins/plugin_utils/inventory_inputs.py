# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""The inventory inputs the roles read, declared once, and the checks preflight runs on them.

Every check calls the rule the module applies (validation.py, a module's argument spec, the root of
trust's own file checks), so preflight refuses exactly what the modules would refuse later, only
before the first write and for every host at once. Pure: host variables in, problems out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os
import pkgutil

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.gloomesh.multicluster.plugins import modules
from ansible_collections.gloomesh.multicluster.plugins.module_utils import planning, root_files, validation
from ansible_collections.gloomesh.multicluster.plugins.module_utils.builders import gateway_api_crds, service_mesh
from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import EASTWEST_NAMESPACE, LINKING_MODES, OPERATOR_NAMESPACE
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError
from ansible_collections.gloomesh.multicluster.plugins.modules import eastwest_gateway as eastwest_gateway_module
from ansible_collections.gloomesh.multicluster.plugins.modules import gloo_operator as gloo_operator_module
from ansible_collections.gloomesh.multicluster.plugins.modules import root_of_trust as root_of_trust_module
from ansible_collections.gloomesh.multicluster.plugins.modules import servicemeshcontroller as service_mesh_module

GATEWAY_API_CRDS_POLICIES = gateway_api_crds.POLICIES


def modules_with_option(option):
    """Names of this collection's modules whose ARGUMENT_SPEC has ``option``, read from the modules."""
    names = sorted(found.name for found in pkgutil.iter_modules(modules.__path__))
    return tuple(name for name in names
                 if option in getattr(importlib.import_module("%s.%s" % (modules.__name__, name)), "ARGUMENT_SPEC", {}))


# Modules with a force_conflicts option, which gloomesh_force_conflicts may name.
FORCE_CONFLICTS_MODULES = modules_with_option("force_conflicts")


# Where the inventory inputs are declared: the preflight role's argument specs (its options other
# than preflight_*, which tune the role; gloomesh_* are inventory-wide, the others per host).
# hack/role_docs.py renders the same file as the role's README table.
PREFLIGHT_SPECS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                               "roles", "preflight", "meta", "argument_specs.yml")


def declared_inputs(path=PREFLIGHT_SPECS):
    """(per-host names, inventory-wide names) of the inventory inputs the preflight role declares: the
    per-host ones are those with a rule in HOST_INPUTS, every other one is inventory-wide."""
    with open(path, encoding="utf-8") as fh:
        options = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
    names = [name for name in options if not name.startswith("preflight_")]
    return (tuple(name for name in names if name in HOST_INPUTS),
            tuple(name for name in names if name not in HOST_INPUTS))


def _text(option):
    def rule(value, _option=option):
        if not isinstance(value, str) or not value.strip():
            validation.fail(option, value, "must be a non-empty string")
    return rule


def force_conflicts(value):
    """gloomesh_force_conflicts as preflight checks it and the action plugin hands it to the modules:
    true or false (also as the string ``-e gloomesh_force_conflicts=true`` gives), or a list of
    FORCE_CONFLICTS_MODULES; GloomeshError for anything else."""
    if isinstance(value, str):
        try:
            value = boolean(value, strict=True)
        except TypeError:
            pass
    if isinstance(value, bool) or (isinstance(value, list) and all(name in FORCE_CONFLICTS_MODULES for name in value)):
        return value
    raise GloomeshError("gloomesh_force_conflicts %r must be true, false or a list of %s"
                        % (value, ", ".join(FORCE_CONFLICTS_MODULES)), option="gloomesh_force_conflicts")


def _cluster_names(value, option):
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        validation.fail(option, value, "must be a list of cluster names")


# Per-host inputs: name -> (rule(value, option), required).
HOST_INPUTS = {
    "cluster_name": (validation.cluster_name, True),
    "kube_context": (_text("kube_context"), True),
    "kubeconfig": (validation.kubeconfig, False),
    "cluster_network": (validation.label_value, False),
    "cluster_region": (validation.label_value, False),
    "cluster_zone": (validation.label_value, False),
    "eastwest_gateway_address": (validation.address, False),
    "mesh_link_to": (_cluster_names, False),
    "mesh_link_peers": (_cluster_names, False),
}

# Inventory-wide inputs with a rule of their own: name -> rule(value, option), checked when set.
INVENTORY_INPUTS = {
    "gloomesh_operator_chart_version": validation.parse_chart_version,
    "upgrade_batch_size": validation.upgrade_batch_size,
}

# Role variables handed to a module option unchanged: checked with that module's argument spec.
MODULE_OPTIONS = {
    "service_mesh_trust_domain": (service_mesh_module, "trust_domain"),
    "service_mesh_distribution": (service_mesh_module, "distribution"),
    "service_mesh_scaling_profile": (service_mesh_module, "scaling_profile"),
    "service_mesh_image": (service_mesh_module, "image"),
    "service_mesh_repository": (service_mesh_module, "repository"),
    "service_mesh_extensions": (service_mesh_module, "extensions"),
    "service_mesh_wait_timeout": (service_mesh_module, "wait_timeout"),
    "service_mesh_allow_cluster_change": (service_mesh_module, "allow_cluster_change"),
    "eastwest_gateway_namespace": (eastwest_gateway_module, "namespace"),
    "eastwest_gateway_wait_timeout": (eastwest_gateway_module, "wait_timeout"),
    "root_of_trust_renew_before": (root_of_trust_module, "renew_before"),
    "root_of_trust_force": (root_of_trust_module, "force"),
}

# Inventory-wide variables handed to a module option: parsed once, by that module's spec, and
# preflight decides from the parsed value (so `-e gloomesh_operator_helm=0` is false everywhere).
INVENTORY_MODULE_OPTIONS = {
    "gloomesh_operator_helm": (gloo_operator_module, "helm"),
}


def _unset(value):
    return value is None or value == "" or value == {} or value == []


def _check(problems, host, rule, value, option):
    """``rule(value, option)``'s refusal appended to ``problems``, after ``host: `` unless host is None."""
    try:
        rule(value, option)
    except GloomeshError as exc:
        problems.append(exc.message if host is None else "%s: %s" % (host, exc.message))


def _check_option(problems, host, module, option, variable, value):
    """The module's own type, choices and suboption rules for one option."""
    spec = {option: module.ARGUMENT_SPEC[option]}
    result = ArgumentSpecValidator(spec).validate({option: value})
    for message in result.error_messages:
        problems.append("%s: %s (module option %s of %s): %s" % (
            host, variable, option, module.__name__.rpartition(".")[2], message))
    return result.validated_parameters.get(option) if not result.error_messages else None


def host_problems(host, variables, istio_version, install_namespace):
    """Problems of one host's own inputs (its variables as the roles would see them)."""
    problems = []
    for name, (rule, required) in HOST_INPUTS.items():
        value = variables.get(name)
        if _unset(value):
            if required:
                problems.append("%s: %s is not set" % (host, name))
            continue
        _check(problems, host, rule, value, name)
    options = {}
    for variable, (module, option) in MODULE_OPTIONS.items():
        value = variables.get(variable)
        if not _unset(value):
            options[option] = _check_option(problems, host, module, option, variable, value)
    # The whole ServiceMeshController as the service_mesh role would ask for it.
    if not problems and istio_version:
        spec = service_mesh_module.ARGUMENT_SPEC
        params = dict((key, entry.get("default")) for key, entry in spec.items())
        params.update((k, v) for k, v in options.items() if k in spec)
        params.update(cluster=variables.get("cluster_name"), version=istio_version,
                      network=variables.get("cluster_network") or variables.get("cluster_name"),
                      install_namespace=install_namespace)
        try:
            version, _warnings = validation.service_mesh(params)
            service_mesh.build(params, version)
        except GloomeshError as exc:
            # A bad version is reported once, as gloomesh_istio_version.
            if exc.details.get("option") != "version":
                problems.append("%s: service mesh: %s" % (host, exc.message))
    return problems


def inventory_values(variables):
    """(values, problems): each of INVENTORY_MODULE_OPTIONS as its module parses it (its default when
    unset, None when refused)."""
    values, problems = {}, []
    for variable, (module, option) in INVENTORY_MODULE_OPTIONS.items():
        value = variables.get(variable)
        if _unset(value):
            values[variable] = module.ARGUMENT_SPEC[option].get("default")
        else:
            values[variable] = _check_option(problems, variable, module, option, variable, value)
    return values, [p.partition(": ")[2] for p in problems]


def inventory_problems(variables):
    """Problems of the inventory-wide inputs (the gloomesh_* variables)."""
    values, problems = inventory_values(variables)
    version = variables.get("gloomesh_istio_version")
    if _unset(version):
        problems.append("gloomesh_istio_version is not set: give the Solo Istio version to install (e.g. 1.25.2)")
    else:
        try:
            validation.check_multicluster_version(version, "gloomesh_istio_version")
        except GloomeshError as exc:
            problems.append(exc.message)
    gloo = validation.gloo_version_problem(variables.get("gloomesh_gloo_version"))
    if gloo:
        problems.append(gloo)
    bundle = variables.get("gloomesh_gateway_api_version")
    if not _unset(bundle):
        problem = validation.gateway_api_version_problem(bundle, "gloomesh_gateway_api_version")
        if problem:
            problems.append(problem)
    policy = variables.get("gloomesh_gateway_api_crds") or "install"
    if policy not in GATEWAY_API_CRDS_POLICIES:
        problems.append("gloomesh_gateway_api_crds %r must be one of %s" % (policy, ", ".join(GATEWAY_API_CRDS_POLICIES)))
    linking = variables.get("gloomesh_linking") or "manual"
    if linking not in LINKING_MODES:
        problems.append("gloomesh_linking %r must be one of %s" % (linking, ", ".join(LINKING_MODES)))
    namespace = variables.get("gloomesh_install_namespace")
    if not _unset(namespace):
        _check(problems, "gloomesh_install_namespace", validation.namespace, namespace, "gloomesh_install_namespace")
        problems = [p.partition(": ")[2] if p.startswith("gloomesh_install_namespace: ") else p for p in problems]
    if values["gloomesh_operator_helm"]:
        problems.extend(validation.license_problems(variables.get("gloomesh_license_key"),
                                                    variables.get("gloomesh_license_secret_ref")))
    problems.extend(_root_files_problems(variables))
    for name, rule in INVENTORY_INPUTS.items():
        if not _unset(variables.get(name)):
            _check(problems, None, rule, variables[name], name)
    try:
        force_conflicts(variables.get("gloomesh_force_conflicts", False))
    except GloomeshError as exc:
        problems.append(exc.message)
    return problems


# The root_of_trust role's variables for its files, over gloomesh_pki_dir (its defaults).
ROOT_FILE_VARIABLES = (("root_of_trust_root_cert_path", "root-cert.pem"), ("root_of_trust_root_key_path", "root-key.pem"))


def _root_files_problems(variables):
    """The root of trust the root_of_trust role would load: both files or neither, a self-signed CA
    and its key (the module's own loaders and rules). Checked when gloomesh_pki_dir or a file's own
    variable is set: a mismatched pair is refused before the first write, not after istio-system."""
    pki_dir = variables.get("gloomesh_pki_dir")
    explicit = [name for name, _file in ROOT_FILE_VARIABLES if not _unset(variables.get(name))]
    if _unset(pki_dir) and not explicit:
        return []  # the default directory: the module checks it
    label = " / ".join(explicit) if explicit else "gloomesh_pki_dir"
    directory = os.path.expanduser(pki_dir if not _unset(pki_dir) else "~/.gloomesh/pki")
    cert_path, key_path = [os.path.expanduser(variables.get(name) or os.path.join(directory, default))
                           for name, default in ROOT_FILE_VARIABLES]
    try:
        for name in explicit:
            validation.pem_file_path(variables[name], name)
    except GloomeshError as exc:
        return [exc.message]
    present = [p for p in (cert_path, key_path) if os.path.lexists(p)]
    if not present:
        return []  # generated by the first run
    if len(present) == 1:
        missing = key_path if present[0] == cert_path else cert_path
        return ["%s holds only %s (%s), %s is missing: restore the other half of the root of trust, or remove "
                "both to start a new one" % (label, os.path.basename(present[0]), present[0], missing)]
    try:
        root_files.read_key(key_path, root_files.read_cert(cert_path), cert_path=cert_path)
    except GloomeshError as exc:
        return ["%s: %s" % (label, exc.message)]
    return []


def group_problems(workload, management, linking, workload_group="workload_clusters",
                   management_group="management_cluster"):
    """Problems of the groups themselves: a play on an empty group runs nothing and succeeds."""
    problems = []
    if not workload:
        problems.append("inventory group %s: the group of workload clusters is empty, null or missing: add the "
                        "clusters of the mesh to it" % workload_group)
    if linking == "automatic" and len(management) != 1:
        problems.append("automatic linking needs exactly one host in the management cluster group %s; found: %s"
                        % (management_group, ", ".join(management) or "none"))
    return problems


def topology_problems(hosts, workload, management, linking, workload_group="workload_clusters",
                      management_group="management_cluster"):
    """Problems across hosts: ``hosts`` maps host -> its variables; the groups are host lists."""
    problems = group_problems(workload, management, linking, workload_group, management_group)
    for host in sorted(set(workload) & set(management)):
        problems.append("%s is in both the workload and the management cluster groups: a cluster is one or "
                        "the other (add the management cluster to the workload group only when it should "
                        "run workloads of the mesh in manual mode)" % host)
    by_name, by_context = {}, {}
    for host, variables in sorted(hosts.items()):
        if variables.get("cluster_name"):
            by_name.setdefault(variables["cluster_name"], []).append(host)
        if variables.get("kube_context"):
            where = (variables["kube_context"], str(variables.get("kubeconfig") or ""))
            by_context.setdefault(where, []).append(host)
    for name, owners in sorted(by_name.items()):
        if len(owners) > 1:
            problems.append("cluster_name %s is used by %s; every cluster needs a unique name"
                            % (name, ", ".join(owners)))
    for (context, _kubeconfig), owners in sorted(by_context.items()):
        if len(owners) > 1:
            problems.append("%s all point at kube_context %s: each cluster is listed once"
                            % (", ".join(owners), context))
    for host, variables in sorted(hosts.items()):
        _check(problems, host, lambda value, option: validation.automatic_linking_address(linking, value, option),
               variables.get("eastwest_gateway_address"), "eastwest_gateway_address")
        variable, link_to = planning.host_link_to(variables)
        problems.extend("%s: %s" % (host, problem) for problem in planning.link_to_problems(
            variables.get("cluster_name"), link_to, by_name, variable))
    if len(hosts) < 2:
        problems.append("a multicluster mesh needs at least two clusters; the inventory has %s"
                        % (", ".join(sorted(hosts)) or "none"))
    return problems


def _same_cluster(one, other):
    """Why two cluster identities (k8s/access.identity) are one cluster, or None."""
    if one["uid"] and other["uid"]:
        return "kube-system namespace UID %s" % one["uid"] if one["uid"] == other["uid"] else None
    if one["server"] == other["server"] and one["ca"] == other["ca"]:
        return "API server %s, same CA" % one["server"]
    return None


def same_cluster_problems(identities):
    """Two hosts that reach one cluster under two names (another context, address or credential):
    installing the second would rewrite the first's cluster name and network. ``identities`` maps
    host -> identity of the hosts that answered."""
    problems = []
    hosts = sorted(identities)
    for index, host in enumerate(hosts):
        for other in hosts[index + 1:]:
            why = _same_cluster(identities[host], identities[other])
            if why:
                problems.append("%s and %s reach the same cluster (%s): each cluster is listed once; remove "
                                "one of them from the inventory" % (host, other, why))
    return problems


def run_writes(install_namespace, gateway_api_crds="install", operator_helm=True):
    """(verb, API group, resource, namespace or None) of every kind of write an install run sends to
    a cluster, for preflight to ask whether our identity may: server-side apply is a patch that
    creates a missing object; helm creates."""
    kinds = [("", "namespaces", None), ("", "secrets", install_namespace),
             ("operator.gloo.solo.io", "servicemeshcontrollers", OPERATOR_NAMESPACE),
             ("gateway.networking.k8s.io", "gateways", EASTWEST_NAMESPACE)]
    if operator_helm:
        kinds += [("", "secrets", OPERATOR_NAMESPACE), ("apps", "deployments", OPERATOR_NAMESPACE),
                  ("rbac.authorization.k8s.io", "clusterroles", None)]
    if operator_helm or gateway_api_crds == "install":
        kinds.append(("apiextensions.k8s.io", "customresourcedefinitions", None))
    return [(verb, group, resource, namespace) for group, resource, namespace in kinds for verb in ("create", "patch")]
