"""What the fault tests share (a module, not a fixture file): tasks that nap, a cluster's pids, a job
run in a thread, waits bounded in time, and the check that nothing of ours is left."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from wukong import LocalCluster
from wukong.local.processes import wait_gone
from wukong.storage import keys

DEADLINE_S = 120.0  # every job's deadline here: failing "within seconds" means well under it
FAIL_WITHIN_S = 15.0  # generous (a noisy shared machine), yet a fraction of the deadline
CLOSE_WITHIN_S = 15.0


def nap(seconds, *_):
    time.sleep(seconds)
    return seconds


def add(*values):
    return sum(values)


def slow_graph(seconds: float, width: int = 2) -> dict:
    graph = {f"nap-{i}": (nap, seconds) for i in range(width)}
    graph["total"] = (add, *graph)
    return graph


def cluster_pids(cluster: LocalCluster) -> list[int]:
    pids = [server.process.pid for server in cluster.servers] + cluster.pool.pids()
    return pids + [cluster.proxy.process.pid, cluster.pool.template.pid]


def in_thread(function, *args) -> Future:
    future: Future = Future()

    def run():
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def wait_running(redis, cluster: LocalCluster, count: int = 1, timeout_s: float = 30.0) -> None:
    """Until ``count`` workers hold an invocation (it is in their in-flight lists)."""
    pattern = keys.inflight(cluster.config.local_queue, "*")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(redis.llen(k) for k in redis.scan_iter(match=pattern)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} invocation(s) did not start within {timeout_s} s")


def report(name: str, seconds: float) -> None:
    print(f"\nFAULT {name}: {seconds:.2f} s")


def close_and_check(cluster: LocalCluster, pids: list[int]) -> float:
    started = time.monotonic()
    cluster.close()  # must not raise, whatever died
    took = time.monotonic() - started
    assert took < CLOSE_WITHIN_S
    assert wait_gone(pids, 10) == []
    return took


def leftover_keys(redis, cluster: LocalCluster) -> list[bytes]:
    """Keys in the MDS other than the pool's ready set and the short-lived cancel flags."""
    ours = {keys.ready_workers(cluster.config.local_queue).encode()}
    return [k for k in redis.scan_iter("*") if k not in ours and not k.endswith(b":cancelled")]
