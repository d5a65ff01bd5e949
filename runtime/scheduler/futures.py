"""The futures half of ``Client``: distributed's ``submit``, ``map``, ``gather``, ``scatter``,
``compute``, ``persist`` and ``cancel``, with its semantics (docs/futures.md).

Nothing here runs a task: a submission becomes an ``Item`` that the client's batches turn into jobs
(``batches.py``), whose graphs store each future's value in the cluster (``futures_graph.py``). A graph
that reads futures (a later ``submit``, a delayed function of one, a persisted collection) loads them
where it runs; ``futures_graph`` below does that for graphs handed to ``Client.get``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Hashable, Iterable
from typing import Any, cast

import dask
from dask._task_spec import Task, parse_input
from dask.base import collections_to_expr, is_dask_collection
from dask.core import flatten
from dask.tokenize import tokenize
from dask.utils import funcname

from .. import platforms
from ..config import JOB_SETTINGS, WukongConfig
from ..errors import MissingKeyError, UnknownFutureError, UnsupportedOptionError
from ..futures import load
from ..storage.connect import Stores
from .annotations import retries_by_key
from .batches import Batches, Item
from .dag import as_task_graph
from .future import FINISHED, Future
from .safety import refuse_lost_side_effects
from .session import Session
from .user_code import by_value

_SESSION_LOCK = threading.Lock()


class ClientFutures:
    """Mixed into ``Client``, which provides ``cluster``, ``config``, ``stores`` and ``get``."""

    cluster: Any  # a LocalCluster
    config: WukongConfig
    stores: Stores
    _last_report: Any
    get: Callable[..., Any]
    _futures: tuple[Session, Batches, Any] | None = None  # the session, its batches, their job runner

    @property
    def _session(self) -> Session:
        return self._futures_started()[0]

    def _futures_started(self) -> tuple[Session, Batches, Any]:
        """The session, made on first use: no thread or key exists for a client that makes no future."""
        with _SESSION_LOCK:
            if self._futures is None:
                self.cluster.check()
                session = Session(self, self.stores.kvs, self.config.session_ttl_s, self.cluster.check)
                # Futures' jobs run on a client of their own: no progress bar, no global callbacks.
                settings = {name: getattr(self.config, name) for name in JOB_SETTINGS}
                runner = cast(Any, type(self))(self.cluster, **{**settings, "progress": "off"})

                def run_graph(graph, keys, callbacks):
                    values = runner.get(graph, keys, callbacks=callbacks)
                    self._last_report = runner._last_report  # last_report covers futures' jobs too
                    return values

                batches = Batches(session, run_graph, self.config, self.cluster.concurrency)
                self._futures = (session, batches, runner)
            return self._futures

    # --- submitting calls ---
    def submit(
        self,
        func: Callable,
        *args,
        key: Hashable | None = None,
        pure: bool = True,
        retries: int | None = None,
        workers=None,
        resources=None,
        priority: int = 0,
        allow_other_workers: bool = False,
        fifo_timeout=None,
        actor: bool = False,
        **kwargs,
    ) -> Future:
        """``func(*args, **kwargs)`` computed in the cluster, as a Future. ``retries``: how often it runs
        again when it raises (default: ``dask.annotate(retries=...)``'s, else 0); ``priority`` and
        ``fifo_timeout`` have no effect (no scheduler queue); ``workers``/``resources``/``actor`` are
        refused (executors are interchangeable)."""
        refuse_placement(workers, resources, actor)
        if key is None:
            key = f"{funcname(func)}-{tokenize(func, kwargs, *args) if pure else uuid.uuid4().hex}"
        return self._submit_calls(func, [(key, args)], kwargs, retries)[0]

    def map(
        self,
        func: Callable,
        *iterables: Iterable,
        key=None,
        pure: bool = True,
        retries: int | None = None,
        workers=None,
        resources=None,
        batch_size=None,
        priority: int = 0,
        allow_other_workers: bool = False,
        fifo_timeout=None,
        actor: bool = False,
        **kwargs,
    ) -> list[Future]:
        """``func`` over the iterables' elements (zipped), one Future each; submitted together, they
        are computed in one job. ``key``: a prefix, or one key per element."""
        refuse_placement(workers, resources, actor)
        calls = list(zip(*[list(it) for it in iterables], strict=False))
        if isinstance(key, list | tuple):
            keys = list(key)
        else:
            prefix = key or funcname(func)
            common = tokenize(func, kwargs)
            keys = [f"{prefix}-{tokenize(common, *c) if pure else uuid.uuid4().hex}" for c in calls]
        return self._submit_calls(func, list(zip(keys, calls, strict=True)), kwargs, retries)

    def _submit_calls(self, func, calls, kwargs, retries) -> list[Future]:
        session, batches, _ = self._futures_started()
        session.check()
        retries = dask.get_annotations().get("retries", 0) if retries is None else retries
        common = self._own_futures(kwargs)
        parsed: dict[str, Any] = {name: parse_input(value) for name, value in kwargs.items()}
        items, futures = [], []
        with session.lock:
            for key, args in calls:
                state, new = session.claim(key)
                futures.append(session.future(key))
                if new:
                    task = Task(key, func, *[parse_input(a) for a in args], **parsed)
                    held = common + self._own_futures(args)
                    session.depend(state, task.dependencies)
                    items.append(
                        Item((state,), {key: task}, frozenset(task.dependencies), {key: retries}, held, True)
                    )
        batches.add(items)
        return futures

    def _own_futures(self, obj) -> list[Future]:
        """The Futures in ``obj`` (nested in lists, tuples, sets, dicts); refuses another client's."""
        found = list(futures_in(obj))
        foreign = [f.key for f in found if f.client is not self]
        if foreign:
            raise UnknownFutureError(foreign)
        return found

    # --- data in and out ---
    def gather(self, futures, errors: str = "raise", direct=None, asynchronous=None):
        """The values of ``futures`` (a Future, or lists, tuples, sets and dicts of them, nested), read
        from the cluster in one round trip per KV-store node. ``errors="skip"`` leaves out those that
        erred or were cancelled instead of raising the first one's exception."""
        found = list(futures_in(futures))
        failed = set()
        for future in found:
            future._state.wait()
            if future._state.status != FINISHED:
                if errors == "raise":
                    future._state.raise_exception()
                failed.add(future)
        finished = [f for f in found if f not in failed]
        values = dict(zip(map(id, finished), self._session.values([f._state for f in finished]), strict=True))
        return repack(futures, values, failed)

    def scatter(
        self,
        data,
        workers=None,
        broadcast: bool = False,
        direct=None,
        hash: bool = True,
        timeout=None,
        asynchronous=None,
    ):
        """Put ``data`` in the cluster: a value gives a Future; a list, tuple or set one per element; a
        dict one per value, under the dict's keys. ``broadcast`` has no effect (every executor reads
        the KV store)."""
        refuse_placement(workers, None, False)
        if isinstance(data, dict):
            keys, values = list(data), list(data.values())
        else:
            values = list(data) if isinstance(data, list | tuple | set | frozenset) else [data]
            keys = [f"{type(v).__name__}-{tokenize(v) if hash else uuid.uuid4().hex}" for v in values]
        with by_value(not platforms.executors_import_client_modules(self.config)):
            futures = self._session.scatter(dict(zip(keys, values, strict=True)))
        by_key = dict(zip(keys, futures, strict=True))
        if isinstance(data, dict):
            return by_key
        if isinstance(data, list | tuple | set | frozenset):
            return (
                type(data)([by_key[k] for k in keys])
                if not isinstance(data, set | frozenset)
                else [by_key[k] for k in keys]
            )
        return futures[0]

    # --- collections ---
    def compute(
        self,
        collections,
        sync: bool = False,
        optimize_graph: bool = True,
        retries: int | None = None,
        traverse: bool = True,
        workers=None,
        resources=None,
        **kwargs,
    ):
        """One Future per dask collection (its finalized value, computed in the cluster): a collection
        gives a Future, a list or tuple a list. ``sync=True`` gives the values instead."""
        refuse_placement(workers, resources, False)
        single = not isinstance(collections, list | tuple)
        items = [collections] if single else list(collections)
        if sync:
            values = dask.compute(*items, scheduler=self.get, optimize_graph=optimize_graph, **kwargs)
            return values[0] if single else list(values)
        from dask._expr import FinalizeCompute

        futures = self._submit_collections(
            [
                (c, FinalizeCompute(collections_to_expr([c], optimize_graph)).optimize())
                for c in items
                if is_dask_collection(c)
            ],
            retries,
        )
        results = [futures.pop(0)[0] if is_dask_collection(c) else c for c in items]
        return results[0] if single else results

    def persist(
        self,
        collections,
        optimize_graph: bool = True,
        retries: int | None = None,
        workers=None,
        resources=None,
        **kwargs,
    ):
        """The same collection(s), backed by futures in the cluster: computing them later reads those."""
        refuse_placement(workers, resources, False)
        single = not isinstance(collections, list | tuple)
        items = [collections] if single else list(collections)
        computed = [c for c in items if is_dask_collection(c)]
        exprs = [collections_to_expr([c], optimize_graph).optimize() for c in computed]
        futures = self._submit_collections(list(zip(computed, exprs, strict=True)), retries)
        rebuilt = []
        for collection, expr, made in zip(computed, exprs, futures, strict=True):
            rebuild, state = collection.__dask_postpersist__()
            keys = list(flatten(expr.__dask_keys__()))
            rebuilt.append(rebuild(dict(zip(keys, made, strict=True)), *state))
        results = [rebuilt.pop(0) if is_dask_collection(c) else c for c in items]
        return results[0] if single else results

    def _submit_collections(self, pairs, retries) -> list[list[Future]]:
        """For each (collection, its optimized expression): a Future per key of the expression."""
        session, batches, _ = self._futures_started()
        session.check()
        items, futures = [], []
        for collection, expr in pairs:
            keys = list(flatten(expr.__dask_keys__()))
            graph = as_task_graph(expr)
            refuse_lost_side_effects(graph)
            needs = frozenset(d for node in graph.values() for d in node.dependencies if d not in graph)
            unknown = [k for k in needs if k not in session.states]
            if unknown:
                raise UnknownFutureError(unknown)
            counts = retries_by_key(expr, graph)
            if retries:
                counts = {**dict.fromkeys(graph, retries), **counts}
            with session.lock:
                claimed = [session.claim(k) for k in keys]
                futures.append([session.future(k) for k in keys])
                states = tuple(state for state, new in claimed if new)
                for state in states:
                    session.depend(state, needs)
                if states:
                    items.append(Item(states, graph, needs, counts, [collection]))
        batches.add(items)
        return futures

    def cancel(self, futures, asynchronous=None, force: bool = False) -> None:
        """Cancel the futures (lists of them too): see ``Future.cancel``."""
        self._session.cancel([f._state for f in futures_in(futures)])

    # --- graphs handed to get ---
    def futures_graph(self, graph: dict, requested: list) -> dict:
        """``graph`` with a load task for each of this client's futures it reads or that is requested
        (waiting for those still computing; raising for those that erred)."""
        missing = {d for node in graph.values() for d in node.dependencies if d not in graph}
        missing |= {k for k in requested if k not in graph}
        if not missing:
            return graph
        session = self._futures[0] if self._futures is not None else None
        states = {k: session.states.get(k) for k in missing} if session else dict.fromkeys(missing)
        absent = [k for k, state in states.items() if state is None]
        if absent or session is None:
            raise (MissingKeyError if set(absent) <= set(requested) else UnknownFutureError)(absent)
        graph = dict(graph)
        for key, state in states.items():
            assert state is not None
            state.wait()
            if state.status != FINISHED:
                state.raise_exception()
            graph[key] = Task(key, load, session.name(key), key, session.ttl_s)
        return graph

    def _close_futures(self) -> None:
        if self._futures is not None:
            session, batches, runner = self._futures
            batches.close()
            session.close()
            runner.close()


def refuse_placement(workers, resources, actor) -> None:
    why = "every task runs on an interchangeable serverless executor"
    for name, value in (("workers", workers), ("resources", resources), ("actor", actor)):
        if value:
            raise UnsupportedOptionError(name, why)


def futures_in(obj) -> Iterable[Future]:
    """The Futures in ``obj``, depth first, in order."""
    if isinstance(obj, Future):
        yield obj
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from futures_in(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from futures_in(item)


def repack(obj, values: dict[int, Any], failed: set):
    """``obj`` with each Future replaced by its value (``values`` by the Future's id); Futures in
    ``failed`` are left out of their container (``gather(errors="skip")``)."""
    if isinstance(obj, Future):
        return values.get(id(obj))
    if isinstance(obj, list | tuple | set | frozenset):
        return type(obj)(
            repack(x, values, failed) for x in obj if not (isinstance(x, Future) and x in failed)
        )
    if isinstance(obj, dict):
        return {
            k: repack(v, values, failed)
            for k, v in obj.items()
            if not (isinstance(v, Future) and v in failed)
        }
    return obj
