"""Executor cost without the worker pool: ``python -m benchmarks.inprocess CASE [--size quick]``.

The case runs as a real job (real redis-server, real client, the very same ``lambda_handler`` code
path), but every invocation is executed one after another in this process instead of by the warm
workers, under cProfile. On a machine shared by many processes this measures what an invocation
costs in CPU (no waiting for a core), and how many Redis round trips it makes, which is what the
overhead-bound cases are made of.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import pstats
import sys
import threading
import time

import dask

from .cases import cases
from .systems import as_tuple


class QueueInvoker:
    """Keeps invocations in a local queue, encoded as the real transports encode them."""

    def __init__(self):
        self.queue = collections.deque()
        self.ready = threading.Condition()

    def invoke(self, payloads: list[dict]) -> None:
        from wukong.invokers.base import encode_payload

        with self.ready:
            self.queue.extend(encode_payload(p) for p in payloads)
            self.ready.notify()

    def next(self, timeout_s: float) -> bytes | None:
        with self.ready:
            if not self.queue:
                self.ready.wait(timeout_s)
            return self.queue.popleft() if self.queue else None


def run_in_process(collection, cluster, profile: bool = True) -> dict:
    """Run the job with invocations executed here, sequentially; return what it cost."""
    import redis.connection

    from wukong import Client
    from wukong.executor.handler import lambda_handler
    from wukong.platforms import Platform
    from wukong.storage.connect import connect

    client = Client(cluster, progress="off")
    client.invoker = invoker = QueueInvoker()
    import wukong.executor.handler as handler

    # The executor gets its own connections (as a worker has) and this process's queue.
    handler._PLATFORM = Platform(connect(cluster.config, fast=True), invoker)  # as an executor has
    round_trips = collections.Counter()
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        round_trips[threading.current_thread().name] += 1
        return original(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counting
    commands = collections.Counter()
    packers = [getattr(redis.connection, n) for n in ("PythonRespSerializer", "HiredisRespSerializer")]
    packers = [c for c in packers if c is not None and "pack" in vars(c)]
    packs = {c: c.pack for c in packers}

    def counting_pack(original_pack):
        def pack(self, *args):
            commands[threading.current_thread().name] += 1
            return original_pack(self, *args)

        return pack

    for c in packers:
        c.pack = counting_pack(packs[c])
    from wukong.storage.fastpath import FastPath

    fast_exchange = FastPath.exchange

    def counting_exchange(self, batch):  # the executor's hot commands bypass redis-py
        round_trips[threading.current_thread().name] += 1
        commands[threading.current_thread().name] += len(batch)
        return fast_exchange(self, batch)

    FastPath.exchange = counting_exchange
    outcome: dict = {}

    def run_client():
        try:
            outcome["result"] = dask.compute(*as_tuple(collection), scheduler=client.get)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=run_client, name="client")
    profiler = cProfile.Profile() if profile else None
    invocations = 0
    try:
        thread.start()
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        while thread.is_alive() or invoker.queue:
            item = invoker.next(0.05)
            if item is None:
                continue
            if profiler is not None:
                profiler.enable()
            lambda_handler(item, None)
            if profiler is not None:
                profiler.disable()
            invocations += 1
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        thread.join()
    finally:
        redis.connection.AbstractConnection.send_packed_command = original
        FastPath.exchange = fast_exchange
        for c, pack in packs.items():
            c.pack = pack
        handler._PLATFORM = None
    if "error" in outcome:
        raise outcome["error"]
    report = client.last_report
    return {
        "report": report,
        "invocations": invocations,
        "executor_cpu_s": cpu,
        "wall_s": wall,
        "round_trips": dict(round_trips),
        "commands": dict(commands),
        "profile": profiler,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.inprocess", description=__doc__.splitlines()[0]
    )
    parser.add_argument("case")
    parser.add_argument("--size", choices=("quick", "seed"), default="quick")
    parser.add_argument("--top", type=int, default=30, help="functions to list")
    parser.add_argument("--reps", type=int, default=5, help="unprofiled runs; the median is shown")
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime, ncalls")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Wukong setting for the cluster (e.g. task_grouping=false: one invocation per leaf pair)",
    )
    args = parser.parse_args(argv)
    found = {c.name: c for c in cases(args.size)}
    if args.case not in found:
        print(f"unknown case {args.case!r}; known: {', '.join(found)}")
        return 2
    from wukong import LocalCluster

    case = found[args.case]
    settings = {"progress": "off", "local_workers": 1, "max_local_workers": 1}
    settings.update(item.split("=", 1) for item in args.set)
    with LocalCluster(**settings) as cluster:
        run_in_process(case.build(), cluster, profile=False)  # warm: imports, scripts loaded in Redis
        runs = [run_in_process(case.build(), cluster, profile=False) for _ in range(args.reps)]
        plain = sorted(runs, key=lambda r: r["executor_cpu_s"])[len(runs) // 2]
        measured = run_in_process(case.build(), cluster) if args.top else None
    report, n = plain["report"], plain["invocations"]
    trips = plain["round_trips"]
    executor_trips = trips.get("MainThread", 0)
    print(report)
    print(
        f"in process, median of {args.reps} runs without the profiler: {n} invocations, {report.tasks} tasks in {plain['wall_s']:.3f} s; "
        f"executor CPU {plain['executor_cpu_s']:.3f} s = {1e6 * plain['executor_cpu_s'] / max(n, 1):.0f} us per "
        f"invocation, {1e6 * plain['executor_cpu_s'] / max(report.tasks, 1):.0f} us per task"
    )
    executor_commands = plain["commands"].get("MainThread", 0)
    print(
        f"Redis round trips: executors {executor_trips} ({executor_trips / max(n, 1):.1f} per invocation, "
        f"{executor_trips / max(report.tasks, 1):.1f} per task); client {trips.get('client', 0)}. "
        f"Commands: {executor_commands / max(n, 1):.1f} per invocation"
    )
    if measured is None:
        return 0
    text = io.StringIO()
    stats = pstats.Stats(measured["profile"], stream=text)
    stats.sort_stats(args.sort).print_stats(args.top)
    print("cProfile of the executor (second run):")
    print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
