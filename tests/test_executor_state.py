"""The executor's state machine with no cluster: a drawn DAG, a sequence of events, the exact
instructions expected (in the style of distributed's ``test_worker_state_machine.py``).

Schedules come from the real static scheduler (``build_dag`` + ``partition`` + ``build_schedules``);
task ids are the DAG's topological numbers, given under each drawing. Every event is followed by
``validate()``.
"""

from __future__ import annotations

import dataclasses

from wukong.errors import UnpicklableResultError
from wukong.executor.messages import (
    AcquireLease,
    Cancelled,
    ClaimsRead,
    Compute,
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
from wukong.executor.state import ExecutorState
from wukong.protocol import counters
from wukong.protocol.payload import PAYLOAD_ENVELOPE_BYTES, PY_VERSION, JobSettings
from wukong.protocol.registration import LeaseState, Status
from wukong.scheduler.dag import build_dag
from wukong.scheduler.schedules import build_schedules, partition

NOT_READY, READY, TAKEN = Status.NOT_READY, Status.READY, Status.TAKEN
WITHHELD, WRITE_NOW, OURS, DELEGATED = Status.WITHHELD, Status.WRITE_NOW, Status.OURS, Status.DELEGATED
FINISH, RECHECK, GIVE_UP = Purpose.FINISH, Purpose.RECHECK, Purpose.GIVE_UP
BIG = 1000  # bytes over the threshold below
SMALL = 10
ROOM = 300  # inline bytes that fit in one payload


def inc(x):
    return x + 1


def add(*xs):
    return sum(xs)


SETTINGS = JobSettings(
    exactly_one_result=True,
    invocation_cost_s=0.002,
    task_clustering=True,
    big_task_threshold=100,
    max_task_fanout=3,
    max_payload_bytes=PAYLOAD_ENVELOPE_BYTES + ROOM * 4 // 3,
    delayed_io_max_wait_s=1.0,
    use_proxy=False,
)


def schedules(dsk: dict, requested: list, durations=None, retries: dict | None = None) -> dict:
    """{schedule id: Schedule} of the dask graph, as the static scheduler makes them."""
    dag = build_dag(dsk, requested, retries=retries)
    return {s.id: s for s in build_schedules(dag, partition(dag), durations)}


class Machine:
    """One invocation's state, validated after every event."""

    def __init__(self, owner: str, schedule, settings: JobSettings = SETTINGS):
        self.state = ExecutorState(owner, schedule.start, schedule.id, settings)
        self.schedule = schedule

    def __call__(self, event) -> list:
        instructions = self.state.handle(event)
        self.state.validate()
        return instructions

    def start(self, inline=None, lease=LeaseState.OK) -> None:
        assert self(Delivered(PY_VERSION)) == [AcquireLease()]
        assert self(LeaseAnswered(lease)) == [LoadStart()]
        assert self(Started(self.schedule, inline or {})) == []


def test_become_runs_a_chain_in_one_executor():
    """
    a        ids: a=0, b=1, c=2; one path, so the leaf's executor runs all three.
    |        Nothing is written: each dependent has a single dependency.
    b
    |
    c
    """
    m = Machine("L0", schedules({"a": 1, "b": (inc, "a"), "c": (inc, "b")}, ["c"])[0])
    m.start()
    assert m(Idle(0.0)) == [Compute(0, measure=True)]
    assert m(TaskComputed(0, SMALL)) == [Register(0, (1,), False, FINISH, (0,))]
    assert m(Registered(0, FINISH, (1,), (READY,), False, 0.0)) == []
    assert m(Idle(0.0)) == [Compute(1, measure=True)]
    assert m(TaskComputed(1, SMALL)) == [Release(0), Register(1, (2,), False, FINISH, (1,))]
    assert m(Registered(1, FINISH, (2,), (READY,), False, 0.0)) == []
    assert m(Idle(0.0)) == [Compute(2, measure=False)]
    assert m(TaskComputed(2, None)) == [Release(1), PutResult(2, (2,)), Release(2)]
    assert m(Idle(0.0)) == [Finish((), finished=True)]
    assert m.state.counters[counters.TASKS_LOCAL_INPUT] == 2


DIAMOND = {"a": 1, "b": (inc, "a"), "c": (inc, "a"), "d": (add, "b", "c")}


def test_fan_out_runs_one_dependent_and_invokes_the_other_with_the_input_inline():
    """
      a        ids: a=0, b=1, c=2, d=3. The leaf runs b (its static become) and invokes c,
     / \\       which gets a's small output inline in its payload. b's output is written before
    b   c      it registers on d, which has two dependencies.
     \\ /
      d
    """
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    m.start()
    assert m(Idle(0.0)) == [Compute(0, measure=True)]
    assert m(TaskComputed(0, SMALL)) == [Register(0, (1, 2), False, FINISH, (0,))]
    assert m(Registered(0, FINISH, (1, 2), (READY, READY), False, 0.0)) == [
        Delegate((2,)),
        Write(0),  # published before it leaves inline: a retry of this invocation must not recompute it
        Invoke((2,), inline=((0,),)),
    ]
    assert m(Idle(0.0)) == [Compute(1, measure=True)]
    assert m(TaskComputed(1, SMALL)) == [Release(0), Write(1), Register(1, (3,), False, FINISH, (1,))]
    assert m(Registered(1, FINISH, (3,), (NOT_READY,), False, 0.0)) == [Release(1)]
    assert m(Idle(0.0)) == [Finish((), finished=True)]


def test_an_input_too_big_for_the_payload_is_written_before_the_invocation():
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    m.start()
    m(Idle(0.0))
    m(TaskComputed(0, ROOM + 1))
    assert m(Registered(0, FINISH, (1, 2), (READY, READY), False, 0.0)) == [
        Delegate((2,)),
        Write(0),
        Invoke((2,), inline=((),)),
    ]


def test_the_invoked_executor_reads_what_is_not_inline_and_completes_the_fan_in():
    """The executor invoked for c (schedule 1, owner I2) got a inline; d's other input b is in the KVS."""
    m = Machine("I2", schedules(DIAMOND, ["d"])[1])
    m.start(inline={0: SMALL})
    assert m(Idle(0.0)) == [Compute(2, measure=True)]
    assert m(TaskComputed(2, SMALL)) == [Release(0), Write(2), Register(2, (3,), False, FINISH, (2,))]
    assert m(Registered(2, FINISH, (3,), (READY,), False, 0.0)) == []
    assert m(Idle(0.0)) == [ReadInputs(3, (1,))]
    assert m(InputsRead(3, frozenset({1}))) == [Compute(3, measure=False)]
    assert m(TaskComputed(3, None)) == [Release(2), PutResult(3, (3,)), Release(3)]


def test_a_big_output_runs_every_ready_dependent_here_task_clustering():
    """
      a        a's output is big: registered in withhold mode, never written; both b and c are
     / \\       claimed by this executor and run here, b first (the become); a stays in memory
    b   c      until both ran.
    """
    m = Machine("L0", schedules({"a": 1, "b": (inc, "a"), "c": (inc, "a")}, ["b", "c"])[0])
    m.start()
    m(Idle(0.0))
    assert m(TaskComputed(0, BIG)) == [Register(0, (1, 2), True, FINISH, (0,))]
    assert m(Registered(0, FINISH, (1, 2), (READY, READY), True, 0.0)) == []
    assert m(Idle(0.0)) == [Compute(1, measure=False)]
    # b's result leaves while c, the other consumer of a, has not run: a is published first, so that
    # a retry after a death here gives c the a that b saw.
    assert m(TaskComputed(1, None)) == [Write(0), PutResult(1, (1,)), Release(1)]
    assert m(Idle(0.0)) == [Compute(2, measure=False)]
    assert m(TaskComputed(2, None)) == [Release(0), PutResult(2, (2,)), Release(2)]


FAN_IN = {"a": 1, "x": 2, "d": (add, "a", "x")}


def delayed_machine() -> Machine:
    """
    a   x      ids: a=0, x=1, d=2. The executor of leaf a holds a's big output back: d waits for x,
     \\ /       which another executor computes.
      d
    """
    m = Machine("L0", schedules(FAN_IN, ["d"])[0])
    m.start()
    m(Idle(0.0))
    assert m(TaskComputed(0, BIG)) == [Register(0, (2,), True, FINISH, (0,))]
    assert m(Registered(0, FINISH, (2,), (WITHHELD,), True, 0.0)) == []
    assert m.state.counters[counters.DELAYED_IO] == 1
    return m


def test_delayed_io_waits_for_a_wake_then_runs_the_dependent_with_the_output_in_memory():
    m = delayed_machine()
    assert m(Idle(0.001)) == [WaitForWake((0,), timeout_s=0.004)]
    assert m(Woken(0, 0.002)) == []
    assert m(Idle(0.002)) == [Register(0, (2,), True, RECHECK, ())]
    assert m(Registered(0, RECHECK, (2,), (READY,), True, 0.002)) == []
    assert m(Idle(0.003)) == [ReadInputs(2, (1,))]
    assert m(InputsRead(2, frozenset({1}))) == [Compute(2, measure=False)]
    assert m(TaskComputed(2, None)) == [Release(0), PutResult(2, (2,)), Release(2)]


def test_delayed_io_gives_up_writing_first_and_registering_second():
    m = delayed_machine()
    assert m(Idle(SETTINGS.delayed_io_max_wait_s + 0.1)) == [Write(0), Register(0, (2,), False, GIVE_UP, ())]
    assert m(Registered(0, GIVE_UP, (2,), (NOT_READY,), False, 1.2)) == [Release(0)]
    assert m(Idle(1.2)) == [Finish((), finished=True)]


def test_a_stalemate_makes_the_lowest_holder_write_now():
    """a and x are both big and held by two executors waiting for each other: the registration says
    WRITE_NOW to the holder of the lowest id (a), which writes and registers for real."""
    m = Machine("L0", schedules(FAN_IN, ["d"])[0])
    m.start()
    m(Idle(0.0))
    m(TaskComputed(0, BIG))
    assert m(Registered(0, FINISH, (2,), (WRITE_NOW,), True, 0.0)) == [
        Write(0),
        Register(0, (2,), False, GIVE_UP, ()),
    ]
    assert m(Registered(0, GIVE_UP, (2,), (NOT_READY,), False, 0.0)) == [Release(0)]


def test_a_recheck_that_hears_write_now_writes_and_registers_for_real():
    m = delayed_machine()
    m(Idle(0.01))
    assert m(Registered(0, RECHECK, (2,), (WRITE_NOW,), True, 0.01)) == [
        Write(0),
        Register(0, (2,), False, GIVE_UP, ()),
    ]
    assert 0 not in m.state.delayed


def test_held_siblings_are_registered_on_a_dependent_this_executor_completes():
    """
    a   b      ids: a=0, b=1, e=2, d=3. One executor (owner L0) computed a (big: e runs here, a is
    |\\ /       withheld on d); now it computes b, also big, also an input of d: it registers a on d
    e d        first (nobody else can complete d), then b, which completes d here.
    """
    sched = schedules({"a": 1, "b": 2, "d": (add, "a", "b"), "e": (inc, "a")}, ["d", "e"])
    m = Machine("L0", sched[0])
    m.start()
    m.state.add_schedule(sched[2])
    m(Idle(0.0))
    assert m(TaskComputed(0, BIG)) == [Register(0, (2, 3), True, FINISH, (0,))]
    assert m(Registered(0, FINISH, (2, 3), (READY, WITHHELD), True, 0.0)) == []
    m.state.scheduled.add(1)
    m.state.ready.append(1)  # as if b were claimed here too
    assert m(Idle(0.001)) == [Compute(1, measure=True)]
    assert m(TaskComputed(1, BIG)) == [RegisterHeld(((0, 3),)), Register(1, (3,), True, FINISH, (1,))]
    assert 0 not in m.state.delayed and m.state.keep[0] == {2, 3}
    assert m(Registered(1, FINISH, (3,), (READY,), True, 0.0)) == []
    assert m.state.ready == [2, 3]


def test_a_retry_runs_again_what_it_claimed_and_invokes_again_what_it_delegated():
    """The first delivery of L0 claimed b (ran it, died) and delegated c: the retry hears OURS and
    DELEGATED, runs b here again and invokes c again, without delegating a second time."""
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    m.start()
    m(Idle(0.0))
    m(TaskComputed(0, SMALL))
    assert m(Registered(0, FINISH, (1, 2), (OURS, DELEGATED), False, 0.0)) == [
        Write(0),
        Invoke((2,), inline=((0,),)),
    ]
    assert m(Idle(0.0)) == [Compute(1, measure=True)]


def test_a_retry_blocks_a_task_on_an_input_of_its_own_not_computed_yet():
    """A retry of L0 (which claimed a, x and d in its first delivery, and wrote none of them) reaches d
    first: d waits for its inputs instead of failing, and runs once both are computed here again."""
    sched = schedules(FAN_IN, ["d"])
    m = Machine("L0", sched[0])
    m.start()
    m.state.add_schedule(sched[1])
    m.state.scheduled.update({0, 1, 2})
    m.state.ready[:] = [0, 1, 2]  # d on top: it comes up first
    assert m(Idle(0.0)) == [ReadInputs(2, (0, 1))]
    assert m(InputsRead(2, frozenset())) == [ReadClaims(2, (0, 1))]
    assert m(ClaimsRead(2, {0: "L0", 1: "L0"})) == []
    assert m.state.blocked == {2: {0, 1}}
    assert m(Idle(0.0)) == [Compute(1, measure=True)]
    assert m(TaskComputed(1, SMALL)) == [Write(1), Register(1, (2,), False, FINISH, (1,))]
    assert m(Registered(1, FINISH, (2,), (NOT_READY,), False, 0.0)) == []  # kept for d
    assert m(Idle(0.0)) == [Compute(0, measure=True)]
    assert m(TaskComputed(0, SMALL)) == [Write(0), Register(0, (2,), False, FINISH, (0,))]
    assert m(Registered(0, FINISH, (2,), (OURS,), False, 0.0)) == []
    assert m.state.blocked == {} and m.state.ready == [2]
    assert m(Idle(0.0)) == [Compute(2, measure=False)]


def test_an_absent_input_claimed_by_someone_else_fails_the_job():
    sched = schedules(FAN_IN, ["d"])
    m = Machine("L0", sched[0])
    m.start()
    m.state.add_schedule(sched[1])
    m.state.scheduled.add(2)
    m.state.ready[:] = [2]
    m(Idle(0.0))
    m(InputsRead(2, frozenset({0})))
    [error, finish] = m(ClaimsRead(2, {1: "L1"}))
    assert isinstance(error, PutError) and isinstance(error.error, KeyError) and "[1]" in str(error.error)
    assert finish == Finish((), finished=True)


def test_a_duplicate_delivery_stops_without_running_anything():
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    assert m(Delivered(PY_VERSION)) == [AcquireLease()]
    assert m(LeaseAnswered(LeaseState.HELD)) == [Finish((), finished=False)]
    assert m.state.counters[counters.DUPLICATES_DROPPED] == 1
    assert m.state.counters[counters.LEAF_INVOCATIONS_RUN] == 0


def test_a_big_fan_out_goes_to_the_proxy_with_the_shared_input_once():
    dsk = {"a": 1, **{f"b{i}": (inc, "a") for i in range(4)}}
    settings = dataclasses.replace(SETTINGS, use_proxy=True)
    m = Machine("L0", schedules(dsk, [f"b{i}" for i in range(4)])[0], settings)
    m.start()
    m(Idle(0.0))
    m(TaskComputed(0, SMALL))
    statuses = (READY, READY, READY, READY)
    assert m(Registered(0, FINISH, (1, 2, 3, 4), statuses, False, 0.0)) == [
        Delegate((2, 3, 4)),
        Write(0),
        InvokeThroughProxy((2, 3, 4), inline=(0,)),
    ]
    assert m.state.counters[counters.PROXY_FANOUTS] == 1 and m.state.counters[counters.INVOKED] == 3


def test_a_schedule_is_loaded_before_a_task_whose_dependents_it_holds():
    """The invoked executor of c knows d from its own schedule; d's path (0) is loaded only if needed."""
    sched = schedules({"a": 1, "b": (inc, "a"), "c": (inc, "b")}, ["c"])
    m = Machine("L0", sched[0])
    m.start()
    for task in list(m.state.tasks):
        if task != 0:
            del m.state.tasks[task]
    m.state.schedules.clear()
    assert m(Idle(0.0)) == [LoadSchedule(0)]
    assert m(ScheduleLoaded(sched[0])) == [Compute(0, measure=True)]


def test_a_task_exception_is_put_with_its_key_and_ends_the_invocation():
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    m.start()
    m(Idle(0.0))
    error = ZeroDivisionError("boom")
    assert m(TaskErred(0, "a", error)) == [PutError("a", error, ()), Finish((), finished=True)]


def test_a_task_that_raises_runs_again_while_it_has_retries_then_fails_the_job():
    """
    a        ids: a=0, b=1, c=2, d=3; a has retries=2. It raises twice and runs again each time, with
     / \\     nothing registered in between; the third error is the job's.
    b   c
     \\ /
      d
    """
    m = Machine("L0", schedules(DIAMOND, ["d"], retries={"a": 2})[0])
    m.start()
    assert m(Idle(0.0)) == [Compute(0, measure=True)]
    error = ZeroDivisionError("boom")
    assert m(TaskErred(0, "a", error)) == [Compute(0, measure=True)]
    assert m(TaskErred(0, "a", error)) == [Compute(0, measure=True)]
    assert m(TaskErred(0, "a", error)) == [PutError("a", error, ()), Finish((), finished=True)]
    assert m.state.counters[counters.TASK_RETRIES] == 2


def test_a_retried_task_reads_its_inputs_again_and_its_success_goes_on_as_usual():
    """The executor invoked for c (I2) got a inline; d (retries=1) reads b from the KV store, raises
    once, reads b again (the shell dropped what it read for the failed run) and completes."""
    m = Machine("I2", schedules(DIAMOND, ["d"], retries={"d": 1})[1])
    m.start(inline={0: SMALL})
    m(Idle(0.0))
    m(TaskComputed(2, SMALL))
    m(Registered(2, FINISH, (3,), (READY,), False, 0.0))
    assert m(Idle(0.0)) == [ReadInputs(3, (1,))]
    assert m(InputsRead(3, frozenset({1}))) == [Compute(3, measure=False)]
    assert m(TaskErred(3, "d", OSError("flaky"))) == [ReadInputs(3, (1,))]
    assert m(InputsRead(3, frozenset({1}))) == [Compute(3, measure=False)]
    assert m(TaskComputed(3, None)) == [Release(2), PutResult(3, (3,)), Release(3)]
    assert m(Idle(0.0)) == [Finish((), finished=True)]


def test_wukong_errors_and_base_exceptions_are_not_retried():
    """An unpicklable result or a KeyboardInterrupt raises again however often it runs."""
    for error in (UnpicklableResultError("a", "a lock"), KeyboardInterrupt()):
        m = Machine("L0", schedules(DIAMOND, ["d"], retries={"a": 3})[0])
        m.start()
        m(Idle(0.0))
        assert m(TaskErred(0, "a", error)) == [PutError("a", error, ()), Finish((), finished=True)]


def test_a_cancelled_job_finishes_quietly_and_a_version_mismatch_is_an_error():
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    m.start()
    m(Idle(0.0))
    m(TaskComputed(0, SMALL))
    assert m(Cancelled()) == [Finish((), finished=True)]
    other = Machine("L0", schedules(DIAMOND, ["d"])[0])
    other(Delivered("3.99"))
    [error, finish] = other(LeaseAnswered(LeaseState.OK))
    assert "3.99" in str(error.error) and finish == Finish((), finished=True)


# --- exactly one result per task (settings.exactly_one_result) ---


def test_without_exactly_one_result_an_inline_input_is_not_written():
    m = Machine("L0", schedules(DIAMOND, ["d"])[0], dataclasses.replace(SETTINGS, exactly_one_result=False))
    m.start()
    m(Idle(0.0))
    m(TaskComputed(0, SMALL))
    assert m(Registered(0, FINISH, (1, 2), (READY, READY), False, 0.0)) == [
        Delegate((2,)),
        Invoke((2,), inline=((0,),)),
    ]


def test_a_value_of_several_consumers_is_published_before_it_is_dropped():
    """
      a        ids: a=0, b=1, c=2, d=3, all big and all here: a's consumers b and c are claimed here; b
     / \\       is held back for d (not written). Once c ran, a leaves memory although nothing derived
    b   c      from it left yet: it is published first, since b's or c's value may leave later and a
     \\ /       retry would then need the a they saw.
      d
    """
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    m.start()
    m.state.add_schedule(schedules(DIAMOND, ["d"])[1])
    m(Idle(0.0))
    m(TaskComputed(0, BIG))
    assert m(Registered(0, FINISH, (1, 2), (READY, READY), True, 0.0)) == []
    assert m(Idle(0.0)) == [Compute(1, measure=True)]
    assert m(TaskComputed(1, BIG)) == [Register(1, (3,), True, FINISH, (1,))]
    assert m(Registered(1, FINISH, (3,), (WITHHELD,), True, 0.0)) == []  # b held back, unwritten
    assert m(Idle(0.0)) == [Compute(2, measure=True)]
    assert m(TaskComputed(2, BIG)) == [
        Write(0),
        Release(0),
        RegisterHeld(((1, 3),)),
        Register(2, (3,), True, FINISH, (2,)),
    ]


def test_a_retry_reuses_the_value_an_earlier_delivery_published():
    """Attempt 2 of L0: before computing a, it looks for a's published value; found, a is not computed
    again and its registration goes on with that value."""
    m = Machine("L0", schedules(DIAMOND, ["d"])[0])
    assert m(Delivered(PY_VERSION)) == [AcquireLease()]
    assert m(LeaseAnswered(LeaseState.OK, attempt=2)) == [LoadStart()]
    m(Started(m.schedule, {}))
    assert m(Idle(0.0)) == [ReadPublished(0, final=False)]
    assert m(Published(0, SMALL, in_kvs=True)) == [Register(0, (1, 2), False, FINISH, (0,))]
    assert m(Registered(0, FINISH, (1, 2), (OURS, DELEGATED), False, 0.0)) == [Invoke((2,), inline=((0,),))]
    assert m(Idle(0.0)) == [ReadPublished(1, final=False)]
    assert m(Published(1, None)) == [Compute(1, measure=True)]  # not published: nobody saw it; compute


def test_a_cheap_dependent_runs_here_instead_of_in_an_executor_of_its_own():
    """c was seen to take 0.1 ms, less than an invocation costs (2 ms): the leaf runs it after b rather
    than delegating and invoking it. A dependent of unknown duration is invoked as before."""
    from wukong.scheduler.durations import Durations

    durations = Durations()
    durations.learn([{"key": "c", "start": 0.0, "end": 0.0001}])
    m = Machine("L0", schedules(DIAMOND, ["d"], durations)[0])
    m.start()
    m(Idle(0.0))
    m(TaskComputed(0, SMALL))
    assert m(Registered(0, FINISH, (1, 2), (READY, READY), False, 0.0)) == []
    assert m.state.ready == [2, 1]  # b (the become) first, then c
    unknown = Machine("L0", schedules(DIAMOND, ["d"], Durations())[0])
    unknown.start()
    unknown(Idle(0.0))
    unknown(TaskComputed(0, SMALL))
    assert unknown(Registered(0, FINISH, (1, 2), (READY, READY), False, 0.0))[-1] == Invoke(
        (2,), inline=((0,),)
    )


def test_a_leaf_invocation_may_start_several_leaves():
    """
    a   x      ids: a=0, x=1, d=2. One invocation starts both leaves (a job with more leaves than the
     \\ /       platform runs at once): a first, then x; d completes here with both inputs in memory.
      d
    """
    sched = schedules(FAN_IN, ["d"])
    m = Machine("L0", sched[0])
    m.state = ExecutorState("L0", 0, 0, SETTINGS, more_starts=(1,))
    assert m(Delivered(PY_VERSION)) == [AcquireLease()]
    assert m(LeaseAnswered(LeaseState.OK)) == [LoadStart()]
    assert m(Started(sched[0], {}, more=(sched[1],))) == []
    assert m.state.ready == [1, 0]
    assert m(Idle(0.0)) == [Compute(0, measure=True)]
    assert m(TaskComputed(0, SMALL)) == [Write(0), Register(0, (2,), False, FINISH, (0,))]
    assert m(Registered(0, FINISH, (2,), (NOT_READY,), False, 0.0)) == [Release(0)]
    assert m(Idle(0.0)) == [Compute(1, measure=True)]
    assert m(Started(None, {}, more=())) == [Finish((), finished=True)]  # (a job that ended, elsewhere)
