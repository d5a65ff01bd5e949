"""What flows through the executor's state machine (``state.py``): events in (what happened),
instructions out (what to do). Plain frozen data; ``QUESTIONS`` are the instructions whose answer is
the next event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..protocol.registration import LeaseState, Status
from ..protocol.schedule import EncodedSchedule, Schedule


class Purpose(Enum):
    """Why a registration was made, so that its answer is read the right way."""

    FINISH = "finish"  # a task just computed here registers on its dependents
    RECHECK = "recheck"  # delayed I/O: a withheld output asks again whether its dependents are ready
    GIVE_UP = "give_up"  # delayed I/O is over: the output was written, now it registers for real


# --- events: what happened -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Delivered:
    py_version: str  # the client's Python, from the payload


@dataclass(frozen=True, slots=True)
class LeaseAnswered:
    state: LeaseState
    attempt: int = 1  # which delivery of the invocation this is (2 and more: a retry)


@dataclass(frozen=True, slots=True)
class Started:
    schedule: Schedule | EncodedSchedule | None  # None: the job's keys are gone (it ended)
    inline: Mapping[int, int]  # inputs that came in the payload: task -> serialized bytes
    more: tuple = ()  # the schedules of the invocation's further starts (several leaves at once)


@dataclass(frozen=True, slots=True)
class ScheduleLoaded:
    schedule: Schedule | EncodedSchedule | None  # None: the job's keys are gone


@dataclass(frozen=True, slots=True)
class InputsRead:
    task: int
    found: frozenset[int]  # the requested inputs the KV store had


@dataclass(frozen=True, slots=True)
class ClaimsRead:
    task: int
    owners: Mapping[int, str | None]  # absent input -> the invocation that claimed it


@dataclass(frozen=True, slots=True)
class Published:
    task: int
    nbytes: int | None  # the value an earlier delivery published (now held), or None: there is none
    in_kvs: bool = False  # found among the outputs (else among the results, or nowhere)


@dataclass(frozen=True, slots=True)
class TaskComputed:
    task: int
    nbytes: int | None  # serialized size, when asked to measure


@dataclass(frozen=True, slots=True)
class TaskErred:
    task: int
    key: Any  # the dask key that raised (a task group's member, or the task)
    error: BaseException


@dataclass(frozen=True, slots=True)
class Registered:
    task: int
    purpose: Purpose
    dependents: tuple[int, ...]
    statuses: tuple[Status, ...]
    withhold: bool
    now: float


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A store refused: the job has ended."""


@dataclass(frozen=True, slots=True)
class Woken:
    task: int | None  # the held output whose dependents changed, or None at the timeout
    now: float


@dataclass(frozen=True, slots=True)
class Idle:
    now: float


@dataclass(frozen=True, slots=True)
class Crashed:
    """The shell failed to carry an instruction out (Redis gone, a value over a limit, a bug)."""

    error: BaseException


# --- instructions: what to do ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AcquireLease:
    pass


@dataclass(frozen=True, slots=True)
class LoadStart:
    """Decode the payload's schedule (or read it from the MDS) and its inline inputs."""


@dataclass(frozen=True, slots=True)
class LoadSchedule:
    schedule_id: int


@dataclass(frozen=True, slots=True)
class ReadInputs:
    task: int
    inputs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ReadClaims:
    task: int
    inputs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ReadPublished:
    """A retry, before computing a task: read the value an earlier delivery published, if any."""

    task: int
    final: bool  # also look among the job's results


@dataclass(frozen=True, slots=True)
class Compute:
    task: int
    measure: bool  # answer with the output's serialized size


@dataclass(frozen=True, slots=True)
class PutResult:
    task: int
    done: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Write:
    task: int


@dataclass(frozen=True, slots=True)
class RegisterHeld:
    """Register outputs held here on a dependent this executor completes itself (nobody else can)."""

    pairs: tuple[tuple[int, int], ...]  # (held task, dependent)


@dataclass(frozen=True, slots=True)
class Register:
    task: int
    dependents: tuple[int, ...]
    withhold: bool
    purpose: Purpose
    done: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Delegate:
    tasks: tuple[int, ...]  # claimed here; rewrite each claim to its invocation before invoking it


@dataclass(frozen=True, slots=True)
class Invoke:
    tasks: tuple[int, ...]
    inline: tuple[tuple[int, ...], ...]  # per task: the held inputs that travel in its payload


@dataclass(frozen=True, slots=True)
class InvokeThroughProxy:
    tasks: tuple[int, ...]
    inline: tuple[int, ...]  # held inputs sent once, shared by every target


@dataclass(frozen=True, slots=True)
class Release:
    task: int  # drop the value from memory


@dataclass(frozen=True, slots=True)
class WaitForWake:
    tasks: tuple[int, ...]
    timeout_s: float


@dataclass(frozen=True, slots=True)
class PutError:
    key: Any
    error: BaseException
    done: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Finish:
    done: tuple[int, ...]
    finished: bool  # the invocation ran (lease taken): mark its lease done and leave the running set


QUESTIONS = (
    AcquireLease,
    LoadStart,
    LoadSchedule,
    ReadPublished,
    ReadInputs,
    ReadClaims,
    Compute,
    Register,
    WaitForWake,
)
