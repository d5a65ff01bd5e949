"""The job report says when a job was throttled: its executors reached the concurrency limit while it had
more to run, or Lambda throttled Invoke calls of its leaf burst."""

from __future__ import annotations

from wukong.diagnostics.report import build_report, peak_concurrency


def timing(owner: str, start: float, end: float) -> dict:
    return {"task": 0, "key": owner, "owner": owner, "start": start, "end": end}


def report(timings, invocations: int, limit: int, throttles: int = 0):
    counters = {"invocations": invocations, "tasks": len(timings), "executor_ms": 1}
    return build_report(
        "j", 1.0, invocations, counters, timings, {}, {}, concurrency_limit=limit, invoke_throttles=throttles
    )


def test_peak_concurrency_counts_invocations_running_at_once():
    # L0 runs two tasks (0-1 and 1-3); L1 runs from 0.5 to 2; L2 starts exactly when L1 ends.
    timings = [timing("L0", 0, 1), timing("L0", 1, 3), timing("L1", 0.5, 2), timing("L2", 2, 4)]
    assert peak_concurrency(timings) == 2
    assert peak_concurrency([]) == 0


def test_a_job_at_the_limit_with_more_to_run_was_throttled():
    timings = [timing(f"L{i}", 0, 1) for i in range(2)] + [timing("L2", 1, 2)]
    throttled = report(timings, invocations=3, limit=2)
    assert throttled.peak_executors == 2 and throttled.throttled
    assert "throttled: 2 executors ran at once, the limit of 2: more waited for a free one" in str(throttled)


def test_a_job_that_fits_the_limit_was_not():
    fits = report([timing(f"L{i}", 0, 1) for i in range(2)], invocations=2, limit=2)
    assert not fits.throttled and "throttled" not in str(fits)
    assert not report([timing("L0", 0, 1)], invocations=5, limit=0).throttled  # limit unknown


def test_throttled_invoke_calls_are_reported():
    text = str(report([timing("L0", 0, 1)], invocations=1, limit=1000, throttles=3))
    assert "3 Invoke calls of the leaf burst were throttled and retried" in text


def test_throttled_invoke_calls_are_retried_and_counted(monkeypatch, tmp_path, runtime_dir):
    """Lambda answers an Invoke call over its request rate with 429: botocore retries it, and the
    invoker counts it for the report. The platform's bucket is emptied first (two DryRuns at one request a
    second), so the leaf's first attempt is throttled; a retry gets through once a token is back."""
    from platform_support import lambda_client, records, running_platform, write_stack

    from wukong.invokers import LambdaInvoker

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    cdk_out = write_stack(tmp_path, {"WukongExecutor": {}})
    with running_platform(cdk_out, runtime_dir, invoke_rate_per_s=2) as platform:
        dry = lambda_client(platform.url, attempts=1)
        for _ in range(2):
            dry.invoke(FunctionName="WukongExecutor", InvocationType="DryRun", Payload=b"{}")
        invoker = LambdaInvoker("WukongExecutor", region="us-east-1", endpoint_url=platform.url)
        invoker.invoke([{"job": "j", "leaf": 0}])
        platform.drain()
        assert [record["event"] for record in records(cdk_out)] == [{"job": "j", "leaf": 0}]
        assert invoker.throttled_calls >= 1
        assert invoker.throttled_calls == platform.request_rate.refused
        assert platform.stats()["accepted"] == {"WukongExecutor": 1}
