"""The account-level parts of Lambda on the platform: GetAccountSettings and GetFunctionConcurrency as
boto3 reads them, reserved concurrency from the template enforced, and the Invoke request rate answered
with 429 as Lambda answers it."""

from __future__ import annotations

import json
import threading
import time

import pytest
from platform_support import invoke, lambda_client, running_platform, write_stack

RESERVED = "reserved-test"  # ReservedConcurrentExecutions: 1
SHARED = "shared-test"  # no reservation: the unreserved pool


@pytest.fixture(scope="module")
def platform(tmp_path_factory, runtime_dir):
    cdk_out = write_stack(
        tmp_path_factory.mktemp("account"),
        {RESERVED: {"reserved": 1, "timeout": 10}, SHARED: {"timeout": 10}},
    )
    with running_platform(cdk_out, runtime_dir, concurrency=3) as platform:
        yield platform


def test_account_settings_give_the_limit_and_the_unreserved_rest(platform):
    limit = lambda_client(platform.url).get_account_settings()["AccountLimit"]
    assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (3, 2)
    assert limit["CodeSizeUnzipped"] == 262144000  # Lambda's 250 MB for a function and its layers


def test_function_concurrency_is_the_templates_reservation_or_nothing(platform):
    client = lambda_client(platform.url)
    assert client.get_function_concurrency(FunctionName=RESERVED)["ReservedConcurrentExecutions"] == 1
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=SHARED)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_concurrency(FunctionName="no-such-function")


def test_a_reserved_function_runs_at_most_its_reservation_and_keeps_it_from_others(platform):
    """RESERVED (1) is busy: a second RequestResponse is throttled with the reservation's reason, while
    SHARED still has the two unreserved slots, and no more."""
    client = lambda_client(platform.url)
    busy = [threading.Thread(target=invoke, args=(client, RESERVED, {"action": "sleep", "seconds": 1.5}))]
    busy += [
        threading.Thread(target=invoke, args=(client, SHARED, {"action": "sleep", "seconds": 1.5}))
        for _ in range(2)
    ]
    for thread in busy:
        thread.start()
    deadline = time.monotonic() + 60  # cold starts first
    while platform.capacity.running < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    reasons = {}
    for function in (RESERVED, SHARED):
        with pytest.raises(client.exceptions.TooManyRequestsException) as raised:
            invoke(client, function, {"action": "return"})
        reasons[function] = raised.value.response["Reason"]
    for thread in busy:
        thread.join()
    assert reasons == {
        RESERVED: "ReservedFunctionConcurrentInvocationLimitExceeded",
        SHARED: "ConcurrentInvocationLimitExceeded",
    }


def test_over_the_request_rate_invoke_is_429(tmp_path, runtime_dir):
    cdk_out = write_stack(tmp_path, {SHARED: {}})
    with running_platform(cdk_out, runtime_dir, invoke_rate_per_s=1) as platform:
        client = lambda_client(platform.url, attempts=1)  # every 429 seen: botocore would retry them
        statuses = []
        for _ in range(3):  # at once: the bucket holds one second's worth, 1 request
            try:
                client.invoke(FunctionName=SHARED, InvocationType="DryRun", Payload=json.dumps({}).encode())
                statuses.append(204)
            except client.exceptions.TooManyRequestsException as exc:
                statuses.append(429)
                assert exc.response["Reason"] == "FunctionInvocationRateLimitExceeded"
        assert statuses == [204, 429, 429]
        time.sleep(1.1)  # one token back
        assert invoke(client, SHARED, {"action": "return"}, InvocationType="DryRun")[0]["StatusCode"] == 204
        assert platform.stats()["api_calls"]["Invoke"] == 4
