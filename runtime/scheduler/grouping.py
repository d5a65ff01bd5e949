"""Fold subtrees of tiny leaves into task groups when a DAG is much wider than the platform.

An executor costs an invocation, a schedule load, a lease and a registration, a few hundred
microseconds even when warm; a trivial task costs a microsecond. A tree reduction of 16384 numbers
has 8192 leaves: one executor per leaf spends nearly all its time on the protocol, and only
``concurrency`` of them run at once anyway. So, bottom-up, a task is folded together with its
dependencies when each of them is itself a closed subtree (its only consumer is this task, it is not a
requested final) and the whole stays within ``len(dag) // concurrency`` tasks::

      a   b   c   d          concurrency 2, 7 tasks: groups of at most 3.
       \\ /     \\ /           e = {a, b, e} and f = {c, d, f} become two leaves;
        e       f            g stays a task of its own, fed by the two groups.
          \\   /
            g

A group has no dependencies, so it starts as soon as the job does, and there are never fewer groups
than the platform's concurrency: grouping only takes away executors that would have queued.
"""

from __future__ import annotations

from ..protocol.task_group import TaskGroup
from .dag import Dag

MIN_GROUP_TASKS = 2


def group_leaves(dag: Dag, concurrency: int) -> Dag:
    """``dag`` with closed subtrees folded into :class:`TaskGroup` tasks (unchanged if none fits)."""
    limit = len(dag) // max(1, concurrency)  # tasks per group
    if limit < MIN_GROUP_TASKS:
        return dag
    n = len(dag)
    size = [0] * n  # tasks in the closed subtree rooted here; 0 = not a closed subtree
    folded = [False] * n  # folded into its dependent's group
    for task in range(n):  # ids are topological: dependencies first
        deps = dag.dependencies[task]
        total = 1 + sum(size[d] for d in deps)
        closed = all(size[d] and len(dag.dependents[d]) == 1 and d not in dag.finals for d in deps)
        if closed and total <= limit:
            size[task] = total
            for dep in deps:
                folded[dep] = True
    kept = [t for t in range(n) if not folded[t]]
    if len(kept) == n:
        return dag
    renumber = {old: new for new, old in enumerate(kept)}
    grouped = [size[t] >= MIN_GROUP_TASKS for t in kept]
    specs = tuple(group_of(dag, t) if g else dag.specs[t] for t, g in zip(kept, grouped, strict=True))
    dependencies = tuple(
        () if g else tuple(renumber[d] for d in dag.dependencies[t])
        for t, g in zip(kept, grouped, strict=True)
    )
    dependents = tuple(tuple(renumber[d] for d in dag.dependents[t]) for t in kept)
    return Dag(
        keys=tuple(dag.keys[t] for t in kept),
        specs=specs,
        dependencies=dependencies,
        dependents=dependents,
        finals=frozenset(renumber[t] for t in dag.finals),
    )


def group_of(dag: Dag, root: int) -> TaskGroup:
    """The subtree under ``root`` in post-order (each subtree finished before its sibling starts)."""
    order: list[int] = []
    stack = [(root, False)]
    while stack:
        task, expanded = stack.pop()
        if expanded:
            order.append(task)
            continue
        stack.append((task, True))
        stack.extend((d, False) for d in reversed(dag.dependencies[task]))
    keys = dag.keys
    steps = tuple((keys[t], dag.specs[t], tuple(keys[d] for d in dag.dependencies[t])) for t in order)
    return TaskGroup(keys[root], steps)
