"""Cloud load-balancer simulator: gives LoadBalancer Services an ingress address, or does not.

Stands in for a cloud provider's service controller (or MetalLB, cloud-provider-kind), which
the local test clusters do not run. It acts on the LoadBalancer Services the simulators deploy
(the east-west gateway Services, see eastwest.py) and writes `status.loadBalancer.ingress[0].ip`:
the Service's `spec.loadBalancerIP` when set (what istiod copies from a managed Gateway's
spec.addresses, manifests/charts/istio-control/istio-discovery/files/waypoint.yaml), else the
cluster's `Simulators.lb_address(context)` (198.51.100.0/24, documentation addresses nothing is
ever sent to).

Per cluster, `Simulators.set_load_balancer(context, mode, delay)` chooses what the load balancer
does for a Service without an address: "ready" assigns it at once, "slow" `delay` seconds after
the Service (or the mode, whichever came later) appeared, "none" never: the Service stays
pending, as on bare metal or kind without cloud-provider-kind. An address once assigned stays.
The load balancer of the Services a real istiod deploys (tests/harness/istiod.py ClusterStandIns)
follows the same settings through `wait_left`.
"""
from __future__ import annotations

import time

from .base import SERVICES

MANAGER = "gloomesh-sim-load-balancer"


def assigned(service: dict) -> list[dict]:
    """The ingress entries of a Service's status (empty while pending)."""
    return [i for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if i.get("ip") or i.get("hostname")]


def wait_left(settings, pending_since: float, now: float) -> float | None:
    """Seconds until a Service pending since `pending_since` gets its address under a cluster's
    settings (lb_mode, lb_delay, lb_since): 0 now, None never. A slow load balancer counts from the
    Service or the mode, whichever came later."""
    if settings.lb_mode == "none":
        return None
    if settings.lb_mode == "slow":
        return max(max(pending_since, settings.lb_since) + settings.lb_delay - now, 0.0)
    return 0.0


class LoadBalancerSimulator:
    def __init__(self, sims):
        self.sims = sims
        self._first_seen: dict[tuple[str, str, str], float] = {}  # (cluster, namespace, name) -> seen pending

    def reconcile(self, cluster) -> float | None:
        """Assign the addresses due now; returns the seconds until the next one is due (slow mode)."""
        settings = self.sims.settings(cluster.name)
        now = time.monotonic()
        next_due = None
        pending = set()
        for service in cluster.items(SERVICES):
            meta = service["metadata"]
            key = (cluster.name, meta["namespace"], meta["name"])
            if (service.get("spec") or {}).get("type") != "LoadBalancer" or meta.get("deletionTimestamp") \
                    or assigned(service):
                continue
            pending.add(key)
            left = wait_left(settings, self._first_seen.setdefault(key, now), now)
            if left is None:
                continue
            if left > 0:
                next_due = left if next_due is None else min(next_due, left)
                continue
            address = service["spec"].get("loadBalancerIP") or self.sims.lb_address(cluster.name)
            cluster.ensure_status(service, {"loadBalancer": {"ingress": [{"ip": address}]}}, MANAGER)
        for key in [k for k in self._first_seen if k[0] == cluster.name and k not in pending]:
            del self._first_seen[key]
        return next_due
