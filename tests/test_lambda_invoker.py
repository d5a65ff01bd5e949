"""LambdaInvoker (boto3, InvocationType=Event) against a loopback server that speaks Lambda's Invoke API.

No boto3 stubbing: requests go over HTTP to tests/lambda_endpoint.py, which runs Python callables as the
functions. Both payload checks are exercised: LambdaInvoker's own (before sending) and Lambda's 413 answer.
"""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from lambda_endpoint import EVENT_PAYLOAD_LIMIT_BYTES, LambdaEndpoint

from wukong.config import LAMBDA_ASYNC_PAYLOAD_BYTES, LOCAL_PAYLOAD_BYTES, WukongConfig
from wukong.errors import PayloadTooLargeError
from wukong.invokers import LambdaInvoker

EXECUTOR = "WukongExecutor"
INVOKER = "WukongInvoker"
REGION = "us-east-1"


class Recorder:
    """A stand-in executor function: remembers every event it was invoked with."""

    def __init__(self):
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, event, context):
        assert context.function_name == EXECUTOR and context.get_remaining_time_in_millis() > 0
        with self.lock:
            self.events.append(event)
        return {"ok": True}


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    """boto3 signs every request; dummy credentials, and no profile or metadata lookup."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def executor():
    return Recorder()


@pytest.fixture
def endpoint(executor):
    with LambdaEndpoint({EXECUTOR: executor}) as endpoint:
        yield endpoint


def payload(i: int, size: int = 0) -> dict:
    return {"job": "j1", "leaf": f"leaf-{i}", "pad": "x" * size}


def test_event_invocations_reach_the_handler(endpoint, executor):
    payloads = [payload(i) for i in range(25)]
    LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=endpoint.url, concurrency=4).invoke(payloads)
    endpoint.drain()
    assert sorted(executor.events, key=lambda e: e["leaf"]) == sorted(payloads, key=lambda e: e["leaf"])
    assert {(r.invocation_type, r.status) for r in endpoint.requests} == {("Event", 202)}
    assert endpoint.errors == []


def test_a_single_invocation_goes_out_without_a_pool(endpoint, executor):
    LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=endpoint.url).invoke([payload(0)])
    endpoint.drain()
    assert executor.events == [payload(0)]


def test_oversized_payload_is_refused_before_sending(endpoint, executor):
    invoker = LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=endpoint.url, max_payload_bytes=1024)
    with pytest.raises(PayloadTooLargeError, match="over the 1024-byte limit"):
        invoker.invoke([payload(0), payload(1, size=2048)])
    assert endpoint.requests == []  # checked before any invocation went out
    assert executor.events == []


@pytest.mark.parametrize("error_code", ["RequestEntityTooLargeException", "RequestTooLargeException"])
def test_lambdas_413_answer_becomes_payload_too_large(endpoint, executor, error_code):
    """With a client limit above Lambda's, the server's 413 must surface as ours, under the code the service
    sends (RequestEntityTooLargeException) and the one botocore's model names (RequestTooLargeException)."""
    endpoint.too_large_error = error_code
    invoker = LambdaInvoker(
        EXECUTOR, region=REGION, endpoint_url=endpoint.url, max_payload_bytes=4 * EVENT_PAYLOAD_LIMIT_BYTES
    )
    with pytest.raises(PayloadTooLargeError, match="refused .* as too large"):
        invoker.invoke([payload(0, size=EVENT_PAYLOAD_LIMIT_BYTES + 1)])
    assert [(r.status, r.body_bytes > EVENT_PAYLOAD_LIMIT_BYTES) for r in endpoint.requests] == [(413, True)]
    endpoint.drain()
    assert executor.events == []


def test_the_endpoint_answers_as_lambda_does(endpoint, executor):
    client = boto3.client("lambda", region_name=REGION, endpoint_url=endpoint.url)
    response = client.invoke(FunctionName=EXECUTOR, Payload=json.dumps({"a": 1}).encode())
    assert response["StatusCode"] == 200 and json.loads(response["Payload"].read()) == {"ok": True}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", InvocationType="Event", Payload=b"{}")
    too_big = b'{"pad": "' + b"x" * EVENT_PAYLOAD_LIMIT_BYTES + b'"}'
    with pytest.raises(ClientError) as refused:
        client.invoke(FunctionName=EXECUTOR, InvocationType="Event", Payload=too_big)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert "too large for the Event invocation type (limit 1048576 bytes)" in error["Error"]["Message"]


def test_invoker_function_fans_out_to_the_executor(executor, monkeypatch):
    """The invoker Lambda's handler, itself invoked over HTTP, invokes the executor once per payload."""
    from wukong.invokers.handler import lambda_handler

    with LambdaEndpoint({EXECUTOR: executor, INVOKER: lambda_handler}) as endpoint:
        monkeypatch.setenv("WUKONG_LAMBDA_ENDPOINT_URL", endpoint.url)
        monkeypatch.setenv("WUKONG_EXECUTOR_FUNCTION_NAME", EXECUTOR)
        monkeypatch.setenv("WUKONG_AWS_REGION", REGION)
        payloads = [payload(i) for i in range(12)]
        LambdaInvoker(INVOKER, region=REGION, endpoint_url=endpoint.url).invoke([{"payloads": payloads}])
        endpoint.drain()
        # The invoker's own Event invocations of the executor run on further threads: drain those too.
        endpoint.drain()
        assert endpoint.errors == []
        assert sorted(e["leaf"] for e in executor.events) == sorted(p["leaf"] for p in payloads)


def test_event_payloads_up_to_a_mebibyte_go_out_by_default(endpoint, executor):
    """Invoke takes 1 MB for asynchronous invocations (was 256 KB): the default limit on AWS is Lambda's."""
    assert LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=endpoint.url).max_payload_bytes == 1024 * 1024
    big = payload(0, size=600 * 1024)  # over the old 256 KiB, under 1 MiB
    LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=endpoint.url).invoke([big])
    endpoint.drain()
    assert executor.events == [big]


def test_the_platforms_payload_limit_is_the_config_default():
    assert WukongConfig(mode="aws").max_payload_bytes == LAMBDA_ASYNC_PAYLOAD_BYTES == 1024 * 1024
    assert WukongConfig().max_payload_bytes == LOCAL_PAYLOAD_BYTES == 256 * 1024  # local mode keeps its own
    assert WukongConfig(mode="aws", max_payload_bytes=4096).max_payload_bytes == 4096


def test_throttled_invoke_calls_are_retried_and_counted(endpoint, executor):
    endpoint.throttle_next = 2
    invoker = LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=endpoint.url)
    invoker.invoke([payload(0)])
    endpoint.drain()
    assert executor.events == [payload(0)]
    assert invoker.throttled_calls == 2
    assert [r.status for r in endpoint.requests] == [429, 429, 202]
