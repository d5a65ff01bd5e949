"""``Future``: a value computed, or being computed, in the cluster, with distributed's names.

Every Future of one key and client shares one :class:`FutureState` (as in distributed): its status
(``pending``, ``finished``, ``error``, ``cancelled``), its exception, and where its value is (a
:class:`wukong.futures.Stored` marker: the value's name in the KV store, its size). The value itself
stays in the cluster: ``result()`` reads it from the KV store each time it is called.

A Future is a ``dask._task_spec.TaskRef``: in a graph (``submit(f, future)``, ``delayed(f)(future)``, a
collection from ``persist``) dask takes it for a reference to its key, and pickled it is just that
reference. The client turns such references into tasks that load the value where it is used.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from dask._task_spec import TaskRef

from ..futures import Stored

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("wukong.futures")

PENDING, FINISHED, ERROR, CANCELLED = "pending", "finished", "error", "cancelled"
# A Ctrl-C can be handled on any of the client's threads; the main thread notices it only between waits.
INTERRUPT_CHECK_S = 0.2


def wait_event(event: threading.Event, timeout: float | None) -> bool:
    """``event.wait(timeout)`` in slices, so that a Ctrl-C taken by another thread (the kernel may hand it
    to any) interrupts the waiting main thread within ``INTERRUPT_CHECK_S``; a single long wait on a lock
    is not woken by it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not event.wait(
        INTERRUPT_CHECK_S if deadline is None else min(INTERRUPT_CHECK_S, deadline - time.monotonic())
    ):
        if deadline is not None and time.monotonic() >= deadline:
            return False
    return True


class FutureState:
    """What the Futures of one key share; thread-safe. Done once finished, erred or cancelled; a
    finished one may still be cancelled (its value is then deleted)."""

    def __init__(self, key: Hashable):
        self.key = key
        self.status = PENDING
        self.exception: BaseException | None = None
        self.traceback = None  # the exception's, as raised where the job ran
        self.stored: Stored | None = None
        self.event = threading.Event()
        self.callbacks: list[Callable[[], None]] = []
        self.dependents: set[FutureState] = set()  # futures computed from this one (cancelled with it)
        self.lock = threading.Lock()

    def mark(self, status: str, stored: Stored | None = None, exception=None, force: bool = False) -> bool:
        """Move to ``status`` unless done already (``force``: even then); whether it moved. The caller
        then runs the done callbacks, outside its own locks."""
        with self.lock:
            if self.event.is_set() and not force:
                return False
            self.status, self.stored, self.exception = status, stored, exception
            self.traceback = None if exception is None else exception.__traceback__
            self.event.set()
            return True

    def run_callbacks(self) -> None:
        with self.lock:
            callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a user's callback must not stop the others, nor the job's thread
                log.exception("a done callback of future %r raised", self.key)

    def add_callback(self, callback: Callable[[], None]) -> None:
        with self.lock:
            if not self.event.is_set():
                self.callbacks.append(callback)
                return
        callback()

    def done(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float | None = None) -> None:
        """Until done; ``TimeoutError`` after ``timeout`` seconds (as distributed)."""
        if not wait_event(self.event, timeout):
            raise TimeoutError(f"future {self.key!r} is not done after {timeout} s")

    def raise_exception(self):
        raise self.exception.with_traceback(self.traceback)


class Future(TaskRef):
    """A remotely computed value (distributed's ``Future``); made by ``Client.submit``, ``map``,
    ``scatter``, ``compute`` and ``persist``, never directly."""

    __slots__ = ("_client", "_state", "_released", "__weakref__")

    def __init__(self, key: Hashable, client: Client, state: FutureState):
        """The caller (the client's session) has counted this reference to ``key``."""
        self.key = key  # type: ignore[assignment]  # dask's Key: a str, bytes, int, float or tuple of them
        self._client = client
        self._state = state
        self._released = False

    @property
    def client(self) -> Client:
        return self._client

    @property
    def status(self) -> str:
        """``pending``, ``finished``, ``error`` or ``cancelled``."""
        return self._state.status

    def done(self) -> bool:
        """Whether it finished, erred or was cancelled."""
        return self._state.done()

    def cancelled(self) -> bool:
        return self._state.status == CANCELLED

    def result(self, timeout: float | None = None) -> Any:
        """Its value (read from the cluster), or its task's exception raised here."""
        self._state.wait(timeout)
        if self._state.status != FINISHED:
            self._state.raise_exception()
        return self._client.gather(self)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Its task's exception, or None if it finished. Raises if it was cancelled."""
        self._state.wait(timeout)
        if self._state.status == CANCELLED:
            self._state.raise_exception()
        return self._state.exception

    def traceback(self, timeout: float | None = None):
        """The traceback of its exception (the executor's is the exception's ``__cause__``), or None."""
        return None if self.exception(timeout) is None else self._state.traceback

    def cancel(self) -> None:
        """Forget it: a pending one is not computed (or, already in a running job, its value is
        deleted when that ends); its value is deleted. Its Futures then raise FutureCancelledError."""
        self._client.cancel([self])

    def add_done_callback(self, fn: Callable[[Future], Any]) -> None:
        """Call ``fn(self)`` once it is done: now, if it is, else in the thread that completes it."""
        self._state.add_callback(lambda: fn(self))

    def release(self) -> None:
        """Drop this reference; the value is deleted from the cluster when no Future refers to it."""
        if not self._released:
            self._released = True
            # No lock here (this runs in __del__, in any thread, maybe while this thread holds the
            # lock that starts a session): a Future's client has its session already.
            futures = self._client._futures
            if futures is not None:
                futures[0].release(self._state)

    def __del__(self):
        with contextlib.suppress(AttributeError):  # half-built, or at interpreter exit
            self.release()

    def __eq__(self, other) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __dask_tokenize__(self):
        return ("wukong.Future", self.key)

    def __repr__(self) -> str:
        stored = self._state.stored
        kind = f", type: {stored.typename}" if stored is not None and stored.typename else ""
        return f"<Future: {self.status}{kind}, key: {self.key}>"

    __str__ = __repr__  # TaskRef's would be the bare key
