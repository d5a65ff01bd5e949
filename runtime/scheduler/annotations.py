"""The task annotations Wukong honours: ``retries`` (``dask.annotate(retries=N)``).

dask keeps annotations with the layers of a high-level graph. ``__dask_annotations__()`` gives them by
key after optimization, but an array's low-level fusion drops its layers (and their annotations) while
keeping each fused task under its last layer's key; so the collection's graph *before* optimization
(an ``HLGExpr``'s ``hlg``) is read too, for the keys that are still in the graph.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterator

from dask.highlevelgraph import HighLevelGraph, Layer

RETRIES = "retries"


def retries_by_key(dsk, keys: Collection[Hashable]) -> dict[Hashable, int]:
    """How often each task of ``keys`` runs again when it raises, from ``dsk``'s annotations (what a
    ``get`` receives: an expression, a HighLevelGraph or a plain graph)."""
    found: dict[Hashable, int] = {}
    optimized = getattr(dsk, "__dask_annotations__", None)
    if callable(optimized):
        for key, count in (optimized() or {}).get(RETRIES, {}).items():
            if key in keys:
                found[key] = int(count)
    for layer in annotated_layers(dsk):
        value = (layer.annotations or {})[RETRIES]
        for key in layer:
            if key in keys and key not in found:
                found[key] = int(value(key) if callable(value) else value)
    return {key: count for key, count in found.items() if count}


def annotated_layers(dsk) -> Iterator[Layer]:
    """The layers with retries of ``dsk``'s high-level graphs, as the collections built them."""
    if isinstance(dsk, HighLevelGraph):
        graphs = [dsk]
    elif callable(getattr(dsk, "walk", None)):  # a dask expression
        graphs = [e.hlg for e in dsk.walk() if isinstance(getattr(e, "hlg", None), HighLevelGraph)]
    else:
        graphs = []
    for graph in graphs:
        for layer in graph.layers.values():
            if layer.annotations and RETRIES in layer.annotations:
                yield layer
