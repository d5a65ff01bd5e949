"""The metadata store (MDS): schedules, readiness, claims, results, errors and counters of a job.

What a registration answers and the scripts that decide it are the protocol's
(``protocol/registration.py``); this module runs them and every other MDS command, with the key
formats of ``storage/keys.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from functools import partial

from redis.exceptions import NoScriptError

from ..config import REDIS_MAX_VALUE_BYTES
from ..protocol import registration
from ..protocol.registration import LeaseState, Status
from . import bulk, chunks, keys
from .fastpath import FAST_VALUE_BYTES, FastPath


class MetadataStore:
    """Job bookkeeping on the MDS Redis. ``bytes_written`` counts what this process wrote."""

    def __init__(self, client, ttl_s: int, max_value_bytes: int = REDIS_MAX_VALUE_BYTES, fast: bool = False):
        """``fast``: the executor's hot commands go through ``storage/fastpath.py``."""
        self.redis = client
        self.ttl_s = ttl_s
        self.max_value_bytes = max_value_bytes
        self._register = client.register_script(registration.REGISTER_SCRIPT)
        self._add_stats = client.register_script(registration.STATS_SCRIPT)
        self._lease = client.register_script(registration.LEASE_SCRIPT)
        self._put_result = client.register_script(registration.RESULT_SCRIPT)
        self._put_error = client.register_script(registration.ERROR_SCRIPT)
        self.fast = FastPath(client) if fast else None
        self.bytes_written = 0
        self.bytes_read = 0
        self.result_parts: dict[str, list[str]] = {}  # job -> keys of finals stored in parts, seen read

    # --- scheduler side ---
    def put_schedules(self, job: str, schedules: dict[int, bytes]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.schedules(job), mapping=schedules)
        pipe.expire(keys.schedules(job), self.ttl_s)
        pipe.execute()
        self.bytes_written += sum(len(v) for v in schedules.values())

    def results(self, job: str, tasks: list[int]) -> list[memoryview | bytearray | None]:
        """The finals' values, each in a writable buffer of its own (``storage.bulk``)."""
        heads = bulk.mget(self.redis, [keys.result(job, t) for t in tasks]) if tasks else []
        for task, head in zip(tasks, heads, strict=True):
            count = chunks.part_count(head) if head is not None else None
            if count:
                self.result_parts.setdefault(job, []).extend(
                    keys.result_chunk(job, task, n) for n in range(count)
                )
        values = [
            chunks.whole(head, partial(bulk.mget, self.redis), partial(keys.result_chunk, job, task))
            for task, head in zip(tasks, heads, strict=True)
        ]
        self.bytes_read += sum(len(v) for v in values if v)
        return values

    def subscribe(self, job: str) -> Subscription:
        return Subscription(self.redis, keys.events(job))

    def finished_results(self, job: str, tasks: list[int]) -> set[int]:
        """Which of ``tasks`` have a result stored (to catch up on events the subscription missed)."""
        pipe = self.redis.pipeline(transaction=False)
        for task in tasks:
            pipe.exists(keys.result(job, task))
        return {task for task, present in zip(tasks, pipe.execute(), strict=True) if present}

    def error(self, job: str) -> bytes | None:
        return self.redis.get(keys.error(job))

    def done_tasks(self, job: str) -> set[int]:
        return {int(t) for t in self.redis.smembers(keys.done(job))}

    def stats(self, job: str) -> tuple[dict[str, int], list[dict], int]:
        """(counters, timing records, how many invocations run and have not flushed their counters)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.stats(job))
        pipe.lrange(keys.timings(job), 0, -1)
        pipe.scard(keys.running(job))
        counters, timings, running = pipe.execute()
        return (
            {k.decode(): int(v) for k, v in counters.items()},
            [record for blob in timings for record in json.loads(blob)],
            running,
        )

    def cancel(self, job: str) -> None:
        self.redis.set(keys.cancelled(job), 1, ex=self.ttl_s)

    def delete_job(self, job: str, tasks: int, leaves: Iterable[int]) -> int:
        """Delete every key of a job of ``tasks`` tasks but its cancel flag (which tells stragglers to
        stop), by name: no scan of the keyspace. How many keys there were."""
        names = keys.job_keys(job, tasks, leaves) + self.result_parts.pop(job, [])
        return unlink(self.redis, names)

    # --- executor side ---
    def get_schedules(self, job: str, schedule_ids: list[int]) -> list[bytes | None]:
        """Several schedules in one round trip (an invocation that starts several leaves)."""
        if not schedule_ids:
            return []
        found = self.redis.hmget(keys.schedules(job), schedule_ids)
        self.bytes_read += sum(len(d or b"") for d in found)
        return found

    def get_schedule(self, job: str, schedule_id: int) -> bytes | None:
        data = self.redis.hget(keys.schedules(job), schedule_id)
        self.bytes_read += len(data or b"")
        return data

    def register(
        self,
        job: str,
        task: int,
        dependents: list[tuple[int, int, str]],
        owner: str,
        done: list[int],
        withhold: bool,
        before=None,
    ) -> list[Status] | None:
        """Register ``task`` on each (dependent, dependency count, delegate owner); None if cancelled.

        Withhold mode registers only where it completes the set, and marks the rest as held (delayed I/O).
        ``before`` (a ``kvs.PipelinedWrite``) goes first on this connection, in one round trip.
        """
        script_keys, args = registration.register_call(
            done_key=keys.done(job),
            cancelled_key=keys.cancelled(job),
            dependents=[
                (keys.registered(job, d), keys.claim(job, d), keys.held(job, d), count, delegate)
                for d, count, delegate in dependents
            ],
            task=task,
            owner=owner,
            ttl_s=self.ttl_s,
            withhold=withhold,
            done=done,
            wake_prefix=keys.wake_prefix(job),
        )
        stored, reply = self.run(self._register, script_keys, args, before)
        if before is not None:
            before.answer(stored)
        return registration.parse_statuses(reply)

    def run(self, script, script_keys: list, args: list, before=None):
        """(``before``'s reply or None, the script's reply): ``before`` (a ``kvs.PipelinedWrite``) and the
        script in one round trip, on the fast path when this store has one and the values are small."""
        fast = self.fast is not None and all(fits_fast_path(a) for a in args)
        if fast and (before is None or fits_fast_path(before.data)):
            return self.fast.script(script, script_keys, args, before.command() if before else None)
        if before is None:
            return None, script(keys=script_keys, args=args)
        pipe = self.redis.pipeline(transaction=False)
        before.queue(pipe)
        pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
        stored, reply = pipe.execute(raise_on_error=False)
        if isinstance(stored, Exception):
            raise stored
        if isinstance(reply, NoScriptError):  # first use on this server: the SET ran
            reply = script(keys=script_keys, args=args)
        elif isinstance(reply, Exception):
            raise reply
        return stored, reply

    def lease(self, job: str, owner: str, delivery: str, ttl_ms: int) -> tuple[LeaseState, int]:
        """Take or renew the run lease of invocation ``owner``: (OK, HELD by another delivery, DONE or
        CANCELLED; this delivery's attempt number when it took the lease fresh, else 0)."""
        _, (state, attempt) = self.run(
            self._lease,
            [keys.lease(job, owner), keys.running(job), keys.cancelled(job), keys.attempts(job, owner)],
            [delivery, ttl_ms, owner, self.ttl_s],
        )
        return LeaseState(state.decode()), int(attempt)

    def wait_for_wake(self, job: str, held: list[int], timeout_s: float) -> int | None:
        """Block until a registration wakes one of the ``held`` tasks' executors, or the timeout."""
        reply = self.redis.blpop([keys.wake(job, t) for t in held], timeout=timeout_s)
        return None if reply is None else keys.woken_task(reply[0].decode())

    def claims(self, job: str, tasks: list[int]) -> list[str | None]:
        return [
            None if v is None else v.decode() for v in self.redis.mget([keys.claim(job, t) for t in tasks])
        ]

    def delegate(self, job: str, delegates: list[tuple[int, str]]) -> None:
        """Hand claimed tasks to the invocations about to be started for them (before invoking them)."""
        pipe = self.redis.pipeline(transaction=False)
        for task, delegate in delegates:
            pipe.set(keys.claim(job, task), delegate, xx=True, ex=self.ttl_s)
        pipe.execute()

    def put_result(self, job: str, task: int, data, done: list[int]) -> bool | None:
        """Store a final (in parts when it is over the value limit: finals must reach the client) and
        announce it. The first value stored wins: True if it was this one, False if another delivery's
        was there already, None if the job ended (nothing stored)."""
        head, parts = chunks.split(data, self.max_value_bytes)
        if parts and self.redis.exists(keys.cancelled(job)):
            return None
        for number, part in enumerate(parts):
            self.redis.set(keys.result_chunk(job, task, number), part, ex=self.ttl_s, nx=True)
        _, answer = self.run(
            self._put_result,
            [keys.result(job, task), keys.done(job), keys.cancelled(job)],
            [head, self.ttl_s, ",".join(map(str, done)), keys.events(job), json.dumps({"final": task})],
        )
        self.bytes_written += len(data)
        return None if answer == 0 else answer == 1

    def put_error(self, job: str, record: bytes, done: list[int]) -> bool:
        """Store the job's first error and end the job; False if it had ended already."""
        _, answer = self.run(
            self._put_error,
            [keys.error(job), keys.cancelled(job), keys.done(job)],
            [record, self.ttl_s, ",".join(map(str, done)), keys.events(job), json.dumps({"error": True})],
        )
        return bool(answer)

    def add_stats(
        self,
        job: str,
        counters: dict[str, int],
        timings: list[dict],
        done: list[int],
        finished_owner: str | None = None,
    ) -> None:
        """One command: a script adds every counter, the timings, the done tasks (atomic, as MULTI was);
        nothing if the job ended."""
        self.run(
            self._add_stats,
            [
                keys.stats(job),
                keys.timings(job),
                keys.done(job),
                keys.lease(job, finished_owner or ""),
                keys.running(job),
                keys.cancelled(job),
            ],
            [
                self.ttl_s,
                json.dumps({k: v for k, v in counters.items() if v}),
                json.dumps(timings) if timings else "",
                ",".join(map(str, done)),
                "1" if finished_owner is not None else "0",
                finished_owner or "",
            ],
        )


UNLINK_BATCH = 5000


def fits_fast_path(value) -> bool:
    """A command argument the fast path packs: plain text or numbers, or bytes of a small value."""
    if isinstance(value, str | int | float):
        return True
    return isinstance(value, bytes | bytearray | memoryview) and len(value) <= FAST_VALUE_BYTES


def unlink(client, names: list[str]) -> int:
    """Delete these keys (asynchronously in the server), in batches; how many existed."""
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(names), UNLINK_BATCH):
        pipe.unlink(*names[start : start + UNLINK_BATCH])
    return sum(pipe.execute()) if names else 0


def delete_matching(client, pattern: str, keep=frozenset()) -> int:
    deleted = 0
    batch = []
    for key in client.scan_iter(match=pattern, count=1000):
        if key in keep:
            continue
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


class Subscription:
    """The job's event channel: ``{"final": task}`` and ``{"error": true}`` messages."""

    CONFIRM_TIMEOUT_S = 5.0

    def __init__(self, client, channel: str):
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(channel)
        # Wait for the server's confirmation, so no event published after this returns is missed.
        deadline = time.monotonic() + self.CONFIRM_TIMEOUT_S
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.1)
            if message and message.get("type") == "subscribe":
                break

    def next_event(self, timeout_s: float) -> dict | None:
        message = self.pubsub.get_message(timeout=timeout_s)
        if message is None or message.get("type") != "message":
            return None
        return json.loads(message["data"])

    def close(self) -> None:
        self.pubsub.close()
