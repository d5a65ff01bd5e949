"""Dead components, on real clusters: a fault injected by pid (the MDS, a KVS node, the worker
template, a worker; a task that ignores SIGTERM) fails the job with an error that names the component,
within seconds (not the job's deadline); the next job runs where the cluster survives; ``close()``
never raises and leaves no process behind.

Each test prints ``FAULT <name>: <seconds>``, the measured time to fail (or to recover): the rows
of ``docs/faults.md`` quote them (run with ``-s`` to see them).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from faultkit import (
    DEADLINE_S,
    FAIL_WITHIN_S,
    add,
    close_and_check,
    cluster_pids,
    in_thread,
    leftover_keys,
    report,
    slow_graph,
    wait_running,
)

from wukong import (
    Client,
    ClusterClosedError,
    ClusterFailedError,
    LocalCluster,
    RedisUnreachableError,
)
from wukong.local.invocations import CANCEL_CHECK_S, CANCEL_GRACE_S
from wukong.local.pool import TEMPLATE_RESTARTS
from wukong.local.processes import alive, wait_gone


def test_lost_metadata_store_names_it_within_seconds():
    cluster = LocalCluster(local_workers=2, job_timeout_s=DEADLINE_S)
    client = Client(cluster)
    pids, mds = cluster_pids(cluster), cluster.servers[0]
    job = in_thread(client.get, slow_graph(10), "total")
    wait_running(client.stores.mds.redis, cluster)
    os.kill(mds.process.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(RedisUnreachableError) as caught:
        job.result(timeout=60)
    took = time.monotonic() - started
    report("MDS redis-server killed mid-job", took)
    assert took < FAIL_WITHIN_S
    message = str(caught.value)
    assert f"metadata store Redis at {mds.address}" in message
    assert f"redis-server (pid {mds.process.pid}) was killed by SIGKILL" in message
    assert "start a new LocalCluster()" in message
    started = time.monotonic()
    with pytest.raises(RedisUnreachableError, match="metadata store"):  # the cluster does not survive
        client.get({"x": 1}, "x")
    assert time.monotonic() - started < 1.0
    report("close() after the MDS died", close_and_check(cluster, pids))


def test_lost_kv_store_node_names_it_and_workers_back_off():
    cluster = LocalCluster(local_workers=2, num_kvs_nodes=3, job_timeout_s=DEADLINE_S)
    client = Client(cluster)
    pids, node = cluster_pids(cluster), cluster.servers[2]
    assert node.role == "KV store"
    job = in_thread(client.get, slow_graph(6), "total")
    wait_running(client.stores.mds.redis, cluster)
    os.kill(node.process.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(RedisUnreachableError) as caught:
        job.result(timeout=60)
    took = time.monotonic() - started
    report("KVS node killed mid-job", took)
    assert took < FAIL_WITHIN_S
    assert f"KV store Redis at {node.address}" in str(caught.value)
    assert "was killed by SIGKILL" in str(caught.value)

    # The failed job's tasks still sleeping in workers are killed after the grace period (and replaced).
    time.sleep(CANCEL_GRACE_S + 2 * CANCEL_CHECK_S + 0.5)
    # A replacement worker cannot connect (a KVS node is gone): it backs off, it does not crash-loop.
    forks = cluster.pool.forks
    os.kill(cluster.pool.pids()[0], signal.SIGKILL)
    time.sleep(6)
    assert cluster.pool.forks - forks == 1  # was ~70 forks in 6 s
    replacement = cluster.pool.pids()
    assert len(replacement) == 2 and all(alive(p) for p in replacement)
    report("close() after a KVS node died", close_and_check(cluster, pids + replacement))


def test_killed_worker_template_is_restarted_and_the_job_completes():
    with LocalCluster(local_workers=2, job_timeout_s=DEADLINE_S) as cluster:
        client = Client(cluster)
        old = cluster_pids(cluster)
        old_template = cluster.pool.template.pid
        job = in_thread(client.get, slow_graph(2, width=4), "total")
        wait_running(client.stores.mds.redis, cluster, count=2)
        os.kill(old_template, signal.SIGKILL)
        started = time.monotonic()
        assert job.result(timeout=DEADLINE_S) == 8
        took = time.monotonic() - started
        report("worker template killed mid-job (job completes)", took)
        assert took < 45
        assert cluster.pool.template.pid != old_template
        replaced = [p for p in old if p not in cluster_pids(cluster)]  # the old template and workers
        assert old_template in replaced and len(replaced) == 3
        assert wait_gone(replaced, 10) == []
        assert client.get({"x": (add, 1, 2)}, "x") == 3  # the cluster survives
        client.last_report  # noqa: B018 - the job's keys are gone once its report is in
        assert leftover_keys(client.stores.mds.redis, cluster) == []
        pids = cluster_pids(cluster)
    assert wait_gone(pids, 10) == []


def test_a_template_that_keeps_dying_fails_the_cluster_with_one_message():
    cluster = LocalCluster(local_workers=1, job_timeout_s=DEADLINE_S)
    client = Client(cluster)
    pids = cluster_pids(cluster)
    for _ in range(TEMPLATE_RESTARTS + 1):
        template = cluster.pool.template.pid
        pids.append(template)
        os.kill(template, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while cluster.pool.template.pid == template and cluster.pool.failure is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pids += cluster.pool.pids()
    started = time.monotonic()
    with pytest.raises(
        ClusterFailedError, match=r"worker template .* was killed by SIGKILL, its 4th death"
    ) as caught:
        client.get({"x": 1}, "x")
    report("the next job after the template's 4th death", time.monotonic() - started)
    assert time.monotonic() - started < 1.0
    assert "start a new LocalCluster()" in str(caught.value)
    report("close() after the template gave up", close_and_check(cluster, pids))


def test_killed_worker_mid_task_is_replaced_and_the_job_completes():
    with LocalCluster(local_workers=2, job_timeout_s=DEADLINE_S) as cluster:
        client = Client(cluster)
        job = in_thread(client.get, slow_graph(2), "total")
        redis = client.stores.mds.redis
        wait_running(redis, cluster, count=2)
        victim = cluster.pool.pids()[0]
        os.kill(victim, signal.SIGKILL)
        started = time.monotonic()
        assert job.result(timeout=DEADLINE_S) == 4
        took = time.monotonic() - started
        report("worker killed mid-task (job completes)", took)
        assert took < 30
        assert cluster.pool.redelivered >= 1 and not alive(victim)
        assert client.get({"x": (add, 1, 2)}, "x") == 3
        client.last_report  # noqa: B018
        assert leftover_keys(redis, cluster) == []
        pids = cluster_pids(cluster)
    assert wait_gone(pids, 10) == []


def test_lost_proxy_fails_the_cluster_with_one_message():
    cluster = LocalCluster(local_workers=1, job_timeout_s=DEADLINE_S)
    client = Client(cluster)
    pids, proxy = cluster_pids(cluster), cluster.proxy.process.pid
    job = in_thread(client.get, slow_graph(10), "total")
    wait_running(client.stores.mds.redis, cluster)
    os.kill(proxy, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(ClusterFailedError, match=rf"KV-store proxy \(pid {proxy}\) was killed by SIGKILL"):
        job.result(timeout=60)
    took = time.monotonic() - started
    report("proxy killed mid-job", took)
    assert took < FAIL_WITHIN_S
    report("close() after the proxy died", close_and_check(cluster, pids))


def ignore_sigterm_and_sleep(seconds):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)
    return seconds


def ignores_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def test_a_task_that_ignores_sigterm_does_not_survive_close():
    cluster = LocalCluster(local_workers=1, job_timeout_s=DEADLINE_S)
    client = Client(cluster)
    pids = cluster_pids(cluster)
    job = in_thread(client.get, {"stubborn": (ignore_sigterm_and_sleep, 60)}, "stubborn")
    deadline = time.monotonic() + 30
    while not any(ignores_sigterm(p) for p in cluster.pool.pids()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    took = close_and_check(cluster, pids)
    report("close() with a task that ignores SIGTERM", took)
    with pytest.raises(ClusterClosedError, match="was closed"):
        job.result(timeout=30)


def test_close_after_every_process_died_does_not_raise(capfd):
    cluster = LocalCluster(local_workers=2, num_kvs_nodes=2)
    pids = cluster_pids(cluster)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    took = close_and_check(cluster, pids)
    assert "Traceback" not in capfd.readouterr().err
    with capfd.disabled():
        report("close() after every process was killed", took)
