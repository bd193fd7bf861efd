"""Callback of hack/benchmark.py: for every task its wall time, each host's time, and the module
processes it ran with their CPU seconds, written as JSON to $GLOOMESH_BENCH_PROFILE when the playbook ends.

A task's modules are the lines hack/bench/module-python added to $GLOOMESH_BENCH_MODULE_STARTS
between this task's start and the next one's: exact under the linear strategy, where every host
finishes a task before the next task starts.
"""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_profile
type: aggregate
short_description: Task timings and module starts for hack/benchmark.py
description:
  - Writes every task's wall time, per-host time, module process starts and their CPU seconds as JSON.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._tasks = []
        self._current = None
        self._host_began = {}

    @staticmethod
    def _modules():
        """(module processes so far, their CPU clock ticks)."""
        with open(os.environ["GLOOMESH_BENCH_MODULE_STARTS"], encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        return len(lines), sum(int(tick) for line in lines for tick in line.split())

    def _close_task(self):
        if self._current is not None:
            task = self._current
            task["seconds"] = time.monotonic() - task.pop("began")
            (starts_before, ticks_before), (starts, ticks) = task.pop("modules_before"), self._modules()
            task["module_starts"] = starts - starts_before
            task["module_cpu"] = (ticks - ticks_before) / os.sysconf("SC_CLK_TCK")
            self._tasks.append(task)
            self._current = None

    def v2_playbook_on_play_start(self, play):
        self._close_task()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_task()
        self._current = {"name": task.get_name(), "action": task.resolved_action or task.action, "hosts": {},
                         "began": time.monotonic(), "modules_before": self._modules()}

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_runner_on_start(self, host, task):
        self._host_began[(host.get_name(), task._uuid)] = time.monotonic()

    def _host_done(self, result, status):
        host = result.host.get_name()
        began = self._host_began.pop((host, result.task._uuid), None)
        if began is not None and self._current is not None:
            self._current["hosts"][host] = {"seconds": time.monotonic() - began, "status": status}

    def v2_runner_on_ok(self, result):
        self._host_done(result, "changed" if result.is_changed() else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._host_done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._host_done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._host_done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._close_task()
        with open(os.environ["GLOOMESH_BENCH_PROFILE"], "w", encoding="utf-8") as fh:
            json.dump(self._tasks, fh, indent=1)
