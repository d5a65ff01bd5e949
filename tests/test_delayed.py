"""dask.delayed graphs through every entry point: literals, nested containers, kwargs, shared
subexpressions, several requested keys, a key requested twice."""

from __future__ import annotations

import dask
import numpy as np
from dask import delayed

from wukong import Client


def inc(x):
    return x + 1


def combine(items, mapping, *, scale=1, offset=0):
    return scale * (sum(items) + sum(mapping.values())) + offset


def test_literals_nested_containers_and_kwargs(client):
    a, b = delayed(inc)(1), delayed(inc)(10)
    result = delayed(combine)([a, b, 5], {"x": a, "y": [1, 2][0]}, scale=2, offset=delayed(inc)(0))
    assert (
        result.compute(scheduler=client.get)
        == result.compute(scheduler="sync")
        == 2 * (2 + 11 + 5 + 2 + 1) + 1
    )


def test_shared_subexpression_is_computed_once(client):
    shared = delayed(np.arange)(10)
    left = delayed(np.sum)(shared)
    right = delayed(np.max)(shared)
    total = delayed(lambda x, y, z: x + y + int(z.size))(left, right, shared)
    assert total.compute(scheduler=client.get) == 45 + 9 + 10
    assert client.last_report.tasks == 4


def test_several_keys_and_a_key_twice(client):
    x = delayed(inc)(1)
    y = delayed(inc)(x)
    assert dask.compute(x, y, x, scheduler=client.get) == (2, 3, 2)
    assert client.get({"a": 1, "b": (inc, "a")}, ["b", "b", ["a"]]) == (2, 2, (1,))


def test_client_compute_and_default_scheduler(cluster):
    client = Client(cluster)
    x = delayed(inc)(41)
    assert client.compute(x).result(timeout=60) == 42  # a Future, as distributed's
    assert client.compute(x, sync=True) == 42
    assert client.compute([x, delayed(inc)(x)], sync=True) == [42, 43]
    assert x.compute(scheduler=client) == 42
    with client:
        assert x.compute() == 42
        assert dask.config.get("scheduler") is client
    assert dask.config.get("scheduler", None) is not client


def test_tuple_graph_with_inline_tasks_and_aliases(client):
    dsk = {"x": 1, "y": (inc, (inc, "x")), "alias": "y", "z": (sum, ["x", "y", "alias"])}
    assert client.get(dsk, ["z", "alias"]) == (1 + 3 + 3, 3)


def test_dask_array_and_bag_style_graphs(client):
    import dask.array as da
    import dask.bag as db

    x = da.arange(100, chunks=10)
    assert int((x**2).sum().compute(scheduler=client.get)) == sum(i * i for i in range(100))
    bag = db.from_sequence(range(20), npartitions=4).map(inc).filter(lambda v: v % 2 == 0)
    assert sorted(bag.compute(scheduler=client.get)) == [v for v in range(1, 21) if v % 2 == 0]
