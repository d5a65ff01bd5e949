"""Every seed workload, at its small size, on the embedded local mode equals dask's synchronous result."""

from __future__ import annotations

import dask
import pytest

from examples.workloads import WORKLOADS, same_result


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_seed_workload_matches_dask(client, name):
    collection = WORKLOADS[name].build(True)
    (expected,) = dask.compute(collection, scheduler="sync")
    (result,) = dask.compute(collection, scheduler=client.get)
    assert same_result(result, expected)
    assert client.last_report.tasks >= 1


def test_tree_reduction_answer(client):
    assert WORKLOADS["tree_reduction"].build(True).compute(scheduler=client.get) == 523776
    report = client.last_report
    # 512 leaf adds, grouped into subtrees: no more executors than the pool runs at once
    assert report.tasks == 1023 and report.leaf_invocations <= client.cluster.concurrency
