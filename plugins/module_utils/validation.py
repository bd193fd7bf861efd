# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Input rules: the one home of every check on what a user gives (pure: no cluster, no Ansible).

Modules call these before their first request; the preflight action calls the same functions for
every host of the inventory before the first write of a run. Each error names the option and
what is allowed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re
from collections import namedtuple
from urllib.parse import urlsplit

try:
    import yaml
except ImportError:
    # run_module() has already failed naming the missing library; stay importable.
    yaml = None

from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import (
    ADDRESS_HOSTNAME,
    ADDRESS_IP,
    ADDRESS_TYPES,
    DEFAULT_SERVICE_ACCOUNT,
    DEFAULT_TRUST_DOMAIN,
    EASTWEST_NAMESPACE,
    OPERATOR_WATCHED,
    PEER_NAME_PREFIX,
)
from ansible_collections.gloomesh.multicluster.plugins.module_utils.errors import GloomeshError

# Solo's multicluster peering needs 1.24.3-solo or later; 1.26.0 and 1.26.1 are known bad.
MULTICLUSTER_MINIMUM = (1, 24, 3)
MULTICLUSTER_REFUSED = ((1, 26, 0), (1, 26, 1))

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(-solo)?$")


class IstioVersion(namedtuple("IstioVersion", ["major", "minor", "patch"])):
    """A released Istio version; str() is the form the operator expects (no -solo)."""

    __slots__ = ()

    def __str__(self):
        return "%d.%d.%d" % self

    @property
    def solo(self):
        """The Solo image tag / istioctl release name, e.g. 1.25.2-solo."""
        return "%s-solo" % (self,)


def _fmt(version_tuple):
    return "%d.%d.%d" % tuple(version_tuple)


def parse_istio_version(value, option="version"):
    """'1.25.2' or '1.25.2-solo' -> IstioVersion(1, 25, 2); anything else is an error naming option."""
    text = str(value).strip() if value is not None else ""
    match = _VERSION_RE.match(text)
    if not match:
        raise GloomeshError(
            "%s: %r is not an Istio version; expected MAJOR.MINOR.PATCH, optionally with "
            "the -solo suffix (e.g. 1.25.2 or 1.25.2-solo)" % (option, value),
            option=option,
        )
    return IstioVersion(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def multicluster_version_problem(version, option="version"):
    """Why ``version`` (IstioVersion or string) cannot run a multicluster mesh, or None."""
    if not isinstance(version, IstioVersion):
        version = parse_istio_version(version, option)
    allowed = "%s or later, except %s" % (
        _fmt(MULTICLUSTER_MINIMUM), " and ".join(_fmt(v) for v in MULTICLUSTER_REFUSED))
    if tuple(version) < MULTICLUSTER_MINIMUM:
        return "%s: multicluster requires Istio %s; got %s" % (option, allowed, version)
    if tuple(version) in MULTICLUSTER_REFUSED:
        return "%s: Istio %s is refused for multicluster (known peering defects); use %s" % (
            option, version, allowed)
    return None


def check_multicluster_version(version, option="version"):
    """Raise GloomeshError when ``version`` cannot run a multicluster mesh; return the parsed version."""
    if not isinstance(version, IstioVersion):
        version = parse_istio_version(version, option)
    problem = multicluster_version_problem(version, option)
    if problem:
        raise GloomeshError(problem, option=option)
    return version


# ---------------------------------------------------------------- Gloo Mesh versions

# Gloo Mesh 2.7 is the first release whose Gloo Operator links clusters by peering.
GLOO_MINIMUM = (2, 7)
_GLOO_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")


def gloo_version_problem(gloo_version, option="gloomesh_gloo_version"):
    """Why a Gloo Mesh version cannot peer clusters (None when unset, or 2.7 and later)."""
    if not gloo_version:
        return None
    match = _GLOO_VERSION_RE.match(str(gloo_version).strip())
    if not match:
        return "%s: %r is not a Gloo Mesh version (expected e.g. 2.7.1)" % (option, gloo_version)
    if (int(match.group(1)), int(match.group(2))) < GLOO_MINIMUM:
        return ("%s: multicluster peering with the Gloo Operator needs Gloo Mesh 2.7 or later; got %s"
                % (option, gloo_version))
    return None


# ---------------------------------------------------------------- rolling upgrades

_CHART_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


def parse_chart_version(value, option="chart_version"):
    """A Helm chart's version (0.2.3, v0.2.3-rc.1) -> (major, minor, patch); an error naming option."""
    match = _CHART_VERSION_RE.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        fail(option, value, "must be a chart version such as 0.2.3")
    return tuple(int(part) for part in match.groups())


def upgrade_batch_size(value, option="upgrade_batch_size"):
    """How many clusters move at once after the canary (Ansible's serial): a whole number, 1 or more."""
    try:
        size = int(str(value).strip())
    except ValueError:
        size = 0
    if isinstance(value, bool) or isinstance(value, float) or size < 1:
        fail(option, value, "must be a whole number of clusters, 1 or more")
    return size


def upgrade_canary(value, hosts, option="upgrade_canary"):
    """The hosts upgraded first: ``value`` (a host name or a list of them) among ``hosts``, in their
    order; unset: the first host."""
    if value is None or value == "" or value == []:
        return list(hosts[:1])
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        fail(option, value, "must be a host name or a list of host names")
    unknown = [name for name in names if name not in hosts]
    if unknown:
        fail(option, ", ".join(unknown), "must name hosts of the mesh (known: %s)" % ", ".join(hosts))
    return [host for host in hosts if host in names]


# ---------------------------------------------------------------- Kubernetes names and values

# Kubernetes validation rules, checked here so bad input fails before any request.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# SPIFFE trust domain characters (lowercase letters, digits, dot, dash, underscore).
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")


def fail(option, value, rule):
    """GloomeshError "<option> <value> <rule>", e.g. "zone 'a b' must be a Kubernetes label value: ..."."""
    shown = " " if value is None or value == "" else " %r " % (value,)
    raise GloomeshError(option + shown + rule, option=option)


def cluster_name(value, option="cluster"):
    """A cluster name ends up in a label value and in the peer Gateway's object name."""
    if not isinstance(value, str) or not value or len(value) > 63 or not _DNS_SUBDOMAIN.match(value):
        fail(option, value, "must be 1-63 lowercase letters, digits, '-' or '.', starting and "
                            "ending with a letter or digit (it is a label value and part of "
                            "the Gateway name %s<cluster>)" % PEER_NAME_PREFIX)
    return value


def label_value(value, option):
    """Network, region and zone are label values."""
    if not isinstance(value, str) or not value or len(value) > 63 or not _LABEL_VALUE.match(value):
        fail(option, value, "must be a Kubernetes label value: 1-63 letters, digits, '-', '_' "
                            "or '.', starting and ending with a letter or digit")
    return value


def namespace(value, option="namespace"):
    if not isinstance(value, str) or not value or len(value) > 63 or not _DNS_LABEL.match(value):
        fail(option, value, "must be a namespace name: 1-63 lowercase letters, digits or '-', "
                            "starting and ending with a letter or digit")
    return value


def object_name(value, option="name"):
    """A DNS-1123 subdomain, as most Kubernetes object names."""
    if not isinstance(value, str) or not value or len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        fail(option, value, "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
                            "at most 253 characters)")
    return value


def address_type(value):
    """Gateway API address type of an address: IPAddress for IPv4/IPv6, else Hostname."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ADDRESS_HOSTNAME
    return ADDRESS_IP


def address(value, option="address"):
    """An IP address or a DNS hostname, as Gateway spec.addresses accepts them."""
    if isinstance(value, str) and value and address_type(value) == ADDRESS_IP:
        return value
    if not isinstance(value, str) or not value or len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        fail(option, value, "must be an IPv4/IPv6 address or a lowercase DNS hostname")
    return value


def automatic_linking_address(linking, value, option="eastwest_gateway_address"):
    """An address of our own cannot reach the peers of automatic linking: Solo's istiod builds a
    cluster's peer from its east-west Gateway's status.addresses only (TranslateEastWestGateway,
    platform/discovery/peering/watcher.go of Solo's istiod source, published at
    github.com/PetrMc/istio-petrmc-upstream-fork@d89b44066a) and Gloo Mesh copies that peer as it
    is (procedure, "Review remote peer gateways"); nothing reads our advertised-address annotation."""
    if linking == "automatic" and value:
        fail(option, value, "cannot be used with gloomesh_linking automatic: Gloo Mesh builds each peer from "
                            "the east-west Gateway's status.addresses and ignores this address. Either set "
                            "gloomesh_linking: manual (mesh_link writes this address into every peer), or "
                            "remove eastwest_gateway_address and give the east-west gateway's LoadBalancer "
                            "Service an address the other clusters reach")


# helm v3 pkg/chartutil/validate_name.go: release names are DNS-1123 names of at most 53 characters.
HELM_RELEASE_NAME_MAX = 53
# Kubernetes: keys of ConfigMap and Secret data.
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


def helm_release_name(value, option="release"):
    object_name(value, option)
    if len(value) > HELM_RELEASE_NAME_MAX:
        fail(option, value, "must be at most %d characters (helm's limit)" % HELM_RELEASE_NAME_MAX)
    return value


def data_key(value, option):
    """A key of Secret or ConfigMap data."""
    if not isinstance(value, str) or not _DATA_KEY.match(value):
        fail(option, value, "must be a Secret data key: letters, digits, '-', '_' or '.'")
    return value


def trust_domain(value, option="trust_domain"):
    if not isinstance(value, str) or not value or not _TRUST_DOMAIN.match(value):
        fail(option, value, "must be a trust domain: lowercase letters, digits, '.', '-' or '_'")
    return value


# ---------------------------------------------------------------- peer descriptors (mesh_link)

PEER_FIELDS = ("cluster", "network", "address", "address_type", "trust_domain",
               "service_account", "namespace", "region", "zone")
# Reported by eastwest_gateway_info, accepted in peers and not written anywhere.
PEER_INFO_FIELDS = ("trust_domain_source",)


def peer(raw, option="peer", for_link=True):
    """Validate one peer descriptor and fill its defaults.

    ``for_link`` False (unlinking) needs only the cluster and namespace.
    """
    if not isinstance(raw, dict):
        fail(option, None, "must be a peer descriptor (a dict as returned by eastwest_gateway_info)")
    unknown = sorted(set(raw) - set(PEER_FIELDS) - set(PEER_INFO_FIELDS))
    if unknown:
        fail(option, None, "has unknown keys %s; allowed: %s" % (", ".join(unknown), ", ".join(PEER_FIELDS)))
    result = dict((key, raw.get(key) or None) for key in PEER_FIELDS)
    result["namespace"] = result["namespace"] or EASTWEST_NAMESPACE
    result["trust_domain"] = result["trust_domain"] or DEFAULT_TRUST_DOMAIN
    result["service_account"] = result["service_account"] or DEFAULT_SERVICE_ACCOUNT

    if not result["cluster"]:
        fail(option + ".cluster", result["cluster"], "is required (the peer's cluster name)")
    cluster_name(result["cluster"], option + ".cluster")
    namespace(result["namespace"], option + ".namespace")
    if not for_link:
        return result

    # istiod ignores a peer Gateway without a network label or without spec.addresses.
    if not result["address"]:
        fail(option + ".address", result["address"],
             "is required: peer %s has no east-west address (is its gateway ready?)" % result["cluster"])
    address(result["address"], option + ".address")
    derived = address_type(result["address"])
    if result["address_type"] is None:
        result["address_type"] = derived
    elif result["address_type"] != derived:
        fail(option + ".address_type", result["address_type"],
             "must be %s for address %r (allowed: %s)" % (derived, result["address"], ", ".join(ADDRESS_TYPES)))
    if not result["network"]:
        fail(option + ".network", result["network"],
             "is required: istiod ignores a peer Gateway without a network label")
    label_value(result["network"], option + ".network")
    for key in ("region", "zone"):
        if result[key]:
            label_value(result[key], "%s.%s" % (option, key))
    trust_domain(result["trust_domain"], option + ".trust_domain")
    if not _DNS_LABEL.match(result["service_account"]) or len(result["service_account"]) > 63:
        fail(option + ".service_account", result["service_account"],
             "must be a service account name: lowercase letters, digits or '-'")
    return result


def peers(raw_peers, source_cluster=None, for_link=True):
    """Normalise mesh_link's ``peers``; refuse self-links and duplicates before any write."""
    normalized = []
    seen = {}
    for index, raw in enumerate(raw_peers or []):
        option = "peers[%d]" % index
        one = peer(raw, option, for_link=for_link)
        if source_cluster and one["cluster"] == source_cluster:
            fail(option + ".cluster", one["cluster"],
                 "is the source cluster itself (option cluster): a cluster is never linked to itself")
        if one["cluster"] in seen:
            fail(option + ".cluster", one["cluster"],
                 "duplicates peers[%d]: each peer cluster may be listed once (two peer "
                 "Gateways for one cluster break peering)" % seen[one["cluster"]])
        seen[one["cluster"]] = index
        normalized.append(one)
    return normalized


# ---------------------------------------------------------------- the service mesh (ServiceMeshController)

def service_mesh_names(params):
    """name / namespace must be valid Kubernetes names (both states)."""
    object_name(params["name"], "name")
    namespace(params["namespace"], "namespace")


def service_mesh(params):
    """Every rule of the service_mesh options, before anything is written.

    Returns (parsed version, warnings).
    """
    for option in ("cluster", "version"):
        if not params.get(option):
            fail(option, None, "is required when state=present")
    service_mesh_names(params)
    cluster_name(params["cluster"], "cluster")
    if params.get("network"):
        label_value(params["network"], "network")
    namespace(params["install_namespace"], "install_namespace")
    if params.get("trust_domain"):
        trust_domain(params["trust_domain"], "trust_domain")
    if params.get("multicluster"):
        version = check_multicluster_version(params["version"], "version")
        if params["dataplane_mode"] != "Ambient":
            fail("dataplane_mode", params["dataplane_mode"],
                 "is not allowed with multicluster=true: the multicluster procedure uses the ambient "
                 "data plane even for sidecar meshes. Allowed: Ambient, or set multicluster=false for Sidecar")
    else:
        version = parse_istio_version(params["version"], "version")
    if params.get("traffic_capture_mode") == "InitContainer" and params["dataplane_mode"] != "Sidecar":
        fail("traffic_capture_mode", "InitContainer",
             "can only be used with dataplane_mode=Sidecar (got dataplane_mode=%s); allowed here: Auto"
             % params["dataplane_mode"])
    warnings = []
    if params["install_namespace"] not in OPERATOR_WATCHED:
        warnings.append(
            "install_namespace %s is not one of %s: the Gloo Operator only installs there when its "
            "manager.env.WATCH_NAMESPACES includes it" % (params["install_namespace"], ", ".join(OPERATOR_WATCHED)))
    return version, warnings


# ---------------------------------------------------------------- the root of trust

def pem_file_path(value, option):
    """A root file's path. A directory would read as "present" and fail later with errno's words,
    without the option."""
    if value and os.path.isdir(os.path.expanduser(value)):
        fail(option, value, "is a directory; give the path of a PEM file (created when "
                            "neither the certificate nor the key exists)")


def root_of_trust(params):
    """Every rule of the root_of_trust options (rotation included), before anything is read or written."""
    for option in ("root_cert_path", "root_key_path", "new_root_cert_path", "new_root_key_path"):
        pem_file_path(params[option], option)
    for option in ("root_validity_days", "intermediate_validity_days"):
        if params[option] < 1:
            raise GloomeshError("%s must be at least 1 (days), got %d" % (option, params[option]))
    if not 0 <= params["renew_before"] < params["intermediate_validity_days"]:
        raise GloomeshError(
            "renew_before must be between 0 and intermediate_validity_days - 1 (%d), got %d; a "
            "larger value would reissue the intermediate on every run"
            % (params["intermediate_validity_days"] - 1, params["renew_before"]))
    phase = params["rotation_phase"]
    if phase:
        if params["state"] == "absent":
            raise GloomeshError("rotation_phase cannot be combined with state=absent")
        if not params["new_root_cert_path"]:
            raise GloomeshError("new_root_cert_path must be set with rotation_phase (the root the mesh moves to)")
        for option in ("wait_timeout", "workload_batch_size"):
            if params[option] < 1:
                raise GloomeshError("%s must be at least 1, got %d" % (option, params[option]))
        for option in ("mesh_namespaces", "workload_namespaces"):
            for name in params[option]:
                namespace(name, option)
        if phase == "reissue" and not params["intermediate_cert"]:
            missing = [o for o in ("new_root_key_path", "cluster") if not params[o]]
            if missing:
                raise GloomeshError("%s must be set to issue this cluster's intermediate from the new root "
                                    "(or give intermediate_cert and intermediate_key)" % " and ".join(missing))
        return
    if params["state"] == "absent" or params["intermediate_cert"]:
        return
    missing = [option for option in ("root_key_path", "cluster") if not params[option]]
    if missing:
        raise GloomeshError("%s must be set to issue this cluster's intermediate (or give "
                            "intermediate_cert and intermediate_key instead)" % " and ".join(missing))


# ---------------------------------------------------------------- the license

_SECRET_REF = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


def license_problems(key, secret_ref, required=True):
    """Problems with the Gloo license inputs: exactly one of a key and a Secret reference."""
    key_given = key is not None and str(key) != ""
    if key_given and not str(key).strip():
        return ["gloomesh_license_key is blank (only whitespace); set the license key itself"]
    if key_given and secret_ref:
        return ["set only one of gloomesh_license_key and gloomesh_license_secret_ref"]
    if secret_ref and not _SECRET_REF.match(str(secret_ref)):
        return ["gloomesh_license_secret_ref %r must read <namespace>/<secret name>" % (secret_ref,)]
    if required and not key_given and not secret_ref:
        return ["no license: set gloomesh_license_key (keep it in a vault) or gloomesh_license_secret_ref "
                "(e.g. gloo-mesh/license-keys)"]
    return []


# ---------------------------------------------------------------- Gateway API bundle versions

# SemVer 2.0.0 (semver.org, "Backus-Naur Form Grammar"), with the release tags' leading "v".
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")


class BundleVersion(object):
    """A bundle version ordered by SemVer precedence; build metadata (``+...``) does not count."""

    __slots__ = ("text", "release", "prerelease")

    def __init__(self, text, release, prerelease):
        self.text = text
        self.release = release
        self.prerelease = prerelease

    def _key(self):
        # A release ranks above its pre-releases; numeric identifiers rank below alphanumeric ones.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return self.release, not self.prerelease, pre

    def __eq__(self, other):
        return self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __lt__(self, other):
        return self._key() < other._key()

    def __gt__(self, other):
        return other < self

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        return self.text

    @property
    def development(self):
        """An unreleased build (``v0.0.0-dev``): comparable with nothing."""
        return self.release == (0, 0, 0)


def parse_bundle_version(text):
    """BundleVersion of ``text`` (``v1.3.0``, ``1.4.0-rc.1``), or None when it is not SemVer."""
    match = _SEMVER.match(str(text or "").strip())
    if not match:
        return None
    major, minor, patch, pre, _build = match.groups()
    return BundleVersion(str(text).strip(), (int(major), int(minor), int(patch)),
                         tuple(pre.split(".")) if pre else ())


def gateway_api_version_problem(value, option="version"):
    """Why ``value`` cannot be the pinned bundle version, or None (for preflight)."""
    version = parse_bundle_version(value)
    if version is None or not str(value).startswith("v") or version.development:
        return ("%s %r must be a Gateway API release tag, v<MAJOR>.<MINOR>.<PATCH> (e.g. v1.3.0), as the "
                "releases on github.com/kubernetes-sigs/gateway-api are named" % (option, value))
    return None


def gateway_api_version(value, option="version"):
    """The pinned BundleVersion; GloomeshError naming ``option`` when it is no release tag."""
    problem = gateway_api_version_problem(value, option)
    if problem:
        raise GloomeshError(problem, option=option)
    return parse_bundle_version(value)


# ---------------------------------------------------------------- kubeconfig files

_KUBECONFIG_LISTS = ("clusters", "contexts", "users")


def _yaml_kind(value):
    for kind, words in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"), (str, "a string"),
                        ((int, float), "a number")):
        if isinstance(value, kind):
            return "%s (%r)" % (words, value) if kind in (bool, (int, float)) else words
    return "nothing (empty)" if value is None else type(value).__name__


def kubeconfig(value, option="kubeconfig"):
    """A kubeconfig (a file path, or an in-memory mapping): a YAML mapping whose clusters, contexts
    and users are lists of mappings. The kubernetes client fails on anything else in Python's words
    ("'int' object is not iterable"), naming neither the file nor what it expected."""
    where = value
    if isinstance(value, str) and value:
        path = os.path.expanduser(value)
        if os.path.isdir(path):
            fail(option, value, "is a directory; give the path of a kubeconfig file")
        if not os.path.isfile(path):
            fail(option, value, "does not exist on the controller")
        try:
            with open(path, "rb") as handle:
                value = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            fail(option, where, "cannot be read as a kubeconfig (YAML): %s" % exc)
    elif not isinstance(value, dict):
        fail(option, value, "must be the path of a kubeconfig file (or a kubeconfig mapping)")
    shown = where if isinstance(where, str) else None
    if not isinstance(value, dict):
        fail(option, shown, "must be a kubeconfig: a YAML mapping with clusters, contexts and users; "
                            "it holds %s" % _yaml_kind(value))
    for key in _KUBECONFIG_LISTS:
        entries = value.get(key)
        if entries is not None and not (isinstance(entries, list) and all(isinstance(e, dict) for e in entries)):
            fail(option, shown, "is not a kubeconfig: %s must be a list of mappings (name: ...), not %s"
                                % (key, _yaml_kind(entries)))
    return where


# ---------------------------------------------------------------- URLs

URL_SCHEMES = ("http", "https", "ftp")


def url(value, option):
    """An absolute URL a download can use (a mirror, a release file), naming the option otherwise."""
    parts = urlsplit(value or "")
    if parts.scheme not in URL_SCHEMES or not parts.netloc:
        raise GloomeshError("%s must be an absolute URL starting with %s, got %r"
                            % (option, " or ".join(s + "://" for s in URL_SCHEMES), value), option=option)
    return value
