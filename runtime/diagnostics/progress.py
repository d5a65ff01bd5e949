"""Progress through dask's callback protocol, so ``dask.diagnostics.ProgressBar`` works with Wukong.

Tasks run in executors, not here: the client learns which finished from the job's ``done`` set and
replays that to the callbacks, in topological order, as a ``pretask`` then a ``posttask`` call per
task, with a dask-shaped ``state`` (the one ``dask.local`` keeps)::

    ready:    [key]            dependencies all finished, not yet reported finished
    waiting:  {key: {keys}}    the unfinished dependencies of each other task
    running:  set()            (unknown here: executors do not report starts)
    finished: {key}
    dependencies / dependents: {key: {keys}}

``Profiler`` gets the tasks' own start and end times from the job's timings once the job returned (a
Profiler times the calls it hears, and replayed calls take no time).

Callbacks are chosen as dask's local schedulers choose them (``local_callbacks``): the ``callbacks=``
argument of ``compute`` if given, else the globally active ones (``with ProgressBar():``,
``ProgressBar().register()``). Wukong adds its own bar, on stderr, when ``config.progress`` asks for
one and no ProgressBar is active already.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from timeit import default_timer

from dask.callbacks import local_callbacks, normalize_callback, unpack_callbacks
from dask.diagnostics import Profiler, ProgressBar

PROGRESS_INTERVAL_S = 0.1
BAR_MINIMUM_S = 1.0  # jobs shorter than this show no bar


def wants_bar(setting: str) -> bool:
    return setting == "on" or (setting == "auto" and sys.stderr.isatty())


def owner_of(callback_tuple):
    """The Callback object whose bound methods make up a callback tuple, if any."""
    return next((getattr(f, "__self__", None) for f in callback_tuple if f is not None), None)


def initial_state(dag) -> dict:
    keys = dag.keys
    dependencies = {keys[t]: {keys[d] for d in deps} for t, deps in enumerate(dag.dependencies)}
    dependents = {keys[t]: {keys[d] for d in deps} for t, deps in enumerate(dag.dependents)}
    return {
        "dependencies": dependencies,
        "dependents": dependents,
        "waiting": {key: set(deps) for key, deps in dependencies.items() if deps},
        "waiting_data": {},
        "ready": [keys[t] for t in dag.leaves],
        "running": set(),
        "finished": set(),
        "released": set(),
        "cache": {},
    }


class Replay:
    """Feeds finished tasks to the callbacks' ``pretask``/``posttask``, each task once, dependencies first,
    keeping ``state`` as dask's local scheduler would (O(1) per task and edge)."""

    def __init__(self, dag, graph, state, pretasks, posttasks):
        self.dag, self.graph, self.state = dag, graph, state
        self.pretasks, self.posttasks = pretasks, posttasks
        self.seen: set[int] = set()
        self.ready_at = {key: i for i, key in enumerate(state["ready"])}  # key -> index in state["ready"]

    def tasks_done(self, tasks) -> None:
        for task in sorted(set(tasks) - self.seen):
            self.seen.add(task)
            key = self.dag.keys[task]
            for pretask in self.pretasks:
                pretask(key, self.graph, self.state)
            self.mark_finished(key)
            for posttask in self.posttasks:
                posttask(key, None, self.graph, self.state, 0)

    def mark_finished(self, key) -> None:
        """Move ``key`` to finished, and its dependents whose dependencies all finished to ready."""
        state = self.state
        if state["waiting"].pop(key, None) is None and key in self.ready_at:
            self.drop_ready(key)
        state["finished"].add(key)
        for dependent in state["dependents"][key]:
            unfinished = state["waiting"].get(dependent)
            if unfinished is not None:
                unfinished.discard(key)
                if not unfinished:
                    del state["waiting"][dependent]
                    self.ready_at[dependent] = len(state["ready"])
                    state["ready"].append(dependent)

    def drop_ready(self, key) -> None:
        ready = self.state["ready"]
        index = self.ready_at.pop(key)
        last = ready.pop()
        if last != key:  # move the last key into the hole
            ready[index] = last
            self.ready_at[last] = index


class Progress:
    """The wait loop's ``on_progress(job)``: replays the tasks done so far to the callbacks; once the
    job returned, :meth:`ended` hands it the job's report, whose timings give ``Profiler`` the tasks'
    own start and end times (executors record them; replayed calls only know when they were replayed)."""

    def __init__(self, replay: Replay, mds, profilers: list):
        self.replay, self.mds, self.profilers = replay, mds, profilers
        self.last = 0.0
        self.report = None

    def __call__(self, job: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        self.replay.tasks_done(self.mds.done_tasks(job))

    def ended(self, report) -> None:
        """``report``: the job's report to come (a concurrent Future)."""
        self.report = report

    def time_profilers(self) -> None:
        """Give each active Profiler the tasks' own times, task group members included."""
        if not self.profilers or self.report is None:
            return
        try:
            timings = self.report.result().timings
        except Exception:  # no report: the replayed (zero-length) times stay
            return
        profiled = profiled_tasks(self.replay.dag, timings)
        for profiler in self.profilers:
            profiler._results = dict(profiled)  # dask's Profiler: key -> (key, task, start, end, worker)


def profiled_tasks(dag, timings: list[dict]) -> dict:
    """``{key: (key, task, start, end, executor)}`` from the executors' records, times moved onto the
    client's ``timeit.default_timer`` clock (Profiler's); executors record wall-clock time."""
    by_name = {}
    for key, spec in zip(dag.keys, dag.specs, strict=True):
        by_name[str(key)] = (key, spec)
        for member, node, _ in getattr(spec, "steps", ()):  # a TaskGroup's members
            by_name[str(member)] = (member, node)
    offset = time.time() - default_timer()
    profiled = {}
    for record in timings:
        key, task = by_name.get(record["key"], (record["key"], None))
        profiled[key] = (key, task, record["start"] - offset, record["end"] - offset, record["owner"])
    return profiled


@contextmanager
def progress_hooks(dag, config, callbacks, mds):
    """Yield a :class:`Progress` for the wait loop, or None when nobody listens."""
    given = None if callbacks is None else [normalize_callback(cb) for cb in callbacks]
    with local_callbacks(given) as active:
        active = list(active)
        if wants_bar(config.progress) and not any(isinstance(owner_of(cb), ProgressBar) for cb in active):
            active.append(ProgressBar(minimum=BAR_MINIMUM_S, out=sys.stderr)._callback)
        if not active:
            yield None
            return
        starts, start_states, pretasks, posttasks, finishes = unpack_callbacks(active)
        graph = dict(zip(dag.keys, dag.specs, strict=True))
        state = initial_state(dag)
        for start in starts:
            start(graph)
        for start_state in start_states:
            start_state(graph, state)
        profilers = [owner_of(cb) for cb in active if isinstance(owner_of(cb), Profiler)]
        progress = Progress(Replay(dag, graph, state, pretasks, posttasks), mds, profilers)
        errored = True
        try:
            yield progress
            errored = False
            progress.replay.tasks_done(range(len(dag)))  # the job succeeded: every task ran
            progress.time_profilers()
        finally:
            for finish in finishes:
                finish(graph, state, errored)
