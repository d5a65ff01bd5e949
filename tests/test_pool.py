"""The local worker pool's elasticity: it grows while queued invocations wait and its processes are
idle (sleeping tasks), not while they compute (more workers than cores only slow CPU-bound work)."""

from __future__ import annotations

import subprocess
import sys
import time

import dask
import pytest

from wukong import Client, LocalCluster
from wukong.local.pool import CPU_WINDOW_S, PoolCpu


def gauge_answer(pids: list[int], backlog: bool) -> bool:
    meter = PoolCpu()
    meter.workers_wait(pids, backlog)
    answer = False
    for _ in range(5):
        time.sleep(CPU_WINDOW_S * 1.2)
        answer = meter.workers_wait(pids, backlog)
    return answer


@pytest.fixture
def child():
    processes = []

    def start(code: str) -> int:
        process = subprocess.Popen([sys.executable, "-c", code])
        processes.append(process)
        time.sleep(0.3)  # past the interpreter's start-up
        return process.pid

    yield start
    for process in processes:
        process.kill()
        process.wait()


def test_gauge_says_grow_for_sleeping_processes_with_a_backlog(child):
    pid = child("import time; time.sleep(60)")
    assert gauge_answer([pid], backlog=True)
    assert not gauge_answer([pid], backlog=False)  # nothing queued: no reason to grow


def test_gauge_counts_a_busy_server_as_work(child):
    """A worker waiting on a busy redis-server is not idle: the server's CPU counts too. Four spinning
    "servers" keep the cores busy even while other processes of the machine compete for them."""
    sleeper = child("import time; time.sleep(60)")
    busy = [child("while True: pass") for _ in range(4)]
    assert not gauge_answer([sleeper, *busy], backlog=True)


def nap(x):
    time.sleep(0.3)
    return x


def test_pool_grows_for_sleeping_tasks_and_the_job_runs_them_at_once():
    with LocalCluster(local_workers=2, max_local_workers=16, task_grouping=False) as cluster:
        client = Client(cluster)
        tasks = [dask.delayed(nap)(i) for i in range(16)]
        started = time.monotonic()
        assert dask.compute(*tasks, scheduler=client.get) == tuple(range(16))
        elapsed = time.monotonic() - started
        assert len(cluster.pool.workers) > 2
        assert elapsed < 16 * 0.3 / 2  # faster than two workers could have run them


def short_nap(x):
    time.sleep(0.03)
    return x


def test_pool_grows_to_the_whole_burst_not_to_what_is_left_of_it():
    """Tasks shorter than the time the pool takes to see its workers wait: two workers run some of the
    burst meanwhile, yet the pool grows to all of it, so that the next burst runs at once."""
    with LocalCluster(local_workers=2, max_local_workers=16, task_grouping=False) as cluster:
        client = Client(cluster)
        tasks = [dask.delayed(short_nap)(i) for i in range(16)]
        assert dask.compute(*tasks, scheduler=client.get) == tuple(range(16))
        assert len(cluster.pool.workers) == 16


def spin(seconds: float) -> float:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds


def test_no_growth_while_the_workers_are_forked_again_for_a_jobs_imports():
    """A job's first invocations queue while its modules are imported and the idle workers forked again
    (warm imports): those workers use no CPU then, yet more of them would not run more. Nothing grows,
    and the job's CPU-bound tasks then keep the cores busy."""
    with LocalCluster(local_workers=4, max_local_workers=16, task_grouping=False) as cluster:
        client = Client(cluster)
        tasks = [dask.delayed(spin)(0.2) for _ in range(16)]
        assert dask.compute(*tasks, scheduler=client.get) == (0.2,) * 16
        assert len(cluster.pool.workers) == 4


def module_loaded(name: str) -> bool:
    import sys

    return name in sys.modules


def test_warm_imports_reach_every_idle_worker():
    """The template imports a job's modules and the idle workers are forked again from it: a module
    no worker had is loaded in each of them before any task asks for it."""
    with LocalCluster(local_workers=2, max_local_workers=2) as cluster:
        client = Client(cluster)
        graph = {f"w{i}": (module_loaded, "colorsys") for i in range(4)}
        assert client.get(graph, list(graph)) == (False,) * 4
        cluster.warm(["colorsys"])  # right after a job: a worker may still be finishing its invocation
        assert client.get(graph, list(graph)) == (True,) * 4
        # A worker killed just after it popped an invocation gives it back, not counted as a death.
        assert cluster.pool.retries.failed_jobs == 0 and not cluster.pool.retries.deaths


def test_a_jobs_modules_are_named_from_its_functions_fused_subgraphs_and_objects():
    import colorsys
    import fractions

    import dask.array as da

    from wukong.scheduler.dag import as_task_graph
    from wukong.scheduler.modules import task_modules

    graph = as_task_graph({"a": (colorsys.rgb_to_hsv, 1, 1, 1), "b": (len, [fractions.Fraction(1, 3)])})
    assert {"colorsys", "fractions"} <= set(task_modules(graph.values()))
    (x,) = dask.optimize(da.ones(10, chunks=5).sum())
    assert {"dask.array.wrap", "dask.array.core"} <= set(
        task_modules(as_task_graph(x.__dask_graph__()).values())
    )
