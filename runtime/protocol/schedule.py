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
    schedule_id: int, start: int, chain: tuple[int, ...], task_blobs: tuple[bytes, ...]
) -> bytes:
    return pickle.dumps((schedule_id, start, chain, task_blobs), protocol=5)


def decode_schedule(data: bytes) -> Schedule:
    schedule_id, start, chain, task_blobs = pickle.loads(data)
    return Schedule(schedule_id, start, chain, tuple(pickle.loads(blob) for blob in task_blobs))
