"""Locality and big fan-outs on the embedded cluster: task clustering and delayed I/O cut the bytes
written to the KV store; big fan-outs go through the proxy; keys spread over several KVS nodes."""

from __future__ import annotations

import time

import dask
import dask.array as da
import numpy as np
import pytest
from dask import delayed

from examples.workloads import tree_reduction
from wukong import Client, LocalCluster

SVD_THRESHOLD_BYTES = 500_000  # below the 1.6 MB chunks of the small SVD, above its 80 kB R factors


def small_svd():
    x = da.random.default_rng(42).random((20_000, 100), chunks=(2_000, 100))
    return da.linalg.svd(x)


def test_clustering_and_delayed_io_cut_kvs_writes_on_svd(cluster):
    """Clustering alone (pure tasks: exactly_one_result off) keeps the big blocks out of the KV store;
    with exactly one result per task (the default), the blocks of several consumers are published
    before a value derived from them leaves, and clustering still saves most of the writes."""
    expected = dask.compute(*small_svd(), scheduler="sync")
    written = {}
    for once in (False, True):
        for clustering in (True, False):
            client = Client(
                cluster,
                task_clustering=clustering,
                big_task_threshold=SVD_THRESHOLD_BYTES,
                exactly_one_result=once,
            )
            result = dask.compute(*small_svd(), scheduler=client.get)
            assert all(np.allclose(a, b) for a, b in zip(result, expected, strict=True))
            written[once, clustering] = client.last_report.kvs_bytes_written
            if clustering:
                assert client.last_report.counters.get("delayed_io", 0) > 0
    assert written[False, False] >= 5 * written[False, True], written
    assert written[True, False] >= 3 * written[True, True], written


def slow_two():
    time.sleep(0.3)
    return 2.0


def test_delayed_io_waits_for_the_sibling_then_runs_locally(cluster):
    """
    big (2 MB)   small (sleeps 0.3 s)
          \\      /
           total        big's executor holds its output until small is registered, then runs total.
    """
    client = Client(cluster, big_task_threshold=100_000)
    big = delayed(np.ones)(250_000)
    small = delayed(slow_two)()
    total = delayed(lambda a, b: float(a.sum() * b))(big, small)
    assert total.compute(scheduler=client.get) == 500_000.0
    report = client.last_report
    assert report.counters.get("delayed_io", 0) == 1
    assert report.kvs_bytes_written < 100_000  # the 2 MB array never went to the KV store


def fan_out_1000():
    root = delayed(lambda: np.arange(10))()
    leaves = [delayed(lambda r, i: int(r.sum()) + i)(root, i) for i in range(1000)]
    return delayed(sum)(leaves)


def test_a_fan_out_of_1000_goes_through_the_proxy(cluster):
    client = Client(cluster, max_task_fanout=100)
    assert fan_out_1000().compute(scheduler=client.get) == 1000 * 45 + sum(range(1000))
    report = client.last_report
    assert report.counters.get("proxy_fanouts", 0) == 1
    assert report.invocations >= 1000


def test_the_same_fan_out_without_the_proxy(cluster):
    client = Client(cluster, max_task_fanout=100_000)
    assert fan_out_1000().compute(scheduler=client.get) == 1000 * 45 + sum(range(1000))
    assert client.last_report.counters.get("proxy_fanouts", 0) == 0


@pytest.fixture(scope="module")
def three_node_cluster():
    with LocalCluster(num_kvs_nodes=3, local_workers=4) as cluster:
        yield cluster


def test_three_kvs_nodes_give_the_same_result_and_spread_keys(client, three_node_cluster):
    one = tree_reduction(True).compute(scheduler=client.get)
    three_client = Client(three_node_cluster, task_grouping=False)  # every leaf writes its output
    three = tree_reduction(True).compute(scheduler=three_client.get)
    assert one == three == 523776
    spread = three_client.last_report.kvs_keys_by_node
    assert len(spread) == 3 and all(count > 50 for count in spread.values()), spread
    assert len(three_client.last_report.kvs_bytes_written_by_node) == 3
    assert len(client.last_report.kvs_keys_by_node) == 1
