"""The first job on a fresh cluster against a warm one, and how many of the cluster's processes are
runnable while the first one runs: ``python -m benchmarks.first_job [CASE] [--size quick|seed]``.

Every 20 ms during the first job it counts the worker and server processes in state R (running or
waiting for a core, from /proc): more runnable processes than cores only time-slice the same cores.
It prints the first job's time, the median of three warm ones, their ratio, and the runnable counts.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import dask

from wukong.local.processes import process_state

from .cases import cases
from .systems import as_tuple

SAMPLE_S = 0.02


def cluster_pids(cluster) -> list[int]:
    return cluster.pool.pids() + [server.process.pid for server in cluster.servers]


def sample_runnable(cluster, stop: threading.Event, counts: list[int], workers: list[int]) -> None:
    while not stop.wait(SAMPLE_S):
        pids = cluster_pids(cluster)
        counts.append(sum(process_state(pid) == "R" for pid in pids))
        workers.append(len(cluster.pool.pids()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.first_job", description=__doc__.splitlines()[0]
    )
    parser.add_argument("case", nargs="?", default="svc_predict")
    parser.add_argument("--size", choices=("quick", "seed"), default="quick")
    args = parser.parse_args(argv)
    case = {c.name: c for c in cases(args.size)}[args.case]
    from wukong import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(progress="off", **case.wukong) as cluster:
        start_s = time.perf_counter() - started
        client = Client(cluster)
        stop, counts, workers = threading.Event(), [], []
        sampler = threading.Thread(target=sample_runnable, args=(cluster, stop, counts, workers), daemon=True)
        collection = case.build()
        sampler.start()
        began = time.perf_counter()
        dask.compute(*as_tuple(collection), scheduler=client.get)
        first_s = time.perf_counter() - began
        stop.set()
        sampler.join()
        warm = []
        for _ in range(3):
            collection = case.build()
            began = time.perf_counter()
            dask.compute(*as_tuple(collection), scheduler=client.get)
            warm.append(time.perf_counter() - began)
    warm_s = statistics.median(warm)
    print(
        f"{args.case}: LocalCluster() {start_s:.2f} s; first job {first_s:.2f} s, warm {warm_s:.2f} s "
        f"(median of 3), first/warm {first_s / warm_s:.2f}x; during the first job, runnable processes "
        f"max {max(counts, default=0)}, mean {statistics.mean(counts) if counts else 0:.1f}, workers up to "
        f"{max(workers, default=0)} (cores: {__import__('os').cpu_count()})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
