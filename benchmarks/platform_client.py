"""The client side of ``benchmarks.platform``, in a process of its own: ``python -m benchmarks.platform_client
REQUEST_JSON`` runs the arms alternately on a ``LocalCluster(mode="aws")`` of the deployment and prints one
JSON line of timings (seconds per arm and run; for the leaf burst also until the platform had accepted
every leaf's event, read from its ``/_platform/stats``)."""

from __future__ import annotations

import json
import operator
import sys
import threading
import time
import urllib.request

import dask
from dask import delayed

from wukong import Client, LocalCluster

from .locality import fan_out

EXECUTOR = "WukongStack-Executor"
POLL_S = 0.01


def accepted(platform_url: str) -> int:
    with urllib.request.urlopen(f"{platform_url}/_platform/stats", timeout=10) as answer:
        return json.loads(answer.read())["accepted"].get(EXECUTOR, 0)


class BurstClock:
    """The time from ``start()`` until the platform has accepted ``count`` more executor events."""

    def __init__(self, platform_url: str, count: int):
        self.url, self.count, self.elapsed = platform_url, count, None
        self.before = accepted(platform_url)
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        while True:
            try:
                if accepted(self.url) >= self.before + self.count:
                    break
            except OSError:  # the platform is busy: ask again
                pass
            time.sleep(POLL_S)
        self.elapsed = time.perf_counter() - self.started


def leaf_tree(leaves: int):
    """``leaves`` leaf tasks, summed pairwise: every leaf is an invocation of the burst."""
    level = [delayed(operator.add)(i, 1, dask_key_name=f"leaf-{i}") for i in range(leaves)]
    while len(level) > 1:
        pairs = [delayed(operator.add)(a, b) for a, b in zip(level[0::2], level[1::2], strict=False)]
        level = pairs + (level[-1:] if len(level) % 2 else [])
    return level[0]


def timed(client, collection, expected) -> float:
    started = time.perf_counter()
    (value,) = dask.compute(collection, scheduler=client.get)
    assert value == expected, (value, expected)
    return time.perf_counter() - started


def fanout(cluster, request) -> dict:
    width = request["width"]
    expected = width * 45 + sum(range(width))
    clients = {"proxy": Client(cluster, max_task_fanout=10), "direct": Client(cluster, max_task_fanout=10**9)}
    for client in clients.values():  # warm-up: the platform's environments start
        timed(client, fan_out(width), expected)
    times = {arm: [] for arm in clients}
    for _ in range(request["reps"]):
        for arm, client in clients.items():
            times[arm].append(timed(client, fan_out(width), expected))
    return {"times": times}


def leaves(cluster, request) -> dict:
    count = request["leaves"]
    expected = sum(range(1, count + 1))
    arms = {
        f"threads-{threads}": Client(cluster, task_grouping=False, num_lambda_invokers=threads)
        for threads in request["threads"]
    }
    for client in arms.values():  # warm-up: the platform's environments start
        timed(client, leaf_tree(count), expected)
    times = {arm: [] for arm in arms}
    bursts = {arm: [] for arm in arms}
    for _ in range(request["reps"]):
        for arm, client in arms.items():
            clock = BurstClock(request["platform_url"], count)
            times[arm].append(timed(client, leaf_tree(count), expected))
            clock.thread.join(timeout=60)
            bursts[arm].append(clock.elapsed if clock.elapsed is not None else float("nan"))
    return {"times": times, "bursts": bursts}


def main() -> None:
    request = json.loads(sys.argv[1])
    with LocalCluster(**request["cluster"]) as cluster:
        result = {"fanout": fanout, "leaves": leaves}[request["what"]](cluster, request)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
