"""A job's DAG: what dask hands to ``get``, culled to the requested keys and numbered.

Tasks are numbered ``0..n-1`` in a topological order (dependencies first, ties in the graph's own
order, never by key name). A four-task diamond::

        a            keys         = ('a', 'b', 'c', 'd')
       / \\           dependencies = ((), (0,), (0,), (1, 2))
      b   c          dependents   = ((1, 2), (3,), (3,), ())
       \\ /           leaves = (0,), finals = (3,)
        d

``specs[i]`` is dask's own task object (``Task``, ``DataNode``, ``Alias``); calling it with a mapping
from its dependencies' dask keys to their values runs it. ``retries[i]`` (only where it is not 0) is
how often task ``i`` runs again when it raises (``dask.annotate(retries=N)``, ``submit(retries=N)``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from dask._task_spec import GraphNode, convert_legacy_graph
from dask.core import flatten

from ..errors import MissingKeyError


@dataclass(frozen=True)
class Dag:
    keys: tuple[Hashable, ...]
    specs: tuple[GraphNode, ...]
    dependencies: tuple[tuple[int, ...], ...]
    dependents: tuple[tuple[int, ...], ...]
    finals: frozenset[int]
    retries: Mapping[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def leaves(self) -> tuple[int, ...]:
        return tuple(i for i, deps in enumerate(self.dependencies) if not deps)

    def index(self) -> dict[Hashable, int]:
        return {key: i for i, key in enumerate(self.keys)}


def as_task_graph(dsk) -> dict[Hashable, GraphNode]:
    """Whatever a ``get`` receives (expression, HighLevelGraph, tuple graph, Task graph) as Task objects."""
    if not isinstance(dsk, Mapping):
        dsk = dsk.__dask_graph__()
    return convert_legacy_graph(dict(dsk))


def client_finalizers(
    graph: Mapping[Hashable, GraphNode], requested: list[Hashable]
) -> dict[Hashable, GraphNode]:
    """Requested tasks that are a dask collection's ``finalize`` over several chunks.

    dask.compute ends an array (bag, dataframe) with one task that concatenates every chunk into one
    value. Run in an executor, it pulls every chunk through the KV store into one place only to send
    the whole to the client; run in the client, the chunks come to it as finals directly."""
    found = {}
    for key in dict.fromkeys(requested):
        node = graph[key]
        func = getattr(node, "func", None)
        if (
            getattr(func, "__name__", "") == "finalize"
            and getattr(func, "__module__", "").startswith("dask.")
            and len(node.dependencies) > 1
        ):
            found[key] = node
    return found


def check_requested(graph: Mapping[Hashable, GraphNode], requested: list[Hashable]) -> None:
    missing = [k for k in requested if k not in graph]
    if missing:
        raise MissingKeyError(missing)


def flat_keys(keys) -> list[Hashable]:
    """The requested keys, flattened out of dask's nested lists, in order (repeats kept)."""
    return list(flatten(keys)) if isinstance(keys, list) else [keys]


def build_dag(dsk, keys, retries: Mapping[Hashable, int] | None = None) -> Dag:
    """``retries``: by dask key, how often a task runs again when it raises."""
    graph = as_task_graph(dsk)
    requested = flat_keys(keys)
    check_requested(graph, requested)
    graph = cull_in_order(graph, requested)
    order = topological_order(graph)
    index = {key: i for i, key in enumerate(order)}
    dependencies = tuple(tuple(sorted(index[d] for d in graph[key].dependencies)) for key in order)
    dependents: list[list[int]] = [[] for _ in order]
    for task, deps in enumerate(dependencies):
        for dep in deps:
            dependents[dep].append(task)
    return Dag(
        keys=tuple(order),
        specs=tuple(graph[key] for key in order),
        dependencies=dependencies,
        dependents=tuple(tuple(d) for d in dependents),
        finals=frozenset(index[k] for k in requested),
        retries={index[k]: n for k, n in (retries or {}).items() if n and k in index},
    )


def cull_in_order(
    graph: Mapping[Hashable, GraphNode], requested: list[Hashable]
) -> dict[Hashable, GraphNode]:
    """Only what the requested keys need, in the graph's own order (dask's cull orders by hash)."""
    needed: set[Hashable] = set()
    work = list(requested)
    while work:
        key = work.pop()
        if key not in needed:
            needed.add(key)
            work.extend(graph[key].dependencies)
    return {key: node for key, node in graph.items() if key in needed}


def topological_order(graph: Mapping[Hashable, GraphNode]) -> list[Hashable]:
    """Kahn's algorithm; ready tasks are taken in the graph's insertion order."""
    waiting = {key: len(node.dependencies) for key, node in graph.items()}
    dependents: dict[Hashable, list[Hashable]] = {key: [] for key in graph}
    for key, node in graph.items():
        for dep in node.dependencies:
            dependents[dep].append(key)
    ready = [key for key, count in waiting.items() if count == 0]
    order: list[Hashable] = []
    while ready:
        order.extend(ready)
        next_ready = []
        for key in ready:
            for dependent in dependents[key]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    next_ready.append(dependent)
        ready = next_ready
    if len(order) != len(graph):
        cyclic = [key for key, count in waiting.items() if count > 0]
        raise ValueError(f"the graph has a cycle through {cyclic[:5]!r}")
    return order


def repack(keys, values: Mapping[Hashable, object]):
    """Put results back into the shape of ``keys`` (lists become tuples, as dask's get returns)."""
    if isinstance(keys, list):
        return tuple(repack(k, values) for k in keys)
    return values[keys]
