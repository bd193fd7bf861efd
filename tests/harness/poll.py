"""The one polling helper of the tests' set-up and fault injection (the modules under test never poll)."""
from __future__ import annotations

import time


def wait_until(probe, what: str, timeout: float = 30.0, interval: float = 0.1):
    """Call probe() until it returns something truthy (returned); AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
