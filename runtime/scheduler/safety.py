"""No silent data loss: graphs whose effects would stay inside one executor are refused before anything
runs, and the dask default that makes the most common of them (the disk shuffle) is changed while a
Client is open.

Under dask's threaded scheduler every task shares the client's memory and disk; on Wukong every task
runs in an executor that shares neither. What dask relies on that for:

- **partd's disk shuffle** (``dask.bag.groupby`` and dataframe shuffles with ``shuffle="disk"``, the
  default when no distributed Client exists): one task makes a partd directory, the others append to
  it and read it back. On Wukong it is the directory of whichever executor runs each task, deleted by
  its maker while others write: groups silently lose items. Refused (``UnsupportedShuffleError``), and
  an open Client makes ``tasks`` the default (``dataframe.shuffle.method``, which bags read too), as
  a distributed Client makes ``p2p``/``tasks`` the default. The P2P shuffle needs distributed's
  workers: refused too.
- **``da.store`` into an in-memory target** (a NumPy array): each executor writes into its own
  unpickled copy, and the target is untouched. Refused (``InMemoryTargetError``). Stores into targets
  that write elsewhere (zarr, HDF5 through a file path, TileDB) run as they are.

Other in-process effects, not refused here (docs/futures.md lists them): dask config set in the client
(``with dask.config.set(...)``) is not seen by executors; locks (``SerializableLock``) do not exclude
across executors; callbacks hear of tasks after the fact (``dask.cache.Cache`` caches nothing); files
written to local paths land on each executor's own disk (on Lambda, its ``/tmp``); module globals a
task mutates stay in its executor.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import dask
import numpy as np
from dask._task_spec import DataNode, GraphNode, Task, TaskRef, _execute_subgraph

from ..errors import InMemoryTargetError, UnsupportedShuffleError

SHUFFLE_METHOD = "dataframe.shuffle.method"
STORE_FUNCTIONS = ("load_store_chunk", "store_chunk")  # dask.array.core: (x, out, index, ...)


def refuse_lost_side_effects(graph: Mapping) -> None:
    """Raise before anything runs if ``graph`` (key -> GraphNode) shuffles through partd or P2P, or
    stores an array into an object in the client's memory."""
    harmless: set[int] = set()  # functions already checked: neither a shuffle's nor a store's
    for key, node in graph.items():
        for task, bindings in tasks_within(node, {}):
            if id(task.func) in harmless:
                continue
            check_shuffle(task, key)
            if (
                getattr(task.func, "__name__", "") not in STORE_FUNCTIONS
                or module_of(task.func) != "dask.array.core"
            ):
                harmless.add(id(task.func))
            else:
                target = resolve(task.args[1], bindings) if len(task.args) > 1 else None
                if isinstance(target, np.ndarray):
                    raise InMemoryTargetError(f"numpy.{type(target).__name__}")


def tasks_within(node, bindings: dict) -> Iterator[tuple[Task, dict]]:
    """Every Task in ``node``: itself, tasks nested in its arguments, and the tasks of fused subgraphs
    (``_execute_subgraph``), each with what its subgraph's input keys are bound to."""
    if not isinstance(node, Task):
        return
    yield node, bindings
    if node.func is _execute_subgraph and len(node.args) >= 3:
        inner, _, inkeys, *deps = node.args
        inner_bindings = {key: resolve(dep, bindings) for key, dep in zip(inkeys, deps, strict=False)}
        for inner_node in inner.values():
            yield from tasks_within(inner_node, inner_bindings)
        return
    for arg in (*node.args, *node.kwargs.values()):
        if isinstance(arg, Task):
            yield from tasks_within(arg, bindings)


def resolve(arg, bindings: dict):
    """The value an argument stands for, where the graph says it (data, or a bound subgraph input)."""
    if isinstance(arg, DataNode):
        return arg.value
    if isinstance(arg, TaskRef | GraphNode) and not isinstance(arg, Task):
        return bindings.get(arg.key)
    return arg


def check_shuffle(task: Task, key) -> None:
    """``task``: a task within the graph's node ``key``."""
    func = task.func
    owner = module_of(func) or module_of(type(func))
    if owner.startswith("partd") or type(func).__name__ == "maybe_buffered_partd":
        raise UnsupportedShuffleError("disk", f"task {key!r} makes a partd store")
    if owner.startswith("distributed.shuffle") or getattr(func, "__name__", "").startswith(
        "_shuffle_transfer"
    ):
        raise UnsupportedShuffleError("p2p", f"task {key!r} is a P2P shuffle transfer")


def module_of(obj) -> str:
    return getattr(obj, "__module__", None) or ""


# --- the shuffle default, while a Client is open ---
_default_lock = threading.Lock()
_default_holders = 0
_default_set = False


def hold_task_shuffle_default() -> None:
    """An open Client makes the task-based shuffle dask's default, unless the user chose a method."""
    global _default_holders, _default_set
    with _default_lock:
        _default_holders += 1
        if _default_holders == 1 and dask.config.get(SHUFFLE_METHOD, None) is None:
            dask.config.set({SHUFFLE_METHOD: "tasks"})
            _default_set = True


def release_task_shuffle_default() -> None:
    """The last open Client closed: undo what :func:`hold_task_shuffle_default` set, if it is unchanged."""
    global _default_holders, _default_set
    with _default_lock:
        _default_holders = max(0, _default_holders - 1)
        if _default_holders == 0 and _default_set:
            if dask.config.get(SHUFFLE_METHOD, None) == "tasks":
                dask.config.set({SHUFFLE_METHOD: None})
            _default_set = False
