"""Playbook runs to break: started in the background, followed through their log while they run,
signalled, and waited for with a deadline, so a fault test never hangs.

- ``LoggedRun``: a playbook_run.Run whose ansible-playbook runs log, with timestamps, to
  ``log_path`` (ANSIBLE_LOG_PATH), the only output a test can read while a run is still going.
- ``Background``: one ``run.play(...)`` in a thread; ``pid()`` is its ansible-playbook process
  (the one a user's Ctrl-C or ``kill`` reaches), ``result(timeout)`` its result.
- ``failed_task`` / ``assert_waited_as_said``: a host's failed task as the run logged it, and that
  its message names the cluster and the bound that fired, checked against the time the request
  itself went without an answer (the module's ``unanswered_seconds``) and the task's logged duration, never
  against the test's clock (a loaded machine stretches everything but a socket's timer).
- ``wait_for_write``: polls (poll.wait_until) with a deadline whose timeout error says what was
  still missing; ``descendants`` / ``alive``: the processes a run started, and whether they ended.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import threading
import time

from .playbook_run import Run
from .poll import wait_until

# ansible's log line: "2026-01-02 03:04:05,678 p=123 u=root n=ansible INFO| <displayed text>"
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) p=(\d+) .*?\| (.*)$")


# The module's own clock starts before the request and reads after its timer fired: room for the
# scheduler between the two, not for a loaded machine's slower run.
TIMER_SLACK = 3.0
# How a failure states the bound that fired (plugins/module_utils/k8s/client.py Cluster.unreachable).
_BOUND_SAID = re.compile(r"no answer (to the connection )?within (\d+)s")


class LoggedRun(Run):
    """Run whose playbooks log every displayed line with a timestamp and the run's pid."""

    def __init__(self, cp, tmp_path, workload, management=()):
        super().__init__(cp, tmp_path, workload, management)
        self.log_path = str(tmp_path / "ansible.log")

    def env(self):
        return {**super().env(), "ANSIBLE_LOG_PATH": self.log_path}

    def log(self, pid: int | None = None) -> list[tuple[float, str]]:
        """(epoch seconds, text) of every logged line so far, of one ansible-playbook process or all."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            match = _LOG_LINE.match(line)
            if match and (pid is None or int(match.group(2)) == pid):
                stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
                entries.append((stamp.timestamp(), match.group(3)))
            elif entries and not match:
                entries[-1] = (entries[-1][0], entries[-1][1] + "\n" + line)  # a message's next lines
        return entries


def failed_task(run: LoggedRun, pid: int, host: str) -> dict:
    """The first failed task of `host` in the run's log: ``task`` (its header), ``began`` and
    ``failed`` (epoch seconds of the logged header and fatal line), ``result`` (the failure's JSON)."""
    task, began = "", None
    for stamp, text in run.log(pid):
        if text.startswith("TASK ["):
            task, began = text, stamp
        elif text.startswith(f"fatal: [{host}]: FAILED! => "):
            return {"task": task, "began": began, "failed": stamp, "result": json.loads(text.split(" => ", 1)[1])}
    raise AssertionError(f"the run logged no failed task of {host}")


def assert_waited_as_said(failure: dict, context: str, most: float | None = None):
    """A failure of `context`'s API server: the message names the context and its server. When it
    says a bound fired ("no answer [to the connection] within Ns", at most `most` seconds), the
    request went that long without an answer (the module's ``unanswered_seconds``) and at most TIMER_SLACK more,
    and the logged task lasted at least that long. Returns ("connect" | "read", N, waited), or
    (None, None, None) when no bound fired (a refused or reset connection has nothing to wait for)."""
    result, message = failure["result"], failure["result"]["msg"]
    assert re.match(rf"cluster {re.escape(context)} \(https://[^)]+\): ", message), message
    assert (result.get("context"), result.get("unreachable")) == (context, True), result
    said = _BOUND_SAID.search(message)
    if not said:
        assert "unanswered_seconds" not in result, result
        return None, None, None
    which, stated, waited = "connect" if said.group(1) else "read", int(said.group(2)), result["unanswered_seconds"]
    assert most is None or stated <= most, f"{message}: longer than the {most}s a request may wait"
    # waited is rounded to 0.1s; a timer never fires early.
    assert stated - 0.05 <= waited <= stated + TIMER_SLACK, f"{message}, but the request waited {waited}s"
    logged = failure["failed"] - failure["began"]
    assert logged >= waited - 0.05, f"{failure['task']} lasted {logged:.1f}s by the run's log, less than {waited}s"
    return which, stated, waited


def wait_for_write(cp, mark: dict, context: str, resource: str, timeout: float, alive=None) -> dict:
    """The collection's first write request to `resource` (plural, e.g. "servicemeshcontrollers")
    on `context` since `mark`. `alive()` returning False (the run ended) stops the wait early."""
    def probe():
        writes = [e for e in cp.writes_since(mark, context) if f"/{resource}" in e["requestURI"]]
        if not writes and alive is not None and not alive():
            raise AssertionError(f"the run ended before it wrote {resource} on {context}")
        return writes[0] if writes else None
    return wait_until(probe, f"a write of {resource} on {context}", timeout, interval=0.2)


def _children(name: str = "", parent: int | None = None) -> set[int]:
    """PIDs of the children of `parent` (default: this process) whose command line contains `name`."""
    me, found = parent or os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            if parent != me:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if name.encode() in fh.read():
                    found.add(int(entry))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (ansible's workers and what they started)."""
    found, todo = set(), [pid]
    while todo:
        children = _children(parent=todo.pop())
        todo += list(children - found)
        found |= children
    return found


def alive(pids) -> set[int]:
    """Those of `pids` that still run (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    running.add(pid)
        except (OSError, IndexError):
            continue
    return running


class Background:
    """``run.play(name, **kwargs)`` in a thread. Start one at a time: each takes the
    ansible-playbook process that appears after it starts (``pid()``).

    ``timeout`` bounds the run itself (run_playbook kills ansible-playbook when it is reached).
    """

    def __init__(self, run: Run, name: str, timeout: float, **kwargs):
        self.began = time.time()
        self._known = _children("ansible-playbook")
        self._outcome: dict = {}
        self._pid: int | None = None
        self._thread = threading.Thread(target=self._play, args=(run, name, timeout, kwargs), daemon=True)
        self._thread.start()

    def _play(self, run, name, timeout, kwargs):
        try:
            self._outcome["result"] = run.play(name, timeout=timeout, **kwargs)
        except Exception as exc:  # noqa: BLE001  # re-raised by result() in the test's thread
            self._outcome["error"] = exc

    def running(self) -> bool:
        return self._thread.is_alive()

    def pid(self, timeout: float = 60.0) -> int:
        """The run's ansible-playbook process."""
        if self._pid is None:
            def probe():
                if not self.running():
                    raise AssertionError("the run ended before its ansible-playbook process was seen")
                new = _children("ansible-playbook") - self._known
                return min(new) if new else None
            self._pid = wait_until(probe, "the ansible-playbook process of the run", timeout, interval=0.05)
        return self._pid

    def send(self, sig: int):
        """Signal the ansible-playbook process (as `kill -<sig> <pid>`)."""
        os.kill(self.pid(), sig)

    def _kill(self):
        """SIGKILL the run's ansible-playbook process and its workers (all started by this test)."""
        for pid in sorted(descendants(self.pid())) + [self.pid()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._thread.join(30)

    def result(self, timeout: float) -> dict:
        """The run's result (playbook_run.Run.play); AssertionError when it has not ended within `timeout`."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._kill()
            raise AssertionError(f"the run had not ended {timeout:.0f}s later; killed it")
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["result"]
