"""The README's first command: a real workload on the embedded local mode.

Starts a redis-server and warm workers on this machine, computes the seed tree reduction (1024
numbers, 1023 tasks) and a tall-skinny SVD, checks both against dask, and prints the job report.
"""

from __future__ import annotations

import sys

import dask
import numpy as np

from wukong import Client, LocalCluster

from .workloads import svd_tall_skinny, tree_reduction


def main() -> int:
    small = "--small" in sys.argv
    with LocalCluster() as cluster:
        client = Client(cluster)
        total = tree_reduction(small).compute(scheduler=client.get)
        print(f"tree reduction of 1024 numbers: {total}")
        print(client.last_report)
        s, v = dask.compute(*svd_tall_skinny(small), scheduler=client.get)
        s_dask = svd_tall_skinny(small)[0].compute(scheduler="sync")
        print(
            f"tall-skinny SVD: top singular values {np.round(s[:3], 4)}, v {v.shape}, "
            f"{'matches' if np.allclose(s, s_dask) else 'DIFFERS FROM'} dask's result"
        )
        print(client.last_report)
    return 0 if total == 523776 else 1


if __name__ == "__main__":
    raise SystemExit(main())
