"""Executor events Lambda gave up on, read from the executor's on-failure destination (an SQS queue).

Lambda sends a record for an asynchronous invocation that failed every attempt or aged out of its queue
(docs: "Capturing records of Lambda asynchronous invocations"). The SQS message body is the record::

    {"version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
     "requestContext": {"requestId": "e4b4...", "functionArn": "arn:aws:lambda:...:function:F:$LATEST",
                        "condition": "RetriesExhausted", "approximateInvokeCount": 3},
     "requestPayload": {"job": "3f2a...", "owner": "L12", "start": 12, ...},   # Wukong's payload
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
     "responsePayload": {"errorMessage": "... Process exited before completing request"}}

``condition`` is "RetriesExhausted" or "EventAgeExceeded" (then there is no response). When the record
would be over the destination's size limit Lambda leaves the payload out; such a record names no job and
is left in the queue (it ages out). One :class:`FailureWatcher` per cluster polls the queue while jobs
run; a record of a job it does not watch is left for the watcher (another client) that does.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

from .. import aws_sdk as sdk
from ..config import FAILURE_FOREIGN_VISIBILITY_S, FAILURE_POLL_WAIT_S

log = logging.getLogger(__name__)
SQS_MAX_MESSAGES = 10  # ReceiveMessage's maximum per call


@dataclass(frozen=True)
class FailedInvocation:
    job: str
    owner: str  # the invocation's name in the protocol ("L12": leaf 12, "I7": invoked for task 7)
    start: int  # the task id the invocation starts with
    condition: str  # Lambda's reason: "RetriesExhausted" or "EventAgeExceeded"
    attempts: int  # approximateInvokeCount
    error: str  # "<errorType>: <errorMessage>" of the last attempt, or the function error kind, or ""


def parse_record(body: str | dict) -> FailedInvocation | None:
    """The failure a destination record reports, or None for a record that is not a Wukong executor's
    (a success record, or one whose payload Lambda left out)."""
    record = json.loads(body) if isinstance(body, str) else body
    context = record.get("requestContext") or {}
    payload = record.get("requestPayload")
    condition = context.get("condition", "")
    if condition == "Success" or not isinstance(payload, dict) or "job" not in payload:
        return None
    return FailedInvocation(
        job=str(payload["job"]),
        owner=str(payload.get("owner", "")),
        start=int(payload.get("start", -1)),
        condition=condition or "unknown",
        attempts=int(context.get("approximateInvokeCount", 0)),
        error=describe_error(record),
    )


def describe_error(record: dict) -> str:
    response = record.get("responsePayload")
    if isinstance(response, dict) and (response.get("errorType") or response.get("errorMessage")):
        kind, message = response.get("errorType", ""), response.get("errorMessage", "")
        return f"{kind}: {message}" if kind and message else kind or message
    return (record.get("responseContext") or {}).get("functionError", "")


class FailureWatcher:
    """Polls the queue in a daemon thread while any job is watched; ``failure(job)`` is non-blocking.

    Records of watched jobs are deleted once seen; other records are left (received invisible for
    FAILURE_FOREIGN_VISIBILITY_S, then visible again to every watcher of the queue)."""

    def __init__(
        self,
        queue_url: str,
        client,
        *,
        wait_s: float = FAILURE_POLL_WAIT_S,
        foreign_visibility_s: int = FAILURE_FOREIGN_VISIBILITY_S,
    ):
        self.queue_url, self.client, self.wait_s = queue_url, client, wait_s
        self.foreign_visibility_s = foreign_visibility_s
        self._lock = threading.Lock()
        self._watched: dict[str, FailedInvocation | None] = {}
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="wukong-failure-watcher", daemon=True)
        self._thread.start()

    @classmethod
    def for_config(cls, config) -> FailureWatcher:
        return cls(config.failure_queue_url, sdk.client("sqs", region=config.aws_region))

    def watch(self, job: str) -> None:
        with self._lock:
            self._watched.setdefault(job, None)
            self._wake.notify()

    def forget(self, job: str) -> None:
        with self._lock:
            self._watched.pop(job, None)

    def failure(self, job: str) -> FailedInvocation | None:
        with self._lock:
            return self._watched.get(job)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=self.wait_s + 5)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._watched and not self._closed:
                    self._wake.wait()  # no job running: no requests
                if self._closed:
                    return
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - a failed poll must not end the watcher; the deadline still holds
                log.warning("reading the failure queue %s failed: %s", self.queue_url, exc)
                with self._lock:
                    self._wake.wait(timeout=self.wait_s)

    def poll_once(self) -> int:
        """One long poll; returns how many records of watched jobs it took."""
        response = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=SQS_MAX_MESSAGES,
            WaitTimeSeconds=max(0, round(self.wait_s)),
            VisibilityTimeout=self.foreign_visibility_s,
        )
        taken = 0
        for message in response.get("Messages", []):
            failed = parse_record(message["Body"])
            with self._lock:
                ours = failed is not None and failed.job in self._watched
                if ours and self._watched[failed.job] is None:
                    self._watched[failed.job] = failed
            if ours:
                self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                taken += 1
        return taken
