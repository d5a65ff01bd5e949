"""The seed workloads, each an ordinary dask program: ``build(small)`` returns the collection to compute.

Seed sizes are those of the Wukong paper's evaluation; ``small=True`` gives a size that runs in a
second or two (tests and CI). Random inputs come from dask's own seeded generators, so every
scheduler computes the same numbers from the same graph.
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def slow_add(x, y, delay_s: float):
    """``x + y`` after sleeping ``delay_s``: a task whose cost is waiting, not compute."""
    time.sleep(delay_s)
    return x + y


@dataclass(frozen=True)
class Workload:
    name: str
    build: Callable[[bool], object]  # small -> a dask collection, or a tuple of them
    about: str
    local_only: str = ""  # why it cannot run on AWS Lambda's executors, if it cannot


# dask-ml (ParallelPostFit's predict tasks are dask_ml functions) imports scikit-learn, scipy, pandas,
# pyarrow, numba and llvmlite: their wheels for Lambda's platform unzip to about 530 MB beyond the numpy
# and dask layers (measured: scipy 117, llvmlite 172, pyarrow 136, pandas 45, scikit-learn 35, numba 17),
# over Lambda's 250 MB limit for a function and its layers.
SVC_LOCAL_ONLY = (
    "dask-ml and its dependencies (scikit-learn, scipy, pandas, pyarrow, numba) are ~530 MB unzipped, "
    "over Lambda's 250 MB limit for a function and its layers"
)


def incr(small: bool):
    return dask.delayed(inc)(1)


def linear_chain(small: bool):
    return dask.delayed(inc)(dask.delayed(inc)(dask.delayed(inc)(1)))


def fan_in(small: bool):
    return dask.delayed(add)(dask.delayed(inc)(1), dask.delayed(inc)(2))


def tree_reduction(small: bool, leaves: int = 1024, delay_s: float = 0.0):
    """Pairwise sums of range(leaves): the answer for 1024 is 523776. ``leaves`` is a power of two;
    with ``delay_s`` every sum sleeps that long first (log2(leaves) levels on the critical path)."""
    combine = functools.partial(slow_add, delay_s=delay_s) if delay_s else operator.add
    level = list(range(leaves))
    while len(level) > 1:
        level = [dask.delayed(combine)(a, b) for a, b in zip(level[0::2], level[1::2], strict=True)]
    return level[0]


def random_matrix(rows: int, cols: int, chunks, seed: int = 42):
    return da.random.default_rng(seed).random((rows, cols), chunks=chunks)


def svd_tall_skinny(small: bool):
    rows, cols, chunk = (20_000, 100, 2_000) if small else (200_000, 1_000, 10_000)
    u, s, v = da.linalg.svd(random_matrix(rows, cols, (chunk, cols)))
    return s, v


def svd_compressed(small: bool):
    n, chunk = (2_000, 500) if small else (10_000, 2_000)
    u, s, v = da.linalg.svd_compressed(random_matrix(n, n, (chunk, chunk)), k=5, seed=7)
    return s


def qr(small: bool):
    # Current dask's QR needs single-column chunks: (16, 128) blocks of a 128 x 128 matrix.
    q, r = da.linalg.qr(random_matrix(128, 128, (16, 128)))
    return q, r


def tsqr(small: bool):
    rows, cols, chunk = (16_384, 32, 2_048) if small else (262_144, 128, 8_192)
    q, r = da.linalg.tsqr(random_matrix(rows, cols, (chunk, cols)))
    return q, r


def cholesky(small: bool):
    n, chunk = (400, 100) if small else (4_000, 1_000)
    x = random_matrix(n, n, (chunk, chunk))
    spd = x @ x.T + n * da.eye(n, chunks=chunk)
    return da.linalg.cholesky(spd, lower=True)


def gemm(small: bool, n: int | None = None, chunk: int = 1_000):
    n = n or (2_000 if small else 10_000)
    chunk = 500 if small else chunk
    return random_matrix(n, n, (chunk, chunk), seed=1) @ random_matrix(n, n, (chunk, chunk), seed=2)


def svc_predict(small: bool):
    from dask_ml.wrappers import ParallelPostFit
    from sklearn.datasets import make_classification
    from sklearn.svm import SVC

    features = 20
    x_train, y_train = make_classification(n_samples=1_000, n_features=features, random_state=0)
    model = ParallelPostFit(SVC(gamma="scale")).fit(x_train, y_train)
    samples, chunk = (20_000, 5_000) if small else (800_000, 50_000)
    x = da.random.default_rng(3).normal(size=(samples, features), chunks=(chunk, features))
    return model.predict(x)


WORKLOADS = {
    w.name: w
    for w in [
        Workload("incr", incr, "one task: inc(1)"),
        Workload("linear_chain", linear_chain, "three tasks in a chain"),
        Workload("fan_in", fan_in, "two tasks into one"),
        Workload("tree_reduction", tree_reduction, "pairwise sum of 1024 numbers (1023 tasks)"),
        Workload("svd", svd_tall_skinny, "tall-skinny SVD, 200000 x 1000 in 10000-row chunks"),
        Workload("svd_compressed", svd_compressed, "randomized SVD of 10000 x 10000, k=5"),
        Workload("qr", qr, "QR of 128 x 128 in (16, 128) chunks"),
        Workload("tsqr", tsqr, "TSQR of 262144 x 128"),
        Workload("cholesky", cholesky, "Cholesky of a 4000 x 4000 SPD matrix, 1000 chunks"),
        Workload("gemm", gemm, "10000 x 10000 matrix product, 1000 x 1000 chunks"),
        Workload("svc_predict", svc_predict, "SVC ParallelPostFit predict on 800k samples", SVC_LOCAL_ONLY),
    ]
}


def as_tuple(collection) -> tuple:
    return collection if isinstance(collection, tuple) else (collection,)


def same_result(a, b) -> bool:
    """Compare one workload's outputs (arrays and pandas objects with allclose, anything else with ==)."""
    a, b = as_tuple(a), as_tuple(b)
    return len(a) == len(b) and all(
        np.allclose(np.asarray(x), np.asarray(y))
        if hasattr(x, "__array__") or hasattr(y, "__array__")
        else x == y
        for x, y in zip(a, b, strict=True)
    )
