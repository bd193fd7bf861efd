# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Gateway API CRD bundles: version parsing and comparison, the install decision, document selection.

Pure: metadata of the installed CRDs and the pinned version in, a Plan out; manifest text in,
the documents to apply out. No cluster, no files.

Upstream facts this follows (kubernetes-sigs/gateway-api):

* Every CRD of a release carries the annotations ``gateway.networking.k8s.io/bundle-version``
  (``v1.3.0``) and ``gateway.networking.k8s.io/channel`` (``standard`` or ``experimental``):
  pkg/consts/consts.go (BundleVersionAnnotation, ChannelAnnotation) and
  site/content/en/docs/concepts/versioning.md, "Version Indicators". Unreleased builds from the
  main branch carry ``v0.0.0-dev`` (pkg/consts/consts.go, BundleVersion).
* Whoever bundles the CRDs must never overwrite CRDs that have unrecognized or newer versions,
  nor CRDs of another release channel, nor remove them:
  site/content/en/guides/crd-management/_index.md, "Who Should Manage CRDs?"; and "Avoid moving
  backwards" in "Upgrading to a new version" of the same page.
* From v1.5.0 the standard install adds the ValidatingAdmissionPolicy
  ``safe-upgrades.gateway.networking.k8s.io`` that refuses CRDs older than v1.5.0 and experimental
  CRDs over standard ones: config/crd/standard/gateway.networking.k8s.io_vap_safeupgrades.yaml and
  CHANGELOG/1.5-CHANGELOG.md, "Upgrades and ValidatingAdmissionPolicy". A downgrade attempt would
  fail there; the Plan never makes one.

Cluster providers that manage the CRDs themselves mark them:

* the Kubernetes addon manager reverts any change to objects labelled
  ``addonmanager.kubernetes.io/mode=Reconcile`` (kubernetes/kubernetes,
  cluster/addons/addon-manager/README.md);
* GKE's managed Gateway API CRDs carry the annotations ``components.gke.io/component-name:
  gateway-api-crds`` and ``components.gke.io/layer: addon`` (as reported from a fresh GKE cluster in
  traefik/traefik-helm-chart issue 1183).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.gloomesh.multicluster.plugins.module_utils.constants import GATEWAY_API_VERSION, GATEWAY_KIND
from ansible_collections.gloomesh.multicluster.plugins.module_utils.validation import parse_bundle_version

# What the mesh uses (east-west and peer Gateways, their classes), at the version it uses.
GROUP = GATEWAY_API_VERSION.partition("/")[0]
REQUIRED_KINDS = (("GatewayClass", "gatewayclasses"), (GATEWAY_KIND, "gateways"))
CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"
BUNDLE_VERSION_ANNOTATION = GROUP + "/bundle-version"
CHANNEL_ANNOTATION = GROUP + "/channel"
STANDARD_CHANNEL = "standard"
RELEASE_URL = "https://github.com/kubernetes-sigs/gateway-api/releases/download/%s/standard-install.yaml"
POLICIES = ("install", "skip")

ADDON_MANAGER_LABEL = "addonmanager.kubernetes.io/mode"
ADDON_MANAGER_RECONCILE = "Reconcile"
GKE_ANNOTATIONS = ("components.gke.io/component-name", "components.gke.io/layer")

# What a CRD is, compared with the pinned bundle.
MISSING = "missing"
OLDER = "older"
CURRENT = "current"
NEWER = "newer"
OTHER_CHANNEL = "other_channel"
UNRECOGNIZED = "unrecognized"
PROVIDER_MANAGED = "provider_managed"
# Why a whole bundle is left alone, strongest first: a provider's CRDs are theirs whatever their
# version; another channel or an unknown version cannot be compared; a newer one is never downgraded.
LEAVE_ALONE = (PROVIDER_MANAGED, OTHER_CHANNEL, UNRECOGNIZED, NEWER)


def crd_name(plural):
    return "%s.%s" % (plural, GROUP)


REQUIRED_CRDS = tuple(crd_name(plural) for _kind, plural in REQUIRED_KINDS)


def is_bundle_crd(name):
    """A CRD of the Gateway API group (the standard and experimental bundles both use it)."""
    return str(name).endswith("." + GROUP)


def _metadata(obj):
    return (obj or {}).get("metadata") or {}


def provider_marker(obj):
    """How a cluster provider marks ``obj`` as its own ("label x=y"), or None."""
    metadata = _metadata(obj)
    labels = metadata.get("labels") or {}
    if labels.get(ADDON_MANAGER_LABEL) == ADDON_MANAGER_RECONCILE:
        return "label %s=%s" % (ADDON_MANAGER_LABEL, ADDON_MANAGER_RECONCILE)
    annotations = metadata.get("annotations") or {}
    for key in GKE_ANNOTATIONS:
        if key in annotations:
            return "GKE annotation %s=%s" % (key, annotations[key])
    return None


def field_managers(obj):
    """Names of the field managers of ``obj`` (from metadata.managedFields), sorted."""
    return sorted(set(entry.get("manager") or "?" for entry in _metadata(obj).get("managedFields") or []))


class CrdState(object):
    """One CRD compared with the pinned bundle: state is one of the constants above."""

    __slots__ = ("name", "state", "version", "channel", "detail")

    def __init__(self, name, state, version=None, channel=None, detail=""):
        self.name = name
        self.state = state
        self.version = version
        self.channel = channel
        self.detail = detail

    def as_dict(self):
        return {"name": self.name, "state": self.state, "version": self.version, "channel": self.channel}


def classify(obj, pinned):
    """CrdState of an installed CRD (its metadata is enough) against the pinned BundleVersion."""
    metadata = _metadata(obj)
    name = metadata.get("name")
    annotations = metadata.get("annotations") or {}
    text = annotations.get(BUNDLE_VERSION_ANNOTATION)
    channel = annotations.get(CHANNEL_ANNOTATION)
    marker = provider_marker(obj)
    if marker:
        return CrdState(name, PROVIDER_MANAGED, text, channel, "%s is managed by the cluster provider (%s; field "
                        "managers: %s)" % (name, marker, ", ".join(field_managers(obj)) or "none"))
    if channel != STANDARD_CHANNEL:
        if channel is None:
            return CrdState(name, UNRECOGNIZED, text, channel, "%s has no %s annotation" % (name, CHANNEL_ANNOTATION))
        return CrdState(name, OTHER_CHANNEL, text, channel, "%s is of the %s channel" % (name, channel))
    version = parse_bundle_version(text)
    if version is None or version.development:
        return CrdState(name, UNRECOGNIZED, text, channel, "%s has bundle version %r, not a release" % (name, text))
    if version > pinned:
        return CrdState(name, NEWER, text, channel, "%s is bundle %s, newer than %s" % (name, text, pinned))
    if version < pinned:
        return CrdState(name, OLDER, text, channel, "%s is bundle %s, older than %s" % (name, text, pinned))
    return CrdState(name, CURRENT, text, channel)


_WHY = {
    PROVIDER_MANAGED: "the cluster provider manages them",
    OTHER_CHANNEL: "a channel other than standard is installed, which a standard install would break",
    UNRECOGNIZED: "their version is not one this collection can compare",
    NEWER: "a newer bundle is installed and Gateway API CRDs are never downgraded",
}


class Plan(object):
    """What to do with a cluster's Gateway API CRDs.

    ``states``: CrdState per installed bundle CRD and per missing required CRD, by name.
    ``left_alone``: None, or the LEAVE_ALONE reason the whole bundle is left as it is.
    ``install``: whether the manifest must be read and applied.
    """

    __slots__ = ("pinned", "states", "left_alone", "install", "message")

    def __init__(self, pinned, states, left_alone, install, message):
        self.pinned = pinned
        self.states = states
        self.left_alone = left_alone
        self.install = install
        self.message = message


def plan(installed, pinned):
    """The Plan for the installed CRDs' metadata (any CRDs; others than the bundle's are ignored).

    The whole bundle is left alone when any of its CRDs is provider-managed, of another channel,
    of an unrecognized version or newer than ``pinned``: a bundle is one release of one channel,
    and installing part of another release next to it would mix them. Otherwise CRDs that are
    missing (the required ones are known without the manifest) or older are installed.
    """
    states = {}
    for obj in installed or []:
        name = _metadata(obj).get("name")
        if is_bundle_crd(name):
            states[name] = classify(obj, pinned)
    for name in REQUIRED_CRDS:
        states.setdefault(name, CrdState(name, MISSING))
    for reason in LEAVE_ALONE:
        blocking = [s for s in sorted(states.values(), key=lambda s: s.name) if s.state == reason]
        if blocking:
            message = "Gateway API CRDs left alone (pinned %s): %s: %s" % (
                pinned, _WHY[reason], "; ".join(s.detail for s in blocking))
            return Plan(pinned, states, reason, False, message)
    todo = sorted(s.name for s in states.values() if s.state in (MISSING, OLDER))
    if todo:
        return Plan(pinned, states, None, True, "Gateway API %s to install: %s" % (pinned, ", ".join(todo)))
    return Plan(pinned, states, None, False, "Gateway API CRDs are on bundle %s" % pinned)


# ---------------------------------------------------------------- the manifest

def flatten(documents):
    """Objects of parsed YAML documents: empty documents dropped, ``kind: List`` expanded."""
    objects = []
    for doc in documents:
        if not doc:
            continue
        if not isinstance(doc, dict):
            raise ValueError("a document is not a mapping but %s" % type(doc).__name__)
        if doc.get("kind") == "List":
            objects.extend(item for item in doc.get("items") or [] if item)
        else:
            objects.append(doc)
    return objects


def manifest_problems(objects, pinned, source):
    """Why the manifest's objects are not the standard bundle ``pinned`` (a list of messages)."""
    problems = []
    crds = [o for o in objects if o.get("kind") == CRD_KIND and is_bundle_crd(_metadata(o).get("name"))]
    names = set(_metadata(o).get("name") for o in crds)
    missing = [n for n in REQUIRED_CRDS if n not in names]
    if missing:
        problems.append("%s has no CRD %s" % (source, ", ".join(missing)))
    for obj in crds:
        annotations = _metadata(obj).get("annotations") or {}
        name = _metadata(obj)["name"]
        channel = annotations.get(CHANNEL_ANNOTATION)
        if channel != STANDARD_CHANNEL:
            problems.append("%s: CRD %s is of the %s channel; only the standard channel is installed"
                            % (source, name, channel or "(unannotated)"))
            continue
        version = parse_bundle_version(annotations.get(BUNDLE_VERSION_ANNOTATION))
        if version is None or version != pinned:
            problems.append("%s: CRD %s is bundle %s, not the pinned %s (set the version to the manifest's, "
                            "or give the manifest of %s)" % (source, name, annotations.get(BUNDLE_VERSION_ANNOTATION),
                                                             pinned, pinned))
    return problems


def _without_status(obj):
    # Release manifests carry an empty CRD status; it is the API server's to write, and applying it
    # would claim fields the server's own field manager owns.
    return dict((key, value) for key, value in obj.items() if key != "status")


def select_documents(objects, plan_):
    """The manifest objects to apply, without status: its CRDs that are missing or older, and every
    other object it has (from v1.5.0 the safe-upgrades policy and its binding), in manifest order."""
    selected = []
    for obj in objects:
        if obj.get("kind") == CRD_KIND:
            state = plan_.states.get(_metadata(obj).get("name"))
            if state is not None and state.state not in (MISSING, OLDER):
                continue
        selected.append(_without_status(obj))
    return selected
