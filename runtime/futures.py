"""Futures' values in the cluster: the two tasks that executors run for them.

A Future's value lives in the KV store under its client's session (``keys.session_value``), never in
the client. The client rewrites graphs so that executors move it there and back, with no change to the
protocol: a job that computes futures ends in *store* tasks, and a job that uses one starts from a
*load* task::

    inc-1 ──> store((name of inc-1,), ...)      the job's final is a small Stored marker
    load(name of inc-1) ──> add-2 ──> store(...) a later job reads inc-1 where it runs

Both reach the executor's stores through ``wukong.executor.handler.environment()``, the platform the
executor process built once (its KV store's nodes, connections and limits): the one hook tasks use.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from .errors import FutureLostError, UnpicklableResultError
from .storage import serialization


@dataclass(frozen=True)
class Stored:
    """What a store task returns for each value, as the job's final: where it is and how big."""

    name: str  # its KVS key (keys.session_value)
    nbytes: int
    parts: int = 0  # parts beyond the head, for values over the KVS value limit (chunk_large_tasks)
    typename: str = ""  # the value's type, for the Future's repr


def kv_store():
    """The KV store of the executor running this task."""
    from .executor.handler import environment

    return environment().stores.kvs


def store(names: tuple[str, ...], keys: tuple[Hashable, ...], ttl_s: int, *values) -> tuple[Stored, ...]:
    """Write each value under its name (first writer wins: a duplicate delivery's or a retry's value
    never replaces the one stored), with the session's TTL, in one round trip per KVS node."""
    frames = []
    for key, value in zip(keys, values, strict=True):
        try:
            frames.append(serialization.pickle_frames(value))
        except Exception as exc:
            raise UnpicklableResultError(key, f"{type(exc).__name__}: {exc}") from exc
    parts = kv_store().put_values(list(zip(names, frames, strict=True)), ttl_s, key_names=keys)
    return tuple(
        Stored(name, len(data), count, type(value).__name__)
        for name, data, count, value in zip(names, frames, parts, values, strict=True)
    )


def load(name: str, key: Hashable, ttl_s: int):
    """A future's value, read where the task that needs it runs."""
    data = kv_store().get_values([name]).get(name)
    if data is None:
        raise FutureLostError(key, ttl_s)
    return serialization.loads(data)
