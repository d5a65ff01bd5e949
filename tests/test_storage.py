"""Storage on a real redis-server: big values read straight into writable buffers, and a job's keys
gone once its report is in."""

from __future__ import annotations

import threading

import dask
import numpy as np
import pytest
import redis

from wukong.storage import bulk, keys, serialization


@pytest.fixture
def mds_redis(client):
    return client.stores.mds.redis


def test_mget_reads_each_value_into_a_writable_buffer_of_its_own(mds_redis):
    big = bytes(range(256)) * 20_000  # 5 MB: many socket reads
    mds_redis.set("wk:test:bulk:big", big)
    mds_redis.set("wk:test:bulk:small", b"x\r\ny")  # CRLF inside a value is data, not framing
    try:
        values = bulk.mget(mds_redis, ["wk:test:bulk:big", "wk:test:bulk:missing", "wk:test:bulk:small"])
        assert values == [memoryview(big), None, memoryview(b"x\r\ny")]
        assert all(type(v) is memoryview and not v.readonly for v in values if v is not None)
        assert mds_redis.get("wk:test:bulk:small") == b"x\r\ny"  # the shared connection is in step
    finally:
        mds_redis.delete("wk:test:bulk:big", "wk:test:bulk:small")


def test_mget_raises_a_server_error_and_the_connection_stays_usable(mds_redis):
    mds_redis.set("wk:test:bulk:one", b"1")
    try:
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            bulk.mget(mds_redis, [])
        assert bulk.mget(mds_redis, ["wk:test:bulk:one"]) == [memoryview(b"1")]
    finally:
        mds_redis.delete("wk:test:bulk:one")


def test_an_output_read_back_is_writable_in_place(client):
    kvs = client.stores.kvs
    kvs.put_output("bulktest", 3, serialization.dumps(np.arange(1000.0)))
    try:
        data = kvs.get_outputs("bulktest", [3, 4])
        assert set(data) == {3}
        array = serialization.loads(data[3])
        array += 1  # tasks may write into their inputs
        assert array[0] == 1.0 and array.flags.aligned
    finally:
        kvs.delete_job("bulktest", 5)


def test_a_jobs_keys_are_deleted_once_its_report_is_in(client, mds_redis):
    total = dask.delayed(sum)([dask.delayed(np.ones)(1000) for _ in range(4)])
    assert np.array_equal(total.compute(scheduler=client.get), np.full(1000, 4.0))
    job = client.last_report.job_id  # waits for the counters and the clean-up
    left = sorted(k.decode() for k in mds_redis.scan_iter(match=keys.job_pattern(job)))
    assert left == [keys.cancelled(job)]  # only the flag that stops stragglers


def test_the_report_waits_for_an_invoker_that_flushes_after_the_executor_it_invoked(client):
    """Leaf W invoked X, X invoked Y; W and Y flushed, X not yet. The counts already add up (one leaf
    run, one invoked run for one invocation counted), but X is still running: wait for it."""
    from wukong.scheduler.job import collect_stats

    mds, job = client.stores.mds, "statsrace"

    def flush(owner, **counters):
        mds.add_stats(job, counters, [], [], finished_owner=owner)

    try:
        for owner in ("L0", "I1", "I2"):
            assert mds.lease(job, owner, f"delivery-{owner}", 60_000)[0] == "ok"
        flush("L0", leaf_invocations_run=1, invoked=1, tasks=1)
        flush("I2", invoked_run=1, tasks=1)
        late = threading.Timer(0.3, lambda: flush("I1", invoked_run=1, invoked=1, tasks=5))
        late.start()
        counters, _ = collect_stats(mds, job, leaves=1, wait_s=10.0)
        late.join()
        assert counters["tasks"] == 7 and counters["invoked_run"] == counters["invoked"] == 2
    finally:
        mds.delete_job(job, 3, [0])
