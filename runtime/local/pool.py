"""The local stand-in for Lambda's concurrency: an elastic pool of warm worker processes.

Workers are forked from a warm template (``wukong.local.zygote``), so the pool grows within
milliseconds while invocations wait in the queue (as Lambda scales out), up to ``max_workers``; extra
workers exit after a while idle. The in-flight invocation of a worker that died is delivered again,
within Lambda's retry budget, and the worker replaced; workers still in a task of a job that ended are
killed after a grace period (``invocations.py``; each worker says what it runs in ``slots.py``). When the template
itself dies (its workers die with it), the pool delivers their invocations again and starts a new
template, at most TEMPLATE_RESTARTS times within TEMPLATE_RESTART_WINDOW_S; one more death fails the
cluster with one message (``failure``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import threading
import time

from ..config import WukongConfig
from ..errors import WukongError
from ..storage import keys
from ..storage.metadata import MetadataStore, delete_matching
from .invocations import Retries, Stragglers
from .processes import STOP_GRACE_S, describe_exit, runtime_env, wait_gone
from .slots import Slots
from .template import WorkerTemplate

SUPERVISE_INTERVAL_S = 0.02
SUPERVISE_BACKOFF_MAX_S = 5.0  # while Redis fails the supervisor, it retries this often at most
TEMPLATE_RESTARTS = 3
TEMPLATE_RESTART_WINDOW_S = 60.0
SUPERVISOR_STOP_TIMEOUT_S = 15.0  # a restart under way: a template's start-up and its workers' exit
WARM_UP_TIMEOUT_S = 120.0
WARM_IMPORT_TIMEOUT_S = 120.0  # a job's modules imported by the template (scikit-learn: seconds)
EXTRA_WORKER_IDLE_EXIT_S = 30.0
# One BLAS thread per worker: the pool, not BLAS, provides the parallelism (as one Lambda per task).
SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


CPU_WINDOW_S = 0.1
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class PoolCpu:
    """Do the workers wait (sleep, I/O) rather than compute? Over the last CPU_WINDOW_S, the CPU use
    (from /proc/<pid>/stat) of the workers and the cluster's own servers (redis-server, the proxy: a
    worker waiting on a busy Redis is not idle) below half of the cores they could use means more
    workers would run more. Where /proc is missing, always yes (grow on backlog alone)."""

    def __init__(self):
        self.cores = os.cpu_count() or 1
        self.since, self.cpu_s, self.answer, self.backlog_all_along = time.monotonic(), None, False, False

    def workers_wait(self, pids: list[int], backlog: bool) -> bool:
        """True when, over the last full window, ``backlog`` held all along (the pool passes: invocations
        queued while every worker was ready to take one) and the workers still used under half of the
        cores they could: they wait, so more of them would run more."""
        now = time.monotonic()
        self.backlog_all_along = self.backlog_all_along and backlog
        if now - self.since < CPU_WINDOW_S:
            return self.answer
        cpu_s = sum(self.read(pid) for pid in pids)
        if self.cpu_s is not None and pids:
            busy_cores = (cpu_s - self.cpu_s) / (now - self.since)
            self.answer = self.backlog_all_along and busy_cores < 0.5 * min(len(pids), self.cores)
        self.since, self.cpu_s, self.backlog_all_along = now, cpu_s, backlog
        return self.answer

    @staticmethod
    def read(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S
        except (OSError, IndexError, ValueError):
            return 0.0


def pool_size(config: WukongConfig) -> tuple[int, int]:
    """(base, max): two per core to start with; up to 32 (or 4x base) as invocations queue up."""
    base = config.local_workers or 2 * (os.cpu_count() or 1)
    return base, max(base, config.max_local_workers or max(32, 4 * base))


class WorkerPool:
    def __init__(self, config: WukongConfig, redis_client, server_pids=()):
        """``server_pids``: the cluster's redis-server and proxy processes, counted with the workers' CPU."""
        self.server_pids = list(server_pids)
        self.size, self.max_size = pool_size(config)
        self.queue = config.local_queue
        self.redis = redis_client
        self.workers: dict[str, int] = {}  # worker id -> pid, while alive
        self.exited: list[tuple[str, int]] = []  # (worker id, exit code) reported by the template
        self.lock = threading.Lock()
        self.ids = itertools.count()
        mds = MetadataStore(redis_client, config.key_ttl_s)
        self.retries = Retries(mds, self.queue, config.max_retry_attempts)
        self.stragglers = Stragglers(mds)
        self.slots = Slots.create(self.max_size)
        self.free_slots = list(range(self.max_size))[::-1]
        self.slot_of: dict[str, int] = {}  # worker id -> its slot
        self.warmed: set[str] = set()  # modules the template was asked to import (warm)
        self.recycled: set[str] = set()  # workers killed to be forked again from a warmer template
        self.forks = 0
        self.peak_demand = 0  # invocations queued or running, at most, since they began to queue
        self.template_restarts: list[float] = []  # when, within the last TEMPLATE_RESTART_WINDOW_S
        self.failure: str | None = None  # why the pool gave up; the cluster reports it
        self.closing = threading.Event()
        self.env = runtime_env(config, **SINGLE_THREADED, **(self.slots.environment() if self.slots else {}))
        self.template = self.start_template()
        try:
            for _ in range(self.size):
                self.spawn(extra=False)
            self.wait_until_warm()
        except BaseException:
            self.template.close()
            raise
        self.thread = threading.Thread(target=self.supervise, name="wukong-pool", daemon=True)
        self.thread.start()

    def start_template(self) -> WorkerTemplate:
        return WorkerTemplate(self.env, self.on_report, pass_fds=[self.slots.fd] if self.slots else [])

    @property
    def redelivered(self) -> int:
        return self.retries.redelivered

    def spawn(self, extra: bool) -> None:
        worker_id = f"w{next(self.ids)}-{os.getpid()}"
        with self.lock:
            if not self.free_slots:
                return  # as many workers as slots: the pool is at its maximum
            self.workers[worker_id] = 0  # pid arrives with the template's report
            self.slot_of[worker_id] = slot = self.free_slots.pop()
        if self.slots:
            self.slots.clear(slot)
        if self.template.fork(worker_id, EXTRA_WORKER_IDLE_EXIT_S if extra else 0, slot):
            self.forks += 1
        else:  # the template is gone: the supervisor restarts it with a full pool
            with self.lock:
                self.workers.pop(worker_id, None)
                self.free_slots.append(self.slot_of.pop(worker_id))

    def on_report(self, words: list[str]) -> None:
        with self.lock:
            if words[0] == "spawned" and words[1] in self.workers:
                self.workers[words[1]] = int(words[2])
            elif words[0] == "exit":
                self.workers.pop(words[1], None)
                self.exited.append((words[1], int(words[2])))

    def wait_until_warm(self) -> None:
        """Return once every worker pops invocations, so the first job runs warm."""
        deadline = time.monotonic() + WARM_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.redis.scard(keys.ready_workers(self.queue)) >= len(self.workers):
                return
            if self.exited:
                raise WukongError(
                    f"a local worker exited during start-up (exit code {self.exited[0][1]}); "
                    "its error is printed above"
                )
            time.sleep(0.01)
        raise WukongError(f"the local workers did not start within {WARM_UP_TIMEOUT_S:g} s")

    def supervise(self) -> None:
        meter, backlog_seen, failures = PoolCpu(), False, 0
        while not self.closing.wait(
            min(SUPERVISE_INTERVAL_S * 2 ** min(failures, 10), SUPERVISE_BACKOFF_MAX_S)
        ):
            try:
                if self.template.gone.is_set():
                    self.restart_template()
                if self.failure is not None:
                    return
                self.replace_dead_workers()
                backlog_seen = self.grow(meter, backlog_seen)
                self.kill_stragglers()
                failures = 0
            except Exception as exc:  # the pool must outlive a Redis hiccup, without a message per tick
                if not failures and not self.closing.is_set():
                    print(f"wukong: worker pool supervisor (retrying with back-off): {exc}", file=sys.stderr)
                failures += 1

    def grow(self, meter: PoolCpu, backlog_seen: bool) -> bool:
        """Add extra workers while invocations queue and the workers wait, once every worker is ready
        (a worker still starting, or backing off from an unreachable Redis, would not run more);
        whether any invocation queued now. It grows to the largest demand (invocations queued or
        running) since they began to queue, not to what is left of it: the pool takes a window or two
        to see that its workers wait, and the part of a burst that ran meanwhile comes again in the
        next job (the sleep tree's 32 parallel tasks found 30 workers and took a round more)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(self.queue)
        pipe.scard(keys.ready_workers(self.queue))
        backlog, ready = pipe.execute()
        self.peak_demand = max(self.peak_demand, backlog + self.running()) if backlog else 0
        every_worker_ready = ready >= len(self.workers)
        # a window counts only if every worker could take an invocation all along: workers being forked
        # again (warm imports) or replaced use no CPU, yet more of them would not run more
        waiting = meter.workers_wait(self.pids() + self.server_pids, backlog > 0 and every_worker_ready)
        if backlog and backlog_seen and waiting and every_worker_ready:
            for _ in range(min(self.peak_demand, self.max_size) - len(self.workers)):
                self.spawn(extra=True)
        return backlog > 0

    def running(self) -> int:
        """Workers inside an invocation (their slots say so)."""
        if self.slots is None:
            return 0
        with self.lock:
            slots = [self.slot_of[w] for w in self.workers if w in self.slot_of]
        return sum(self.slots.read(slot) is not None for slot in slots)

    def replace_dead_workers(self) -> None:
        with self.lock:
            exited, self.exited = self.exited, []
        for worker_id, code in exited:
            recycled = worker_id in self.recycled
            self.recycled.discard(worker_id)
            self.forget(worker_id, None if recycled else code)  # a recycled one's invocation is not at fault
            if code != 0 or len(self.workers) < self.size:
                self.spawn(extra=len(self.workers) >= self.size)

    def forget(self, worker_id: str, exit_code: int | None) -> None:
        """A worker is gone: its in-flight invocation is delivered again, or not (``invocations.py``).
        ``exit_code`` None: not the invocation's doing (its template died)."""
        self.redis.srem(keys.ready_workers(self.queue), worker_id)
        with self.lock:
            slot = self.slot_of.pop(worker_id, None)
        running = self.slots.read(slot) if self.slots and slot is not None else None
        self.retries.take_back(worker_id, exit_code if exit_code else None, running)
        if slot is not None:
            with self.lock:
                self.free_slots.append(slot)

    def kill_stragglers(self) -> None:
        """Kill the workers still in a task of a job that ended a grace period ago (they are replaced)."""
        if self.slots is None:
            return
        with self.lock:
            busy = {
                pid: self.slots.read(self.slot_of[w])
                for w, pid in self.workers.items()
                if pid and w in self.slot_of
            }
        busy = {
            pid: running for pid, running in busy.items() if running is not None and running.task is not None
        }
        for pid in self.stragglers.to_kill(busy):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restart_template(self) -> None:
        """The template died (killed, out of memory) and its workers with it: deliver their invocations
        again and start a new template with a full pool; or, past the budget, give up (``failure``)."""
        old = self.template
        what = f"the local worker template (pid {old.pid}) {describe_exit(old.exit_code())}"
        with self.lock:
            lost, self.workers, exited, self.exited = self.workers, {}, self.exited, []
        wait_gone([pid for pid in lost.values() if pid], STOP_GRACE_S)  # none pops after its sweep
        for worker_id in [*lost, *(worker_id for worker_id, _ in exited)]:
            self.forget(worker_id, None)
        now = time.monotonic()
        self.template_restarts = [t for t in self.template_restarts if now - t < TEMPLATE_RESTART_WINDOW_S]
        if len(self.template_restarts) >= TEMPLATE_RESTARTS:
            self.failure = (
                f"{what}, its {TEMPLATE_RESTARTS + 1}th death within {TEMPLATE_RESTART_WINDOW_S:g} s, "
                "so the pool stopped restarting it (its error, if it printed one, is above)"
            )
            print(f"wukong: {self.failure}", file=sys.stderr)
            return
        if self.closing.is_set():
            return
        self.template_restarts.append(now)
        print(f"wukong: {what}; starting a new one", file=sys.stderr)
        self.template = self.start_template()
        for _ in range(self.size):
            self.spawn(extra=False)

    def warm(self, modules: list[str]) -> None:
        """Before a job's executors start: have the template import the modules its tasks come from,
        and fork the idle workers again from it, so that no worker imports them itself (on 2 cores,
        a dozen workers each importing scikit-learn took tens of seconds). Each module once."""
        new = [name for name in modules if name not in self.warmed]
        if not new:
            return
        self.warmed.update(new)
        answer = self.template.warm(new, WARM_IMPORT_TIMEOUT_S)
        if answer is None or answer[0] == 0:
            return  # the template died (the supervisor restarts it), or nothing was new to it
        self.recycle_workers()

    def recycle_workers(self) -> None:
        """Replace the workers by new ones forked from the template: the idle ones now, the busy ones
        when they finish their invocation (they see the generation change and leave)."""
        if self.slots is None:
            return
        self.slots.next_generation()
        with self.lock:
            idle = [
                (w, pid)
                for w, pid in self.workers.items()
                if pid and self.slots.read(self.slot_of[w]) is None
            ]
            self.recycled.update(w for w, _ in idle)
        for _, pid in idle:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def pids(self) -> list[int]:
        with self.lock:
            return [pid for pid in self.workers.values() if pid]

    def close(self) -> None:
        """Stop the template and every worker (SIGKILL after a grace period); never raises."""
        self.closing.set()
        if self.thread.is_alive():
            self.thread.join(SUPERVISOR_STOP_TIMEOUT_S)
        self.template.close()
        with self.lock:
            self.workers.clear()
        if self.slots:
            with contextlib.suppress(OSError, ValueError):
                self.slots.close()

    def delete_keys(self) -> None:
        """Remove the pool's queue, in-flight lists and ready set (for an MDS that outlives the cluster)."""
        self.redis.delete(self.queue, keys.ready_workers(self.queue))
        delete_matching(self.redis, keys.inflight(self.queue, "*"))
