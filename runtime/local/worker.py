"""A warm local worker: pops invocations from the cluster's Redis list and calls the Lambda handler.

Forked by the pool's template process (``wukong.local.zygote``), with the cluster's settings in WUKONG_*
variables, exactly as a Lambda function gets them. The invocation being run sits
in the worker's in-flight list, so the pool redelivers it if the worker dies (as Lambda retries).
A worker that cannot reach Redis (a node down, at start or between invocations) retries with
exponential back-off for up to UNREACHABLE_GIVE_UP_S, then exits: it does not crash-loop.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from functools import partial

from ..errors import RedisUnreachableError
from ..executor.handler import environment, lambda_handler
from ..storage import keys
from .slots import WorkerSlot

POP_TIMEOUT_S = 1.0  # how often an idle worker checks that its parent is alive
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
UNREACHABLE_GIVE_UP_S = 60.0


def main(idle_exit_s: float = 0) -> None:
    """Pop and run invocations until the parent goes away (or, for an extra worker, after idling)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the user's Ctrl-C is the client's to handle
    worker_id = os.environ["WUKONG_WORKER_ID"]
    parent = os.getppid()
    platform = with_backoff(environment, worker_id)
    platform.observer = WorkerSlot.inherited()  # the pool reads what this worker runs
    queue = platform.invoker.queue
    inflight = keys.inflight(queue, worker_id)
    redis = platform.stores.mds.redis

    with_backoff(lambda: redis.sadd(keys.ready_workers(queue), worker_id), worker_id)

    idle_since = time.monotonic()
    finished = None
    while os.getppid() == parent:
        if platform.observer is not None and platform.observer.stale():
            with_backoff(partial(acknowledge, redis, inflight, finished), worker_id)
            return  # the pool forks a warmer worker in its place
        item = with_backoff(partial(pop, redis, queue, inflight, finished), worker_id)
        finished = None
        if item is None:
            if idle_exit_s and time.monotonic() - idle_since > idle_exit_s:
                redis.srem(keys.ready_workers(queue), worker_id)
                return
            continue
        try:
            lambda_handler(item, None)
        except Exception:
            traceback.print_exc()
        finished = item
        idle_since = time.monotonic()


def acknowledge(redis, inflight: str, finished: bytes | None) -> None:
    if finished is not None:
        redis.lrem(inflight, 1, finished)


def pop(redis, queue: str, inflight: str, finished: bytes | None):
    """The next invocation (moved into the in-flight list), or None after POP_TIMEOUT_S; acknowledges
    the ``finished`` one in the same round trip."""
    if finished is None:
        return redis.blmove(queue, inflight, POP_TIMEOUT_S, "LEFT", "RIGHT")
    pipe = redis.pipeline(transaction=False)
    pipe.lrem(inflight, 1, finished)
    pipe.blmove(queue, inflight, POP_TIMEOUT_S, "LEFT", "RIGHT")
    return pipe.execute()[-1]


def with_backoff(action, worker_id: str):
    """``action()``, retried with exponential back-off while Redis is unreachable; re-raises after
    UNREACHABLE_GIVE_UP_S (the worker exits and the pool replaces it). One message per outage."""
    delay, give_up = BACKOFF_FIRST_S, time.monotonic() + UNREACHABLE_GIVE_UP_S
    while True:
        try:
            return action()
        except RedisUnreachableError as exc:
            if time.monotonic() + delay > give_up:
                raise
            if delay == BACKOFF_FIRST_S:
                print(
                    f"wukong worker {worker_id}: {exc.role} at {exc.address} unreachable; "
                    f"retrying with back-off for up to {UNREACHABLE_GIVE_UP_S:g} s",
                    file=sys.stderr,
                )
            time.sleep(delay)
            delay = min(2 * delay, BACKOFF_MAX_S)


if __name__ == "__main__":
    main()
