"""Partition a DAG into static schedules: one depth-first search from every leaf.

Visiting a task, its first unvisited dependent becomes its ``become`` (same path); further unvisited
dependents start new paths and go to its ``invoke`` list; a dependent already visited is absorbed
(``become``, continuing into that path) when no ``become`` is chosen yet, else invoked. Example::

      0   1          leaves 0 and 1, both feeding 2; 2 feeds 3 and 4.
       \\ /           DFS from 0: path 0 = [0, 2, 3]; 2's second dependent 4 starts path 1 = [4].
        2            DFS from 1: 2 was visited, so 1 absorbs it: path 2 = [1], become[1] = 2.
       / \\           schedules: 0 -> chain (0, 2, 3); 1 -> chain (4,); 2 -> chain (1, 2, 3).
      3   4          invoke[2] = (4,)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnpicklableTaskError
from ..protocol.schedule import MAX_ABSORBED_TASKS, Schedule, TaskInfo, encode_schedule, encode_task
from .dag import Dag


@dataclass(frozen=True)
class Partition:
    """The result of the search: ``path_of[t]``, ``become[t]`` (or None), ``invoke[t]``, path starts."""

    path_of: tuple[int, ...]
    become: tuple[int | None, ...]
    invoke: tuple[tuple[int, ...], ...]
    path_starts: tuple[int, ...]  # path id -> its first task
    leaf_paths: tuple[int, ...]  # the path each leaf starts, in leaf order


def partition(dag: Dag) -> Partition:
    n = len(dag)
    path_of: list[int | None] = [None] * n
    become: list[int | None] = [None] * n
    invoke: list[list[int]] = [[] for _ in range(n)]
    path_starts: list[int] = []
    leaf_paths: list[int] = []

    def start_path(task: int) -> int:
        path_starts.append(task)
        path_of[task] = len(path_starts) - 1
        return path_of[task]

    for leaf in dag.leaves:
        leaf_paths.append(start_path(leaf))
        # Iterative DFS: a frame is (task, position in its dependents).
        stack = [(leaf, 0)]
        while stack:
            task, position = stack.pop()
            dependents = dag.dependents[task]
            if position >= len(dependents):
                continue
            stack.append((task, position + 1))
            dependent = dependents[position]
            if path_of[dependent] is None:
                if become[task] is None:
                    become[task] = dependent
                    path_of[dependent] = path_of[task]
                else:
                    invoke[task].append(dependent)
                    start_path(dependent)
                stack.append((dependent, 0))
            elif become[task] is None:
                become[task] = dependent  # absorbed: this path continues into the visited one
            else:
                invoke[task].append(dependent)
    return Partition(
        path_of=tuple(path_of),  # type: ignore[arg-type]
        become=tuple(become),
        invoke=tuple(tuple(i) for i in invoke),
        path_starts=tuple(path_starts),
        leaf_paths=tuple(leaf_paths),
    )


def chain_of(part: Partition, path: int) -> list[int]:
    """The tasks an executor starting ``path`` runs if every ``become`` is ready, bounded past absorption."""
    chain = []
    task: int | None = part.path_starts[path]
    absorbed = 0
    while task is not None:
        chain.append(task)
        if part.path_of[task] != path:
            absorbed += 1
            if absorbed >= MAX_ABSORBED_TASKS:
                break
        task = part.become[task]
    return chain


def task_info(dag: Dag, part: Partition, task: int, durations=None) -> TaskInfo:
    # Only a dependent a fan-out would invoke is ever run cheaply instead (executor/decisions.py): the
    # estimate is for those (a tree's sums have none, and 16 000 key_splits cost 45 ms).
    may_be_invoked = durations is not None and any(len(dag.dependents[d]) > 1 for d in dag.dependencies[task])
    return TaskInfo(
        id=task,
        key=dag.keys[task],
        spec=dag.specs[task],
        dependencies=dag.dependencies[task],
        dependency_keys=tuple(dag.keys[d] for d in dag.dependencies[task]),
        dependents=dag.dependents[task],
        become=part.become[task],
        path=part.path_of[task],
        final=task in dag.finals,
        estimate_s=durations.estimate(dag.keys[task], dag.specs[task]) if may_be_invoked else None,
        retries=dag.retries.get(task, 0),
    )


def build_schedules(dag: Dag, part: Partition, durations=None) -> list[Schedule]:
    """``durations``: a ``scheduler.durations.Durations`` whose estimates the task infos carry."""
    infos = [task_info(dag, part, t, durations) for t in range(len(dag))]
    schedules = []
    for path, start in enumerate(part.path_starts):
        chain = chain_of(part, path)
        members = dict.fromkeys(chain)
        for task in chain:
            members.update(dict.fromkeys(dag.dependents[task]))
        schedules.append(
            Schedule(id=path, start=start, chain=tuple(chain), tasks=tuple(infos[t] for t in members))
        )
    return schedules


def encode_schedules(schedules: list[Schedule]) -> dict[int, bytes]:
    """Serialize every schedule, pickling each task once; name the task that cannot be pickled."""
    blobs: dict[int, bytes] = {}
    for schedule in schedules:
        for info in schedule.tasks:
            if info.id not in blobs:
                try:
                    blobs[info.id] = encode_task(info)
                except Exception as exc:
                    raise UnpicklableTaskError(info.key, f"{type(exc).__name__}: {exc}") from exc
    return {
        s.id: encode_schedule(
            s.id, s.start, s.chain, tuple(i.id for i in s.tasks), tuple(blobs[i.id] for i in s.tasks)
        )
        for s in schedules
    }
