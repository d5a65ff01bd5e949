"""Faults from tasks and from the job's end, on real clusters: each case fails (or recovers) within
seconds, not the job's deadline; the next job on the same cluster runs; nothing of ours is left.

- A poison task (it ends its process: ``os._exit``, a segfault) is delivered again as Lambda retries
  (``max_retry_attempts``), then fails the job naming the task and how its executor died.
- A task raising a ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``...) fails its job with that
  exception, and its worker lives on.
- A job that ends (timed out, failed, interrupted in the client) runs no more of its tasks: queued
  invocations start nothing, and a worker still in one of its tasks is killed after a grace period,
  so later jobs get the workers back.

Each prints ``FAULT <name>: <seconds>`` for ``docs/faults.md`` (``-s`` shows them).
"""

from __future__ import annotations

import _thread
import ctypes
import os
import threading
import time

import pytest
from faultkit import FAIL_WITHIN_S, add, close_and_check, cluster_pids, in_thread, leftover_keys, nap, report

from wukong import Client, ExecutorDiedError, JobTimeoutError, LocalCluster
from wukong.local.invocations import CANCEL_GRACE_S

WORKERS = 2


@pytest.fixture(scope="module")
def cluster():
    """A cluster that cannot grow: a worker lost to a hung task would show at once."""
    with LocalCluster(local_workers=WORKERS, max_local_workers=WORKERS, job_timeout_s=60) as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    return Client(cluster)


def exit_process(code, *_):
    os._exit(code)


def segfault(*_):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def still_works(client) -> None:
    started = time.monotonic()
    assert client.get({"a": 1, "b": (add, "a", 1)}, "b") == 2
    assert time.monotonic() - started < FAIL_WITHIN_S


def no_keys_left(cluster, client, wait_s: float = 10.0) -> None:
    deadline = time.monotonic() + wait_s
    while leftover_keys(client.stores.mds.redis, cluster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover_keys(client.stores.mds.redis, cluster) == []


@pytest.mark.parametrize(
    ("task", "how"), [((exit_process, 3), "exited with code 3"), ((segfault,), "killed by SIGSEGV")]
)
def test_a_poison_task_fails_its_job_after_the_retries_naming_it(cluster, client, task, how):
    graph = {"x": 1, "poison": (*task, "x"), "after": (add, "poison", 1)}
    started = time.monotonic()
    with pytest.raises(ExecutorDiedError) as caught:
        client.get(graph, "after")
    took = time.monotonic() - started
    report(f"poison task ({how})", took)
    assert took < FAIL_WITHIN_S
    retries = cluster.config.max_retry_attempts
    assert caught.value.key == "poison" and len(caught.value.deaths) == retries + 1
    assert f"task 'poison' was running each time its executor died, {retries + 1} times" in str(caught.value)
    assert how in str(caught.value)
    still_works(client)
    no_keys_left(cluster, client)


@pytest.mark.parametrize(
    "error", [SystemExit(4), KeyboardInterrupt(), GeneratorExit(), type("Mine", (BaseException,), {})]
)
def test_a_base_exception_from_a_task_reaches_the_client_and_the_worker_lives_on(cluster, client, error):
    def raise_it(_):
        raise error() if isinstance(error, type) else error

    pids = cluster.pool.pids()
    started = time.monotonic()
    with pytest.raises(error if isinstance(error, type) else type(error)):
        client.get({"x": 1, "y": (raise_it, "x")}, "y")
    report(f"task raises {getattr(error, '__name__', type(error).__name__)}", time.monotonic() - started)
    assert time.monotonic() - started < FAIL_WITHIN_S
    assert cluster.pool.pids() == pids  # no worker died
    still_works(client)


def test_a_timed_out_job_gives_its_workers_back(cluster):
    """Every worker hangs in a task of a job that times out: it is killed after the grace period, and
    the next job runs (before: the cluster was dead until the tasks ended)."""
    client = Client(cluster, job_timeout_s=2)
    hung = {f"hang-{i}": (nap, 600, i) for i in range(WORKERS)}
    hung["total"] = (add, *[f"hang-{i}" for i in range(WORKERS)])
    with pytest.raises(JobTimeoutError):
        client.get(hung, "total")
    started = time.monotonic()
    still_works(Client(cluster))
    took = time.monotonic() - started
    report("the job after one whose tasks hang", took)
    assert took < CANCEL_GRACE_S + FAIL_WITHIN_S
    no_keys_left(cluster, client)


def test_a_failed_job_runs_nothing_more_and_leaves_no_late_result(cluster, client, tmp_path):
    """One task fails at once; the others would run for a while and write big results. Nothing of
    theirs starts after the failure, the one in a task is killed, and no key of the job is left."""
    marks = tmp_path / "started"
    marks.mkdir()

    def slow_big(i):
        (marks / str(i)).touch()
        time.sleep(3)
        return bytes(10_000_000)

    def fail():
        raise ValueError("first")

    graph = {"fail": (fail,), **{f"slow-{i}": (slow_big, i) for i in range(6)}}  # queued first
    with pytest.raises(ValueError, match="first"):
        client.get(graph, [*graph])
    time.sleep(CANCEL_GRACE_S + 4)  # past the grace period and any task that was running
    assert len(list(marks.iterdir())) <= WORKERS  # at most what was running already
    no_keys_left(cluster, client)
    still_works(client)


def test_an_interrupt_in_the_client_thread_ends_the_job(cluster, client, tmp_path):
    """KeyboardInterrupt raised in the client's thread, as Jupyter's interrupt does, cancels the job."""
    threading.Timer(1.0, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.get(
            {f"hang-{i}": (nap, 600, i) for i in range(WORKERS)}, [f"hang-{i}" for i in range(WORKERS)]
        )
    assert time.monotonic() - started < FAIL_WITHIN_S
    started = time.monotonic()
    still_works(client)
    report("the job after an interrupted one", time.monotonic() - started)
    no_keys_left(cluster, client)


def test_jobs_run_from_a_thread_too(cluster, client):
    assert in_thread(client.get, {"a": 1}, "a").result(timeout=FAIL_WITHIN_S) == 1


def test_close_leaves_nothing_after_these_faults(cluster):
    pids = cluster_pids(cluster)
    report("close() after the fault tests", close_and_check(cluster, pids))
