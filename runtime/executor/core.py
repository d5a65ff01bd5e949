"""The executor's shell: one invocation carries out what its state (``executor/state.py``) decides.

It takes its ``stores`` and ``invoker`` as arguments and never asks which platform it is on; the
Lambda handler and the local worker are thin wrappers around :func:`run_invocation`. Every decision is
the state's: this module feeds it events and carries its instructions out against the MDS, the KV store,
the invoker and the proxy, in order (see ``state.py`` for the protocol of one batch). It holds what the
state must not: the values themselves, their serialized frames, and the I/O counters and timings.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from ..errors import UnpicklableResultError
from ..protocol import counters as names
from ..protocol import payload as wire
from ..protocol.registration import LeaseState
from ..protocol.schedule import decode_schedule
from ..protocol.task_group import GroupMemberFailed, TaskGroup
from ..storage import serialization, task_errors
from ..testhooks import fault_point, validate_state
from . import lease
from . import messages as m
from .state import ExecutorState

log = logging.getLogger("wukong.executor")


class Invocation:
    def __init__(
        self,
        payload: dict,
        stores,
        invoker,
        proxy=None,
        clock=time.time,
        check: bool = False,
        observer=None,
        started: float | None = None,
    ):
        """``check``: validate the state's invariants after every event (tests); ``observer``: told what
        runs (``platforms.Platform.observer``); ``started``: when the invocation began to cost (the
        handler's entry, or a cold start's init), for its billed time (``EXECUTOR_MS``); default now."""
        self.job = payload["job"]
        self.payload = payload
        settings = wire.JobSettings.from_payload(payload["settings"])
        self.state = ExecutorState(
            owner=payload["owner"],
            start=payload["start"],
            schedule_id=payload["sched"],
            settings=settings,
            more_starts=tuple(start for start, _ in payload.get("more", ())),
        )
        # The job's KV-store nodes as its client resolved them: one ring for every executor of the job.
        self.mds, self.kvs = stores.mds, stores.for_job(settings.kvs_nodes).kvs
        self.invoker, self.proxy, self.clock, self.check = invoker, proxy, clock, check
        self.observe = observer or (lambda job, owner, task: None)
        self.values: dict[int, object] = {}  # outputs held in memory (the state's ``held``)
        self.encoded: dict[int, bytes | serialization.Frames] = {}  # their wire form, once made
        self.fetched: dict[int, object] = {}  # inputs just read for the task about to be computed
        self.pending_write = None  # (task, kvs.PipelinedWrite) to go in one round trip with the registration
        self.refused = False  # a store refused a write: the job has ended
        self.counters: dict[str, int] = defaultdict(int)
        self.timings: list[dict] = []
        self.io_before = self.io_counters()  # the stores outlive the invocation in a warm process
        self.started = clock() if started is None else started
        self.delivery = lease.new_delivery_id()
        self.finished = False

    @property
    def owner(self) -> str:
        return self.state.owner

    def run(self) -> None:
        self.observe(self.job, self.owner, None)
        try:
            self.drive(m.Delivered(self.payload.get("py", "")))
        except Exception as exc:  # an infrastructure failure: fail the job fast, with the cause
            if not self.finished:
                self.carry_out_safely(self.state.handle(m.Crashed(exc)))
        finally:
            lease.KEEPER.release()
            self.observe(None, None, None)

    def drive(self, event) -> None:
        while not self.finished:
            instructions = self.state.handle(event)
            if self.check:
                self.state.validate()
                questions = [i for i, x in enumerate(instructions) if isinstance(x, m.QUESTIONS)]
                assert questions in ([], [len(instructions) - 1]), ("a question not last", instructions)
            event = self.carry_out(instructions)
            if event is None and not self.finished:
                event = m.Idle(self.clock())

    def carry_out(self, instructions: list):
        """Execute a batch in order; the answer of its last instruction (a question) is returned. A job
        that ended (a store refused, or the lease keeper heard so) cuts the batch short."""
        answer = None
        for i, instruction in enumerate(instructions):
            if (self.refused or lease.KEEPER.cancelled(self.job)) and type(instruction) not in ENDINGS:
                self.pending_write = None
                return m.Cancelled()
            after = instructions[i + 1] if i + 1 < len(instructions) else None
            if (
                isinstance(instruction, m.Write)
                and isinstance(after, m.Register)
                and self.piggyback(instruction)
            ):
                continue
            answer = EXECUTE[type(instruction)](self, instruction)
        self.pending_write = None
        return answer

    def carry_out_safely(self, instructions: list) -> None:
        try:
            self.carry_out(instructions)
        except Exception as exc:  # the stores are gone too: nothing more can be told
            log.warning("job %s: invocation %s could not report its failure: %s", self.job, self.owner, exc)

    # --- the start ---
    def acquire_lease(self, _: m.AcquireLease):
        state, attempt = lease.acquire(self.mds, self.job, self.owner, self.delivery)
        if state == LeaseState.OK:
            lease.KEEPER.hold(self.mds, self.job, self.owner, self.delivery)
        return m.LeaseAnswered(state, attempt)

    def load_start(self, _: m.LoadStart):
        if "sched_b64" in self.payload:
            schedule = decode_schedule(wire.unb64(self.payload["sched_b64"]))
        else:
            schedule = self.read_schedule(self.payload["sched"])
        sizes = {}
        for task, data in self.payload.get("inputs", {}).items():
            raw = wire.unb64(data)
            self.values[int(task)] = serialization.loads(raw)
            self.encoded[int(task)] = raw
            sizes[int(task)] = len(raw)
        paths = [path for _, path in self.payload.get("more", ())]
        more = [None if d is None else decode_schedule(d) for d in self.mds.get_schedules(self.job, paths)]
        return m.Started(schedule, sizes, tuple(more))

    def load_schedule(self, instruction: m.LoadSchedule):
        return m.ScheduleLoaded(self.read_schedule(instruction.schedule_id))

    def read_schedule(self, schedule_id: int):
        data = self.mds.get_schedule(self.job, schedule_id)
        return None if data is None else decode_schedule(data)

    # --- one task ---
    def read_published(self, instruction: m.ReadPublished):
        task = instruction.task
        data = self.kvs.get_outputs(self.job, [task]).get(task)
        in_kvs = data is not None
        if data is None and instruction.final:
            (data,) = self.mds.results(self.job, [task])
        if data is None:
            return m.Published(task, None)
        self.values[task], self.encoded[task] = serialization.loads(data), data
        return m.Published(task, len(data), in_kvs)

    def read_inputs(self, instruction: m.ReadInputs):
        outputs = self.kvs.get_outputs(self.job, list(instruction.inputs))
        self.fetched = {dep: serialization.loads(data) for dep, data in outputs.items()}
        return m.InputsRead(instruction.task, frozenset(self.fetched))

    def read_claims(self, instruction: m.ReadClaims):
        self.fetched = {}
        owners = self.mds.claims(self.job, list(instruction.inputs))
        return m.ClaimsRead(instruction.task, dict(zip(instruction.inputs, owners, strict=True)))

    def compute(self, instruction: m.Compute):
        task = instruction.task
        info = self.state.tasks[task]
        inputs = {
            key: self.values[d] if d in self.values else self.fetched[d]
            for d, key in zip(info.dependencies, info.dependency_keys, strict=True)
        }
        self.fetched = {}
        fault_point("before_task", self, task)
        self.observe(self.job, self.owner, task)
        try:
            self.values[task] = self.run_task(info, inputs)
        except GroupMemberFailed as failed:
            return m.TaskErred(task, failed.key, failed.error)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... from a task: the task's error
            return m.TaskErred(task, info.key, exc)
        finally:
            self.observe(self.job, self.owner, None)
        fault_point("after_task", self, task)
        try:
            return m.TaskComputed(task, len(self.encode(task)) if instruction.measure else None)
        except UnpicklableResultError as exc:
            return m.TaskErred(task, info.key, exc)

    def run_task(self, info, inputs: dict):
        """The task's value; a task group runs its members here, each timed and counted as a task."""

        def done(key, begin: float, end: float) -> None:
            self.counters[names.TASKS] += 1
            self.timings.append(
                {"task": info.id, "key": str(key), "owner": self.owner, "start": begin, "end": end}
            )

        if isinstance(info.spec, TaskGroup):
            return info.spec.run(self.clock, done, inputs)
        begin = self.clock()
        value = info.spec(inputs)
        done(info.key, begin, self.clock())
        return value

    # --- results and outputs ---
    def put_result(self, instruction: m.PutResult):
        data = self.encode(instruction.task)
        stored = self.mds.put_result(self.job, instruction.task, data, list(instruction.done))
        self.refused = stored is None
        self.counters[names.MDS_BYTES_WRITTEN] += len(data)

    def write(self, instruction: m.Write):
        task = instruction.task
        if not self.kvs.put_output(self.job, task, self.encode(task), key_name=self.state.tasks[task].key):
            self.adopt(task)
        self.counters[names.KVS_WRITES] += 1

    def adopt(self, task: int) -> None:
        """Another delivery stored this task's output first (first writer wins): that value is the
        task's, so it replaces ours before anything else uses it here."""
        data = self.kvs.get_outputs(self.job, [task])[task]
        self.values[task], self.encoded[task] = serialization.loads(data), data

    def piggyback(self, instruction: m.Write) -> bool:
        """Queue a write on the MDS connection's pipeline, to go in one round trip with the registration
        that follows it, when the output lives on that node and fits one value."""
        task = instruction.task
        write = self.kvs.pipelined_put(self.job, task, self.encode(task), self.mds.redis)
        if write is None:
            return False
        self.pending_write = (task, write)
        self.counters[names.KVS_WRITES] += 1
        return True

    def release(self, instruction: m.Release):
        self.values.pop(instruction.task, None)
        self.encoded.pop(instruction.task, None)

    def encode(self, task: int) -> bytes | serialization.Frames:
        """The output serialized; the stores send a ``Frames``' buffers as they are, without joining."""
        if task not in self.encoded:
            try:
                self.encoded[task] = serialization.pickle_frames(self.values[task])
            except Exception as exc:
                key = self.state.tasks[task].key
                raise UnpicklableResultError(key, f"{type(exc).__name__}: {exc}") from exc
        return self.encoded[task]

    # --- registration ---
    def register(self, instruction: m.Register):
        written, before = self.pending_write or (None, None)
        self.pending_write = None
        statuses = self.mds_register(
            instruction.task, instruction.dependents, instruction.withhold, instruction.done, before
        )
        if before is not None and before.stored is False:
            self.adopt(written)
        if statuses is None:
            return m.Cancelled()
        return m.Registered(
            instruction.task,
            instruction.purpose,
            instruction.dependents,
            tuple(statuses),
            instruction.withhold,
            self.clock(),
        )

    def register_held(self, instruction: m.RegisterHeld):
        for task, dependent in instruction.pairs:
            self.mds_register(task, (dependent,), withhold=False, done=(), before=None)

    def mds_register(self, task: int, dependents, withhold: bool, done, before):
        fault_point("before_register", self, task)
        pairs = [(d, len(self.state.tasks[d].dependencies), wire.invoked_owner(d)) for d in dependents]
        return self.mds.register(self.job, task, pairs, self.owner, list(done), withhold, before=before)

    def delegate(self, instruction: m.Delegate):
        self.mds.delegate(self.job, [(d, wire.invoked_owner(d)) for d in instruction.tasks])

    def wait_for_wake(self, instruction: m.WaitForWake):
        woken = self.mds.wait_for_wake(self.job, list(instruction.tasks), instruction.timeout_s)
        return m.Woken(woken, self.clock())

    # --- invoking other executors ---
    def invoke(self, instruction: m.Invoke):
        payloads = [
            wire.invocation(
                self.job,
                wire.invoked_owner(task),
                task,
                self.state.tasks[task].path,
                self.payload["settings"],
                inputs=self.inline(inline),
            )
            for task, inline in zip(instruction.tasks, instruction.inline, strict=True)
        ]
        self.invoker.invoke(payloads)

    def invoke_through_proxy(self, instruction: m.InvokeThroughProxy):
        """One request for the whole fan-out; inputs held here go inline once, shared by every target."""
        common = wire.invocation(
            self.job, "", 0, 0, self.payload["settings"], inputs=self.inline(instruction.inline)
        )
        for key in ("owner", "start", "sched"):
            del common[key]
        self.proxy.fan_out(common, [(task, self.state.tasks[task].path) for task in instruction.tasks])

    def inline(self, tasks) -> dict[int, bytes]:
        return {task: serialization.as_bytes(self.encode(task)) for task in tasks}

    # --- the end ---
    def put_error(self, instruction: m.PutError):
        record = task_errors.encode(instruction.key, instruction.error)
        self.mds.put_error(self.job, record, list(instruction.done))

    def finish(self, instruction: m.Finish):
        self.finished = True
        self.counters[names.EXECUTOR_MS] += int((self.clock() - self.started) * 1000)
        self.flush_stats(instruction.done, instruction.finished)

    def io_counters(self) -> dict[str, int]:
        counters = {names.MDS_BYTES_READ: self.mds.bytes_read}
        for node, count in self.kvs.bytes_written.items():
            counters[names.per_node(names.KVS_BYTES_WRITTEN, node)] = count
        for node, count in self.kvs.bytes_read.items():
            counters[names.per_node(names.KVS_BYTES_READ, node)] = count
        return counters

    def flush_stats(self, done, finished: bool) -> None:
        counters = dict(self.counters)
        for name, value in self.state.counters.items():
            counters[name] = counters.get(name, 0) + value
        for name, total in self.io_counters().items():
            counters[name] = total - self.io_before.get(name, 0)
        for kind in (names.KVS_BYTES_WRITTEN, names.KVS_BYTES_READ):
            counters[kind] = sum(names.by_node(counters, kind).values())
        try:
            self.mds.add_stats(
                self.job, counters, self.timings, list(done), finished_owner=self.owner if finished else None
            )
        except Exception as exc:  # counters are best effort; the job's outcome does not depend on them
            log.warning("job %s: could not record this invocation's counters: %s", self.job, exc)


ENDINGS = (m.PutError, m.Finish)  # carried out even when the job has ended

EXECUTE = {
    m.AcquireLease: Invocation.acquire_lease,
    m.LoadStart: Invocation.load_start,
    m.LoadSchedule: Invocation.load_schedule,
    m.ReadPublished: Invocation.read_published,
    m.ReadInputs: Invocation.read_inputs,
    m.ReadClaims: Invocation.read_claims,
    m.Compute: Invocation.compute,
    m.PutResult: Invocation.put_result,
    m.Write: Invocation.write,
    m.RegisterHeld: Invocation.register_held,
    m.Register: Invocation.register,
    m.Delegate: Invocation.delegate,
    m.Invoke: Invocation.invoke,
    m.InvokeThroughProxy: Invocation.invoke_through_proxy,
    m.Release: Invocation.release,
    m.WaitForWake: Invocation.wait_for_wake,
    m.PutError: Invocation.put_error,
    m.Finish: Invocation.finish,
}


def run_invocation(payload: dict, stores, invoker, proxy=None, observer=None, started=None) -> dict:
    invocation = Invocation(
        payload, stores, invoker, proxy, check=validate_state(), observer=observer, started=started
    )
    invocation.run()
    return {"job": invocation.job, "tasks": invocation.counters[names.TASKS]}
