"""Atomic key files and the lock concurrent runs share (module_utils/files.py)."""
import os
import stat
import threading
import time

import pytest

from ansible_collections.gloomesh.multicluster.plugins.module_utils.files import archive, exclusive_lock, move, write_atomic
from tests.harness.locks import lock_held_elsewhere


def test_write_atomic_creates_0600_and_replaces(tmp_path):
    path = tmp_path / "root-key.pem"
    write_atomic(str(path), b"one", 0o600)
    assert path.read_bytes() == b"one"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    write_atomic(str(path), b"two", 0o600)
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["root-key.pem"]  # no temp file left behind


def test_write_atomic_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(TypeError):
        write_atomic(str(tmp_path / "k.pem"), "not bytes", 0o600)
    assert os.listdir(tmp_path) == []


def test_exclusive_lock_serializes_and_times_out(tmp_path):
    lock = str(tmp_path / "k.lock")
    order = []

    def holder():
        with exclusive_lock(lock):
            order.append("held")
            time.sleep(0.5)
            order.append("released")

    thread = threading.Thread(target=holder)
    thread.start()
    while not order:
        time.sleep(0.01)
    # flock is per open file description: a second open() in this process contends like another process.
    with pytest.raises(TimeoutError, match="waiting for lock .*k.lock"):
        with exclusive_lock(lock, timeout=0.1):
            pass
    with exclusive_lock(lock, timeout=5):
        order.append("second")
    thread.join()
    assert order == ["held", "released", "second"]
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600


def test_archive_links_once_and_move_replaces(tmp_path):
    key = tmp_path / "root-key.pem"
    write_atomic(str(key), b"old key", 0o600)
    retired = tmp_path / "retired" / "ABCD"
    target = archive(str(key), str(retired))
    assert os.path.samefile(target, key)  # a hard link: the key is never copied
    assert stat.S_IMODE(os.stat(retired).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    write_atomic(str(key), b"other", 0o600)
    archive(str(key), str(retired))  # already archived: kept as it was
    assert open(target, "rb").read() == b"old key"

    new = tmp_path / "next" / "root-key.pem"
    os.makedirs(new.parent)
    write_atomic(str(new), b"new key", 0o600)
    move(str(new), str(key))
    assert key.read_bytes() == b"new key" and not new.exists()
    assert open(target, "rb").read() == b"old key"


def test_a_writer_that_gives_up_waiting_names_the_lock_and_its_holder(tmp_path):
    """Issue 22 item 5: who holds what, not only that the wait timed out."""
    lock = str(tmp_path / "root-key.pem.lock")
    with lock_held_elsewhere(lock, suspended=True) as pid:
        with pytest.raises(TimeoutError) as raised:
            with exclusive_lock(lock, timeout=0.2):
                pass
    message = str(raised.value)
    assert lock in message and "held by pid %d on " % pid in message, message
    # Released (the holder died): the next one takes it at once.
    with exclusive_lock(lock, timeout=5):
        pass
