"""One invocation's state and every decision it makes, with no I/O: events in, instructions out.

The events and instructions are in ``messages.py``. The shell (``core.Invocation``) feeds :meth:`ExecutorState.handle` one event at a time and carries the
instructions out against the stores and the invoker, in order. At most one instruction of a batch asks
a question (``QUESTIONS``: the lease, a schedule, inputs, claims, a computation, a registration, a wake),
and it comes last: its answer is the next event. A batch without a question is followed by ``Idle``,
on which the state picks the next step (a delayed output to re-check, the next ready task, a wait for a
wake) or finishes. Values live in the shell; the state knows only which it holds and their sizes.

The state, all plain data (task ids are the job DAG's integers)::

  owner, start, schedule_id  the invocation (``L<leaf>`` or ``I<task>``), its first task and schedule
  more_starts                the further leaves it starts, when a job has more leaves than executors
  settings, payload_py       the job's ``JobSettings``; the client's Python version
  leased, attempt            this delivery holds the run lease; which delivery it is (2+: a retry)
  tasks:      {id: TaskInfo} every task of the schedules loaded so far (each decoded when first used)
  schedules:  {schedule id}  the schedules loaded
  held:       {id: bytes}    outputs in the shell's memory, with their serialized size (None: unmeasured)
  written:    {id}           outputs durable in the KV store, written by this invocation
  published:  {id}           outputs decided for good (written first-writer-wins, or stored as finals)
  checked:    {id}           (retries) tasks whose earlier published value was looked for
  keep:       {id: {id}}     for each held output, the local tasks that still need it
  ready:      [id]           claimed tasks to run here, a stack (the last runs next)
  scheduled:  {id}           every task queued here so far, run or not
  ran:        {id}           tasks computed here
  delayed:    {id: Delay}    big outputs withheld for dependents not ready yet (delayed I/O)
  blocked:    {id: {id}}     (retries) tasks waiting for inputs of ours not computed yet
  waiting_on: {id: {id}}     the reverse of ``blocked``: input -> tasks waiting for it
  preparing:  id | None      the task whose schedule or inputs are being fetched before it runs
  done:       [id]           tasks completed and not yet reported to the MDS (they ride on the next write)
  reruns:     {id: int}      how often each task that raised was run again (up to ``TaskInfo.retries``)
  counters:   {name: int}    the decisions' counters (``protocol.counters``)

A four-task diamond ``0 -> (1, 2) -> 3`` from leaf 0, outputs small::

  Delivered -> [AcquireLease];  LeaseAnswered(ok) -> [LoadStart];  Started -> [];  Idle -> [Compute(0)]
  TaskComputed(0) -> [Register(0, (1, 2))]      (1 and 2 have one dependency each: nothing written)
  Registered(READY, READY) -> [Delegate((2,)), Invoke((2,), inline=((0,),))]    (runs 1 itself)
  Idle -> [Compute(1)];  TaskComputed(1) -> [Release(0), Write(1), Register(1, (3,))] ...
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import VersionMismatchError, WukongError
from ..protocol import counters as names
from ..protocol.payload import PY_VERSION, JobSettings, is_leaf_owner, payload_room
from ..protocol.registration import LeaseState
from ..protocol.schedule import EncodedSchedule, Schedule, TaskInfo, TaskTable
from .decisions import Backoff, Fanout, plan_fanout, run_cheap_here, writes_before_registering
from .messages import (
    AcquireLease,
    Cancelled,
    ClaimsRead,
    Compute,
    Crashed,
    Delegate,
    Delivered,
    Finish,
    Idle,
    InputsRead,
    Invoke,
    InvokeThroughProxy,
    LeaseAnswered,
    LoadSchedule,
    LoadStart,
    Published,
    Purpose,
    PutError,
    PutResult,
    ReadClaims,
    ReadInputs,
    ReadPublished,
    Register,
    Registered,
    RegisterHeld,
    Release,
    ScheduleLoaded,
    Started,
    TaskComputed,
    TaskErred,
    WaitForWake,
    Woken,
    Write,
)


@dataclass
class Delay:
    pending: set[int]  # the dependents the output waits for
    backoff: Backoff


@dataclass
class ExecutorState:
    owner: str
    start: int
    schedule_id: int
    settings: JobSettings
    more_starts: tuple[int, ...] = ()  # further leaves this invocation starts (several at once)
    payload_py: str = ""
    leased: bool = False
    attempt: int = 0
    tasks: TaskTable = field(default_factory=TaskTable)
    schedules: set[int] = field(default_factory=set)
    held: dict[int, int | None] = field(default_factory=dict)
    written: set[int] = field(default_factory=set)
    published: set[int] = field(default_factory=set)
    checked: set[int] = field(default_factory=set)
    keep: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    ready: list[int] = field(default_factory=list)
    scheduled: set[int] = field(default_factory=set)
    ran: set[int] = field(default_factory=set)
    delayed: dict[int, Delay] = field(default_factory=dict)
    blocked: dict[int, set[int]] = field(default_factory=dict)
    waiting_on: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    preparing: int | None = None
    done: list[int] = field(default_factory=list)
    reruns: dict[int, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def handle(self, event) -> list:
        """The one door into the state: an event in, the instructions it calls for out."""
        return HANDLERS[type(event)](self, event)

    # --- delivery and start ---
    def on_delivered(self, event: Delivered) -> list:
        self.counters[names.INVOCATIONS] += 1
        self.payload_py = event.py_version
        return [AcquireLease()]

    def on_lease(self, event: LeaseAnswered) -> list:
        if event.state != LeaseState.OK:
            if event.state != LeaseState.CANCELLED:
                self.counters[names.DUPLICATES_DROPPED] += 1
            return [Finish(done=(), finished=False)]
        self.leased, self.attempt = True, event.attempt
        self.counters[names.LEAF_INVOCATIONS_RUN if is_leaf_owner(self.owner) else names.INVOKED_RUN] += 1
        if self.payload_py != PY_VERSION:
            return self.fail(VersionMismatchError(self.payload_py or "?", PY_VERSION))
        return [LoadStart()]

    def on_started(self, event: Started) -> list:
        if event.schedule is None or None in event.more:
            return self.finish()
        for schedule in (event.schedule, *event.more):
            self.add_schedule(schedule)
        self.held.update(event.inline)
        for start in reversed(self.starts):  # the first start on top of the stack: it runs first
            self.scheduled.add(start)
            for dep in self.tasks[start].dependencies:
                if dep in self.held:
                    self.keep[dep].add(start)
            self.ready.append(start)
        return []

    @property
    def starts(self) -> tuple[int, ...]:
        return (self.start, *self.more_starts)

    def add_schedule(self, schedule: Schedule | EncodedSchedule) -> None:
        self.schedules.add(schedule.id)
        self.tasks.add(schedule)

    # --- the next step ---
    def on_idle(self, event: Idle) -> list:
        now = event.now
        for task, delay in self.delayed.items():
            if delay.backoff.expired(now):
                del self.delayed[task]
                return self.give_up(task, delay.pending)
            if delay.backoff.due(now):
                delay.backoff.step(now)
                return [self.register(task, sorted(delay.pending), True, Purpose.RECHECK)]
        if self.ready:
            return self.prepare(self.ready.pop())
        if self.delayed:
            next_check = min(delay.backoff.next_check for delay in self.delayed.values())
            return [WaitForWake(tuple(self.delayed), max(0.0, next_check - now))]
        if self.blocked:
            return self.fail(RuntimeError(f"tasks wait for inputs nobody will compute: {self.blocked}"))
        return self.finish()

    def on_woken(self, event: Woken) -> list:
        if event.task in self.delayed:
            self.delayed[event.task].backoff.next_check = event.now  # a registration changed its dependents
        return []

    # --- running one task: its dependents' schedule, its inputs, then the computation ---
    def prepare(self, task: int) -> list:
        self.preparing = task
        info = self.tasks[task]
        if any(d not in self.tasks for d in info.dependents):
            if info.path not in self.schedules:
                return [LoadSchedule(info.path)]
            return self.fail(RuntimeError(f"schedule {info.path} lacks dependents of task {task}"))
        if self.attempt > 1 and self.settings.exactly_one_result and task not in self.checked:
            # A retry: an earlier delivery may have published this task's value before it died. Then
            # that value is the task's, whoever saw it; computing it again could give another.
            self.checked.add(task)
            return [ReadPublished(task, info.final)]
        return self.gather(task)

    def on_published(self, event: Published) -> list:
        if event.nbytes is None:
            return self.gather(event.task)
        self.published.add(event.task)
        if event.in_kvs:
            self.written.add(event.task)
        return self.on_computed(TaskComputed(event.task, event.nbytes))

    def on_schedule_loaded(self, event: ScheduleLoaded) -> list:
        if event.schedule is None:
            return self.finish()
        self.add_schedule(event.schedule)
        return self.prepare(self.preparing)

    def gather(self, task: int) -> list:
        info = self.tasks[task]
        missing = tuple(d for d in info.dependencies if d not in self.held)
        if missing:
            return [ReadInputs(task, missing)]
        if info.dependencies:
            self.counters[names.TASKS_LOCAL_INPUT] += 1
        return [Compute(task, measure=bool(info.dependents))]

    def on_inputs_read(self, event: InputsRead) -> list:
        info = self.tasks[event.task]
        absent = tuple(d for d in info.dependencies if d not in self.held and d not in event.found)
        if absent:
            return [ReadClaims(event.task, absent)]
        return [Compute(event.task, measure=bool(info.dependents))]

    def on_claims_read(self, event: ClaimsRead) -> list:
        """A retry re-runs what its first delivery claimed, in an order that may differ: a task can come up
        before an input that the first delivery computed here and never wrote. That input is ours to
        compute again, so the task waits for it. Any other absent input is a protocol violation."""
        self.preparing = None
        not_ours = [d for d, o in event.owners.items() if o != self.owner and d not in self.starts]
        if not_ours:
            return self.fail(KeyError(f"outputs of tasks {sorted(not_ours)} are missing from the KV store"))
        self.blocked[event.task] = set(event.owners)
        for dep in event.owners:
            self.waiting_on[dep].add(event.task)
        return []

    def on_erred(self, event: TaskErred) -> list:
        """A task raised: run it again while it has retries left (its inputs are still held here or in
        the KV store; nothing of it was registered), else fail the job with its exception. Wukong's own
        errors (an unpicklable result, a future's lost data) would only raise again."""
        task = event.task
        reruns = self.reruns.get(task, 0)
        retryable = isinstance(event.error, Exception) and not isinstance(event.error, WukongError)
        if retryable and reruns < self.tasks[task].retries:
            self.reruns[task] = reruns + 1
            self.counters[names.TASK_RETRIES] += 1
            info = self.tasks[task]
            missing = tuple(d for d in info.dependencies if d not in self.held)
            return [ReadInputs(task, missing)] if missing else [Compute(task, measure=bool(info.dependents))]
        self.preparing = None
        return [PutError(event.key, event.error, self.take_done()), Finish(done=(), finished=True)]

    # --- after a task: its result, its registration ---
    def on_computed(self, event: TaskComputed) -> list:
        task, info = event.task, self.tasks[event.task]
        self.preparing = None
        self.ran.add(task)
        self.done.append(task)
        out = []
        for dep in info.dependencies:
            self.keep.get(dep, set()).discard(task)
            out += self.release_if_unused(dep)
        self.held[task] = event.nbytes
        self.unblock(task)
        if info.final:
            out += self.publish_sources(task)
            self.published.add(task)
            out.append(PutResult(task, self.take_done()))
        if not info.dependents:
            return out + self.release_if_unused(task)
        counts = [len(self.tasks[d].dependencies) for d in info.dependents]
        big = self.settings.task_clustering and (event.nbytes or 0) > self.settings.big_task_threshold
        if big:
            out += self.adopt_held_siblings(info)
        if writes_before_registering(counts, big):
            out += self.write(task)
        return [*out, self.register(task, info.dependents, big, Purpose.FINISH)]

    def adopt_held_siblings(self, info: TaskInfo) -> list:
        """A dependent whose other inputs this executor holds back (delayed I/O) completes here: register
        those held outputs on it first; nobody else can complete its set, as ``info``'s output is ours."""
        pairs = []
        for dependent in info.dependents:
            others = [d for d in self.tasks[dependent].dependencies if d != info.id]
            if not others or not all(
                o in self.delayed and dependent in self.delayed[o].pending for o in others
            ):
                continue
            for other in others:
                self.delayed[other].pending.discard(dependent)
                pairs.append((other, dependent))
                self.keep[other].add(dependent)
                if not self.delayed[other].pending:
                    del self.delayed[other]
        return [RegisterHeld(tuple(pairs))] if pairs else []

    def on_registered(self, event: Registered) -> list:
        plan = plan_fanout(
            event.dependents,
            event.statuses,
            become=self.tasks[event.task].become if event.purpose is Purpose.FINISH else None,
            big=event.withhold or event.purpose is not Purpose.FINISH,
        )
        if event.purpose is not Purpose.RECHECK:
            return self.act(event.task, plan, event.now)
        delay = self.delayed[event.task]
        delay.pending.intersection_update(plan.withheld)
        if plan.write_now or not delay.pending:
            del self.delayed[event.task]
        plan = dataclasses.replace(plan, withheld=())
        if not plan.write_now:
            return self.act(event.task, plan, event.now)
        # Write now, while the value is surely held; register the rest for real once it is written.
        out = self.write(event.task) + self.act(event.task, plan, event.now, release=False)
        return out + self.give_up(event.task, delay.pending)

    def act(self, task: int, plan: Fanout, now: float, release: bool = True) -> list:
        estimates = {d: self.tasks[d].estimate_s for d in plan.invoke}
        plan = run_cheap_here(plan, estimates, self.settings.invocation_cost_s)
        for dependent in reversed(plan.run_locally):
            self.run_here(dependent, task)
        out = []
        if plan.invoke:
            # Delegate first: a retry of this invocation then invokes these again instead of running them.
            out.append(Delegate(plan.invoke))
        if plan.invoke or plan.reinvoke:
            out += self.invoke(plan.invoke + plan.reinvoke)
        if plan.withheld:
            if plan.write_now:
                return out + self.give_up(task, set(plan.withheld))
            self.delayed[task] = Delay(set(plan.withheld), Backoff(now, self.settings.delayed_io_max_wait_s))
            self.counters[names.DELAYED_IO] += 1
        return out + self.release_if_unused(task) if release else out

    def give_up(self, task: int, pending: set[int]) -> list:
        """Stop waiting: write the output first, register second (never the other order)."""
        return [*self.write(task), self.register(task, sorted(pending), False, Purpose.GIVE_UP)]

    def register(self, task: int, dependents: Sequence[int], withhold: bool, purpose: Purpose) -> Register:
        return Register(task, tuple(dependents), withhold, purpose, self.take_done())

    # --- invoking other executors ---
    def invoke(self, tasks: tuple[int, ...]) -> list:
        self.counters[names.INVOKED] += len(tasks)
        if self.settings.use_proxy and len(tasks) >= self.settings.max_task_fanout:
            self.counters[names.PROXY_FANOUTS] += 1
            writes, inline = self.inline_inputs({d for t in tasks for d in self.tasks[t].dependencies})
            return [*writes, InvokeThroughProxy(tasks, inline)]
        out, inlines = [], []
        for task in tasks:
            writes, inline = self.inline_inputs(self.tasks[task].dependencies)
            out += writes
            inlines.append(inline)
        return [*out, Invoke(tasks, tuple(inlines))]

    def inline_inputs(self, dependencies) -> tuple[list, tuple[int, ...]]:
        """Outputs held here that fit in one payload travel inline; the rest go to the KV store first.
        Outputs not held here were written by their producers before they registered."""
        budget = payload_room(self.settings.max_payload_bytes)
        writes, inline = [], []
        for dep in sorted(dependencies):
            if dep not in self.held:
                continue
            nbytes = self.held[dep]
            if nbytes is not None and nbytes <= budget:
                writes += self.publish(dep)  # inline only once it is this task's one value
                inline.append(dep)
                budget -= nbytes
            else:
                writes += self.write(dep)
        return writes, tuple(inline)

    # --- memory ---
    def run_here(self, task: int, producer: int) -> None:
        """Queue a claimed task to run in this invocation, once: a retry hears of the same claim from
        each of the task's dependencies that it registers again."""
        if task in self.ran:
            return
        self.keep[producer].add(task)  # even if queued already: it must find this output here
        if task not in self.scheduled:
            self.scheduled.add(task)
            self.ready.append(task)

    def unblock(self, task: int) -> None:
        for waiting in self.waiting_on.pop(task, ()):
            self.blocked[waiting].discard(task)
            self.keep[task].add(waiting)
            if not self.blocked[waiting]:
                del self.blocked[waiting]
                self.ready.append(waiting)

    def release_if_unused(self, task: int) -> list:
        if self.keep.get(task) or task in self.delayed or task not in self.held:
            return []
        # A value of several consumers goes only once published: a value derived from it may leave
        # later, and a retry must then find this one rather than compute another for the others.
        out = self.publish(task) if task in self.ran and len(self.tasks[task].dependents) > 1 else []
        self.keep.pop(task, None)
        del self.held[task]
        return [*out, Release(task)]

    def write(self, task: int) -> list:
        """Write the output to the KV store (first writer wins), after what it derives from (below)."""
        if task in self.written:
            return []
        out = self.publish_sources(task)
        self.written.add(task)
        self.published.add(task)
        return [*out, Write(task)]

    # --- exactly one result (settings.exactly_one_result) ---
    def publish(self, task: int) -> list:
        """Make a value computed here the task's one value before it leaves (inline, or in memory kept
        for later): write it. Values from elsewhere were published by their producers."""
        if not self.settings.exactly_one_result or task not in self.ran or task in self.published:
            return []
        return self.write(task)

    def publish_sources(self, task: int) -> list:
        """Before ``task``'s value leaves this invocation, publish the values it derives from that a
        retry could otherwise compute again with another result: computed here, not published, with
        more than one dependent (a single-dependent one is needed by nobody once ``task`` is out), found
        through values computed here and not published."""
        if not self.settings.exactly_one_result:
            return []
        sources, seen, stack = [], {task}, list(self.tasks[task].dependencies)
        while stack:
            dep = stack.pop()
            if dep in seen or dep not in self.ran or dep in self.published:
                continue
            seen.add(dep)
            if len(self.tasks[dep].dependents) > 1:
                sources.append(dep)
            stack.extend(self.tasks[dep].dependencies)
        out = []
        for source in sorted(sources):
            if source not in self.written:
                self.written.add(source)
                self.published.add(source)
                out.append(Write(source))
        return out

    # --- the end ---
    def take_done(self) -> tuple[int, ...]:
        done, self.done = tuple(self.done), []
        return done

    def finish(self) -> list:
        return [Finish(self.take_done(), finished=self.leased)]

    def fail(self, error: BaseException) -> list:
        return [PutError(None, error, self.take_done()), Finish(done=(), finished=self.leased)]

    def on_cancelled(self, event: Cancelled) -> list:
        return self.finish()

    def on_crashed(self, event: Crashed) -> list:
        return self.fail(event.error)

    # --- invariants, checked after every event in tests ---
    def validate(self) -> None:
        assert not set(self.ready) & self.ran, ("ready tasks ran already", set(self.ready) & self.ran)
        assert set(self.ready) <= self.scheduled, (
            "ready but never scheduled",
            set(self.ready) - self.scheduled,
        )
        assert len(self.ready) == len(set(self.ready)), ("a task is queued twice", self.ready)
        for dep, consumers in self.keep.items():
            assert not consumers or dep in self.held, ("kept for consumers but not held", dep, consumers)
            assert not consumers & self.ran, ("kept for tasks that ran", dep, consumers & self.ran)
        for task, delay in self.delayed.items():
            assert task in self.held and task in self.ran, ("delayed but not held", task)
            assert delay.pending, ("delayed for nothing", task)
        for task, inputs in self.blocked.items():
            assert inputs and task not in self.ready and task not in self.ran, ("bad block", task, inputs)
            assert all(task in self.waiting_on[d] for d in inputs), ("block not mirrored", task)
        for task in self.held:
            info = self.tasks.get(task)
            if info is not None and info.dependents and task in self.ran:
                assert self.held[task] is not None, ("a held output with dependents is unmeasured", task)
        assert set(self.done) <= self.ran, ("done but not run", set(self.done) - self.ran)


HANDLERS = {
    Delivered: ExecutorState.on_delivered,
    LeaseAnswered: ExecutorState.on_lease,
    Started: ExecutorState.on_started,
    Idle: ExecutorState.on_idle,
    Woken: ExecutorState.on_woken,
    ScheduleLoaded: ExecutorState.on_schedule_loaded,
    InputsRead: ExecutorState.on_inputs_read,
    ClaimsRead: ExecutorState.on_claims_read,
    TaskComputed: ExecutorState.on_computed,
    Published: ExecutorState.on_published,
    TaskErred: ExecutorState.on_erred,
    Registered: ExecutorState.on_registered,
    Cancelled: ExecutorState.on_cancelled,
    Crashed: ExecutorState.on_crashed,
}
