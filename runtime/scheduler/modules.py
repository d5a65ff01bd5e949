"""The modules a job's tasks come from, named before it runs, so that local mode's worker template can
import them once (``LocalCluster.warm``) instead of every worker on its first task.

A task's function is dask's ``Task.func`` (a ``functools.partial``'s function, a bound method's class
too), in the task itself, in tasks nested in its arguments (dask's fused subgraphs), and in the
members of a Wukong task group; the classes of the objects among its arguments (an estimator) count
too, since unpickling them imports their modules. Functions of the user's ``__main__`` and builtins are left out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from dask._task_spec import Alias, GraphNode, TaskRef

from ..protocol.task_group import TaskGroup

SKIPPED = frozenset({"__main__", "builtins", None})
# Arguments with nothing to import: references to other tasks, and plain data (checked by exact type:
# a 16 000-task tree's arguments are all TaskRefs, and isinstance over a union costs microseconds).
PLAIN = frozenset({TaskRef, Alias, str, bytes, int, float, bool, type(None)})
MAX_NODES = 1_000_000  # a bound on the walk; a graph bigger than this is named in part


def task_modules(specs: Iterable) -> list[str]:
    found: dict[str, None] = {}
    stack, seen_functions, seen_types, walked = list(specs), set(), set(), 0
    while stack and walked < MAX_NODES:
        node = stack.pop()
        walked += 1
        if isinstance(node, TaskGroup):
            stack.extend(step[1] for step in node.steps)
            continue
        func = getattr(node, "func", None)
        if func is not None and id(func) not in seen_functions:
            seen_functions.add(id(func))
            found.update(dict.fromkeys(function_modules(func)))
        kwargs = getattr(node, "kwargs", None)
        values = (*getattr(node, "args", ()), *kwargs.values()) if kwargs else getattr(node, "args", ())
        if values and not all(type(value) in PLAIN for value in values):
            nodes, objects = nested(values)
            stack.extend(nodes)
            for value in objects:
                if type(value) not in seen_types:
                    seen_types.add(type(value))
                    found[type(value).__module__] = None
    return [name for name in found if name not in SKIPPED]


def nested(values, depth: int = 3) -> tuple[list, list]:
    """(tasks, other objects) among ``values``, also inside dicts, lists and tuples (dask's
    ``_execute_subgraph`` holds a fused subgraph as a dict argument; an estimator is an object)."""
    nodes, objects = [], []
    for value in values:
        if isinstance(value, GraphNode):
            if type(value) is not Alias:  # a reference to another task: nothing of its own
                nodes.append(value)
        elif isinstance(value, dict | list | tuple):
            if depth:
                inner = nested(value.values() if isinstance(value, dict) else value, depth - 1)
                nodes += inner[0]
                objects += inner[1]
        elif not isinstance(value, TaskRef | str | bytes | int | float | bool | type(None)):
            objects.append(value)
    return nodes, objects


def function_modules(func) -> list:
    while isinstance(func, functools.partial):
        func = func.func
    composed = getattr(func, "funcs", None)  # toolz.compose (dask's reductions): its own functions count
    if getattr(func, "first", None) is not None and isinstance(composed, tuple):
        return [m for f in (func.first, *composed) for m in function_modules(f)]
    modules = [getattr(func, "__module__", None)]
    owner = getattr(func, "__self__", None)
    if owner is not None and not isinstance(owner, type(functools)):
        modules.append(type(owner).__module__)
    return [m for m in modules if isinstance(m, str)]
