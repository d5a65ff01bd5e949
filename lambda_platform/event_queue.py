"""The asynchronous invocation queue: what happens to an ``Event`` invocation after the 202.

An event is due when it arrives. The dispatcher takes due events in order of due time; for each:

- older than the function's ``MaximumEventAgeInSeconds``: dropped (``EventAgeExceeded``);
- no concurrency left (the account's, or the function's reserved concurrency): throttled, back in the queue after 1 s, 2 s, 4 s ... at most 5 min (Lambda's
  back-off for throttled events), times ``delay_scale``;
- else it runs on a worker thread. A function error (exception, crash, timeout, memory) sends it back
  after 1 min, then 2 min (times ``delay_scale``), until it has been retried ``MaximumRetryAttempts``
  times; then it is dropped (``RetriesExhausted``).

Dropped events go to ``on_dropped`` (the platform records them and sends OnFailure records).
"""

from __future__ import annotations

import heapq
import itertools
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .limits import RETRY_DELAYS_S, THROTTLE_BACKOFF_INITIAL_S, THROTTLE_BACKOFF_MAX_S
from .pool import Capacity
from .template import FunctionSpec

RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
_sequence = itertools.count()


@dataclass(order=True)
class QueuedEvent:
    due: float  # monotonic time at which it may run next
    order: int = field(default_factory=lambda: next(_sequence))
    function: FunctionSpec = field(default=None, compare=False)
    request_id: str = field(default="", compare=False)
    payload: bytes = field(default=b"", compare=False)
    received_at: float = field(default_factory=time.monotonic, compare=False)
    attempts: int = field(default=0, compare=False)  # invocations that ran
    throttles: int = field(default=0, compare=False)
    last_error: bytes = field(default=b"", compare=False)  # the last attempt's error document

    @property
    def age_s(self) -> float:
        return time.monotonic() - self.received_at


Execute = Callable[[FunctionSpec, str, bytes], bytes | None]  # error document, or None on success


class EventQueue:
    def __init__(
        self,
        capacity: Capacity,
        execute: Execute,
        on_dropped: Callable[[QueuedEvent, str], None],
        *,
        delay_scale: float = 1.0,
    ):
        self.capacity, self.execute, self.on_dropped = capacity, execute, on_dropped
        self.delay_scale = delay_scale
        self.throttles = 0
        self.retries = 0
        self._heap: list[QueuedEvent] = []
        self._running = 0
        self._stopped = False
        self._condition = threading.Condition()
        self._workers = ThreadPoolExecutor(capacity.limit, thread_name_prefix="event")
        self._dispatcher = threading.Thread(target=self._dispatch, name="event-dispatcher", daemon=True)

    def start(self) -> EventQueue:
        self._dispatcher.start()
        return self

    def put(self, function: FunctionSpec, request_id: str, payload: bytes) -> None:
        self._push(QueuedEvent(time.monotonic(), function=function, request_id=request_id, payload=payload))

    def pending(self) -> int:
        """Events queued or running."""
        with self._condition:
            return len(self._heap) + self._running

    def drain(self, timeout_s: float) -> bool:
        """Wait until every event has run to its end (success or drop); False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._heap and not self._running, timeout=timeout_s)

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._heap.clear()
            self._condition.notify_all()
        if self._dispatcher.is_alive():
            self._dispatcher.join(timeout=5)
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _push(self, event: QueuedEvent) -> None:
        with self._condition:
            if not self._stopped:
                heapq.heappush(self._heap, event)
                self._condition.notify_all()

    def _next_due(self) -> QueuedEvent | None:
        with self._condition:
            while not self._stopped:
                now = time.monotonic()
                if self._heap and self._heap[0].due <= now:
                    return heapq.heappop(self._heap)
                self._condition.wait(self._heap[0].due - now if self._heap else None)
            return None

    def _dispatch(self) -> None:
        while (event := self._next_due()) is not None:
            if event.age_s > event.function.async_config.maximum_event_age_s:
                self.on_dropped(event, EVENT_AGE_EXCEEDED)
                self._notify()
            elif not self.capacity.try_acquire(event.function.name):
                event.throttles += 1
                self.throttles += 1
                backoff = THROTTLE_BACKOFF_INITIAL_S * 2 ** (event.throttles - 1)
                event.due = time.monotonic() + min(THROTTLE_BACKOFF_MAX_S, backoff) * self.delay_scale
                self._push(event)
            else:
                with self._condition:
                    self._running += 1
                try:
                    self._workers.submit(self._run, event)
                except RuntimeError:  # stopping: the pool no longer takes work
                    self._finish_run()
                    self.capacity.release(event.function.name)

    def _run(self, event: QueuedEvent) -> None:
        try:
            error = self.execute(event.function, event.request_id, event.payload)
        except Exception as exc:  # the platform failed, not the function: count it as a failed attempt
            traceback.print_exc(file=sys.stderr)
            error = json.dumps({"errorType": "ServiceException", "errorMessage": str(exc)}).encode()
        finally:
            self.capacity.release(event.function.name)
        try:
            event.attempts += 1
            if error is not None and not self._stopped:  # stopping killed it: neither retried nor dropped
                self._retry_or_drop(event, error)
        finally:
            self._finish_run()

    def _retry_or_drop(self, event: QueuedEvent, error: bytes) -> None:
        event.last_error = error
        if event.attempts > event.function.async_config.maximum_retry_attempts:
            self.on_dropped(event, RETRIES_EXHAUSTED)
            return
        with self._condition:
            self.retries += 1
        delay = RETRY_DELAYS_S[min(event.attempts, len(RETRY_DELAYS_S)) - 1] * self.delay_scale
        event.due = time.monotonic() + delay
        self._push(event)

    def _finish_run(self) -> None:
        with self._condition:
            self._running -= 1
            self._condition.notify_all()

    def _notify(self) -> None:
        with self._condition:
            self._condition.notify_all()
