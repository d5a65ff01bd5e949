"""The platform's Invoke API, driven by boto3 as any client would: status codes, errors, names, limits."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError
from platform_support import invoke, lambda_client, records, running_platform, write_stack

from lambda_platform.limits import EVENT_PAYLOAD_LIMIT_BYTES, REQUEST_RESPONSE_PAYLOAD_LIMIT_BYTES

FUNCTION = "api-test"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, runtime_dir):
    cdk_out = write_stack(tmp_path_factory.mktemp("api"), {FUNCTION: {"timeout": 10}})
    with running_platform(cdk_out, runtime_dir, concurrency=1) as platform:
        yield platform


@pytest.fixture(scope="module")
def client(platform):
    return lambda_client(platform.url)


def padded_event(total_bytes: int) -> bytes:
    """A JSON event of exactly ``total_bytes``."""
    frame = b'{"action": "return", "pad": ""}'
    return frame[:-2] + b"x" * (total_bytes - len(frame)) + frame[-2:]


def test_request_response_returns_the_result(client):
    response, body = invoke(client, FUNCTION, {"action": "return"})
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert body["action"] == "return"


def test_a_handler_exception_is_an_unhandled_function_error(client):
    response, body = invoke(client, FUNCTION, {"action": "raise", "message": "no such job"})
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "no such job")
    assert any("handlers.py" in frame for frame in body["stackTrace"])


@pytest.mark.parametrize(
    "function_name, qualifier",
    [
        (FUNCTION, None),
        (f"{FUNCTION}:$LATEST", None),
        (f"123456789012:function:{FUNCTION}", None),
        (ARN, None),
        (f"{ARN}:$LATEST", None),
        (FUNCTION, "$LATEST"),
    ],
)
def test_names_partial_and_full_arns_and_qualifiers(client, function_name, qualifier):
    extra = {"Qualifier": qualifier} if qualifier else {}
    response, _ = invoke(client, function_name, {"action": "return"}, **extra)
    assert response["StatusCode"] == 200


@pytest.mark.parametrize(
    "function_name",
    [
        "no-such-function",
        f"{FUNCTION}:7",
        ARN.replace("us-east-1", "eu-west-1"),
        ARN.replace("123456789012", "210987654321"),
    ],
)
def test_an_unknown_function_or_version_is_404(client, function_name):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b"{}")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Function not found" in raised.value.response["Error"]["Message"]


def test_dry_run_is_204_and_runs_nothing(client, platform):
    before = len(records(platform.functions[FUNCTION].code_dir.parent))
    response = client.invoke(FunctionName=FUNCTION, InvocationType="DryRun", Payload=b'{"action": "return"}')
    assert response["StatusCode"] == 204
    assert len(records(platform.functions[FUNCTION].code_dir.parent)) == before


@pytest.mark.parametrize(
    "invocation_type, limit, message",
    [
        (
            "Event",
            EVENT_PAYLOAD_LIMIT_BYTES,
            "byte payload is too large for the Event invocation type (limit 1048576 bytes)",
        ),
        (
            "RequestResponse",
            REQUEST_RESPONSE_PAYLOAD_LIMIT_BYTES,
            "Request must be smaller than 6291456 bytes",
        ),
    ],
)
def test_a_payload_over_the_limit_is_413(client, platform, invocation_type, limit, message):
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName=FUNCTION, InvocationType=invocation_type, Payload=padded_event(limit + 1))
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert message in error["Error"]["Message"]
    accepted = client.invoke(
        FunctionName=FUNCTION, InvocationType=invocation_type, Payload=padded_event(limit)
    )
    assert accepted["StatusCode"] == (202 if invocation_type == "Event" else 200)
    platform.drain()


def test_a_body_that_is_not_json_is_400(client):
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName=FUNCTION, Payload=b"not json")


def test_request_response_over_the_concurrency_limit_is_429(client, platform):
    """concurrency=1: while one invocation runs, a second RequestResponse is throttled, not queued."""
    busy = threading.Thread(target=invoke, args=(client, FUNCTION, {"action": "sleep", "seconds": 1.5}))
    busy.start()
    deadline = time.monotonic() + 10
    while platform.capacity.running == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(client.exceptions.TooManyRequestsException) as raised:
        invoke(client, FUNCTION, {"action": "return"})
    busy.join()
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert invoke(client, FUNCTION, {"action": "return"})[0]["StatusCode"] == 200  # free again


def test_log_type_tail_returns_the_invocations_log(client):
    response, _ = invoke(
        client, FUNCTION, {"action": "print", "text": "hello from the handler"}, LogType="Tail"
    )
    log = base64.b64decode(response["LogResult"]).decode()
    lines = log.splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith(" Version: $LATEST")
    assert "hello from the handler" in lines
    assert lines[-2].startswith("END RequestId: ") and lines[-1].startswith("REPORT RequestId: ")


def test_reports_endpoint_returns_the_records_and_billed_gb_s(client, platform):
    invoke(client, FUNCTION, {"action": "return"})
    with urllib.request.urlopen(f"{platform.url}/_platform/reports?function={FUNCTION}") as answer:
        document = json.load(answer)
    reports = platform.reports(FUNCTION)
    assert [r["request_id"] for r in document["reports"]] == [r.request_id for r in reports]
    assert document["billed_gb_s"] == pytest.approx(sum(r.billed_gb_s for r in reports))
    first = document["reports"][0]
    assert first["memory_size_mb"] == 128 and first["billed_duration_ms"] >= first["duration_ms"]
    with urllib.request.urlopen(f"{platform.url}/_platform/stats") as answer:
        assert json.load(answer)["invocations"] == len(reports)
