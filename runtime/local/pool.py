"""The local stand-in for Lambda's concurrency: a pool of warm worker processes.

The pool grows while invocations wait in the queue (as Lambda scales out), up to ``max_workers``,
and redelivers the in-flight invocation of a worker that died, then replaces the worker (as Lambda
retries a failed asynchronous invocation).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time

from ..config import WukongConfig, config_to_env
from ..errors import WukongError
from ..storage import keys
from .processes import spawn, stop

SUPERVISE_INTERVAL_S = 0.05
WARM_UP_TIMEOUT_S = 120.0
# One BLAS thread per worker: the pool, not BLAS, provides the parallelism (as one Lambda per task).
SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def default_pool_size(config: WukongConfig) -> tuple[int, int]:
    base = config.local_workers or 2 * (os.cpu_count() or 1)
    return base, max(base, config.max_local_workers or 4 * base)


class WorkerPool:
    def __init__(self, config: WukongConfig, redis_client):
        self.size, self.max_size = default_pool_size(config)
        self.queue = config.local_queue
        self.redis = redis_client
        self.env = {
            **os.environ,
            **SINGLE_THREADED,
            **config_to_env(config),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
        }
        self.workers: dict[str, subprocess.Popen] = {}
        self.ids = itertools.count()
        self.redelivered = 0
        self.closing = threading.Event()
        for _ in range(self.size):
            self.spawn()
        self.wait_until_warm()
        self.thread = threading.Thread(target=self.supervise, name="wukong-pool", daemon=True)
        self.thread.start()

    def spawn(self) -> None:
        worker_id = f"w{next(self.ids)}-{os.getpid()}"
        self.workers[worker_id] = spawn(
            [sys.executable, "-m", "wukong.local.worker"],
            env={**self.env, "WUKONG_WORKER_ID": worker_id},
            stdin=subprocess.DEVNULL,
        )

    def wait_until_warm(self) -> None:
        """Return once every worker has imported its libraries, so the first job runs warm."""
        deadline = time.monotonic() + WARM_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.redis.scard(keys.ready_workers(self.queue)) >= len(self.workers):
                return
            dead = [p.returncode for p in self.workers.values() if p.poll() is not None]
            if dead:
                raise WukongError(
                    f"a local worker exited during start-up (exit code {dead[0]}); its error is printed above"
                )
            time.sleep(0.02)
        raise WukongError(f"the local workers did not start within {WARM_UP_TIMEOUT_S:g} s")

    def supervise(self) -> None:
        backlog_seen = False
        while not self.closing.wait(SUPERVISE_INTERVAL_S):
            try:
                self.replace_dead_workers()
                backlog = self.redis.llen(self.queue)
                if backlog and backlog_seen:
                    for _ in range(min(backlog, self.max_size - len(self.workers))):
                        self.spawn()
                backlog_seen = backlog > 0
            except Exception as exc:  # the pool must outlive a transient Redis hiccup
                if not self.closing.is_set():
                    print(f"wukong: worker pool supervisor: {exc}", file=sys.stderr)

    def replace_dead_workers(self) -> None:
        for worker_id, process in list(self.workers.items()):
            if process.poll() is None:
                continue
            del self.workers[worker_id]
            inflight = keys.inflight(self.queue, worker_id)
            while self.redis.lmove(inflight, self.queue, "RIGHT", "LEFT") is not None:
                self.redelivered += 1
            self.spawn()

    def close(self) -> None:
        self.closing.set()
        if self.thread.is_alive():
            self.thread.join()
        for process in self.workers.values():
            process.terminate()
        for process in self.workers.values():
            stop(process)
        self.workers.clear()
        self.redis.delete(keys.ready_workers(self.queue))
