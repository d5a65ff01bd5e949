"""Progress through dask's callback protocol: ProgressBar, Wukong's own bar, and the replayed state.

The end-to-end tests run on the real local cluster; the replay test drives the state by hand on the
four-task diamond::

        a
       / \\
      b   c
       \\ /
        d
"""

from __future__ import annotations

import io
import re
import time

import dask
import pytest
from dask.callbacks import Callback
from dask.diagnostics import Profiler, ProgressBar

from wukong import Client
from wukong.diagnostics.progress import Replay, initial_state
from wukong.scheduler.dag import build_dag

STEP_S = 0.3  # each task of the slow chain sleeps this long: the job takes well over a second


def slow_inc(x):
    time.sleep(STEP_S)
    return x + 1


def fail(x):
    raise ValueError("boom")


def slow_chain(length: int = 5):
    value = 0
    for _ in range(length):
        value = dask.delayed(slow_inc)(value)
    return value


@pytest.fixture(scope="module")
def quiet(cluster):
    return Client(cluster, progress="off")


def test_dask_progress_bar_reaches_100_percent(quiet):
    out = io.StringIO()
    with ProgressBar(out=out, dt=0.05):
        assert slow_chain().compute(scheduler=quiet.get) == 5
    text = out.getvalue()
    assert "100% Completed" in text
    assert text.endswith("\n")
    # The bar moves while the job runs (each task holds the chain for STEP_S, the bar redraws every 0.05 s).
    assert {int(p) for p in re.findall(r"(\d+)% Completed", text)} - {0, 100}


def test_wukong_bar_on_stderr_when_on(cluster, capsys):
    client = Client(cluster, progress="on")
    assert slow_chain().compute(scheduler=client.get) == 5
    captured = capsys.readouterr()
    assert "100% Completed" in captured.err
    assert captured.out == ""


def test_progress_off_prints_nothing(quiet, capsys):
    assert slow_chain().compute(scheduler=quiet.get) == 5
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


class Recorder(Callback):
    """Every call, in order, with what the state said at the time."""

    def __init__(self):
        self.calls = []

    def _start(self, dsk):
        self.calls.append(("start", frozenset(dsk)))

    def _pretask(self, key, dsk, state):
        self.calls.append(("pretask", key))

    def _posttask(self, key, result, dsk, state, worker_id):
        self.calls.append(("posttask", key, len(state["finished"]), key in state["finished"]))

    def _finish(self, dsk, state, errored):
        self.calls.append(("finish", errored, frozenset(state["finished"]), len(state["waiting"])))


def test_callbacks_argument_sees_every_task_once_dependencies_first(quiet):
    recorder = Recorder()
    total = dask.delayed(sum)([dask.delayed(slow_inc)(i) for i in range(6)])
    graph_keys = set(dict(total.__dask_graph__()))
    assert dask.compute(total, scheduler=quiet.get, callbacks=[recorder]) == (21,)

    kinds = [call[0] for call in recorder.calls]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    assert recorder.calls[0][1] == graph_keys
    posttasks = [call for call in recorder.calls if call[0] == "posttask"]
    assert sorted(call[1] for call in posttasks) == sorted(graph_keys)  # each key exactly once
    assert [call[2] for call in posttasks] == list(range(1, len(graph_keys) + 1))  # finished grows by one
    assert all(call[3] for call in posttasks)
    for i, call in enumerate(recorder.calls[1:-1:2]):  # pretask, then posttask, for the same key
        assert call == ("pretask", recorder.calls[2 + 2 * i][1])
    final = total.key
    assert posttasks[-1][1] == final  # the sum's inputs were all reported before it
    assert recorder.calls[-1] == ("finish", False, frozenset(graph_keys), 0)


def test_global_callbacks_finish_as_errored_when_a_task_fails(quiet):
    recorder = Recorder()
    with recorder, pytest.raises(ValueError, match="boom"):
        dask.delayed(fail)(dask.delayed(slow_inc)(1)).compute(scheduler=quiet.get)
    assert recorder.calls[-1][0:2] == ("finish", True)


def test_profiler_durations_are_the_tasks_own(quiet):
    """Executors record each task's start and end; the Profiler gets those, not the replay's instants."""
    with Profiler() as profiler:
        assert slow_chain(3).compute(scheduler=quiet) == 3
    results = sorted(profiler.results, key=lambda r: r.start_time)
    assert len(results) == 3
    for result in results:
        assert STEP_S * 0.9 <= result.end_time - result.start_time < STEP_S + 2.0, result
        assert profiler.start_time <= result.start_time <= result.end_time <= profiler.end_time
    assert all(a.end_time <= b.start_time + 0.05 for a, b in zip(results, results[1:], strict=False))
    assert all(isinstance(r.worker_id, str) and r.worker_id[0] in "LI" for r in results)  # the executor


def test_replay_keeps_dask_state_on_the_diamond():
    graph = {
        "a": (int, "1"),
        "b": (abs, "a"),
        "c": (abs, "a"),
        "d": (max, "b", "c"),
    }
    dag = build_dag(graph, ["d"])
    state = initial_state(dag)
    assert state["ready"] == ["a"]
    assert state["waiting"] == {"b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
    seen = []
    replay = Replay(dag, graph, state, [], [lambda key, *_: seen.append(key)])
    index = dag.index()

    replay.tasks_done({index["a"]})
    assert sorted(state["ready"]) == ["b", "c"] and state["waiting"] == {"d": {"b", "c"}}

    replay.tasks_done({index["a"], index["c"]})  # a again: ignored
    assert state["ready"] == ["b"] and state["waiting"] == {"d": {"b"}}

    replay.tasks_done({index["d"], index["b"]})  # one batch: b is replayed before d
    assert seen == ["a", "c", "b", "d"]
    assert state["ready"] == [] and state["waiting"] == {}
    assert state["finished"] == {"a", "b", "c", "d"}
