"""The leaf burst through the invoker function: batches by count and by the Event payload limit, and
the packaged invoker handler starting every leaf on the Lambda platform (stand-in executor: a recorder)."""

from __future__ import annotations

import pytest
from platform_support import records, running_platform, write_stack

from wukong.invokers import InvokerFunctionBurst, LambdaInvoker
from wukong.invokers.leaf_burst import BATCH_ENVELOPE_BYTES, batches
from wukong.protocol.payload import encode


def test_batches_hold_at_most_the_count_and_fit_the_payload_limit():
    payloads = [{"leaf": i, "pad": "x" * 90} for i in range(10)]
    one = len(encode(payloads[0])) + 1
    assert [len(b) for b in batches(payloads, 4, 10**6)] == [4, 4, 2]
    assert [len(b) for b in batches(payloads, 100, BATCH_ENVELOPE_BYTES + 3 * one)] == [3, 3, 3, 1]
    assert sum(batches(payloads, 3, 10**6), []) == payloads  # every leaf once, in order


@pytest.fixture
def recorder_platform(tmp_path, runtime_dir, monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    cdk_out = write_stack(tmp_path, {"executor": {}, "invoker": {}})
    with running_platform(cdk_out, runtime_dir, concurrency=4) as platform:
        yield platform, cdk_out


def test_a_small_burst_goes_direct_and_a_big_one_in_batches(recorder_platform):
    platform, cdk_out = recorder_platform
    make = lambda name: LambdaInvoker(name, region="us-east-1", endpoint_url=platform.url)  # noqa: E731
    burst = InvokerFunctionBurst(make("executor"), make("invoker"), min_leaves=3, batch_leaves=2)
    burst.invoke([{"leaf": i} for i in range(3)])
    burst.invoke([{"leaf": i} for i in range(3, 8)])
    platform.drain()
    assert platform.stats()["accepted"] == {"executor": 3, "invoker": 3}
    batched = [r["event"]["payloads"] for r in records(cdk_out) if "payloads" in r["event"]]
    assert sorted(len(batch) for batch in batched) == [1, 2, 2]
