"""A task group: a subtree of tiny tasks that one executor runs as one task, in memory.

The static scheduler folds *closed in-trees* (every member's only consumer is its parent in the group,
down to the DAG's leaves) into their root when the DAG has many more leaves than the platform runs at
once (see ``scheduler/grouping.py``). The group takes the root's place in the DAG: same key, no
dependencies, the root's value as its output. Its members run in post-order, so at most one value per
level of the subtree is held at a time; each member is still timed, counted and, when it fails,
named, as if it had run on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


class GroupMemberFailed(Exception):
    """A member of a task group raised ``error`` (its own traceback intact)."""

    def __init__(self, key: Hashable, error: Exception):
        super().__init__(key, error)
        self.key, self.error = key, error


@dataclass(frozen=True, slots=True)
class TaskGroup:
    key: Hashable  # the root's key: the group's output is the root's value
    # (key, dask node, the keys of its dependencies) per member, dependencies before dependents
    steps: tuple[tuple[Hashable, Any, tuple[Hashable, ...]], ...]

    def __len__(self) -> int:
        return len(self.steps)

    def run(self, clock: Callable[[], float], done: Callable[[Hashable, float, float], None]) -> Any:
        """Run every member; ``done(key, start, end)`` hears of each one as it completes."""
        values: dict[Hashable, Any] = {}
        for key, node, dependencies in self.steps:
            begin = clock()
            try:
                values[key] = node({d: values.pop(d) for d in dependencies})  # one consumer each
            except Exception as exc:
                raise GroupMemberFailed(key, exc) from None
            done(key, begin, clock())
        return values[self.key]
