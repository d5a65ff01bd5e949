"""LambdaInvoker (boto3, InvocationType=Event), unmodified, against the Lambda platform's Invoke API.

No boto3 stubbing: requests go over HTTP to lambda_platform, which runs a packaged test function in
execution environments. Both payload checks are exercised: LambdaInvoker's own (before sending) and
Lambda's 413 answer. The invoker *function* fanning out through the platform is tested with the
synthesized stack (tests/cdk/test_platform_executor.py).
"""

from __future__ import annotations

import pytest
from platform_support import records, running_platform, write_stack

from lambda_platform.limits import EVENT_PAYLOAD_LIMIT_BYTES
from wukong.errors import PayloadTooLargeError
from wukong.invokers import LambdaInvoker

EXECUTOR = "WukongExecutor"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    """boto3 signs every request; dummy credentials, and no profile or metadata lookup."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return write_stack(tmp_path_factory.mktemp("invoker"), {EXECUTOR: {}})


@pytest.fixture(scope="module")
def platform(stack, runtime_dir):
    with running_platform(stack, runtime_dir) as platform:
        yield platform


def payload(i: int, size: int = 0) -> dict:
    return {"action": "return", "job": "j1", "leaf": f"leaf-{i}", "pad": "x" * size}


def events_for(stack, job: str) -> list[dict]:
    return sorted(
        (r["event"] for r in records(stack) if r["event"].get("job") == job), key=lambda e: e["leaf"]
    )


def test_event_invocations_reach_the_handler(platform, stack):
    payloads = [{**payload(i), "job": "many"} for i in range(25)]
    LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=platform.url, concurrency=4).invoke(payloads)
    platform.drain()
    assert events_for(stack, "many") == sorted(payloads, key=lambda e: e["leaf"])
    assert platform.dropped_events() == []


def test_a_single_invocation_goes_out_without_a_pool(platform, stack):
    LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=platform.url).invoke([{**payload(0), "job": "one"}])
    platform.drain()
    assert events_for(stack, "one") == [{**payload(0), "job": "one"}]


def test_oversized_payload_is_refused_before_sending(platform, stack):
    invoker = LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=platform.url, max_payload_bytes=1024)
    invocations = platform.stats()["invocations"]
    with pytest.raises(PayloadTooLargeError, match="over the 1024-byte limit"):
        invoker.invoke([{**payload(0), "job": "refused"}, {**payload(1, size=2048), "job": "refused"}])
    platform.drain()
    assert platform.stats()["invocations"] == invocations  # checked before any invocation went out
    assert events_for(stack, "refused") == []


def test_lambdas_413_answer_becomes_payload_too_large(platform, stack):
    """With a client limit above Lambda's, the platform's 413 (RequestEntityTooLargeException, as the
    service sends it) surfaces as PayloadTooLargeError."""
    invoker = LambdaInvoker(
        EXECUTOR, region=REGION, endpoint_url=platform.url, max_payload_bytes=4 * EVENT_PAYLOAD_LIMIT_BYTES
    )
    with pytest.raises(PayloadTooLargeError, match="refused .* as too large"):
        invoker.invoke([{**payload(0, size=EVENT_PAYLOAD_LIMIT_BYTES + 1), "job": "too-large"}])
    platform.drain()
    assert events_for(stack, "too-large") == []


def test_event_payloads_up_to_a_mebibyte_go_out_by_default(platform, stack):
    """Invoke takes 1 MB for asynchronous invocations (was 256 KB): the default limit on AWS is Lambda's."""
    invoker = LambdaInvoker(EXECUTOR, region=REGION, endpoint_url=platform.url)
    assert invoker.max_payload_bytes == EVENT_PAYLOAD_LIMIT_BYTES == 1024 * 1024
    big = {**payload(0, size=600 * 1024), "job": "big"}  # over the old 256 KiB, under 1 MiB
    invoker.invoke([big])
    platform.drain()
    assert events_for(stack, "big") == [big]


def test_the_payload_limit_is_the_platforms_by_default():
    from wukong.config import LAMBDA_ASYNC_PAYLOAD_BYTES, LOCAL_PAYLOAD_BYTES, WukongConfig

    assert WukongConfig(mode="aws").max_payload_bytes == LAMBDA_ASYNC_PAYLOAD_BYTES == 1024 * 1024
    assert WukongConfig().max_payload_bytes == LOCAL_PAYLOAD_BYTES == 256 * 1024  # local mode keeps its own
    assert WukongConfig(mode="aws", max_payload_bytes=4096).max_payload_bytes == 4096
