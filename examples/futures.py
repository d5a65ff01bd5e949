"""distributed's futures API on Wukong's embedded local mode, checked against dask, timed against
``distributed.LocalCluster`` in the same run.

python -m examples.futures            # a map over 10 000 inputs, as_completed, a persisted array reused
python -m examples.futures --small    # 1 000 inputs
python -m examples.futures --no-distributed

1. ``client.map`` over 10 000 inputs, then ``client.gather``: the values against dask's synchronous
   scheduler's, the time against the same map on ``distributed.LocalCluster`` (its defaults: worker
   processes and threads by the machine's cores), both warm;
2. ``wukong.as_completed`` over futures that take different times: they come back fastest first;
3. ``client.persist`` of a random array, reused by three computations (a sum, column means, a Gram
   matrix), each against dask's synchronous scheduler.
"""

from __future__ import annotations

import argparse
import time

import dask
import dask.array as da
import dask.bag as db
import numpy as np

from wukong import Client, LocalCluster, as_completed


def score(x):
    """A small pure function of one input."""
    return (x * 7919) % 10007 + x // 3


def nap(seconds):
    time.sleep(seconds)
    return seconds


def timed_map(client, inputs: list) -> tuple[float, list]:
    started = time.perf_counter()
    values = client.gather(client.map(score, inputs))
    return time.perf_counter() - started, values


def map_report(client, tasks: int, wait_s: float = 10.0):
    """The map's job report: futures finish as their store tasks do, a moment before the job returns
    (and its report with it)."""
    deadline = time.monotonic() + wait_s
    report = client.last_report
    while report.tasks < tasks and time.monotonic() < deadline:
        time.sleep(0.05)
        report = client.last_report
    return report


def distributed_map(inputs: list) -> tuple[float, str, list] | None:
    try:
        import distributed
    except ImportError:
        return None
    with (
        distributed.LocalCluster(dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.gather(client.map(score, range(-100, 0)))  # warm, as Wukong's workers are
        started = time.perf_counter()
        values = client.gather(client.map(score, inputs))
        seconds = time.perf_counter() - started
        threads = sum(client.nthreads().values())
        return seconds, f"{len(cluster.workers)} workers, {threads} threads", values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="1 000 inputs instead of 10 000")
    parser.add_argument("--no-distributed", action="store_true", help="skip distributed.LocalCluster")
    args = parser.parse_args(argv)
    n = 1_000 if args.small else 10_000
    inputs = list(range(n))
    expected = db.from_sequence(inputs, npartitions=10).map(score).compute(scheduler="sync")
    failures = 0
    with LocalCluster() as cluster:
        client = Client(cluster)
        client.gather(client.map(score, range(-100, 0)))  # warm the workers
        seconds, values = timed_map(client, inputs)
        report = map_report(client, n)
        failures += values != expected
        print(
            f"map over {n} inputs: Wukong {seconds:.3f} s ({report.tasks} tasks, {report.invocations} "
            f"invocations in 1 job); {'matches' if values == expected else 'DIFFERS FROM'} dask's result"
        )
        failures += check_as_completed(client)
        failures += check_persist(client, args.small)
        client.close()
    if not args.no_distributed:
        other = distributed_map(inputs)
        if other is not None:
            seconds, shape, values = other
            print(f"map over {n} inputs: distributed.LocalCluster ({shape}) {seconds:.3f} s")
            failures += values != expected
    return 1 if failures else 0


def check_as_completed(client) -> int:
    delays = [0.6, 0.0, 0.3, 0.9, 0.1]
    futures = [client.submit(nap, d, pure=False) for d in delays]
    order = [future.result() for future in as_completed(futures)]
    ok = order == sorted(delays)
    print(
        f"as_completed over naps of {delays} s: done in the order {order} ({'fastest first' if ok else 'WRONG'})"
    )
    return not ok


def check_persist(client, small: bool) -> int:
    rows = 20_000 if small else 200_000
    x = da.random.RandomState(13).random((rows, 50), chunks=(rows // 10, 50))
    started = time.perf_counter()
    persisted = client.persist(x)
    computations = {
        "sum": lambda a: a.sum(),
        "column means": lambda a: a.mean(axis=0),
        "Gram matrix": lambda a: a.T @ a,
    }
    futures = {name: client.compute(build(persisted)) for name, build in computations.items()}
    failures = 0
    for name, future in futures.items():
        expected = dask.compute(computations[name](x), scheduler="sync")[0]
        ok = np.allclose(future.result(), expected)
        failures += not ok
        print(f"persisted {x.shape} array, {name}: {'matches' if ok else 'DIFFERS FROM'} dask's result")
    print(f"persist and three computations: {time.perf_counter() - started:.3f} s")
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
