"""What the machine can do, measured in the same run as the benchmarks: the BLAS limit and versions."""

from __future__ import annotations

import os
import platform
import time

BLAS_N = 4000  # one 4000 x 4000 matmul: 128 GFLOP, about a second on two modern cores
BLAS_REPEATS = 3


def blas_gflops(n: int = BLAS_N, repeats: int = BLAS_REPEATS, threads: int | None = None) -> float:
    """Best GFLOP/s of ``a @ b`` for two n x n float64 matrices; ``threads=None`` lets BLAS use every core."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)), rng.random((n, n))
    best = float("inf")
    with threadpool_limits(limits=threads):
        a @ b  # warm: BLAS spins up its threads
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
    return 2.0 * n**3 / best / 1e9


def describe_machine() -> dict:
    import dask
    import distributed
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = threadpool_info()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "numpy": np.__version__,
        "blas": ", ".join(
            f"{i['internal_api']} {i.get('version', '')} ({i['num_threads']} threads)" for i in blas
        ),
        "blas_gflops_all_cores": round(blas_gflops(), 1),
        "blas_gflops_one_thread": round(blas_gflops(threads=1), 1),
        "load_average": os.getloadavg(),
    }
