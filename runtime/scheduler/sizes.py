"""What a dask graph says about the size of its chunks, before anything runs.

A dask array's layers carry the array's ``chunks`` and ``dtype`` (``collection_annotations`` of the
high-level graph that ``dask.compute`` hands to ``get``), so the bytes of chunk ``(name, i, j)`` are
known statically: ``itemsize * chunks[0][i] * chunks[1][j]``. Keys of other collections (delayed,
bags, a task returning a tuple) have no such record and are left out: sizes are a hint for the static
scheduler (``grouping.cluster_reductions``), never needed to run a job.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable

import numpy as np
from dask.highlevelgraph import HighLevelGraph

ARRAY_TYPE = "dask.array.core.Array"


def chunk_bytes(dsk, keys: Iterable[Hashable]) -> dict[Hashable, int]:
    """The estimated bytes of each of ``keys`` that is a chunk of a dask array in ``dsk``."""
    layers = {name: found for graph in high_level_graphs(dsk) for name, found in array_layers(graph).items()}
    sizes = {}
    for key in keys:
        if not (isinstance(key, tuple) and key and key[0] in layers):
            continue
        chunks, itemsize = layers[key[0]]
        index = key[1:]
        if len(index) != len(chunks) or not all(isinstance(i, int) for i in index):
            continue
        try:
            sizes[key] = itemsize * math.prod(dim[i] for dim, i in zip(chunks, index, strict=True))
        except (IndexError, TypeError):  # an index past the chunks, or an unknown (nan) chunk size
            continue
    return sizes


def high_level_graphs(dsk) -> list[HighLevelGraph]:
    """The high-level graphs behind what ``get`` received: itself, or those of the expression that
    ``dask.compute`` passes (one ``HLGExpr`` per collection, each with ``.hlg``; the optimized graph
    that ``get`` runs is fused into one layer that no longer says what its chunks are). The expression
    classes are dask's private ones, so they are looked up gently: without them there are no sizes."""
    if isinstance(dsk, HighLevelGraph):
        return [dsk]
    graphs = []
    for operand in getattr(dsk, "operands", None) or ():
        try:
            graph = getattr(operand, "hlg", None)
        except Exception:
            continue
        if isinstance(graph, HighLevelGraph):
            graphs.append(graph)
    return graphs


def array_layers(graph: HighLevelGraph) -> dict[str, tuple[tuple[tuple, ...], int]]:
    """Layer name -> (chunks, itemsize) for every layer that is a numeric dask array."""
    found = {}
    for name, layer in graph.layers.items():
        notes = getattr(layer, "collection_annotations", None) or {}
        if notes.get("type") != ARRAY_TYPE or "chunks" not in notes or "dtype" not in notes:
            continue
        try:
            dtype = np.dtype(notes["dtype"])
        except TypeError:
            continue
        if dtype.hasobject:  # object arrays hold pointers: their bytes on the wire are unknown
            continue
        found[name] = (tuple(tuple(dim) for dim in notes["chunks"]), dtype.itemsize)
    return found
