"""Progress through dask's callback protocol, so ``dask.diagnostics.ProgressBar`` works with Wukong.

Tasks run in executors, not here: the client learns which finished from the job's ``done`` set and
replays that to the callbacks as ``posttask`` calls, with a dask-shaped ``state`` dict
(``ready``/``waiting``/``running``/``finished``) that the progress bar reads.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from dask.callbacks import Callback, unpack_callbacks
from dask.diagnostics import ProgressBar

PROGRESS_INTERVAL_S = 0.1
BAR_MINIMUM_S = 1.0  # jobs shorter than this show no bar


def wants_bar(setting: str) -> bool:
    return setting == "on" or (setting == "auto" and sys.stderr.isatty())


def owner_of(callback_tuple):
    """The Callback object whose bound methods make up a callback tuple, if any."""
    return next((getattr(f, "__self__", None) for f in callback_tuple if f is not None), None)


@contextmanager
def progress_hooks(dag, config, callbacks, mds):
    """Yield an ``on_progress(job)`` for the wait loop, or None when nobody listens."""
    active = [cb._callback if isinstance(cb, Callback) else cb for cb in (callbacks or ())]
    active += list(Callback.active)
    if wants_bar(config.progress) and not any(isinstance(owner_of(cb), ProgressBar) for cb in active):
        active.append(ProgressBar(minimum=BAR_MINIMUM_S)._callback)
    if not active:
        yield None
        return
    starts, start_states, _, posttasks, finishes = unpack_callbacks(active)
    graph = dict(zip(dag.keys, dag.specs, strict=True))
    state = {"ready": [], "running": set(), "waiting": set(dag.keys), "finished": set(), "cache": {}}
    for start in starts:
        start(graph)
    for start_state in start_states:
        start_state(graph, state)
    seen: set[int] = set()
    last = [0.0]

    def on_progress(job: str) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        for task in mds.done_tasks(job) - seen:
            seen.add(task)
            key = dag.keys[task]
            state["waiting"].discard(key)
            state["finished"].add(key)
            for posttask in posttasks:
                posttask(key, None, graph, state, 0)

    errored = True
    try:
        yield on_progress
        errored = False
    finally:
        if not errored:
            state["waiting"].clear()
            state["finished"].update(dag.keys)
        for finish in finishes:
            finish(graph, state, errored)
