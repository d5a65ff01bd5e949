"""The executor: one invocation runs its schedule and cooperates with the others through the MDS.

It takes its ``stores`` and ``invoker`` as arguments and never asks which platform it is on; the
Lambda handler and the local worker are thin wrappers around :func:`run_invocation`.

State of one invocation (all plain data):
  tasks:    {task id: TaskInfo} known from the schedules loaded so far
  cache:    {task id: value} outputs held in memory
  encoded:  {task id: bytes | Frames} serialized outputs, kept while their value is kept
  written:  {task id} outputs durable in the KV store
  keep:     {task id: {dependent}} local consumers each cached output still waits for
  ready:    [task id] a stack of claimed tasks to run here (top = next)
  delayed:  {task id: (pending dependents, Backoff)} big outputs withheld (delayed I/O)
  blocked:  {task id: {input}} (retries only) tasks waiting for an input of ours not computed yet
"""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from collections import defaultdict

from ..errors import VersionMismatchError
from ..invokers.base import unb64
from ..protocol import payload as wire
from ..protocol.schedule import decode_schedule
from ..protocol.task_group import GroupMemberFailed, TaskGroup
from ..storage import serialization
from . import decisions, lease
from .decisions import Backoff
from .faults import fault_point

log = logging.getLogger("wukong.executor")
PAYLOAD_OVERHEAD_BYTES = 4096  # room for the JSON around inline inputs


class Stop(Exception):
    """The job was cancelled or failed: this invocation stops quietly."""


class Invocation:
    def __init__(self, payload: dict, stores, invoker, proxy=None, clock=time.time):
        self.job = payload["job"]
        self.owner = payload["owner"]
        self.payload = payload
        self.settings = wire.JobSettings(**payload["settings"])
        self.mds, self.kvs = stores.mds, stores.kvs
        self.invoker, self.proxy, self.clock = invoker, proxy, clock
        self.tasks: dict = {}
        self.cache: dict = {}
        self.encoded: dict[int, bytes | serialization.Frames] = {}
        self.written: set[int] = set()
        self.keep: dict[int, set[int]] = defaultdict(set)
        self.ready: list[int] = []
        self.delayed: dict[int, tuple[set[int], Backoff]] = {}
        self.blocked: dict[int, set[int]] = {}  # task -> inputs of ours it waits for (retries only)
        self.waiting_on: dict[int, set[int]] = defaultdict(set)
        self.scheduled: set[int] = set()  # every task queued here so far, run or not
        self.ran: set[int] = set()
        self.loaded_schedules: set[int] = set()
        self.done: list[int] = []  # completed tasks not yet reported to the MDS
        self.counters: dict[str, int] = defaultdict(int)
        self.timings: list[dict] = []
        self.io_before = self.io_counters()  # the stores outlive the invocation in a warm process

    # --- the run loop ---
    def run(self) -> None:
        started = self.clock()
        self.counters["invocations"] += 1
        delivery = lease.new_delivery_id()
        if lease.acquire(self.mds, self.job, self.owner, delivery) != "ok":
            self.counters["duplicates_dropped"] += 1
            self.flush_stats()
            return
        # The client waits for these to add up before it reads the counters (job.collect_stats).
        self.counters["leaf_invocations_run" if wire.is_leaf_owner(self.owner) else "invoked_run"] += 1
        lease.KEEPER.hold(self.mds, self.job, self.owner, delivery)
        try:
            if self.payload.get("py") != wire.PY_VERSION:
                raise VersionMismatchError(self.payload.get("py", "?"), wire.PY_VERSION)
            self.load_start()
            while self.ready or self.delayed:
                if self.ready:
                    self.run_task(self.ready.pop())
                self.check_delayed(wait=not self.ready)
            if self.blocked:
                raise RuntimeError(f"tasks wait for inputs nobody will compute: {self.blocked}")
        except Stop:
            pass
        except Exception as exc:  # an infrastructure failure: fail the job fast, with the cause
            self.report_error(None, exc)
        finally:
            lease.KEEPER.release()
            self.counters["executor_ms"] += int((self.clock() - started) * 1000)
            self.flush_stats(finished=True)

    def load_start(self) -> None:
        if "sched_b64" in self.payload:
            self.add_schedule(decode_schedule(unb64(self.payload["sched_b64"])))
        else:
            self.load_schedule(self.payload["sched"])
        for task, data in self.payload.get("inputs", {}).items():
            raw = unb64(data)
            self.cache[int(task)] = serialization.loads(raw)
            self.encoded[int(task)] = raw
        start = self.payload["start"]
        self.scheduled.add(start)
        for dep in self.tasks[start].dependencies:
            if dep in self.cache:
                self.keep[dep].add(start)
        self.ready.append(start)

    # --- schedules ---
    def add_schedule(self, schedule) -> None:
        self.loaded_schedules.add(schedule.id)
        for info in schedule.tasks:
            self.tasks.setdefault(info.id, info)

    def load_schedule(self, schedule_id: int) -> None:
        if schedule_id in self.loaded_schedules:
            return
        data = self.mds.get_schedule(self.job, schedule_id)
        if data is None:
            raise Stop()  # the job ended and its keys are gone
        self.add_schedule(decode_schedule(data))

    def know_dependents(self, info) -> None:
        if any(d not in self.tasks for d in info.dependents):
            self.load_schedule(info.path)
        missing = [d for d in info.dependents if d not in self.tasks]
        if missing:
            raise RuntimeError(f"schedule {info.path} lacks dependents {missing} of task {info.id}")

    # --- running one task ---
    def run_task(self, task: int) -> None:
        info = self.tasks[task]
        inputs = self.gather_inputs(info)
        if inputs is None:
            return
        fault_point("before_task", self, task)
        try:
            value = self.compute(info, inputs)
        except GroupMemberFailed as failed:
            self.report_error(failed.key, failed.error)
            raise Stop() from failed.error
        except Exception as exc:
            self.report_error(info.key, exc)
            raise Stop() from exc
        self.ran.add(task)
        for dep in info.dependencies:
            self.consumed(dep, task)
        self.done.append(task)
        fault_point("after_task", self, task)
        self.finish(info, value)

    def compute(self, info, inputs: dict):
        """The task's value; a task group runs its members here, each timed and counted as a task."""

        def done(key, begin: float, end: float) -> None:
            self.counters["tasks"] += 1
            self.timings.append(
                {"task": info.id, "key": str(key), "owner": self.owner, "start": begin, "end": end}
            )

        if isinstance(info.spec, TaskGroup):
            return info.spec.run(self.clock, done, inputs)
        begin = self.clock()
        value = info.spec(inputs)
        done(info.key, begin, self.clock())
        return value

    def gather_inputs(self, info) -> dict | None:
        """The task's inputs from memory and the KV store; None if it must wait for one of ours (a retry)."""
        missing = [d for d in info.dependencies if d not in self.cache]
        fetched = {}
        if missing:
            for dep, data in self.kvs.get_outputs(self.job, missing).items():
                fetched[dep] = serialization.loads(data)
            absent = [d for d in missing if d not in fetched]
            if absent:
                self.block(info.id, absent)
                return None
        elif info.dependencies:
            self.counters["tasks_local_input"] += 1
        return {
            key: (self.cache[d] if d in self.cache else fetched[d])
            for d, key in zip(info.dependencies, info.dependency_keys, strict=True)
        }

    def block(self, task: int, absent: list[int]) -> None:
        """A retry re-runs what its first delivery claimed, in an order that may differ: a task can come up
        before an input that the first delivery computed here and never wrote. That input is ours to
        compute again, so the task waits for it. Any other absent input is a protocol violation."""
        not_ours = [
            d
            for d, owner in zip(absent, self.mds.claims(self.job, absent), strict=True)
            if owner != self.owner and d != self.payload["start"]
        ]
        if not_ours:
            raise KeyError(
                f"outputs of tasks {not_ours} are missing from the KV store (job {self.job}); "
                f"task {task} cannot run"
            )
        self.blocked[task] = set(absent)
        for dep in absent:
            self.waiting_on[dep].add(task)

    def unblock(self, done: int) -> None:
        for task in self.waiting_on.pop(done, ()):
            self.blocked[task].discard(done)
            self.keep[done].add(task)
            if not self.blocked[task]:
                del self.blocked[task]
                self.ready.append(task)

    def run_here(self, task: int, producer: int) -> None:
        """Queue a claimed task to run in this invocation, once: a retry hears of the same claim from
        each of the task's dependencies that it registers again."""
        if task in self.ran:
            return
        self.keep[producer].add(task)  # even if queued already: it must find this output here
        if task not in self.scheduled:
            self.scheduled.add(task)
            self.ready.append(task)

    def consumed(self, dep: int, task: int) -> None:
        consumers = self.keep.get(dep)
        if consumers is not None:
            consumers.discard(task)
        self.release_if_unused(dep)

    def release_if_unused(self, task: int) -> None:
        if not self.keep.get(task) and task not in self.delayed:
            self.keep.pop(task, None)
            self.cache.pop(task, None)
            self.encoded.pop(task, None)

    # --- after a task: results, registration, fan-out ---
    def finish(self, info, value) -> None:
        task = info.id
        self.cache[task] = value
        self.unblock(task)
        if info.final:
            data = self.encode(task)
            self.mds.put_result(self.job, task, data, self.take_done())
            self.counters["mds_bytes_written"] += len(data)
        if not info.dependents:
            self.release_if_unused(task)
            return
        self.know_dependents(info)
        counts = [len(self.tasks[d].dependencies) for d in info.dependents]
        big = self.settings.task_clustering and self.size_of(task) > self.settings.big_task_threshold
        if big:
            self.adopt_held_siblings(info)
        before = None
        if decisions.writes_before_registering(counts, big) and task not in self.written:
            before = self.kvs.pipelined_put(self.job, task, self.encode(task), self.mds.redis)
            if before is None:
                self.write(task)
            else:
                self.written.add(task)
                self.counters["kvs_writes"] += 1
        statuses = self.register(task, list(info.dependents), withhold=big, before=before)
        self.act(info, decisions.plan_fanout(list(info.dependents), statuses, become=info.become, big=big))

    def act(self, info, plan: decisions.Fanout) -> None:
        task = info.id
        for dependent in reversed(plan.run_locally):
            self.run_here(dependent, task)
        if plan.invoke:
            # Delegate first: a retry of this invocation then invokes these again instead of running them.
            self.mds.delegate(self.job, [(d, wire.invoked_owner(d)) for d in plan.invoke])
        if plan.invoke or plan.reinvoke:
            self.invoke(plan.invoke + plan.reinvoke)
        if plan.withheld:
            if plan.write_now:
                self.give_up(task, set(plan.withheld))
            else:
                self.delayed[task] = (
                    set(plan.withheld),
                    Backoff(self.clock(), self.settings.delayed_io_max_wait_s),
                )
                self.counters["delayed_io"] += 1
        self.release_if_unused(task)

    def adopt_held_siblings(self, info) -> None:
        """A dependent whose other inputs this executor holds back (delayed I/O) completes here: register
        those held outputs on it first; nobody else can complete its set, as ``info``'s output is ours."""
        for dependent in info.dependents:
            others = [d for d in self.tasks[dependent].dependencies if d != info.id]
            if not others or not all(o in self.delayed and dependent in self.delayed[o][0] for o in others):
                continue
            for other in others:
                pending, _ = self.delayed[other]
                pending.discard(dependent)
                self.register(other, [dependent], withhold=False)
                self.keep[other].add(dependent)
                if not pending:
                    del self.delayed[other]

    def register(self, task: int, dependents: list[int], withhold: bool, before=None) -> list[int]:
        pairs = [(d, len(self.tasks[d].dependencies), wire.invoked_owner(d)) for d in dependents]
        fault_point("before_register", self, task)
        statuses = self.mds.register(
            self.job, task, pairs, self.owner, self.take_done(), withhold, before=before
        )
        if statuses is None:
            raise Stop()
        return statuses

    # --- delayed I/O ---
    def check_delayed(self, wait: bool) -> None:
        if not self.delayed:
            return
        now = self.clock()
        if wait:
            next_check = min(backoff.next_check for _, backoff in self.delayed.values())
            if next_check > now:
                woken = self.mds.wait_for_wake(self.job, list(self.delayed), next_check - now)
                now = self.clock()
                if woken in self.delayed:
                    self.delayed[woken][1].next_check = now  # a registration changed its dependents
        for task in list(self.delayed):
            pending, backoff = self.delayed[task]
            if backoff.expired(now):
                del self.delayed[task]
                self.give_up(task, pending)
            elif backoff.due(now):
                backoff.step(now)
                self.recheck(task, pending)

    def recheck(self, task: int, pending: set[int]) -> None:
        dependents = sorted(pending)
        statuses = self.register(task, dependents, withhold=True)
        plan = decisions.plan_fanout(dependents, statuses, become=None, big=True)
        pending.intersection_update(plan.withheld)
        if plan.write_now or not pending:
            del self.delayed[task]
        if plan.write_now:
            self.write(task)  # now, while the value is surely held
        self.act(self.tasks[task], dataclasses.replace(plan, withheld=()))
        if plan.write_now:
            self.give_up(task, pending)

    def give_up(self, task: int, pending: set[int]) -> None:
        """Stop waiting: write the output first, register second (never the other order)."""
        self.write(task)
        dependents = sorted(pending)
        statuses = self.register(task, dependents, withhold=False)
        plan = decisions.plan_fanout(dependents, statuses, become=None, big=True)
        self.act(self.tasks[task], dataclasses.replace(plan, withheld=()))

    # --- invoking other executors ---
    def invoke(self, dependents) -> None:
        self.counters["invoked"] += len(dependents)
        if (
            self.proxy is not None
            and self.settings.use_proxy
            and len(dependents) >= self.settings.max_task_fanout
        ):
            self.invoke_through_proxy(dependents)
            self.counters["proxy_fanouts"] += 1
        else:
            self.invoker.invoke([self.payload_for(d) for d in dependents])

    def invoke_through_proxy(self, dependents) -> None:
        """One request for the whole fan-out; inputs held here go inline once, shared by every target."""
        inputs = self.inline_inputs({dep for d in dependents for dep in self.tasks[d].dependencies})
        common = {
            key: value
            for key, value in wire.invocation(
                self.job, "", 0, 0, self.payload["settings"], inputs=inputs
            ).items()
            if key not in ("owner", "start", "sched")
        }
        self.proxy.fan_out(common, [(d, self.tasks[d].path) for d in dependents])

    def payload_for(self, dependent: int) -> dict:
        info = self.tasks[dependent]
        return wire.invocation(
            self.job,
            wire.invoked_owner(dependent),
            dependent,
            info.path,
            self.payload["settings"],
            inputs=self.inline_inputs(info.dependencies),
        )

    def inline_inputs(self, dependencies) -> dict[int, bytes]:
        """Outputs held here that fit in a payload travel inline; the rest go to the KV store first.
        Outputs not held here were written by their producers before they registered."""
        budget = (self.settings.max_payload_bytes - PAYLOAD_OVERHEAD_BYTES) * 3 // 4  # base64 grows 4/3
        inputs = {}
        for dep in sorted(dependencies):
            if dep not in self.cache:
                continue
            data = self.encode(dep)
            if len(data) <= budget:
                inputs[dep] = serialization.as_bytes(data)
                budget -= len(data)
            else:
                self.write(dep)
        return inputs

    # --- values ---
    def encode(self, task: int) -> bytes | serialization.Frames:
        """The output serialized; the stores send a ``Frames``' buffers as they are, without joining."""
        if task not in self.encoded:
            self.encoded[task] = serialization.pickle_frames(self.cache[task])
        return self.encoded[task]

    def size_of(self, task: int) -> int:
        if task in self.encoded:
            return len(self.encoded[task])
        return serialization.serialized_size(self.cache[task])

    def write(self, task: int) -> None:
        if task in self.written:
            return
        data = self.encode(task)
        self.kvs.put_output(self.job, task, data, key_name=self.tasks[task].key)
        self.written.add(task)
        self.counters["kvs_writes"] += 1

    def take_done(self) -> list[int]:
        done, self.done = self.done, []
        return done

    # --- reporting ---
    def report_error(self, key, exc: BaseException) -> None:
        record = error_record(key, exc)
        self.mds.put_error(self.job, record, self.take_done())

    def io_counters(self) -> dict[str, int]:
        counters = {"mds_bytes_read": self.mds.bytes_read}
        for node, count in self.kvs.bytes_written.items():
            counters[f"kvs_bytes_written@{node}"] = count
        for node, count in self.kvs.bytes_read.items():
            counters[f"kvs_bytes_read@{node}"] = count
        return counters

    def flush_stats(self, finished: bool = False) -> None:
        counters = dict(self.counters)
        for name, total in self.io_counters().items():
            counters[name] = total - self.io_before.get(name, 0)
        for kind in ("kvs_bytes_written", "kvs_bytes_read"):
            counters[kind] = sum(v for k, v in counters.items() if k.startswith(kind + "@"))
        try:
            self.mds.add_stats(
                self.job,
                counters,
                self.timings,
                self.take_done(),
                finished_owner=self.owner if finished else None,
            )
        except Exception as exc:  # counters are best effort; the job's outcome does not depend on them
            log.warning("job %s: could not record this invocation's counters: %s", self.job, exc)


def error_record(key, exc: BaseException) -> bytes:
    """A task's exception as data: its type, message, remote traceback and the exception itself."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    record = {
        "key": key,
        "type": type(exc).__qualname__,
        "module": type(exc).__module__,
        "message": str(exc),
        "traceback": text,
    }
    try:
        exc.__traceback__ = None
        record["exception"] = serialization.dumps(exc)
        serialization.loads(record["exception"])
    except Exception:
        record["exception"] = None
    return serialization.dumps(record)


def run_invocation(payload: dict, stores, invoker, proxy=None) -> dict:
    invocation = Invocation(payload, stores, invoker, proxy)
    invocation.run()
    return {"job": invocation.job, "tasks": invocation.counters["tasks"]}
