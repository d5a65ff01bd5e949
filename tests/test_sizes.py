"""Chunk sizes from what dask hands to ``get``: arrays state theirs, other collections do not."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
from dask import delayed

from wukong.scheduler.dag import build_dag, flat_keys
from wukong.scheduler.sizes import chunk_bytes


def graph_of(*collections):
    """What ``dask.compute`` passes to a scheduler's ``get``, and the keys it asks for."""
    seen = {}

    def get(dsk, keys, **kwargs):
        seen["dsk"], seen["keys"] = dsk, keys
        return dask.get(dsk, keys)

    dask.compute(*collections, scheduler=get)
    return seen["dsk"], build_dag(seen["dsk"], flat_keys(seen["keys"])).keys


def test_array_chunks_have_their_bytes():
    rng = da.random.default_rng(0)
    a = rng.random((1000, 300), chunks=(400, 150), dtype=np.float32)  # rows 400, 400, 200
    b = rng.random((300, 200), chunks=(150, 100), dtype=np.float32)
    dsk, keys = graph_of(a @ b)
    sizes = chunk_bytes(dsk, keys)
    blocks = sorted(size for key, size in sizes.items() if key[0].startswith("random"))
    assert blocks == sorted([400 * 150 * 4] * 4 + [200 * 150 * 4] * 2 + [150 * 100 * 4] * 4)
    products = [size for key, size in sizes.items() if key[0].startswith("chunk_sum")]
    assert sorted(products) == sorted([400 * 100 * 4] * 8 + [200 * 100 * 4] * 4)
    assert len(sizes) == len(keys) - 1  # every key but dask's finalize, which is no array chunk


def test_a_reductions_chunk_step_is_stated_at_its_inputs_size():
    """dask sets a reduction's reduced chunks after building its chunk step's layer, so the layer
    states the input's chunks: ``cluster_reductions`` bounds a product by its reduction's size."""
    x = da.ones((1000, 300), chunks=(400, 300), dtype=np.float32)
    dsk, keys = graph_of((x + 1).sum(axis=0))
    assert chunk_bytes(dsk, keys)[keys[0]] == 400 * 300 * 4  # really 300 * 4: one row of sums


def test_keys_of_other_collections_have_no_size():
    total = delayed(sum)([delayed(np.ones)(3) for _ in range(4)])
    dsk, keys = graph_of(total)
    assert chunk_bytes(dsk, keys) == {}
    labels = da.from_array(np.array(["a", "b"], dtype=object), chunks=1)
    dsk, keys = graph_of(labels)
    assert chunk_bytes(dsk, keys) == {}  # an object array's bytes on the wire are unknown


def test_a_plain_dict_graph_gives_no_sizes():
    assert chunk_bytes({"x": 1, ("y", 0): 2}, ["x", ("y", 0)]) == {}
