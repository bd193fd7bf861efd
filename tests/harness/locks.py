"""Another run holding the root of trust's lock (module_utils/files.exclusive_lock): a forked process
that takes it and keeps it until killed, optionally suspended (SIGSTOP) as a run stopped with ^Z."""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time

from ansible_collections.gloomesh.multicluster.plugins.module_utils.files import exclusive_lock


def _hold(path, ready):
    with exclusive_lock(path):
        ready.set()
        time.sleep(600)


@contextlib.contextmanager
def lock_held_elsewhere(path, suspended=False):
    """Yields the pid of a process that holds the lock on ``path``; it is killed when the block ends."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    holder = context.Process(target=_hold, args=(path, ready), daemon=True)
    holder.start()
    try:
        assert ready.wait(30), "the lock holder did not take the lock"
        if suspended:
            os.kill(holder.pid, signal.SIGSTOP)
        yield holder.pid
    finally:
        holder.kill()
        holder.join(10)
