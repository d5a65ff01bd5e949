"""A warm local worker: pops invocations from the cluster's Redis list and calls the Lambda handler.

Forked by the pool's template process (``wukong.local.zygote``), with the cluster's settings in WUKONG_*
variables, exactly as a Lambda function gets them. The invocation being run sits
in the worker's in-flight list, so the pool redelivers it if the worker dies (as Lambda retries).
"""

from __future__ import annotations

import os
import signal
import time
import traceback

from ..executor.handler import environment, lambda_handler
from ..storage import keys

POP_TIMEOUT_S = 1.0  # how often an idle worker checks that its parent is alive


def main(idle_exit_s: float = 0) -> None:
    """Pop and run invocations until the parent goes away (or, for an extra worker, after idling)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the user's Ctrl-C is the client's to handle
    worker_id = os.environ["WUKONG_WORKER_ID"]
    parent = os.getppid()
    platform = environment()
    queue = platform.invoker.queue
    inflight = keys.inflight(queue, worker_id)
    redis = platform.stores.mds.redis
    import dask.array  # noqa: F401  (warm: the first task should not pay for imports)

    redis.sadd(keys.ready_workers(queue), worker_id)

    idle_since = time.monotonic()
    finished = None
    while os.getppid() == parent:
        if finished is None:
            item = redis.blmove(queue, inflight, POP_TIMEOUT_S, "LEFT", "RIGHT")
        else:  # acknowledge the last invocation and pop the next in one round trip
            pipe = redis.pipeline(transaction=False)
            pipe.lrem(inflight, 1, finished)
            pipe.blmove(queue, inflight, POP_TIMEOUT_S, "LEFT", "RIGHT")
            item = pipe.execute()[-1]
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


if __name__ == "__main__":
    main()
