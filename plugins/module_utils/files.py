# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gloomesh.multicluster contributors
# Apache License 2.0 (see LICENSE)
"""Files of the root CA on the controller: atomic writes and the lock shared by concurrent runs.

Each inventory host runs root_of_trust in its own worker process (Ansible forks). The root must be
created once, so "does it exist? -> generate -> write" runs under an exclusive
``fcntl.flock`` on ``<root_key_path>.lock``; the second process waits, then finds and
loads the root the first one wrote. The holder writes who it is into the lock file, so a process
that gives up waiting names it. An existing root is read without the lock (nothing to write).

A finished root rotation retires the old root files and puts the new ones in their place with
renames only (``archive`` then ``move``): a key file is never rewritten, and every step can be
repeated after a crash.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import socket
import tempfile
import time


def write_atomic(path, data, mode):
    """Write ``data`` (bytes) to ``path`` so readers see the old file or the whole new one.

    The temp file lives in the same directory (rename stays atomic) and is created 0600
    by mkstemp, so key bytes are never readable by others, not even briefly.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    # Makes the rename itself durable across a crash.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path, timeout=300, poll=0.1):
    """Hold an exclusive flock on ``path`` (created 0600, left in place on purpose: removing
    a lock file lets two processes lock two different inodes). TimeoutError names the file and
    the holder (pid, host, since when), which the holder writes into it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise TimeoutError("timed out after %ss waiting for lock %s, held by %s: let that run "
                                       "finish (resume it if it is suspended) or end it"
                                       % (timeout, path, _holder(fd)))
                time.sleep(poll)
        _write_holder(fd, "pid %d on %s since %s" % (
            os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        try:
            yield
        finally:
            _write_holder(fd, "")
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_holder(fd, text):
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode("utf-8"), 0)


def _holder(fd):
    text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    # Empty: a holder that writes no record (an older version), or one that has just taken it.
    return text or "another process (it did not record its pid)"


def archive(path, directory):
    """Hard-link ``path`` into ``directory`` (created 0700) under its own name; returns the new
    path. An existing file there is kept: archiving twice is archiving once."""
    os.makedirs(directory, 0o700, exist_ok=True)  # several hosts may archive at once
    target = os.path.join(directory, os.path.basename(path))
    if not os.path.exists(target):
        os.link(path, target)
        _fsync_directory(directory)
    return target


def move(source, target):
    """Rename ``source`` over ``target`` (same file system: atomic) and make the rename durable."""
    os.replace(source, target)
    directories = [os.path.dirname(os.path.abspath(path)) for path in (source, target)]
    for directory in sorted(set(directories)):
        _fsync_directory(directory)
