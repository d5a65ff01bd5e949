"""Each registration status, straight from the register script on a real redis-server.

A dependent ``d`` with two dependencies (tasks 1 and 2) in a job of its own per test; ``L0`` and
``L1`` are invocations, ``I9`` the invocation a claim of task 9 is delegated to.
"""

from __future__ import annotations

import pytest

from wukong.protocol.registration import LeaseState, Status
from wukong.scheduler.job import new_job_id
from wukong.storage import keys

D = 9  # the dependent
NEED = 2  # its dependency count
DELEGATE = "I9"


@pytest.fixture
def mds(client):
    return client.stores.mds


@pytest.fixture
def job(mds):
    job = new_job_id()
    yield job
    mds.delete_job(job, D + 1, [0])
    mds.redis.delete(keys.cancelled(job))
    assert list(mds.redis.scan_iter(match=keys.job_pattern(job))) == []  # every key known by name


def register(mds, job, task, owner, withhold=False, need=NEED, done=()):
    return mds.register(job, task, [(D, need, DELEGATE)], owner, list(done), withhold)


def registered(mds, job) -> set[int]:
    return {int(t) for t in mds.redis.smembers(keys.registered(job, D))}


def test_not_ready_then_ready_claims_for_the_completing_invocation(mds, job):
    assert register(mds, job, 1, "L0") == [Status.NOT_READY]
    assert register(mds, job, 2, "L1") == [Status.READY]
    assert mds.claims(job, [D]) == ["L1"]
    assert registered(mds, job) == {1, 2}


def test_registering_again_changes_nothing(mds, job):
    register(mds, job, 1, "L0")
    assert register(mds, job, 1, "L0") == [Status.NOT_READY]
    assert registered(mds, job) == {1}
    assert mds.claims(job, [D]) == [None]


def test_a_retry_of_the_claiming_invocation_hears_ours(mds, job):
    register(mds, job, 1, "L0")
    assert register(mds, job, 2, "L1") == [Status.READY]
    assert register(mds, job, 2, "L1") == [Status.OURS]  # the same invocation, delivered again
    assert register(mds, job, 1, "L0") == [Status.TAKEN]  # complete, but someone else's


def test_a_delegated_claim_is_heard_as_delegated(mds, job):
    register(mds, job, 1, "L0")
    register(mds, job, 2, "L1")
    mds.delegate(job, [(D, DELEGATE)])
    assert mds.claims(job, [D]) == [DELEGATE]
    assert register(mds, job, 2, "L1") == [Status.DELEGATED]


def test_withholding_holds_and_the_lowest_holder_writes_now(mds, job):
    assert register(mds, job, 2, "L1", withhold=True) == [Status.WITHHELD]
    assert registered(mds, job) == set()
    assert mds.redis.smembers(keys.held(job, D)) == {b"2"}
    # Every missing input is now held: the holder of the lowest id (1) must write.
    assert register(mds, job, 1, "L0", withhold=True) == [Status.WRITE_NOW]
    assert register(mds, job, 2, "L1", withhold=True) == [Status.WITHHELD]


def test_withholding_registers_where_it_completes_the_set(mds, job):
    register(mds, job, 1, "L0")
    assert register(mds, job, 2, "L1", withhold=True) == [Status.READY]
    assert registered(mds, job) == {1, 2}


def test_a_registration_wakes_the_holder_of_another_input(mds, job):
    register(mds, job, 2, "L1", withhold=True)
    register(mds, job, 1, "L0")
    assert mds.wait_for_wake(job, [2], timeout_s=1) == 2


def test_registration_marks_the_tasks_done(mds, job):
    register(mds, job, 1, "L0", done=[1, 5])
    assert mds.done_tasks(job) == {1, 5}


def test_a_cancelled_job_registers_nothing(mds, job):
    mds.cancel(job)
    assert register(mds, job, 1, "L0", done=[1]) is None
    assert registered(mds, job) == set() and mds.done_tasks(job) == set()


def test_lease_states_and_attempts(mds, job):
    assert mds.lease(job, "L0", "first", 2000) == (LeaseState.OK, 1)
    assert mds.lease(job, "L0", "second", 2000) == (LeaseState.HELD, 0)
    assert mds.lease(job, "L0", "first", 2000) == (LeaseState.OK, 0)  # the holder renews
    mds.redis.delete(keys.lease(job, "L0"))  # the holder died: its lease expired
    assert mds.lease(job, "L0", "second", 2000) == (LeaseState.OK, 2)  # a retry takes over
    mds.add_stats(job, {"tasks": 1}, [], [], finished_owner="L0")
    assert mds.lease(job, "L0", "third", 2000) == (LeaseState.DONE, 0)
    mds.cancel(job)
    assert mds.lease(job, "L1", "any", 2000) == (LeaseState.CANCELLED, 0)


def test_an_ended_job_refuses_results_errors_and_counters(mds, job):
    assert mds.put_result(job, 3, b"first", [3]) is True
    assert mds.put_result(job, 3, b"second", []) is False  # the first value stored wins
    assert mds.redis.get(keys.result(job, 3)) == b"first"
    mds.cancel(job)
    assert mds.put_result(job, 4, b"late", [4]) is None
    assert mds.put_error(job, b"late error", []) is False
    mds.add_stats(job, {"tasks": 1}, [], [5])
    assert not mds.redis.exists(keys.result(job, 4), keys.error(job), keys.stats(job))
    assert mds.done_tasks(job) == {3}
