"""Static schedules: what an executor knows about the tasks it may run.

A *path* is a chain of tasks linked by ``become`` (the dependent an executor continues with). A
schedule is one path followed through ``become`` (into the paths it absorbed, up to
``MAX_ABSORBED_TASKS``), plus every dependent of those tasks that lies off the chain (its *invoke*
neighbours), each as a :class:`TaskInfo`. The schedule id is the path id; ``TaskInfo.path`` tells an
executor which schedule to load when it needs to go further than what it holds.
"""

from __future__ import annotations

import pickle
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import cloudpickle

MAX_ABSORBED_TASKS = 256  # bounds schedule size when many paths absorb one long chain


@dataclass(frozen=True, slots=True)
class TaskInfo:
    id: int
    key: Hashable
    spec: Any  # dask GraphNode
    dependencies: tuple[int, ...]
    dependency_keys: tuple[Hashable, ...]  # the dask keys of ``dependencies``, in the same order
    dependents: tuple[int, ...]
    become: int | None
    path: int
    final: bool
    estimate_s: float | None = None  # how long it is expected to run (scheduler/durations.py), if known
    retries: int = 0  # how often the task is run again when it raises (dask.annotate / submit retries=)


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    start: int
    chain: tuple[int, ...]  # the task ids an executor runs in order if every become is ready
    tasks: tuple[TaskInfo, ...]  # the chain's tasks and their invoke neighbours


def encode_task(info: TaskInfo) -> bytes:
    """One task's info, pickled once and shared by every schedule that holds it."""
    return cloudpickle.dumps(info, protocol=5)


def encode_schedule(
    schedule_id: int,
    start: int,
    chain: tuple[int, ...],
    task_ids: tuple[int, ...],
    task_blobs: tuple[bytes, ...],
) -> bytes:
    return pickle.dumps((schedule_id, start, chain, task_ids, task_blobs), protocol=5)


@dataclass(frozen=True, slots=True)
class EncodedSchedule:
    """A schedule as it travels: its tasks' infos still pickled, each decoded when first needed (an
    invocation runs one or two of the tasks its schedule holds; ``TaskTable``)."""

    id: int
    start: int
    chain: tuple[int, ...]
    task_ids: tuple[int, ...]
    task_blobs: tuple[bytes, ...]


def decode_schedule(data: bytes) -> EncodedSchedule:
    return EncodedSchedule(*pickle.loads(data))


class TaskTable(dict):
    """Task id -> ``TaskInfo``, decoded from its schedule's pickle when first asked for."""

    def __init__(self):
        super().__init__()
        self.blobs: dict[int, bytes] = {}

    def add(self, schedule: Schedule | EncodedSchedule) -> None:
        if isinstance(schedule, EncodedSchedule):
            for task, blob in zip(schedule.task_ids, schedule.task_blobs, strict=True):
                if not dict.__contains__(self, task):
                    self.blobs.setdefault(task, blob)
        else:
            for info in schedule.tasks:
                self.setdefault(info.id, info)

    def __missing__(self, task: int) -> TaskInfo:
        info = self[task] = pickle.loads(self.blobs.pop(task))
        return info

    def __contains__(self, task) -> bool:
        return dict.__contains__(self, task) or task in self.blobs

    def get(self, task, default=None):
        return self[task] if task in self else default  # noqa: SIM401 - dict.get would skip __missing__
