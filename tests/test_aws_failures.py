"""Lambda's on-failure destination records: parsed, watched in SQS (moto), and failing the job at once.

The records below have the shape AWS documents for asynchronous invocation records ("Capturing records of
Lambda asynchronous invocations"); their ``requestPayload`` is a Wukong invocation. The watcher reads a
real SQS API (moto, in-process); the job test runs ``run_job`` against a real redis-server with a stand-in
for Lambda that accepts every event and then gives up on it, as Lambda does when the executor crashes
three times: it sends the record to the queue.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from wukong.aws.failures import FailedInvocation, FailureWatcher, parse_record
from wukong.config import WukongConfig
from wukong.errors import InvocationFailedError
from wukong.local.redis_server import RedisServer
from wukong.scheduler.dag import build_dag
from wukong.scheduler.job import run_job
from wukong.storage.connect import connect

REGION = "us-east-1"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:WukongStack-Executor:$LATEST"


def record(
    payload: dict | None, condition: str = "RetriesExhausted", attempts: int = 3, response=None
) -> dict:
    """A destination record as Lambda sends it for an event it gave up on."""
    document = {
        "version": "1.0",
        "timestamp": "2026-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4d2a-8880-a18cdf61200e",
            "functionArn": FUNCTION_ARN,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": response
        if response is not None
        else {"errorMessage": "RequestId: e4b4 Error: Runtime exited with error: signal: killed"},
    }
    if payload is not None:
        document["requestPayload"] = payload
    return document


def wukong_payload(job: str, owner: str = "L3", start: int = 3) -> dict:
    return {"job": job, "owner": owner, "start": start, "sched": 0, "py": "3.11", "settings": {}}


# --- the parser ---


def test_a_retries_exhausted_record_names_job_owner_start_condition_attempts_and_error():
    response = {"errorType": "MemoryError", "errorMessage": "cannot allocate", "stackTrace": []}
    assert parse_record(json.dumps(record(wukong_payload("j1"), response=response))) == FailedInvocation(
        job="j1",
        owner="L3",
        start=3,
        condition="RetriesExhausted",
        attempts=3,
        error="MemoryError: cannot allocate",
    )


def test_an_event_age_record_has_no_response_and_keeps_the_condition():
    document = record(wukong_payload("j2", "I7", 7), condition="EventAgeExceeded", attempts=0)
    del document["responseContext"], document["responsePayload"]
    failed = parse_record(document)
    assert (failed.job, failed.owner, failed.start) == ("j2", "I7", 7)
    assert (failed.condition, failed.attempts, failed.error) == ("EventAgeExceeded", 0, "")


def test_a_function_error_without_a_payload_message_is_named_by_its_kind():
    failed = parse_record(record(wukong_payload("j3"), response={}))
    assert failed.error == "Unhandled"


@pytest.mark.parametrize(
    "document",
    [
        record(None),  # over the destination's size limit: Lambda left the payload out
        record({"Records": []}),  # some other function's event
        {
            **record(wukong_payload("j4")),
            "requestContext": {"condition": "Success", "approximateInvokeCount": 1},
        },
    ],
    ids=["payload-dropped", "not-wukong", "success"],
)
def test_records_that_name_no_wukong_failure_are_none(document):
    assert parse_record(document) is None


# --- the watcher, on SQS ---


@pytest.fixture
def queue():
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="executor-failures")["QueueUrl"]
        yield sqs, url


def send(sqs, url, document: dict) -> None:
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(document))


def queued_bodies(sqs, url) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]


def test_the_watcher_takes_its_jobs_records_and_leaves_the_others(queue):
    sqs, url = queue
    send(sqs, url, record(wukong_payload("other-job")))
    send(sqs, url, record(wukong_payload("mine", "I9", 9)))
    send(sqs, url, record(None))
    watcher = FailureWatcher(url, sqs, wait_s=1, foreign_visibility_s=1)
    try:
        watcher.watch("mine")
        deadline = time.monotonic() + 10
        while watcher.failure("mine") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.failure("mine").owner == "I9"
        assert watcher.failure("other-job") is None
    finally:
        watcher.close()
    time.sleep(1.2)  # the records it left become visible again, to the watcher of their job
    left = queued_bodies(sqs, url)
    assert sorted(json.dumps(d.get("requestPayload", {}).get("job")) for d in left) == ['"other-job"', "null"]


def test_the_watcher_polls_only_while_a_job_is_watched(queue):
    sqs, url = queue
    send(sqs, url, record(wukong_payload("later")))
    watcher = FailureWatcher(url, sqs, wait_s=1)
    try:
        time.sleep(0.3)
        assert len(queued_bodies(sqs, url)) == 1  # not taken: nobody watched "later" yet
    finally:
        watcher.close()


# --- the job's wait loop ---


class GivingUpLambda:
    """Accepts every executor event (Invoke answers 202) and gives up on it: the executor never runs, and
    the destination record of each event goes to the failure queue, as after three crashed attempts."""

    def __init__(self, sqs, url):
        self.sqs, self.url, self.payloads = sqs, url, []

    def invoke(self, payloads: list[dict]) -> None:
        for payload in payloads:
            self.payloads.append(payload)
            send(self.sqs, self.url, record(payload))


def inc(x):
    return x + 1


@pytest.fixture(scope="module")
def mds():
    server = RedisServer()
    yield server
    server.close()


def test_a_given_up_event_fails_the_job_at_once_naming_its_task_and_the_condition(queue, mds):
    sqs, url = queue
    send(sqs, url, record(wukong_payload("someone-elses-job")))
    config = WukongConfig(host=mds.address, mds_password=mds.password, job_timeout_s=120.0)
    stores = connect(config)
    dag = build_dag({"x": 1, "y": (inc, "x"), "z": (inc, "y")}, ["z"])
    lambda_ = GivingUpLambda(sqs, url)
    watcher = FailureWatcher(url, sqs, wait_s=1, foreign_visibility_s=1)
    started = time.monotonic()
    try:
        with pytest.raises(InvocationFailedError) as failed:
            run_job(dag, stores, lambda_, config, failures=watcher)
    finally:
        watcher.close()
    assert time.monotonic() - started < 20  # at once, not at the 120 s deadline
    (leaf,) = lambda_.payloads
    message = str(failed.value)
    assert f"invocation {leaf['owner']} that starts task 'x'" in message
    assert "RetriesExhausted after 3 attempt(s)" in message and "signal: killed" in message
    assert failed.value.key == "x" and failed.value.condition == "RetriesExhausted"
    time.sleep(1.2)
    assert [d["requestPayload"]["job"] for d in queued_bodies(sqs, url)] == ["someone-elses-job"]
