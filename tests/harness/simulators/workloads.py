"""kwok-style workload simulator: Running pods and workload status without any kubelet.

Stands in for kube-controller-manager's Deployment/ReplicaSet and DaemonSet controllers, the
scheduler and the kubelets, which the local test clusters do not run. For every Deployment
(spec.replicas pods, default 1) and DaemonSet (one pod: the clusters have one simulated node)
it creates pods named like the real controllers do (`<deployment>-<template hash>-<suffix>`,
`<daemonset>-<suffix>`), marks them Running and Ready (a pod with readiness gates only once
another writer set each gate's condition True: Kubernetes documentation, "Pod Lifecycle", "Pod
readiness"; the harness's upstream istiod sets its own), removes pods of an older template
(a rollout) or of a deleted workload, and writes the workload status that `kubectl rollout
status` and waits read: Deployment readyReplicas/availableReplicas/updatedReplicas with
condition Available=True, DaemonSet numberReady/numberAvailable. Pods carry the simulator's
component label `kwok`, so a real cluster's pods are never touched.
"""
from __future__ import annotations

import copy
import hashlib
import json

from .base import (COMPONENT_LABEL, DAEMONSETS, DEPLOYMENTS, OWNER_ANNOTATION, PODS, key_of, marked,
                   merge_conditions, now_iso)

COMPONENT = "kwok"
MANAGER = "gloomesh-sim-kwok"
NODE_NAME = "gloomesh-sim-node"
POD_SELECTOR = f"{COMPONENT_LABEL}={COMPONENT}"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the characters Kubernetes uses in generated names


def _encode(digest: bytes, length: int) -> str:
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:length])


def template_hash(template: dict) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return _encode(digest, 9)


def pod_names(kind: str, name: str, template: dict, replicas: int) -> list[str]:
    """Stable pod names for one workload revision (a new template gets new names, as in a rollout)."""
    revision = template_hash(template)
    names = []
    for i in range(replicas):
        suffix = _encode(hashlib.sha256(f"{name}/{revision}/{i}".encode()).digest(), 5)
        names.append(f"{name}-{revision}-{suffix}" if kind == "Deployment" else f"{name}-{suffix}")
    return names


def pod_for(workload: dict, pod_name: str) -> dict:
    """The Pod a controller would create from `workload`'s template, bound to the simulated node."""
    meta = workload["metadata"]
    template = workload["spec"]["template"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    hash_label = "pod-template-hash" if workload["kind"] == "Deployment" else "controller-revision-hash"
    labels[hash_label] = template_hash(template)
    spec = copy.deepcopy(template.get("spec") or {})
    spec["nodeName"] = NODE_NAME
    spec["automountServiceAccountToken"] = False  # no token controller signs tokens here
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name, "namespace": meta["namespace"], "labels": labels,
            "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
            "ownerReferences": [{"apiVersion": workload["apiVersion"], "kind": workload["kind"],
                                 "name": meta["name"], "uid": meta["uid"], "controller": True}],
        },
        "spec": spec,
    }
    return marked(pod, COMPONENT, f"{workload['kind']}/{meta['namespace']}/{meta['name']}")


def running_status(pod: dict) -> dict:
    digest = hashlib.sha256(pod["metadata"]["name"].encode()).digest()
    containers = (pod.get("spec") or {}).get("containers") or []
    started = (pod.get("metadata") or {}).get("creationTimestamp") or now_iso()
    held = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
    gated = all(held.get(g.get("conditionType")) == "True" for g in (pod.get("spec") or {}).get("readinessGates") or [])
    ready = [{"type": t, "status": "True" if gated or t != "Ready" else "False"}
             for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {
        "phase": "Running",
        "hostIP": "172.18.0.2",
        "podIP": f"10.244.{digest[0]}.{digest[1] % 254 + 1}",
        "startTime": started,
        "conditions": merge_conditions((pod.get("status") or {}).get("conditions"), ready),
        "containerStatuses": [{
            "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
            "restartCount": 0, "started": True, "state": {"running": {"startedAt": started}},
        } for c in containers],
    }


def pod_ready(pod: dict | None) -> bool:
    status = (pod or {}).get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def deployment_status(dep: dict, ready: int) -> dict:
    replicas = (dep.get("spec") or {}).get("replicas", 1)
    available = ready >= replicas
    conditions = merge_conditions((dep.get("status") or {}).get("conditions"), [
        {"type": "Available", "status": "True" if available else "False", "lastUpdateTime": "",
         "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
         "message": "Deployment has minimum availability." if available
         else "Deployment does not have minimum availability."},
        {"type": "Progressing", "status": "True", "lastUpdateTime": "",
         "reason": "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
         "message": f'ReplicaSet "{dep["metadata"]["name"]}-{template_hash(dep["spec"]["template"])}" '
                    + ("has successfully progressed." if available else "is progressing.")},
    ])
    return {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
            "unavailableReplicas": max(replicas - ready, 0), "conditions": conditions}


def daemonset_status(ds: dict, ready: int) -> dict:
    return {"observedGeneration": ds["metadata"].get("generation", 1), "desiredNumberScheduled": 1,
            "currentNumberScheduled": 1, "updatedNumberScheduled": 1, "numberMisscheduled": 0,
            "numberReady": ready, "numberAvailable": ready, "numberUnavailable": 1 - ready}


def reconcile(cluster) -> None:
    wanted = set()
    for res in (DEPLOYMENTS, DAEMONSETS):
        for workload in cluster.items(res):
            if workload["metadata"].get("deletionTimestamp"):
                continue
            replicas = (workload.get("spec") or {}).get("replicas", 1) if res is DEPLOYMENTS else 1
            ready = 0
            for name in pod_names(workload["kind"], workload["metadata"]["name"],
                                  workload["spec"]["template"], replicas):
                namespace = workload["metadata"]["namespace"]
                wanted.add((namespace, name))
                # Pod specs are immutable: an existing pod of this revision is only given its status.
                pod = cluster.cached(PODS, name, namespace) or cluster.ensure(pod_for(workload, name), MANAGER)
                if pod is not None and not pod_ready(pod):
                    pod = cluster.ensure_status(pod, running_status(pod), MANAGER)
                ready += pod_ready(pod)
            status = deployment_status(workload, ready) if res is DEPLOYMENTS else daemonset_status(workload, ready)
            cluster.ensure_status(workload, status, MANAGER)
    for pod in cluster.items(PODS):
        owner = ((pod["metadata"].get("annotations") or {}).get(OWNER_ANNOTATION) or "")
        # A bound pod is deleted gracefully: only its kubelet would finish that, so the
        # simulated kubelet deletes it with grace period 0 (as kwok does).
        if pod["metadata"].get("deletionTimestamp") or (
                key_of(pod) not in wanted and owner.startswith(("Deployment/", "DaemonSet/"))):
            cluster.remove(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"], grace_seconds=0)
