"""A job's error as data in the MDS (``wk:<job>:error``): written by the executor whose task raised (or
by the local pool, for an invocation that kept killing its executor), raised in the client.

A record holds the exception's type, message and remote traceback, the exception itself when it
pickles (so the client raises it with its own type), the dask key of the task, and, when the writer
knows only the task's number (the pool), that number for the client to name.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Hashable

from ..errors import ExecutorDiedError, InvocationFailedError, RemoteTaskError, RemoteTraceback
from . import serialization


def encode(key, exc: BaseException, task: int | None = None) -> bytes:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    record = {
        "key": key,
        "task": task,
        "type": type(exc).__qualname__,
        "module": type(exc).__module__,
        "message": describe(exc),
        "traceback": text,
    }
    if isinstance(exc, ExecutorDiedError):
        record["died"] = {"deaths": exc.deaths, "retries": exc.retries}
    try:
        str(exc)  # one whose message cannot be shown travels as RemoteTaskError with what can be said
        exc.__traceback__ = None
        record["exception"] = serialization.dumps(exc)
        serialization.loads(record["exception"])
    except Exception:
        record["exception"] = None
    return serialization.dumps(record)


def describe(exc: BaseException) -> str:
    """``str(exc)``, or what can be said of it when its ``__str__`` raises."""
    try:
        return str(exc)
    except Exception as failure:
        return f"<the exception's message cannot be shown: its __str__ raised {type(failure).__name__}>"


def exception(record_bytes: bytes, key_of: Callable[[int], Hashable]) -> BaseException:
    """The exception to raise in the client, with the executor's traceback (and the task's key) as its
    cause; ``key_of(task)`` names a task the writer knew only by number."""
    record = serialization.loads(record_bytes)
    key = record.get("key")
    if key is None and record.get("task") is not None:
        key = key_of(record["task"])
    if record.get("died"):
        exc = ExecutorDiedError(key, record["died"]["deaths"], record["died"]["retries"])
    elif record.get("exception"):
        exc = serialization.loads(record["exception"])
    else:
        exc = RemoteTaskError(f"{record['module']}.{record['type']}: {record['message']}")
    if key is not None and hasattr(exc, "add_note"):
        exc.add_note(f"(raised by Wukong task {key!r})")
    exc.__cause__ = RemoteTraceback(record["traceback"], key)
    return exc


def failed_key(exc: BaseException) -> Hashable | None:
    """The dask key of the task whose failure ``exc`` is, when known (a task's exception, or an
    executor that died or that Lambda gave up on)."""
    cause = exc.__cause__
    if isinstance(cause, RemoteTraceback) and cause.key is not None:
        return cause.key
    return getattr(exc, "key", None) if isinstance(exc, ExecutorDiedError | InvocationFailedError) else None
