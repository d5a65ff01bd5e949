"""Submitted work becomes few jobs: what is submitted within ``futures_batch_s`` of each other is one
job, and up to ``max_concurrent_jobs`` jobs run at once, each in a thread of its own.

An :class:`Item` is one submission (a ``submit``, a ``compute``, a ``persist``): the futures it makes
and the tasks that compute them. A *flusher* thread takes the pending items a few milliseconds after
the first arrives; those whose futures' inputs are ready (finished, or made by another item of the same
batch) become one job (``jobs.job_graph``); those waiting on a future still computing stay pending until
a job ends; those depending on one that erred or was cancelled err or are cancelled with it.

A job that fails is not the end of its futures (a ``map`` of 10 000 with one bad input): the futures
whose values were stored finish, those downstream of the task that failed err with its exception, and
the rest are submitted again (``recover``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from dask.callbacks import Callback

from ..errors import UnknownFutureError
from ..futures import Stored
from ..storage import task_errors
from .future import CANCELLED, ERROR, FINISHED, Future, FutureState
from .futures_graph import JobGraph, job_graph
from .session import Session

log = logging.getLogger("wukong.futures")


@dataclass
class Item:
    """One submission. ``graph``: dask ``GraphNode`` by key (futures it reads are missing from it)."""

    states: tuple[FutureState, ...]  # of the futures it makes, by key (``state.key``)
    graph: dict
    needs: frozenset  # keys of futures it reads and does not make
    retries: dict = field(default_factory=dict)  # key -> retries
    held: list = field(default_factory=list)  # what keeps the Futures it reads alive until it ran
    shared_sink: bool = False  # one call: its value may be stored together with other calls'

    @property
    def keys(self) -> list[Hashable]:
        return [state.key for state in self.states]

    def held_state(self, key: Hashable) -> FutureState | None:
        """The state of a Future it reads, if it holds that Future (one cancelled is no longer the
        session's)."""
        return next((f._state for f in self.held if isinstance(f, Future) and f.key == key), None)


class Batches:
    def __init__(self, session: Session, run_graph: Callable, config, concurrency: int):
        """``run_graph(graph, keys, callbacks)`` runs one job and returns the keys' values (``Client.get``)."""
        self.session, self.run_graph, self.config = session, run_graph, config
        self.concurrency = concurrency
        self.lock = session.lock
        self.changed = threading.Condition(self.lock)  # items added, or a job ended
        self.pending: list[Item] = []
        self.dirty = False
        self.closed = False
        self.jobs: queue.Queue = queue.Queue()
        self.runners: list[threading.Thread] = []
        threading.Thread(target=self.flush_loop, name=f"wukong-batches-{session.id}", daemon=True).start()

    def add(self, items: list[Item]) -> None:
        with self.changed:
            self.pending.extend(items)
            self.dirty = True
            self.changed.notify()

    # --- the flusher ---
    def flush_loop(self) -> None:
        while True:
            with self.changed:
                while not self.dirty and not self.closed:
                    self.changed.wait()
                if self.closed:
                    return
            time.sleep(self.config.futures_batch_s)  # let the rest of a burst of submits arrive
            with self.changed:
                self.dirty = False
                batch = self.take_runnable()
            if batch:
                self.start(batch)

    def take_runnable(self) -> list[Item]:
        """Under the lock: the pending items that can run now, removed from ``pending``; fails or cancels
        the items whose inputs erred or were cancelled; leaves the others pending. An item whose input
        another item makes runs with it, in one job, unless that one cannot run yet either."""
        candidates = [item for item in self.pending if any(self.session.current(s) for s in item.states)]
        waiting: list[Item] = []
        while True:
            made = {key for item in candidates for key in item.keys}
            runnable = []
            for item in candidates:
                blocker = self.blocker(item, made)
                if blocker is None:
                    runnable.append(item)
                elif blocker is WAITING:
                    waiting.append(item)
                else:
                    self.settle_blocked(item, blocker)
            if len(runnable) == len(candidates):
                break
            candidates = runnable
        self.pending = waiting
        return runnable

    def blocker(self, item: Item, made: set) -> FutureState | None:
        """What keeps ``item`` from running: None (it can run), a state that erred or was cancelled, or
        ``WAITING`` (an input is still computing, in a job or waiting itself)."""
        for need in item.needs:
            if need in made:
                continue
            state = self.session.states.get(need) or item.held_state(need)
            if state is None:
                lost = FutureState(need)
                lost.mark(ERROR, exception=UnknownFutureError([need]))
                return lost
            if state.status in (ERROR, CANCELLED):
                return state
            if state.status != FINISHED:
                return WAITING
        return None

    def settle_blocked(self, item: Item, blocker: FutureState) -> None:
        if blocker.status == CANCELLED:
            self.session.cancel(item.states, reason=f"it depends on {blocker.key!r}, which was cancelled")
        else:
            self.session.fail(item.states, blocker.exception or UnknownFutureError([blocker.key]))

    # --- running jobs ---
    def start(self, batch: list[Item]) -> None:
        with self.lock:
            if len(self.runners) < self.config.max_concurrent_jobs:
                runner = threading.Thread(target=self.run_jobs, name="wukong-futures-job", daemon=True)
                self.runners.append(runner)
                runner.start()
        self.jobs.put(batch)

    def run_jobs(self) -> None:
        while True:
            batch = self.jobs.get()
            if batch is None:
                return
            try:
                self.run(batch)
            except Exception as exc:  # a bug here must not leave futures pending for ever
                log.exception("a futures job could not be run")
                self.session.fail([s for item in batch for s in item.states], exc)
            del batch  # the Futures its items held may go now
            with self.changed:  # items waiting for this job's futures may run now
                self.dirty = True
                self.changed.notify()

    def run(self, batch: list[Item]) -> None:
        job = job_graph(batch, self.session, self.concurrency)
        states = {state.key: state for item in batch for state in item.states}
        watcher = StoreWatcher(job, states, self.session)
        try:
            markers = self.run_graph(job.layers(), list(job.sinks), [watcher])
        except BaseException as error:  # a task's exception, the deadline, the cluster gone
            self.recover(batch, job, error)
            return
        stored: dict[Hashable, Stored] = {}
        for sink, values in zip(job.sinks, markers, strict=True):
            stored.update(zip(job.sinks[sink], values, strict=True))
        self.session.finish((states[key], marker) for key, marker in stored.items())

    def recover(self, batch: list[Item], job: JobGraph, error: BaseException) -> None:
        """After a failed job: finish what was stored, err what depends on the task that failed, submit
        the rest again. Without a task to blame (the deadline, the cluster), everything not stored errs."""
        states = {state.key: state for item in batch for state in item.states}
        names = {self.session.name(key): key for key in states}
        stored = {
            names[n]: Stored(n, 0, parts) for n, parts in self.session.kvs.value_parts(list(names)).items()
        }
        blamed = job.blamed(task_errors.failed_key(error), error, set(states)) - set(stored)
        if not blamed:
            blamed = set(states) - set(stored)
        self.session.finish((states[key], marker) for key, marker in stored.items())
        self.session.fail([states[key] for key in blamed], error)
        again = []
        for item in batch:
            left = tuple(s for s in item.states if s.key not in stored and s.key not in blamed)
            if left:
                again.append(Item(left, item.graph, item.needs, item.retries, item.held, item.shared_sink))
        # Executors end a job at its first error: run the rest as several jobs, so that each further
        # failure (a map with several bad inputs) ends only a part, and the parts run at once.
        for part in split(again, RECOVERY_PARTS):
            self.start(part)

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.pending = []
            self.changed.notify()
        for _ in self.runners:
            self.jobs.put(None)


WAITING = FutureState("an input still computing")  # a marker: never a key's state
RECOVERY_PARTS = 8


def split(items: list[Item], parts: int) -> list[list[Item]]:
    """``items`` in up to ``parts`` batches of about as many futures, items that read each other's
    futures kept together (a batch must make what it reads, or find it finished)."""
    group = {id(item): i for i, item in enumerate(items)}
    maker = {key: i for i, item in enumerate(items) for key in item.keys}

    def root(i: int) -> int:
        while group[id(items[i])] != i:
            i = group[id(items[i])]
        return i

    for i, item in enumerate(items):
        for need in item.needs:
            if need in maker:
                group[id(items[root(i)])] = root(maker[need])
    components: dict[int, list[Item]] = {}
    for i, item in enumerate(items):
        components.setdefault(root(i), []).append(item)
    batches: list[list[Item]] = [[] for _ in range(min(parts, len(components)))]
    sizes = [0] * len(batches)
    for component in sorted(components.values(), key=lambda c: -sum(len(i.states) for i in c)):
        smallest = sizes.index(min(sizes))
        batches[smallest] += component
        sizes[smallest] += sum(len(i.states) for i in component)
    return batches


class StoreWatcher(Callback):
    """Finishes a job's futures as soon as their store task is done, not when the whole job is: the
    client's replay of the job's done set (``diagnostics.progress``, every 0.1 s) tells it. The values
    are in the KV store by then (a store task writes them before it completes); their sizes and types
    come with the job's finals."""

    def __init__(self, job: JobGraph, states: dict, session: Session):
        super().__init__(posttask=self.stored)
        self.job, self.states, self.session = job, states, session

    def stored(self, key, result, dsk, state, worker_id) -> None:
        keys = self.job.sinks.get(key)
        if not keys:
            return
        names = {self.session.name(k): k for k in keys}
        parts = self.session.kvs.value_parts(list(names))
        self.session.finish((self.states[names[n]], Stored(n, 0, p)) for n, p in parts.items())
