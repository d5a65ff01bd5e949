"""Run leases: one delivery of an invocation runs it; duplicates stop, retries of a dead one take over.

Lambda delivers an asynchronous invocation at least once. Claims in the MDS are per invocation
(``owner``), so any delivery could run it; the lease decides which one does. The holder renews it from a
background thread while it runs and marks it ``LeaseState.DONE`` when it finishes. A renewal also tells
the holder when its job has ended (``LeaseState.CANCELLED``): it then stops before its next task.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

from ..config import LEASE_RENEW_S, LEASE_TTL_S, LEASE_WAIT_S
from ..protocol.registration import LeaseState

POLL_S = 0.05


def new_delivery_id() -> str:
    return uuid.uuid4().hex


def acquire(mds, job: str, owner: str, delivery: str, clock=time.monotonic) -> tuple[LeaseState, int]:
    """(OK, attempt) when this delivery may run; DONE, HELD or CANCELLED when it must stop."""
    deadline = clock() + LEASE_WAIT_S
    while True:
        state, attempt = mds.lease(job, owner, delivery, int(LEASE_TTL_S * 1000))
        if state != LeaseState.HELD or clock() >= deadline:
            return state, attempt
        time.sleep(POLL_S)


class LeaseKeeper:
    """Renews the lease of the invocation this process is running (one at a time, like Lambda)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current: tuple | None = None
        self.cancelled_job: str | None = None  # the job a renewal found ended
        self.thread: threading.Thread | None = None

    def hold(self, mds, job: str, owner: str, delivery: str) -> None:
        with self.lock:
            self.current = (mds, job, owner, delivery)
            self.cancelled_job = None
            if self.thread is None:
                self.thread = threading.Thread(target=self.renew_forever, name="wukong-lease", daemon=True)
                self.thread.start()

    def release(self) -> None:
        with self.lock:
            self.current = None

    def cancelled(self, job: str) -> bool:
        """Has a renewal heard that ``job`` ended? (At most one renewal interval late.)"""
        return self.cancelled_job == job

    def renew_forever(self) -> None:
        while True:
            time.sleep(LEASE_RENEW_S)
            with self.lock:
                current = self.current
            if current is None:
                continue
            mds, job, owner, delivery = current
            # A missed renewal only risks a second delivery running too, which the protocol tolerates.
            with contextlib.suppress(Exception):
                state, _ = mds.lease(job, owner, delivery, int(LEASE_TTL_S * 1000))
                if state == LeaseState.CANCELLED:
                    with self.lock:
                        if self.current is current:
                            self.cancelled_job, self.current = job, None  # stop renewing


KEEPER = LeaseKeeper()
