"""The executor's decisions, as pure functions of what registration answered. No I/O here.

After a task finishes, its executor registers the output on every dependent and then decides:

* which dependents it runs itself: one (the static ``become`` if ready) for a small output; every
  ready one for a big output (*task clustering*);
* which it invokes executors for (small outputs: the other ready ones);
* which it keeps waiting for (*delayed I/O*: a big output whose dependents are not ready yet);
* whether the output must be written to the KV store before anything else is registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..protocol.registration import Status

# Delayed I/O re-checks with exponential back-off between these bounds.
DELAY_FIRST_CHECK_S = 0.005
DELAY_MAX_BACKOFF_S = 0.25
# At most this many cheap dependents of one fan-out run here instead of in executors of their own: the
# work given up to one executor stays under this many invocations' cost.
LOCAL_WORK_INVOCATIONS = 8


@dataclass(frozen=True)
class Fanout:
    run_locally: tuple[int, ...] = ()  # in the order to run them (the first is run next)
    invoke: tuple[int, ...] = ()  # claimed now: delegate each claim, then invoke an executor for it
    reinvoke: tuple[int, ...] = ()  # delegated by an earlier delivery of this invocation: invoke again
    withheld: tuple[int, ...] = ()  # delayed I/O: wait for these to become ready
    write_now: bool = False  # give up waiting: write the output, then register on ``withheld``


def writes_before_registering(dependency_counts: Sequence[int], big: bool) -> bool:
    """Small outputs are written first unless every dependent has this task as its only dependency
    (then its executor runs or invokes them all, and nobody else reads the output). Big outputs are
    never written up front: registration in withhold mode tells which dependents are ready."""
    if big:
        return False
    return any(count > 1 for count in dependency_counts)


def plan_fanout(
    dependents: Sequence[int], statuses: Sequence[Status], *, become: int | None, big: bool
) -> Fanout:
    """Decide from one registration's statuses (``protocol.registration.Status``) what happens next.

    What this invocation claimed before (a retry) it runs here again, and what it delegated it invokes
    again, so a retry follows the path of the delivery that died. Of what it claims now, it runs one
    here (the static ``become`` if possible) and invokes the rest; with a big output it runs them all
    here (task clustering)."""
    by_status: dict[Status, list[int]] = {}
    for dependent, status in zip(dependents, statuses, strict=True):
        assert status != Status.CANCELLED, "a cancelled registration has no plan"
        by_status.setdefault(status, []).append(dependent)
    claimed = by_status.get(Status.READY, [])
    if become in claimed:
        claimed.remove(become)
        claimed.insert(0, become)
    local, invoke = (claimed, []) if big else (claimed[:1], claimed[1:])
    return Fanout(
        run_locally=tuple(local + by_status.get(Status.OURS, [])),
        invoke=tuple(invoke),
        reinvoke=tuple(by_status.get(Status.DELEGATED, [])),
        withheld=tuple(
            d for d, s in zip(dependents, statuses, strict=True) if s in (Status.WITHHELD, Status.WRITE_NOW)
        ),
        write_now=Status.WRITE_NOW in by_status,
    )


def run_cheap_here(plan: Fanout, estimates: Mapping[int, float | None], invocation_cost_s: float) -> Fanout:
    """Of the dependents ``plan`` would invoke, run here those estimated (``TaskInfo.estimate_s``) to
    take less than starting an executor costs, up to LOCAL_WORK_INVOCATIONS of them: a getitem or a
    small concatenate finishes before another executor would have started. Unknown estimates stay
    invoked: parallelism is given up only for work known to be cheap."""
    cheap = [d for d in plan.invoke if (estimates.get(d) or invocation_cost_s) < invocation_cost_s]
    cheap = cheap[:LOCAL_WORK_INVOCATIONS]
    if not cheap:
        return plan
    return dataclasses.replace(
        plan,
        run_locally=plan.run_locally + tuple(cheap),
        invoke=tuple(d for d in plan.invoke if d not in cheap),
    )


@dataclass
class Backoff:
    """When to re-check a withheld output's dependents, and when to give up and write it."""

    started: float
    max_wait_s: float
    interval_s: float = DELAY_FIRST_CHECK_S
    next_check: float = field(init=False)

    def __post_init__(self):
        self.next_check = self.started + self.interval_s

    def due(self, now: float) -> bool:
        return now >= self.next_check

    def expired(self, now: float) -> bool:
        return now - self.started >= self.max_wait_s

    def step(self, now: float) -> None:
        self.interval_s = min(self.interval_s * 2, DELAY_MAX_BACKOFF_S)
        self.next_check = now + self.interval_s
