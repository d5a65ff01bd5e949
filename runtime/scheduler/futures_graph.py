"""The graph of one futures job: a batch of submissions, the loads of the futures they read, and the
sinks that store the futures they make.

    a = client.submit(inc, 1); b = client.submit(add, a, x)     (x finished earlier)

    x: load(name of x) ─┐
    inc-1 ──────────────┴─> add-2
      └─> store-0: store((name of inc-1,), ...)    add-2 ─> store-1: store((name of add-2,), ...)

A future's task keeps its own key, so what reads it refers to it as usual; a finished future read by
the batch becomes a load task under its own key. The job's finals are the sinks, whose values are tiny
``Stored`` markers: the futures' values go from the executors to the KV store and stay there.

Each future gets a sink of its own, run where its task ran (its only dependent: ``become``), except
single calls nobody in the batch reads (a ``map``): those share ``2 * concurrency`` sinks, so that each
sink with its calls is a closed subtree of leaves that task grouping folds into one executor (its
limit, ``len(dag) // concurrency``, is then at least a sink's size). A ``map`` of 10 000 is then ~64
invocations, not 10 000.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass

from dask._task_spec import Task, TaskRef
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

from ..errors import UnpicklableResultError
from ..futures import load, store

SINK_PREFIX = "wukong-store"
SINKS_PER_CONCURRENCY = 2


@dataclass
class JobGraph:
    graph: dict  # key -> GraphNode: the batch's tasks, loads and sinks
    retries: dict  # key -> how often it runs again when it raises
    sinks: dict  # sink key -> the future keys it stores, in order

    def layers(self) -> HighLevelGraph:
        """The graph as dask hands it to a scheduler: one layer per retries count, annotated."""
        by_count: dict[int, dict] = defaultdict(dict)
        for key, node in self.graph.items():
            by_count[self.retries.get(key, 0)][key] = node
        layers = {
            f"wukong-retries-{count}": MaterializedLayer(
                nodes, annotations={"retries": count} if count else None
            )
            for count, nodes in by_count.items()
        }
        return HighLevelGraph(layers, {name: set() for name in layers})

    def blamed(self, failed: Hashable | None, error: BaseException, futures: set) -> set:
        """The futures a failed job's ``error`` is the outcome of: those downstream of the task that
        raised (the ones its sink stores, if a sink raised). Empty when no task is to blame."""
        if isinstance(error, UnpicklableResultError) and error.key in futures:
            return {error.key}
        if failed in self.sinks:
            return set(self.sinks[failed])
        if failed is None or failed not in self.graph:
            return set()
        dependents = defaultdict(list)
        for key, node in self.graph.items():
            for dep in node.dependencies:
                dependents[dep].append(key)
        seen, stack = {failed}, [failed]
        while stack:
            for dependent in dependents[stack.pop()]:
                if dependent not in seen:
                    seen.add(dependent)
                    stack.append(dependent)
        return seen & futures


def job_graph(batch: list, session, concurrency: int) -> JobGraph:
    """``batch``: ``batches.Item`` list; ``session``: names the values and gives their TTL."""
    graph, retries = {}, {}
    for item in batch:
        graph.update(item.graph)
        retries.update(item.retries)
    for item in batch:
        for need in item.needs:
            if need not in graph:
                graph[need] = Task(need, load, session.name(need), need, session.ttl_s)
    read = {dep for node in graph.values() for dep in node.dependencies}
    calls = [k for item in batch if item.shared_sink for k in item.keys if k not in read]
    shared = set(calls)
    groups = [[k] for item in batch for k in item.keys if k not in shared]
    sinks_wanted = SINKS_PER_CONCURRENCY * max(1, concurrency)
    size = math.ceil(len(calls) / sinks_wanted) if len(calls) > sinks_wanted else 1
    groups += [calls[i : i + size] for i in range(0, len(calls), size)]
    token = uuid.uuid4().hex[:8]
    sinks = {}
    for number, keys in enumerate(groups):
        sink = (SINK_PREFIX, token, number)
        names = tuple(session.name(k) for k in keys)
        graph[sink] = Task(sink, store, names, tuple(keys), session.ttl_s, *[TaskRef(k) for k in keys])
        sinks[sink] = tuple(keys)
    return JobGraph(graph, retries, sinks)
