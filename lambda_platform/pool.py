"""Concurrency and the environments that serve it.

:class:`Capacity` is the platform's concurrency limit (an account's, on AWS): at most ``limit``
invocations run at once, over all functions; a function with reserved concurrency (the template's
``ReservedConcurrentExecutions``) runs at most that many, and those are kept from every other function,
which share the rest (the account's ``UnreservedConcurrentExecutions``). :class:`Environments` holds every live execution
environment: an invocation takes an idle one of its function (warm start, most recently used first) or
starts a new one (cold start). Idle environments are frozen (SIGSTOP), as Lambda freezes them, and
thawed when reused. Never more environments than the limit: a cold start at the limit stops
the least recently used idle environment of another function first. Idle environments are stopped after
``idle_s``, and dead ones (crashed or killed while idle) are dropped when they are next looked at.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from .environment import ExecutionEnvironment, Sandbox, Spawn
from .limits import ENVIRONMENT_STOP_S
from .template import FunctionSpec

REAPER_THREADS = 8  # environments stopped at once (each waits up to 0.5 s for its server)


class Throttled(Exception):
    """No concurrency left for a RequestResponse invocation (Lambda: 429 TooManyRequestsException)."""

    def __init__(self, function: str, reason: str):
        super().__init__(f"{function}: {reason}")
        self.reason = reason  # Lambda's ThrottleReason


CONCURRENT_LIMIT_REASON = "ConcurrentInvocationLimitExceeded"
RESERVED_LIMIT_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"


class Capacity:
    def __init__(self, limit: int, reserved: Mapping[str, int] | None = None):
        reserved = dict(reserved or {})
        if limit < 1:
            raise ValueError(f"the concurrency limit must be at least 1, not {limit}")
        if sum(reserved.values()) > limit:
            raise ValueError(
                f"the functions reserve {sum(reserved.values())} concurrent executions, over the limit of {limit}"
            )
        self.limit, self.reserved = limit, reserved
        self.running = 0
        self._running_by: dict[str, int] = defaultdict(int)
        self._condition = threading.Condition()

    @property
    def unreserved(self) -> int:
        """What functions without a reservation share (GetAccountSettings' UnreservedConcurrentExecutions)."""
        return self.limit - sum(self.reserved.values())

    def throttle_reason(self, function: str) -> str:
        return RESERVED_LIMIT_REASON if function in self.reserved else CONCURRENT_LIMIT_REASON

    def try_acquire(self, function: str = "") -> bool:
        pool = function if function in self.reserved else ""  # "": the unreserved pool, shared
        bound = self.reserved[function] if pool else self.unreserved
        with self._condition:
            if self._running_by[pool] >= bound:
                return False
            self._running_by[pool] += 1
            self.running += 1
            return True

    def release(self, function: str = "") -> None:
        pool = function if function in self.reserved else ""
        with self._condition:
            self._running_by[pool] -= 1
            self.running -= 1
            self._condition.notify_all()


class Environments:
    def __init__(
        self,
        sandbox: Sandbox,
        spawn: Spawn,
        *,
        limit: int,
        idle_s: float,
        cold_start_latency_s: float = 0.0,
        freeze_idle: bool = True,
    ):
        self.sandbox, self.spawn, self.limit, self.idle_s = sandbox, spawn, limit, idle_s
        self.cold_start_latency_s = cold_start_latency_s
        self.freeze_idle = freeze_idle
        # Stopping an environment waits for its Runtime API server to shut down (up to 0.5 s): off the
        # invocation's path, so its caller gets the error at once, and several at a time.
        self._reaper = ThreadPoolExecutor(REAPER_THREADS, thread_name_prefix="environment-reaper")
        self._lock = threading.Lock()
        self._live: list[ExecutionEnvironment] = []
        self._idle: list[ExecutionEnvironment] = []  # least recently used first
        self._closed = False
        self.cold_starts = 0

    def live(self) -> list[ExecutionEnvironment]:
        with self._lock:
            return list(self._live)

    def acquire(self, spec: FunctionSpec) -> ExecutionEnvironment:
        """An environment of ``spec``'s function for one invocation; the caller holds a Capacity slot."""
        stale = self._take_stale()
        with self._lock:
            for environment in reversed(self._idle):
                if environment.spec.name == spec.name and environment.alive:
                    self._idle.remove(environment)
                    break
            else:
                environment = None
                if len(self._live) >= self.limit and self._idle:
                    stale.append(self._idle.pop(0))  # make room: the caller's slot guarantees one is idle
                    self._live.remove(stale[-1])
        for old in stale:
            self._discard(old)
        if environment is None:
            return self._start(spec)
        environment.thaw()
        return environment

    def release(self, environment: ExecutionEnvironment, keep: bool) -> None:
        if keep and self.freeze_idle:
            environment.freeze()  # before it is idle: an acquire() must never thaw it first
        with self._lock:
            if keep and environment.alive:
                environment.last_used = time.monotonic()
                self._idle.append(environment)
                return
            if environment in self._live:
                self._live.remove(environment)
        self._discard(environment)

    def _discard(self, environment: ExecutionEnvironment) -> None:
        environment.kill("discarded")
        try:
            self._reaper.submit(environment.stop, ENVIRONMENT_STOP_S)
        except RuntimeError:  # stop_all() is over: an invocation that was still running ends here
            environment.stop(ENVIRONMENT_STOP_S)

    def stop_all(self) -> None:
        with self._lock:
            self._closed = True
            environments, self._live, self._idle = self._live, [], []
        for environment in environments:
            environment.kill("stopped")
        for environment in environments:
            self._reaper.submit(environment.stop, ENVIRONMENT_STOP_S)
        self._reaper.shutdown(wait=True)

    def _start(self, spec: FunctionSpec) -> ExecutionEnvironment:
        if self.cold_start_latency_s:
            time.sleep(self.cold_start_latency_s)
        with self._lock:
            if self._closed:
                raise RuntimeError("the platform is stopping")
            environment = ExecutionEnvironment(spec, self.sandbox)
            self._live.append(environment)
            self.cold_starts += 1
        try:
            environment.start(self.spawn)
        except BaseException:
            self.release(environment, keep=False)
            raise
        if self._closed:  # stop_all() ran while this one started: it did not see the process
            environment.kill("stopped")
        return environment

    def _take_stale(self) -> list[ExecutionEnvironment]:
        """Remove and return idle environments that died or stayed idle longer than ``idle_s``."""
        now = time.monotonic()
        with self._lock:
            stale = [e for e in self._idle if not e.alive or now - e.last_used > self.idle_s]
            for environment in stale:
                self._idle.remove(environment)
                self._live.remove(environment)
        return stale
