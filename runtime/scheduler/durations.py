"""How long tasks take, learned from finished jobs, per key prefix (dask's ``key_split``: "add",
"getitem", "random_sample"), as distributed learns its task prefixes' durations.

The static scheduler writes an estimate into every task's info (``TaskInfo.estimate_s``); an executor
runs a claimed dependent estimated to take less than an invocation costs where its input already is,
instead of in an executor of its own (``executor/state.py``). A task of a prefix never seen has no
estimate and keeps the parallel path: a first run is never made slower by a guess.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable

from dask.utils import key_split

from ..diagnostics.timeline import key_prefix
from ..protocol.task_group import TaskGroup

WEIGHT_NEW = 0.3  # the weight of a job's mean in the running estimate (recent jobs count more)


class Durations:
    def __init__(self):
        self.lock = threading.Lock()
        self.mean_s: dict[str, float] = {}

    def learn(self, timings: Iterable[dict]) -> None:
        """Fold a finished job's per-task records (``JobReport.timings``) into the estimates."""
        totals: dict[str, list[float]] = {}
        for record in timings:
            totals.setdefault(key_prefix(str(record["key"])), []).append(record["end"] - record["start"])
        with self.lock:
            for prefix, spans in totals.items():
                mean = sum(spans) / len(spans)
                old = self.mean_s.get(prefix)
                self.mean_s[prefix] = mean if old is None else (1 - WEIGHT_NEW) * old + WEIGHT_NEW * mean

    def estimate(self, key: Hashable, spec=None) -> float | None:
        """The task's expected run time, or None when any part of it was never seen."""
        if isinstance(spec, TaskGroup):
            parts = [self.estimate(member) for member, _, _ in spec.steps]
            return None if None in parts else sum(parts)
        return self.mean_s.get(key_split(key))
