"""Real, fine-grained graphs (issue 16): what dask.dataframe and a stencil make, not trees of trivial
tasks. Each builds a fresh collection; the data is made inside the tasks from seeds (nothing big in
the graph itself).

* ``df_groupby_apply``: 64 partitions of random rows, a groupby-apply over a task shuffle.
* ``stencil_2d``: a 2-D ``map_overlap`` (a 5-point smoothing) over a 1200² array of 60² chunks, summed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DF_PARTITIONS = 64
DF_ROWS_PER_PARTITION = 5_000
DF_GROUPS = 200
STENCIL_SIZE = 1200
STENCIL_CHUNK = 60


def random_partition(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "key": rng.integers(0, DF_GROUPS, DF_ROWS_PER_PARTITION),
            "value": rng.random(DF_ROWS_PER_PARTITION),
        }
    )


def spread(group: pd.DataFrame) -> pd.Series:
    return pd.Series({"spread": group["value"].max() - group["value"].min(), "rows": float(len(group))})


def df_groupby_apply():
    """64 partitions of random rows, a groupby-apply over a task shuffle, summed."""
    import dask.dataframe as dd

    meta = random_partition(0).iloc[:0]
    frame = dd.from_map(random_partition, range(DF_PARTITIONS), meta=meta)
    applied = frame.groupby("key").apply(spread, meta={"spread": "f8", "rows": "f8"}, shuffle_method="tasks")
    return applied.sum()


def smooth(block: np.ndarray) -> np.ndarray:
    out = block.copy()
    out[1:-1, 1:-1] = (
        block[1:-1, 1:-1] + block[:-2, 1:-1] + block[2:, 1:-1] + block[1:-1, :-2] + block[1:-1, 2:]
    ) / 5
    return out


def stencil_2d():
    import dask.array as da

    x = da.random.default_rng(7).random((STENCIL_SIZE, STENCIL_SIZE), chunks=(STENCIL_CHUNK, STENCIL_CHUNK))
    return x.map_overlap(smooth, depth=1, boundary="reflect").sum()
