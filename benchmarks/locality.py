"""Locality benchmarks (issue 3), each a side-by-side comparison in one run:

    python -m benchmarks.locality svd [--size quick|seed]   clustering + delayed I/O on vs off
    python -m benchmarks.locality fanout [--reps N]         a 1 -> 1000 fan-out with the proxy vs without

Prints medians, ratios, bytes written to the KV store and invocations.
"""

from __future__ import annotations

import argparse
import statistics
import time

import dask
import dask.array as da
import numpy as np
from dask import delayed

from wukong import Client, LocalCluster

SVD_SIZES = {"quick": (20_000, 100, 2_000, 500_000), "seed": (200_000, 1_000, 10_000, 32 * 2**20)}


def svd(rows: int, cols: int, chunk: int):
    x = da.random.default_rng(42).random((rows, cols), chunks=(chunk, cols))
    return da.linalg.svd(x)


def compare_svd(size: str, reps: int) -> None:
    rows, cols, chunk, threshold = SVD_SIZES[size]
    print(f"tall-skinny SVD {rows} x {cols}, chunks {chunk} x {cols}, big_task_threshold {threshold} B")
    with LocalCluster() as cluster:
        reference = None
        rows_out = []
        for clustering in (True, False):
            client = Client(cluster, task_clustering=clustering, big_task_threshold=threshold)
            times = []
            for _ in range(reps):
                started = time.perf_counter()
                u, s, v = dask.compute(*svd(rows, cols, chunk), scheduler=client.get)
                times.append(time.perf_counter() - started)
            if reference is None:
                reference = s
            assert np.allclose(s, reference)
            report = client.last_report
            rows_out.append((clustering, statistics.median(times), report))
        for clustering, median, report in rows_out:
            print(
                f"  clustering {'on ' if clustering else 'off'}: {median:7.2f} s  "
                f"KVS written {report.kvs_bytes_written / 2**20:9.1f} MB  read {report.kvs_bytes_read / 2**20:9.1f} MB  "
                f"invocations {report.invocations:5d}  delayed I/O {report.counters.get('delayed_io', 0)}"
            )
        on, off = rows_out[0][2], rows_out[1][2]
        print(
            f"  KVS bytes written, off / on: {off.kvs_bytes_written / max(1, on.kvs_bytes_written):.1f}x; "
            f"time on / off: {rows_out[0][1] / rows_out[1][1]:.2f}"
        )


def fan_out(width: int):
    root = delayed(np.arange)(10)
    leaves = [delayed(lambda r, i: int(r.sum()) + i)(root, i) for i in range(width)]
    return delayed(sum)(leaves)


def compare_fanout(reps: int, width: int = 1000) -> None:
    """Proxy on and off alternate rep by rep on one cluster, so drifting load hits both alike."""
    print(f"one task fanning out to {width} dependents (then summed), {reps} alternating runs each")
    expected = width * 45 + sum(range(width))
    with LocalCluster() as cluster:
        clients = {proxy: Client(cluster, max_task_fanout=10 if proxy else 10**9) for proxy in (True, False)}
        for client in clients.values():  # warm-up: the pool grows to what this shape needs
            assert fan_out(width).compute(scheduler=client.get) == expected
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(reps):
            for proxy, client in clients.items():
                started = time.perf_counter()
                assert fan_out(width).compute(scheduler=client.get) == expected
                times[proxy].append(time.perf_counter() - started)
        for proxy, client in clients.items():
            report = client.last_report
            print(
                f"  proxy {'on ' if proxy else 'off'}: median {statistics.median(times[proxy]):6.3f} s  "
                f"(runs {', '.join(f'{t:.2f}' for t in times[proxy])})  invocations {report.invocations}  "
                f"proxy fan-outs {report.counters.get('proxy_fanouts', 0)}"
            )
        ratio = statistics.median(times[True]) / statistics.median(times[False])
        print(f"  time with proxy / without: {ratio:.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["svd", "fanout"])
    parser.add_argument("--size", choices=list(SVD_SIZES), default="quick")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    if args.what == "svd":
        compare_svd(args.size, args.reps)
    else:
        compare_fanout(args.reps)


if __name__ == "__main__":
    main()
