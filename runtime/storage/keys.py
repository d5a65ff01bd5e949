"""Every Redis key and channel name Wukong uses. Nothing else in the code formats a key.

Tasks are named by their integer index in the job's DAG (``Dag.keys[i]`` is the dask key), which keeps
keys short and independent of dask's key names. Every per-job key starts with ``wk:{job}:`` and is
written with the TTL ``key_ttl_s``; when the job ends they are deleted by name (``job_keys``,
``outputs``), with no scan of the keyspace.
"""

from __future__ import annotations

import hashlib

from ..protocol.payload import invoked_owner, leaf_owner


def inflight(queue: str, worker: str) -> str:
    """Local mode: the invocation a worker is running, moved back to the queue if the worker dies."""
    return f"{queue}:inflight:{worker}"


def job_pattern(job: str) -> str:
    """Every key of a job, for inspection (tests, debugging); clean-up deletes by name."""
    return f"wk:{job}:*"


def job_keys(job: str, tasks: int, leaves) -> list[str]:
    """Every MDS key a job of ``tasks`` tasks can have but its cancel flag and final parts."""
    names = [schedules(job), done(job), error(job), stats(job), timings(job), running(job)]
    per_task = (registered, claim, held, wake, result)
    names += [key(job, task) for task in range(tasks) for key in per_task]
    owners = [leaf_owner(leaf) for leaf in leaves] + [invoked_owner(task) for task in range(tasks)]
    names += [key(job, owner) for owner in owners for key in (lease, attempts)]
    return names


def schedules(job: str) -> str:
    """A hash: schedule id -> serialized schedule (MDS)."""
    return f"wk:{job}:sched"


def held(job: str, task: int) -> str:
    """The set of ``task``'s dependencies whose producers hold their output back (delayed I/O) (MDS)."""
    return f"wk:{job}:held:{task}"


def output(job: str, task: int) -> str:
    """A task's serialized output in the KVS."""
    return f"wk:{job}:out:{task}"


def output_pattern(job: str) -> str:
    """Every output of a job, its parts included (only outputs split in parts need a scan)."""
    return f"wk:{job}:out:*"


def output_chunk(job: str, task: int, part: int) -> str:
    return f"wk:{job}:out:{task}:{part}"


def registered(job: str, task: int) -> str:
    """The set of task's dependencies that have registered completion (MDS)."""
    return f"wk:{job}:reg:{task}"


def claim(job: str, task: int) -> str:
    """Which invocation owns running ``task`` (MDS); set by the registration that completed the set."""
    return f"wk:{job}:claim:{task}"


def done(job: str) -> str:
    """The set of tasks that completed (MDS); the watchdog reports the others."""
    return f"wk:{job}:done"


def result(job: str, task: int) -> str:
    """A requested key's serialized result (MDS)."""
    return f"wk:{job}:result:{task}"


def result_chunk(job: str, task: int, part: int) -> str:
    return f"wk:{job}:result:{task}:{part}"


def error(job: str) -> str:
    """The job's first task error (MDS), set once."""
    return f"wk:{job}:error"


def wake_prefix(job: str) -> str:
    return f"wk:{job}:wake:"


def wake(job: str, task: int) -> str:
    """A list the registration script pushes to when a dependent that ``task`` holds back gains an input."""
    return f"{wake_prefix(job)}{task}"


def woken_task(wake_key: str) -> int:
    """The task of a :func:`wake` key."""
    return int(wake_key.rsplit(":", 1)[1])


def lease(job: str, owner: str) -> str:
    """Which delivery of invocation ``owner`` is running it ("done" once one finished) (MDS)."""
    return f"wk:{job}:lease:{owner}"


def attempts(job: str, owner: str) -> str:
    """How many deliveries of invocation ``owner`` took its lease (MDS): 2 and more are retries."""
    return f"wk:{job}:attempts:{owner}"


def running(job: str) -> str:
    """The set of invocations (owners) that took their lease and have not flushed their counters (MDS)."""
    return f"wk:{job}:running"


def cancelled(job: str) -> str:
    return f"wk:{job}:cancelled"


def stats(job: str) -> str:
    """A hash of counters (invocations, tasks, bytes) that executors increment (MDS)."""
    return f"wk:{job}:stats"


def timings(job: str) -> str:
    """A list of per-task records (task, executor, start, end) (MDS)."""
    return f"wk:{job}:timings"


def events(job: str) -> str:
    """The pub/sub channel on which executors announce finals and errors."""
    return f"wk:{job}:events"


def session_value(session: str, key) -> str:
    """A future's value in the KVS (``wk:session:<session>:<digest of the dask key>``): written by the
    task that stores it (first writer wins) or by ``scatter``, with the TTL ``session_ttl_s`` that the
    client renews; deleted when no Future refers to it and when the client closes. The digest keeps
    the name short and printable whatever the key (tuples, long strings)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()
    return f"wk:session:{session}:{digest}"


def session_value_part(name: str, part: int) -> str:
    """Part ``part`` of a future's value over the KVS value limit (``chunk_large_tasks``)."""
    return f"{name}:{part}"


def session_pattern(session: str) -> str:
    """Every value of a session: swept when the client closes (a store task that ended late)."""
    return f"wk:session:{session}:*"


def local_queue(cluster_token: str) -> str:
    """Local mode: the Redis list one cluster's workers pop invocations from."""
    return f"wk:invocations:{cluster_token}"


def test_fault_marker(job: str, owner: str) -> str:
    """Test-only: the fault hook killed this invocation once already."""
    return f"wk:test:killed:{job}:{owner}"


def ready_workers(queue: str) -> str:
    """Local mode: the set of workers that have warmed up and are popping invocations."""
    return f"{queue}:ready"
