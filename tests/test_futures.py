"""distributed's futures API on a real cluster (redis-server + worker processes), in the spirit of
distributed's ``tests/test_client.py``: submit, map, gather, scatter, futures of futures, as_completed,
wait, cancel, exceptions through futures, persist then compute, several threads at once, and the
release of a future's value (its keys are gone from Redis).
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from concurrent.futures import CancelledError

import dask
import dask.array as da
import numpy as np
import pytest
from dask import delayed

from wukong import (
    FIRST_COMPLETED,
    Client,
    ClusterClosedError,
    Future,
    FutureCancelledError,
    FutureLostError,
    LocalCluster,
    UnknownFutureError,
    UnsupportedOptionError,
    WukongError,
    as_completed,
    wait,
)
from wukong.storage import keys

TIMEOUT_S = 60  # every wait here is bounded; generous on a loaded machine


def inc(x):
    return x + 1


def add(x, y=0):
    return x + y


def add3(x, y, z=0):
    return x + y + z


def nap(seconds, value=None):
    time.sleep(seconds)
    return seconds if value is None else value


def div(x, y):
    return x / y


def total(values):
    return sum(values)


@pytest.fixture
def c(cluster):
    client = Client(cluster)
    yield client
    client.close()


def stored_in_redis(client, future) -> bool:
    name = client._session.name(future.key)
    return any(node.exists(name) for node in client.stores.kvs.nodes.values())


def eventually(condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- submit, map, gather ---
def test_submit_gives_a_future_whose_value_stays_in_the_cluster(c):
    x = c.submit(inc, 10)
    assert isinstance(x, Future) and x.key.startswith("inc-")
    assert x.result(timeout=TIMEOUT_S) == 11
    assert x.done() and x.status == "finished" and "finished" in repr(x) and "int" in repr(x)
    assert stored_in_redis(c, x)  # in the KV store, under the client's session
    assert c.gather(x) == 11


def test_pure_submits_of_the_same_call_share_a_key_and_impure_ones_do_not(c):
    a, b = c.submit(inc, 1), c.submit(inc, 1)
    assert a.key == b.key and a is not b
    assert c.submit(inc, 1, pure=False).key != c.submit(inc, 1, pure=False).key
    assert c.submit(inc, 1, key="mine").key == "mine"
    assert c.gather([a, b]) == [2, 2]


def test_map_and_gather_nested_structures(c):
    futures = c.map(add3, range(50), range(50, 100), z=1)
    assert len(futures) == 50 and len({f.key for f in futures}) == 50
    assert c.gather(futures) == [a + b + 1 for a, b in zip(range(50), range(50, 100), strict=True)]
    x, y = c.map(inc, [1, 2], key=["one", "two"])
    assert (x.key, y.key) == ("one", "two")
    assert c.gather({"a": x, "b": [y, (x, 3)]}) == {"a": 2, "b": [3, (2, 3)]}


def test_a_map_of_many_calls_is_few_jobs(c):
    futures = c.map(inc, range(2000))
    assert c.gather(futures) == list(range(1, 2001))
    report = c.last_report  # the map's job: far fewer executors than calls
    assert report.tasks >= 2000 and report.leaf_invocations < 200


def test_futures_of_futures_in_one_batch_and_across_batches(c):
    x = c.submit(inc, 1)
    y = c.submit(add, x, 10)  # same batch: y's task reads x's task directly
    z = c.submit(total, [x, y, 5])  # futures nested in a list
    assert z.result(timeout=TIMEOUT_S) == 2 + 12 + 5
    w = c.submit(add, z, y=x)  # a later batch, a future as a keyword argument: loaded where it runs
    assert w.result(timeout=TIMEOUT_S) == 19 + 2


def test_futures_in_delayed_graphs_are_read_by_executors(c):
    x = c.submit(inc, 41)
    d = delayed(add)(x, 1)
    assert d.compute(scheduler=c) == 43
    assert c.compute(d).result(timeout=TIMEOUT_S) == 43


def test_scatter_stores_values_in_the_cluster(c):
    x = c.scatter(np.arange(10))
    assert isinstance(x, Future) and x.status == "finished" and stored_in_redis(c, x)
    assert c.submit(np.sum, x).result(timeout=TIMEOUT_S) == 45
    a, b = c.scatter([1, 2])
    assert c.gather([a, b]) == [1, 2]
    assert c.scatter([1, 2])[0].key == a.key  # hash=True: same data, same key
    by_key = c.scatter({"p": 3, "q": 4})
    assert set(by_key) == {"p", "q"} and by_key["q"].key == "q"
    assert c.submit(add, by_key["p"], by_key["q"]).result(timeout=TIMEOUT_S) == 7


# --- as_completed, wait ---
def test_as_completed_yields_in_completion_order_and_takes_more(c):
    slow, fast = c.submit(nap, 2.0, "slow"), c.submit(nap, 0.0, "fast")  # one job: each done as it is
    seen = []
    ac = as_completed([slow, fast])
    for future in ac:
        seen.append(future.result())
        if len(seen) == 1:
            ac.add(c.submit(inc, 1))
    assert seen[0] == "fast" and sorted(map(str, seen)) == sorted(["fast", "slow", "2"])
    results = sorted(r for _, r in as_completed(c.map(inc, range(10)), with_results=True))
    assert results == list(range(1, 11))
    batches = list(as_completed(c.map(inc, range(10, 20))).batches())
    assert sum(len(b) for b in batches) == 10


def test_wait_all_first_and_timeout(c):
    futures = c.map(inc, range(5))
    done, not_done = wait(futures, timeout=TIMEOUT_S)
    assert done == set(futures) and not not_done
    slow = c.submit(nap, 2.0, pure=False)
    done, not_done = wait([slow, futures[0]], return_when=FIRST_COMPLETED, timeout=TIMEOUT_S)
    assert futures[0] in done and slow in not_done
    with pytest.raises(TimeoutError):
        wait([slow], timeout=0.05)
    with pytest.raises(TimeoutError):
        slow.result(timeout=0.01)
    assert slow.result(timeout=TIMEOUT_S) == 2.0


# --- exceptions, cancel ---
def test_an_exception_reaches_its_future_and_what_depends_on_it_and_spares_the_rest(c):
    futures = c.map(div, [1, 2, 3, 4], [1, 1, 0, 1])
    dependent = c.submit(inc, futures[2])
    with pytest.raises(ZeroDivisionError) as info:
        futures[2].result(timeout=TIMEOUT_S)
    assert "Remote traceback" in str(info.value.__cause__)
    assert isinstance(futures[2].exception(), ZeroDivisionError) and futures[2].traceback() is not None
    assert futures[2].status == "error"
    assert c.gather(futures, errors="skip") == [1.0, 2.0, 4.0]  # the others were submitted again
    with pytest.raises(ZeroDivisionError):
        dependent.result(timeout=TIMEOUT_S)
    with pytest.raises(ZeroDivisionError):
        c.gather(futures)
    later = c.submit(inc, futures[2])  # submitted after the error: errs at once
    with pytest.raises(ZeroDivisionError):
        later.result(timeout=TIMEOUT_S)


def test_a_map_with_several_bad_inputs_errs_each_and_finishes_the_rest(c):
    divisors = [0 if i % 10 == 3 else 1 for i in range(60)]  # 6 bad inputs
    futures = c.map(div, range(60), divisors)
    wait(futures, timeout=TIMEOUT_S)
    assert [f.status for f in futures] == ["error" if d == 0 else "finished" for d in divisors]
    assert c.gather(futures, errors="skip") == [float(i) for i, d in enumerate(divisors) if d]


def test_cancel_a_pending_future_and_its_dependents(c):
    slow = c.submit(nap, 3.0, pure=False)
    after = c.submit(inc, slow)
    time.sleep(0.3)
    slow.cancel()
    assert slow.cancelled() and slow.done()
    with pytest.raises(FutureCancelledError):
        slow.result(timeout=TIMEOUT_S)
    with pytest.raises(CancelledError):  # a concurrent.futures CancelledError, as distributed's
        after.result(timeout=TIMEOUT_S)
    assert not stored_in_redis(c, slow)
    assert eventually(lambda: not stored_in_redis(c, slow))  # deleted when its job ended too


def test_ctrl_c_interrupts_result_even_when_another_thread_takes_it(c):
    """The kernel hands a Ctrl-C to any of the client's threads; its handler then runs only when the main
    thread runs again, which one long wait on a lock never does."""
    slow = c.submit(nap, 30.0, pure=False)
    sender = threading.Thread(
        target=lambda: (time.sleep(0.3), signal.pthread_kill(threading.get_ident(), signal.SIGINT))
    )
    rescuer = threading.Timer(10, slow.cancel)  # should result() miss the signal: ends it, and the test fails
    sender.start()
    rescuer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            slow.result()
        assert time.monotonic() - started < 5
    finally:
        rescuer.cancel()
        sender.join()
        slow.cancel()


def test_callbacks_run_when_done(c):
    called = threading.Event()
    seen = []
    x = c.submit(inc, 5)
    x.add_done_callback(lambda f: (seen.append(f.result()), called.set()))
    assert called.wait(TIMEOUT_S) and seen == [6]
    x.add_done_callback(lambda f: seen.append("again"))  # done already: now
    assert seen == [6, "again"]


# --- collections ---
def test_compute_returns_futures_and_sync_returns_values(c):
    x = da.arange(100, chunks=10)
    future = c.compute(x.sum())
    assert isinstance(future, Future) and future.result(timeout=TIMEOUT_S) == 4950
    a, b = c.compute([x.sum(), x.max()])
    assert (a.result(timeout=TIMEOUT_S), b.result(timeout=TIMEOUT_S)) == (4950, 99)
    assert c.compute(x.sum(), sync=True) == 4950
    assert c.compute([x.sum(), 7], sync=True) == [4950, 7]


def test_persist_keeps_chunks_in_the_cluster_and_computations_reuse_them(c):
    x = da.random.RandomState(1).random((400, 300), chunks=(100, 100))
    persisted = c.persist(x)
    futures = [v for v in dict(persisted.__dask_graph__()).values() if isinstance(v, Future)]
    assert len(futures) == 12
    wait(futures, timeout=TIMEOUT_S)
    expected = [float(x.sum().compute(scheduler="sync")), float(x.std().compute(scheduler="sync"))]
    got = [float(persisted.sum().compute(scheduler=c)), c.compute(persisted.std()).result(timeout=TIMEOUT_S)]
    assert np.allclose(got, expected)
    assert np.allclose(c.compute(persisted, sync=True), x.compute(scheduler="sync"))
    y = c.persist(persisted + 1)  # a persisted collection from a persisted one
    assert np.allclose(y.sum().compute(scheduler=c), expected[0] + x.size)
    z = (x * 2).persist(scheduler=c)  # dask's persist protocol calls client.persist
    assert all(isinstance(v, Future) for v in dict(z.__dask_graph__()).values())
    assert np.allclose(z.sum().compute(scheduler=c), 2 * expected[0])


def test_several_threads_submit_at_once(c):
    results, errors = {}, []

    def work(n):
        try:
            futures = c.map(add, range(200), y=n)
            results[n] = c.gather(futures)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not errors
    assert results == {n: [i + n for i in range(200)] for n in range(6)}


def test_jobs_of_one_client_run_at_once(c):
    slow = c.submit(nap, 3.0, pure=False)
    time.sleep(0.3)  # a batch, so a job, of its own
    fast = c.submit(inc, 1, pure=False)
    assert fast.result(timeout=TIMEOUT_S) == 2
    assert not slow.done()  # the second job did not wait for the first
    assert slow.result(timeout=TIMEOUT_S) == 3.0


def test_a_future_is_released_when_no_future_refers_to_it(c):
    key = f"release-{time.time_ns()}"
    x = c.submit(inc, 100, key=key)
    x.result(timeout=TIMEOUT_S)
    name = c._session.name(x.key)
    assert stored_in_redis(c, x)
    y = c.submit(inc, 100, key=key)  # a second Future of the same key
    del x
    gc.collect()
    time.sleep(0.3)
    assert any(node.exists(name) for node in c.stores.kvs.nodes.values())  # y still refers to it
    del y
    gc.collect()
    assert eventually(lambda: not any(node.exists(name) for node in c.stores.kvs.nodes.values()))


def test_close_deletes_every_value_of_the_session(cluster):
    client = Client(cluster)
    futures = client.map(inc, range(20)) + [client.scatter("data")]
    wait(futures, timeout=TIMEOUT_S)
    session = client._session.id
    redis = client.stores.mds.redis
    assert list(redis.scan_iter(keys.session_pattern(session)))
    client.close()
    assert not list(redis.scan_iter(keys.session_pattern(session)))
    with pytest.raises(FutureCancelledError):
        futures[0].result()


def test_values_live_while_referenced_and_an_orphaned_session_expires(cluster):
    """session_ttl_s of 2 s: the client renews every 0.5 s, so a value outlives its TTL while a Future
    refers to it; a session whose keeper stopped (its process died) is gone within the TTL."""
    client = Client(cluster, session_ttl_s=2)
    try:
        x = client.submit(inc, 1, pure=False)
        x.result(timeout=TIMEOUT_S)
        name = client._session.name(x.key)
        node = client.stores.kvs.nodes[client.stores.kvs.node_of(name)]
        time.sleep(3.0)
        assert node.exists(name) and 0 < node.ttl(name) <= 2
        client._session.closed = True  # the keeper stops, as in a process that died without close()
        client._session.wake.set()
        assert eventually(lambda: not node.exists(name), timeout_s=4.0)
    finally:
        client.close()


def test_a_value_gone_from_the_store_raises_future_lost(c):
    x = c.submit(inc, 7, pure=False)
    x.result(timeout=TIMEOUT_S)
    c.stores.kvs.delete_values({c._session.name(x.key): 0})
    with pytest.raises(FutureLostError, match="no longer in the KV store"):
        x.result()
    with pytest.raises(FutureLostError):
        c.submit(inc, x).result(timeout=TIMEOUT_S)  # read where it runs: the executor says so


def test_placement_options_are_refused_and_other_clients_futures_too(c, cluster):
    with pytest.raises(UnsupportedOptionError, match="workers="):
        c.submit(inc, 1, workers=["w1"])
    with pytest.raises(UnsupportedOptionError, match="resources="):
        c.map(inc, [1], resources={"GPU": 1})
    other = Client(cluster)
    try:
        x = other.submit(inc, 1)
        with pytest.raises(UnknownFutureError):
            c.submit(inc, x)
        with pytest.raises(UnknownFutureError):
            delayed(inc)(x).compute(scheduler=c)
    finally:
        other.close()


def test_every_call_on_a_closed_cluster_is_a_wukong_error():
    cluster = LocalCluster(local_workers=1, use_local_proxy=False)
    client = Client(cluster)
    x = client.submit(inc, 1)
    assert x.result(timeout=TIMEOUT_S) == 2
    cluster.close()
    for call in (
        lambda: client.submit(inc, 2),
        lambda: client.map(inc, [3]),
        lambda: client.scatter(4),
        lambda: client.gather(x),
        lambda: x.result(),
        lambda: client.compute(delayed(inc)(5)),
        lambda: delayed(inc)(6).compute(scheduler=client),
        lambda: client.get({"a": 1}, "a"),
    ):
        with pytest.raises(WukongError) as info:
            call()
        assert isinstance(info.value, ClusterClosedError), info.value
    client.close()


def test_dask_scheduler_hooks(c):
    x = delayed(inc)(41)
    assert x.compute(scheduler=c) == 42
    with dask.config.set(scheduler=c):
        assert x.compute() == 42
        assert da.ones(10, chunks=5).sum().compute() == 10
    with c:
        assert x.compute() == 42
        assert dask.config.get("scheduler") is c
    assert dask.config.get("scheduler", None) is not c


def test_a_future_dropped_while_its_thread_starts_a_session_does_not_deadlock(c, cluster):
    """A Future's __del__ can run (by the garbage collector) in a thread that is starting another
    client's session, holding the lock that guards it: releasing must not take that lock."""
    from wukong.scheduler import futures as futures_module

    future = c.submit(inc, 41)
    assert future.result() == 42
    released = threading.Event()
    with futures_module._SESSION_LOCK:  # as the other client's _futures_started holds it
        worker = threading.Thread(target=lambda: (future.release(), released.set()), daemon=True)
        worker.start()
        worker.join(5)
        in_time = released.is_set()
    assert in_time, "Future.release waited for the session lock"
    assert eventually(lambda: not stored_in_redis(c, future))  # and its value is deleted
