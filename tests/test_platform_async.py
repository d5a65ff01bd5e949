"""Asynchronous (Event) invocations on the platform: throttling with back-off, retries after each kind of
failure, the event age, OnFailure records to SQS (moto's), duplicate deliveries.

Lambda's delays (1 and 2 minutes between retries, 1 s to 5 min for throttled events) are scaled down
with ``delay_scale``; the sequence of deliveries is what Lambda's would be.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import boto3
import pytest
from moto.server import ThreadedMotoServer
from platform_support import lambda_client, records, running_platform, write_stack

FUNCTION = "async-test"
DELAY_SCALE = 0.01  # retries after 0.6 s and 1.2 s; throttled events back off from 10 ms
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def send_events(platform, events: list[dict]) -> list[str]:
    client = lambda_client(platform.url)
    ids = []
    for event in events:
        response = client.invoke(
            FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        assert response["StatusCode"] == 202
        ids.append(response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
    return ids


def deliveries(cdk_out, request_id: str) -> list[dict]:
    return [record for record in records(cdk_out) if record["request_id"] == request_id]


def test_event_invocations_run_once_each_and_are_reported(tmp_path, runtime_dir):
    cdk_out = write_stack(tmp_path, {FUNCTION: {}})
    with running_platform(cdk_out, runtime_dir) as platform:
        ids = send_events(platform, [{"action": "return", "n": n} for n in range(10)])
        platform.drain()
        assert Counter(record["request_id"] for record in records(cdk_out)) == Counter(ids)
        assert {report.request_id for report in platform.reports(FUNCTION)} == set(ids)
        assert platform.dropped_events() == []


def test_events_over_the_concurrency_limit_wait_and_back_off(tmp_path, runtime_dir):
    """concurrency=2, eight 0.3 s events at once: six are throttled, go back to the queue, and run later;
    never more than two run at a time, and none is lost."""
    cdk_out = write_stack(tmp_path, {FUNCTION: {}})
    with running_platform(cdk_out, runtime_dir, concurrency=2, delay_scale=DELAY_SCALE) as platform:
        ids = send_events(platform, [{"action": "sleep", "seconds": 0.3, "n": n} for n in range(8)])
        running = []
        while platform.events.pending():
            running.append(platform.capacity.running)
            time.sleep(0.01)
        platform.drain()
        assert max(running) == 2
        assert platform.events.throttles >= 6
        assert sorted(record["request_id"] for record in records(cdk_out)) == sorted(ids)
        assert platform.stats()["environments"] <= 2


@pytest.mark.parametrize(
    "failure, options",
    [
        ({"how": "raise"}, {}),
        ({"how": "exit"}, {}),
        ({"how": "kill"}, {}),
    ],
)
def test_a_failed_delivery_is_retried_after_the_delay(tmp_path, runtime_dir, failure, options):
    """Fails the first two deliveries (an exception, os._exit, SIGKILL): Lambda's two retries, 1 then
    2 minutes apart (scaled), get the event through on the third."""
    cdk_out = write_stack(tmp_path, {FUNCTION: options})
    with running_platform(cdk_out, runtime_dir, delay_scale=DELAY_SCALE) as platform:
        (request_id,) = send_events(platform, [{"action": "fail", "times": 2, **failure}])
        platform.drain()
        seen = deliveries(cdk_out, request_id)
        assert len(seen) == 3
        assert platform.dropped_events() == [] and platform.events.retries == 2
        statuses = [report.status for report in platform.reports(FUNCTION)]
        assert statuses == ["error", "error", "success"]
        if failure["how"] != "raise":  # the crashed environment was discarded: a new process each time
            assert len({record["pid"] for record in seen}) == 3


def test_retry_delays_are_lambdas_scaled(tmp_path, runtime_dir):
    cdk_out = write_stack(tmp_path, {FUNCTION: {}})
    with running_platform(cdk_out, runtime_dir, delay_scale=0.02) as platform:  # 1.2 s, then 2.4 s
        started = time.monotonic()
        send_events(platform, [{"action": "fail", "times": 2}])
        platform.drain()
        assert 3.6 <= time.monotonic() - started < 10


@pytest.mark.parametrize(
    "event, options, error_type",
    [
        ({"action": "sleep", "seconds": 30}, {"timeout": 1}, "Sandbox.Timedout"),
        ({"action": "allocate", "mb": 400, "hold_s": 10}, {"memory": 128}, "Runtime.OutOfMemory"),
    ],
)
def test_timeouts_and_memory_kills_are_retried_until_the_retries_are_exhausted(
    tmp_path,
    runtime_dir,
    event,
    options,
    error_type,
):
    cdk_out = write_stack(tmp_path, {FUNCTION: {"retries": 1, **options}})
    with running_platform(cdk_out, runtime_dir, delay_scale=DELAY_SCALE) as platform:
        (request_id,) = send_events(platform, [event])
        platform.drain()
        assert len({record["pid"] for record in deliveries(cdk_out, request_id)}) == 2  # two environments
        assert [report.error_type for report in platform.reports(FUNCTION)] == [error_type, error_type]
        (dropped,) = platform.dropped_events()
        assert (dropped.request_id, dropped.condition, dropped.attempts) == (
            request_id,
            "RetriesExhausted",
            2,
        )


def test_an_event_throttled_past_the_maximum_age_is_dropped(tmp_path, runtime_dir):
    """Concurrency 1 and a 1 s maximum age: an event throttled behind a 2 s invocation ages out unrun."""
    cdk_out = write_stack(tmp_path, {FUNCTION: {"max_age_s": 1}})
    with running_platform(cdk_out, runtime_dir, concurrency=1, delay_scale=DELAY_SCALE) as platform:
        busy, waiting = send_events(platform, [{"action": "sleep", "seconds": 2}, {"action": "return"}])
        platform.drain()
        (dropped,) = platform.dropped_events()
        assert (dropped.request_id, dropped.condition, dropped.attempts) == (waiting, "EventAgeExceeded", 0)
        assert dropped.age_s > 1
        assert deliveries(cdk_out, waiting) == [] and len(deliveries(cdk_out, busy)) == 1


def test_a_retry_due_after_the_maximum_age_is_dropped(tmp_path, runtime_dir):
    """The first retry comes 1 min after the failure (3 s at this scale), past the 1 s maximum age."""
    cdk_out = write_stack(tmp_path, {FUNCTION: {"max_age_s": 1}})
    with running_platform(cdk_out, runtime_dir, delay_scale=0.05) as platform:
        (request_id,) = send_events(platform, [{"action": "fail", "times": 1}])
        platform.drain()
        (dropped,) = platform.dropped_events()
        assert (dropped.request_id, dropped.condition, dropped.attempts) == (
            request_id,
            "EventAgeExceeded",
            1,
        )
        assert len(deliveries(cdk_out, request_id)) == 1


@pytest.fixture
def sqs():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("sqs", endpoint_url=url, **CREDENTIALS)
    queue_url = client.create_queue(QueueName="failed-events")["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    yield (
        url,
        arn,
        lambda: client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []),
    )
    server.stop()


def test_exhausted_and_aged_out_events_go_to_the_on_failure_queue(tmp_path, runtime_dir, sqs):
    """Two functions send their dropped events to one queue: one event exhausts its one retry, the other's
    retry (1 min after its failure, 3 s at this scale) would come after its 1 s maximum age."""
    url, queue_arn, receive = sqs
    functions = {
        FUNCTION: {"retries": 1, "on_failure": queue_arn},
        "aging-test": {"max_age_s": 1, "on_failure": queue_arn},
    }
    cdk_out = write_stack(tmp_path, functions)
    with running_platform(cdk_out, runtime_dir, delay_scale=0.05, sqs_endpoint_url=url) as platform:
        (exhausted,) = send_events(platform, [{"action": "raise", "message": "always"}])
        client = lambda_client(platform.url)
        aged = client.invoke(
            FunctionName="aging-test", InvocationType="Event", Payload=b'{"action": "fail", "times": 1}'
        )
        platform.drain()
        assert all(
            dropped.delivered and dropped.destination == queue_arn for dropped in platform.dropped_events()
        )
    records_by_id = {}
    for message in receive():
        record = json.loads(message["Body"])
        records_by_id[record["requestContext"]["requestId"]] = record
    record = records_by_id[exhausted]
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": exhausted,
        "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 2,
    }
    assert record["requestPayload"] == {"action": "raise", "message": "always"}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert (record["responsePayload"]["errorType"], record["responsePayload"]["errorMessage"]) == (
        "ValueError",
        "always",
    )
    record = records_by_id[aged["ResponseMetadata"]["RequestId"]]
    assert (record["requestContext"]["condition"], record["requestContext"]["approximateInvokeCount"]) == (
        "EventAgeExceeded",
        1,
    )
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_a_duplicate_delivery_has_the_same_request_id(tmp_path, runtime_dir):
    cdk_out = write_stack(tmp_path, {FUNCTION: {}})
    with running_platform(cdk_out, runtime_dir, duplicate_probability=1.0, seed=7) as platform:
        ids = send_events(platform, [{"action": "return", "n": n} for n in range(3)])
        platform.drain()
        assert Counter(record["request_id"] for record in records(cdk_out)) == Counter({i: 2 for i in ids})
        assert platform.stats()["duplicates"] == 3
