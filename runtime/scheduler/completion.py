"""Waiting on several futures: ``wait`` and ``as_completed``, with distributed's names and semantics."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, namedtuple
from collections.abc import Iterable, Iterator

from ..errors import FutureCancelledError
from .future import CANCELLED, ERROR, Future, wait_event

ALL_COMPLETED = "ALL_COMPLETED"
FIRST_COMPLETED = "FIRST_COMPLETED"
POLL_S = 0.1  # how often a blocked ``next`` looks at its deadline

DoneAndNotDoneFutures = namedtuple("DoneAndNotDoneFutures", "done not_done")


def wait(fs, timeout: float | None = None, return_when: str = ALL_COMPLETED) -> DoneAndNotDoneFutures:
    """Until all (or, with ``FIRST_COMPLETED``, any) of the futures are done: finished, erred or
    cancelled. ``TimeoutError`` after ``timeout`` seconds; ``FutureCancelledError`` if one was
    cancelled. The (done, not done) sets."""
    futures = [fs] if isinstance(fs, Future) else list(fs)
    deadline = None if timeout is None else time.monotonic() + timeout
    if return_when == ALL_COMPLETED:
        for future in futures:
            future._state.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    elif return_when == FIRST_COMPLETED:
        any_done = threading.Event()
        for future in futures:
            future._state.add_callback(any_done.set)
        if futures and not wait_event(any_done, timeout):
            raise TimeoutError(f"none of {len(futures)} futures is done after {timeout} s")
    else:
        raise ValueError(f"return_when must be {ALL_COMPLETED!r} or {FIRST_COMPLETED!r}, got {return_when!r}")
    done = {f for f in futures if f.done()}
    cancelled = [f.key for f in done if f.status == CANCELLED]
    if cancelled:
        raise FutureCancelledError(cancelled[0], f"it was cancelled ({len(cancelled)} of the futures were)")
    return DoneAndNotDoneFutures(done, set(futures) - done)


class as_completed(Iterator):  # noqa: N801 - distributed's name
    """Iterate over futures in the order they complete; more may be added while iterating (``add``,
    ``update``). ``with_results``: yield ``(future, result)`` (results read in batches, one round trip
    per KV-store node), raising a future's exception unless ``raise_errors=False`` (then the exception
    is the result). ``timeout``: ``TimeoutError`` if the next future is not done that many seconds
    after this was made."""

    def __init__(
        self,
        futures: Iterable[Future] | None = None,
        with_results: bool = False,
        raise_errors: bool = True,
        *,
        timeout: float | None = None,
    ):
        self.with_results, self.raise_errors = with_results, raise_errors
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.lock = threading.Lock()
        self.futures: Counter[Future] = Counter()  # added and not done yet, with how often added
        self.queue: queue.Queue = queue.Queue()  # done, not yet returned
        self.results: list = []  # (future, result) read ahead, with_results
        if futures:
            self.update(futures)

    def update(self, futures: Iterable[Future]) -> None:
        for future in futures:
            if not isinstance(future, Future):
                raise TypeError(f"as_completed takes futures, got {future!r}")
            with self.lock:
                self.futures[future] += 1
            future.add_done_callback(self.completed)

    def add(self, future: Future) -> None:
        self.update([future])

    def completed(self, future: Future) -> None:
        with self.lock:
            if self.futures[future] <= 0:  # cleared meanwhile
                return
            self.futures[future] -= 1
            if not self.futures[future]:
                del self.futures[future]
            self.queue.put(future)

    def count(self) -> int:
        """Futures not returned yet, done or not."""
        with self.lock:
            return sum(self.futures.values()) + self.queue.qsize() + len(self.results)

    def is_empty(self) -> bool:
        return not self.count()

    def has_ready(self) -> bool:
        return not self.queue.empty() or bool(self.results)

    def __next__(self):
        if self.results:
            return self.pop_result()
        while True:
            with self.lock:
                pending = bool(self.futures)
            try:
                future = self.queue.get(timeout=POLL_S) if pending else self.queue.get_nowait()
            except queue.Empty:
                if not pending:
                    raise StopIteration from None
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    raise TimeoutError("no future completed before as_completed's timeout") from None
                continue
            if not self.with_results:
                return future
            self.results = self.read_ahead(future)
            return self.pop_result()

    def read_ahead(self, first: Future) -> list:
        """``first`` and every future done now, with their results (the values in one gather)."""
        batch = [first]
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        finished = [f for f in batch if f.status not in (ERROR, CANCELLED)]
        values = dict(zip(map(id, finished), first.client.gather(finished), strict=True)) if finished else {}
        return [(f, values.get(id(f), f._state.exception)) for f in batch]

    def pop_result(self):
        future, result = self.results.pop(0)
        if self.raise_errors and future.status in (ERROR, CANCELLED):
            raise result
        return future, result

    def next_batch(self, block: bool = True) -> list:
        """The futures done now (at least one if ``block``)."""
        batch = [next(self)] if block else []
        while self.has_ready():
            batch.append(next(self))
        return batch

    def batches(self) -> Iterator[list]:
        """Every done future at once, batch after batch."""
        while True:
            try:
                yield self.next_batch(block=True)
            except StopIteration:
                return

    def clear(self) -> None:
        with self.lock:
            self.futures.clear()
            self.results = []
            while not self.queue.empty():
                self.queue.get_nowait()
