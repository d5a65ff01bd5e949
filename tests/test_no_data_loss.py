"""No silent data loss on dask's paths (issue 13, item 5), on a real cluster: the default shuffle of
bags and data frames is the task-based one while a Client is open; a graph that still carries a disk
(or P2P) shuffle, or that stores an array into the client's memory, is refused before anything runs.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from wukong import Client, InMemoryTargetError, UnsupportedShuffleError

RUNS = 20
ITEMS, GROUPS = 4000, 10  # 400 items per group


def key_of(x):
    return x % GROUPS


def grouped_bag():
    return db.from_sequence(range(ITEMS), npartitions=20).groupby(key_of)


def check_groups(groups) -> None:
    assert sorted(k for k, _ in groups) == list(range(GROUPS))
    for k, items in groups:
        assert sorted(items) == list(range(k, ITEMS, GROUPS)), (k, len(items))


def test_bag_groupby_with_the_default_shuffle_gives_exact_groups_20_runs_in_a_row(cluster):
    client = Client(cluster)
    try:
        assert dask.config.get("dataframe.shuffle.method") == "tasks"  # an open Client's default
        sizes = []
        for _ in range(RUNS):
            groups = grouped_bag().compute(scheduler=client)
            check_groups(groups)
            sizes.append(sorted(len(items) for _, items in groups))
        assert sizes == [[ITEMS // GROUPS] * GROUPS] * RUNS
        with client:  # the same inside `with client:`
            check_groups(grouped_bag().compute())
    finally:
        client.close()


def test_a_disk_shuffle_is_refused_before_anything_runs(cluster):
    client = Client(cluster)
    try:
        with dask.config.set({"dataframe.shuffle.method": "disk"}):  # the user's choice stands...
            bag = grouped_bag()
        started = time.monotonic()
        with pytest.raises(UnsupportedShuffleError, match="shuffle='tasks'") as info:
            bag.compute(scheduler=client)  # ...and is refused, naming the fix
        assert "silently lose data" in str(info.value) and time.monotonic() - started < 5
        assert client.last_report is None  # no job ran
        with pytest.raises(UnsupportedShuffleError):
            db.from_sequence(range(10), npartitions=2).groupby(key_of, shuffle="disk").compute(
                scheduler=client
            )
        with pytest.raises(UnsupportedShuffleError):  # the futures path refuses it too
            client.compute(bag)
    finally:
        client.close()


def frame():
    data = pd.DataFrame({"k": np.arange(1000) % 7, "v": np.arange(1000)})
    return dd.from_pandas(data, npartitions=8)


def test_dataframe_shuffles_use_tasks_and_disk_or_p2p_are_refused(cluster):
    client = Client(cluster)
    try:
        shuffled = frame().shuffle("k")
        parts = [p for p in dask.compute(*shuffled.to_delayed(), scheduler=client)]
        assert sum(len(p) for p in parts) == 1000
        assert all(p["k"].nunique() == len(set(p["k"])) for p in parts)
        groups = {k: set(p.loc[p.k == k, "v"]) for p in parts for k in p.k.unique()}
        assert Counter(k for p in parts for k in p.k.unique()) == Counter(range(7))  # each key in one part
        assert all(groups[k] == set(range(k, 1000, 7)) for k in range(7))
        for method in ("disk", "p2p"):
            with pytest.raises(UnsupportedShuffleError, match=method):
                frame().shuffle("k", shuffle_method=method).compute(scheduler=client)
    finally:
        client.close()


class FileTarget:
    """A da.store target every local executor reaches: each region goes to a file of its own."""

    def __init__(self, directory: str):
        self.directory = directory

    def __setitem__(self, index, value) -> None:
        rows = index[0]
        np.save(os.path.join(self.directory, f"{rows.start}.npy"), value)


def test_da_store_into_memory_is_refused_and_into_shared_storage_works(client, tmp_path):
    x = da.arange(100, chunks=25).reshape(10, 10).rechunk((5, 10))
    target = np.zeros((10, 10))
    with pytest.raises(InMemoryTargetError, match=r"target\[\.\.\.\] = x\.compute\(\)"):
        da.store(x, target, scheduler=client)
    assert not target.any()
    with pytest.raises(InMemoryTargetError):
        da.store(x, target, compute=False).compute(scheduler=client)
    da.store(x, FileTarget(str(tmp_path)), lock=False, scheduler=client)
    stored = np.concatenate([np.load(tmp_path / f"{start}.npy") for start in (0, 5)])
    assert np.array_equal(stored, np.arange(100).reshape(10, 10))
