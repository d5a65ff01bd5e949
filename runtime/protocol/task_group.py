"""A task group: several tasks that one executor runs as one task, in memory.

The static scheduler folds subtrees of tiny leaves, and reductions with the products they sum, into
their root (see ``scheduler/grouping.py``). The group takes the root's place in the DAG: same key,
the members' outside inputs as its dependencies, the root's value as its output. Members run in the
order given (dependencies first; post-order for subtrees, so at most one value per level is held at a
time); each member is still timed, counted and, when it fails, named, as if it had run on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
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

    def run(
        self,
        clock: Callable[[], float],
        done: Callable[[Hashable, float, float], None],
        inputs: Mapping[Hashable, Any] | None = None,
    ) -> Any:
        """Run every member on the group's ``inputs`` (its dependencies' values by key);
        ``done(key, start, end)`` hears of each member as it completes."""
        inputs = inputs or {}
        values: dict[Hashable, Any] = {}
        for key, node, dependencies in self.steps:
            begin = clock()
            try:
                # A member's value has one consumer, in the group; an input may feed several members.
                values[key] = node({d: values.pop(d) if d in values else inputs[d] for d in dependencies})
            except Exception as exc:
                raise GroupMemberFailed(key, exc) from None
            done(key, begin, clock())
        return values[self.key]
