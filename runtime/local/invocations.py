"""What the local pool does with the invocations of workers that die, or that outlive their job.

**Retries, as Lambda retries.** A worker that dies leaves its invocation in its in-flight list. The
pool delivers it again, up to ``max_retry_attempts`` times (Lambda's ``MaximumRetryAttempts``, 2 by
default), counting each death with how the executor died and which task it was running (the worker's
slot, ``slots.py``). One death more fails the job at once with :class:`ExecutorDiedError`, instead of
a redelivery every few seconds until the deadline. An invocation of a job that has ended is never
delivered again.

**Stragglers.** A job that ended (done, failed, timed out, interrupted) has its cancel flag set; its
executors stop before their next task. A worker still inside a task of such a job after
``CANCEL_GRACE_S`` (a hung task, a long one) is killed, so that it gives its place back to later jobs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from ..errors import ExecutorDiedError
from ..storage import keys, task_errors
from ..storage.metadata import MetadataStore
from .processes import describe_exit
from .slots import Running

CANCEL_CHECK_S = 0.25  # how often the pool looks for workers in tasks of ended jobs
CANCEL_GRACE_S = 2.0  # how long such a worker may go on before it is killed


@dataclass
class Retries:
    mds: MetadataStore
    queue: str
    max_retry_attempts: int
    deaths: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (job, owner) -> how
    redelivered: int = 0
    dropped: int = 0  # invocations of ended jobs, not delivered again
    failed_jobs: int = 0

    def take_back(self, worker_id: str, exit_code: int | None, running: Running | None) -> None:
        """The worker is gone: deliver its in-flight invocation again, or not. ``exit_code``: how it died
        (None: not the invocation's fault, e.g. its template was killed); ``running``: its slot."""
        redis = self.mds.redis
        inflight = keys.inflight(self.queue, worker_id)
        for item in redis.lrange(inflight, 0, -1):
            if self.deliver_again(item, exit_code, running):
                redis.lpush(self.queue, item)
                self.redelivered += 1
        redis.delete(inflight)

    def deliver_again(self, item: bytes, exit_code: int | None, running: Running | None) -> bool:
        try:
            payload = json.loads(item)
            job, owner = payload["job"], payload["owner"]
        except (ValueError, KeyError, TypeError):
            return True  # not ours to judge: Lambda would retry it too
        if self.mds.redis.exists(keys.cancelled(job)):
            self.forget_job(job)
            self.dropped += 1
            return False
        if exit_code is None:
            return True
        here = running if running is not None and (running.job, running.owner) == (job, owner) else None
        task = here.task if here is not None and here.task is not None else payload["start"]
        deaths = self.deaths.setdefault((job, owner), [])
        deaths.append(f"its process {describe_exit(exit_code)}")
        if len(deaths) <= self.max_retry_attempts:
            return True
        error = ExecutorDiedError(None, deaths, self.max_retry_attempts)
        self.mds.put_error(job, task_errors.encode(None, error, task=task), [])
        self.forget_job(job)
        self.failed_jobs += 1
        return False

    def forget_job(self, job: str) -> None:
        for key in [k for k in self.deaths if k[0] == job]:
            del self.deaths[key]


@dataclass
class Stragglers:
    mds: MetadataStore
    ended_at: dict[str, float] = field(default_factory=dict)  # job -> when the pool first saw it ended
    checked_at: float = 0.0
    killed: int = 0

    def to_kill(self, busy: dict[int, Running], now: float | None = None) -> list[int]:
        """Of the workers in a task (pid -> what it runs), those whose job ended CANCEL_GRACE_S ago."""
        now = time.monotonic() if now is None else now
        if now - self.checked_at < CANCEL_CHECK_S:
            return []
        self.checked_at = now
        jobs = sorted({running.job for running in busy.values()})
        pipe = self.mds.redis.pipeline(transaction=False)
        for job in jobs:
            pipe.exists(keys.cancelled(job))
        ended = {job for job, gone in zip(jobs, pipe.execute() if jobs else [], strict=True) if gone}
        self.ended_at = {job: self.ended_at.get(job, now) for job in ended}
        late = [
            pid
            for pid, running in busy.items()
            if now - self.ended_at.get(running.job, now) >= CANCEL_GRACE_S
        ]
        self.killed += len(late)
        return late
