"""Run one job: store its schedules, invoke one executor per leaf, wait for the finals, clean up.

The scheduler never runs a task and never loops over the DAG while it runs: the executors schedule
each other. It only listens on the job's channel for finals and errors, and enforces the deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from concurrent.futures import Future

from .. import platforms
from ..diagnostics.report import JobReport, build_report
from ..errors import InvocationFailedError, JobTimeoutError, RedisUnreachableError
from ..protocol import counters as names
from ..protocol import payload as wire
from ..storage import serialization, task_errors
from ..storage.connect import MDS_ROLE
from .dag import Dag
from .schedules import build_schedules, encode_schedules, partition
from .user_code import by_value

POLL_INTERVAL_S = 1.0  # how often to look for results whose announcement was missed
PROGRESS_TICK_S = 0.1  # how often progress callbacks hear from a running job
STATS_WAIT_S = 10.0  # bound on waiting for the last executors' counters (a loaded machine flushes late)
# When the KV store is swept once more after a job ended: longer than a lease renewal (stragglers learn
# of the cancel flag) plus the local pool's grace period for tasks still running.
STRAGGLER_SWEEP_S = 5.0


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def run_job(
    dag: Dag,
    stores,
    invoker,
    config,
    *,
    use_proxy: bool = False,
    on_progress=None,
    keep_keys: bool = False,
    job: str | None = None,
    check=None,
    failures=None,
    concurrency_limit: int = 0,
    durations=None,
    leaf_invocations: int = 0,
) -> tuple[dict[int, object], Future[JobReport]]:
    """Compute every final of ``dag``; returns ({task id: value}, the job's report to come). Raises a
    task's exception. ``stores`` are the job's: their KV-store node list goes to every executor. ``check()``, called every POLL_INTERVAL_S while the job runs, raises when the
    cluster can no longer run it (``LocalCluster.check``: a process of it died, or it was closed).

    The values return as soon as the finals are read. Collecting the executors' counters (they flush
    theirs after announcing their last final) and deleting the job's keys happen in a background
    thread that completes the report: neither is on the path of the user's result. ``keep_keys``
    leaves the job's Redis keys in place for tests and debugging to inspect. ``failures`` (AWS: the
    cluster's watcher of the executor's on-failure queue) ends the wait as soon as Lambda gives up on
    one of the job's events; ``concurrency_limit`` (executors the platform runs at once) goes into the
    report, which says whether the job was throttled. ``leaf_invocations``: at most this many leaf
    invocations, each starting several leaves when there are more (0: one per leaf); ``durations``:
    the client's task durations, written into the schedules and learned from this job's timings."""
    started = time.perf_counter()
    job = job or new_job_id()
    part = partition(dag)
    with by_value(not platforms.executors_import_client_modules(config)):  # the tasks are pickled here
        encoded = encode_schedules(build_schedules(dag, part, durations))
    settings = wire.JobSettings.from_config(config, use_proxy, stores.kvs_nodes)
    mds = stores.mds
    mds_written_before, mds_read_before = mds.bytes_written, mds.bytes_read
    subscription = mds.subscribe(job)
    if failures is not None:
        failures.watch(job)
    throttles_before = invoke_throttles(invoker)
    try:
        mds.put_schedules(job, encoded)
        batches = leaf_batches(list(zip(dag.leaves, part.leaf_paths, strict=True)), leaf_invocations)
        payloads = [leaf_payload(job, batch, encoded[batch[0][1]], settings) for batch in batches]
        invoker.invoke(payloads)  # the leaf burst: one RPUSH locally; on AWS Invoke calls (platforms)
        values = wait_for_finals(
            job,
            dag,
            mds,
            subscription,
            time.monotonic() + config.job_timeout_s,
            config.job_timeout_s,
            on_progress,
            check,
            failures,
        )
    except BaseException as error:  # a task's error, the deadline, Ctrl-C, KeyboardInterrupt in Jupyter
        end_failed_job(job, dag, stores, keep_keys, error)
        raise
    finally:
        subscription.close()
        if failures is not None:
            failures.forget(job)
    wall_s = time.perf_counter() - started
    client_bytes = {
        names.MDS_BYTES_WRITTEN: mds.bytes_written - mds_written_before,
        names.MDS_BYTES_READ: mds.bytes_read - mds_read_before,
    }
    throttles = invoke_throttles(invoker) - throttles_before

    def finish() -> JobReport:
        counters, timings = collect_stats(mds, job, len(payloads))
        if durations is not None:
            durations.learn(timings)  # the next jobs' estimates (``durations.py``)
        kvs_keys = end_job(job, dag, stores, keep_keys)
        return build_report(
            job,
            wall_s,
            len(payloads),
            counters,
            timings,
            client_bytes,
            kvs_keys,
            config=config,
            concurrency_limit=concurrency_limit,
            invoke_throttles=throttles,
        )

    return values, in_background(finish, name=f"wukong-job-{job}")


def invoke_throttles(invoker) -> int:
    """Invoke calls Lambda answered with a throttle so far (LambdaInvoker counts them; 0 elsewhere)."""
    return getattr(invoker, "throttled_calls", 0)


def end_job(job: str, dag: Dag, stores, keep_keys: bool, lost_nodes=frozenset()) -> dict[str, int]:
    """End the job: cancel it first (executors stop before their next task; the MDS scripts refuse its
    writes; local workers still in its tasks are killed after a grace period), then delete its keys
    (unless kept; not on ``lost_nodes``, KVS addresses known unreachable) and, once stragglers had time
    to stop, its KV-store outputs again (the KVS nodes do not hold the cancel flag; an executor learns
    of it within a lease renewal). How many outputs each KVS node held."""
    stores.mds.cancel(job)
    if keep_keys:
        return {}
    stores.mds.delete_job(job, len(dag), dag.leaves)
    kvs_keys = stores.kvs.delete_job(job, len(dag), skip=lost_nodes)
    sweep = threading.Timer(STRAGGLER_SWEEP_S, sweep_outputs, (stores.kvs, job, len(dag), lost_nodes))
    sweep.daemon = True
    sweep.start()
    return kvs_keys


def end_failed_job(job: str, dag: Dag, stores, keep_keys: bool, error: BaseException) -> None:
    """Clean up after a failed job, best effort: the job's own error is what the user must see. A node
    that is unreachable is not waited for again; its keys expire (key_ttl_s)."""
    lost = error if isinstance(error, RedisUnreachableError) else None
    if lost is not None and lost.role == MDS_ROLE:
        return
    with contextlib.suppress(RedisUnreachableError):
        end_job(job, dag, stores, keep_keys, lost_nodes={lost.address} if lost else frozenset())


def sweep_outputs(kvs, job: str, tasks: int, lost_nodes) -> None:
    """Delete outputs a straggler wrote after the job ended; best effort (the cluster may be gone, and
    the keys expire anyway)."""
    with contextlib.suppress(Exception):
        kvs.delete_job(job, tasks, skip=lost_nodes)


def in_background(function, name: str) -> Future:
    """Run ``function`` in a daemon thread; its result (or exception) arrives in the future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the report
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def leaf_batches(leaves: list[tuple[int, int]], invocations: int) -> list[list[tuple[int, int]]]:
    """(leaf, path) pairs in at most ``invocations`` batches of neighbours (0: one each). Leaves beyond
    what the platform runs at once would only queue; one invocation starting several of them saves
    what each invocation costs, and neighbours in the graph's order often feed the same tasks."""
    if not invocations or len(leaves) <= invocations:
        return [[leaf] for leaf in leaves]
    size, extra = divmod(len(leaves), invocations)
    batches, start = [], 0
    for i in range(invocations):
        end = start + size + (i < extra)
        batches.append(leaves[start:end])
        start = end
    return batches


def leaf_payload(job: str, batch: list[tuple[int, int]], schedule: bytes, settings: wire.JobSettings) -> dict:
    """The payload of one leaf invocation: its first leaf's schedule inline when it fits; the further
    leaves (``more``) and their schedules' ids, which the executor reads in one round trip."""
    (leaf, path), more = batch[0], batch[1:]
    more_bytes = len(wire.encode([list(pair) for pair in more])) if more else 0
    fits = len(schedule) <= wire.payload_room(settings.max_payload_bytes - more_bytes)
    payload = wire.invocation(
        job, wire.leaf_owner(leaf), leaf, path, settings, schedule=schedule if fits else None
    )
    if more:
        payload["more"] = [list(pair) for pair in more]
    return payload


def wait_for_finals(
    job: str,
    dag: Dag,
    mds,
    subscription,
    deadline: float,
    timeout_s: float,
    on_progress=None,
    check=None,
    failures=None,
) -> dict[int, object]:
    """The finals' values, each read as soon as it is announced (while the rest still run). Raises
    InvocationFailedError as soon as ``failures`` reports an event of this job Lambda gave up on."""
    values: dict[int, object] = {}
    remaining = set(dag.finals)
    last_poll = time.monotonic()
    while remaining:
        now = time.monotonic()
        if now >= deadline:
            missing = sorted(set(range(len(dag))) - mds.done_tasks(job))
            raise JobTimeoutError(job, timeout_s, [dag.keys[t] for t in missing])
        failed = failures.failure(job) if failures is not None else None
        if failed is not None:
            key = dag.keys[failed.start] if 0 <= failed.start < len(dag) else failed.start
            raise InvocationFailedError(
                job, key, failed.owner, failed.condition, failed.attempts, failed.error
            )
        tick = POLL_INTERVAL_S if on_progress is None else PROGRESS_TICK_S
        event = subscription.next_event(min(tick, deadline - now))
        arrived = set()
        if event is not None and "final" in event:
            arrived.add(event["final"])
        elif event is not None and "error" in event:
            raise task_errors.exception(mds.error(job), dag.keys.__getitem__)
        if event is None or time.monotonic() - last_poll >= POLL_INTERVAL_S:
            last_poll = time.monotonic()
            if check is not None:
                check()
            error = mds.error(job)
            if error is not None:
                raise task_errors.exception(error, dag.keys.__getitem__)
            arrived |= mds.finished_results(job, sorted(remaining))
        if arrived & remaining:
            tasks = sorted(arrived & remaining)
            values.update(zip(tasks, map(serialization.loads, mds.results(job, tasks)), strict=True))
            remaining -= arrived
        if on_progress is not None:
            on_progress(job)
    return values


def collect_stats(mds, job: str, leaves: int, wait_s: float = STATS_WAIT_S):
    """Counters of every invocation; an executor flushes its own after announcing its last final, so
    wait (bounded) until they are all in (``protocol.counters.all_flushed``)."""
    deadline = time.monotonic() + wait_s
    while True:
        counters, timings, running = mds.stats(job)
        if names.all_flushed(counters, leaves, running) or time.monotonic() >= deadline:
            return counters, timings
        time.sleep(0.005)
