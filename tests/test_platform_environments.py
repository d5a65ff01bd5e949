"""Execution environments: warm reuse, cold starts, the packaged path, and what ends an environment
(crash, timeout, memory over MemorySize), with CloudWatch-like logs and REPORT records."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from platform_support import invoke, lambda_client, running_platform, write_stack

FUNCTION = "env-test"


def start(tmp_path, runtime_dir, options=None, **settings):
    cdk_out = write_stack(tmp_path, {FUNCTION: {"timeout": 5, **(options or {})}})
    return running_platform(cdk_out, runtime_dir, **settings)


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_an_idle_environment_is_reused_warm(tmp_path, runtime_dir):
    with start(tmp_path, runtime_dir) as platform:
        client = lambda_client(platform.url)
        pids = [invoke(client, FUNCTION, {"action": "return"})[1]["pid"] for _ in range(3)]
        assert len(set(pids)) == 1
        first, *warm = platform.reports(FUNCTION)
        assert first.init_duration_ms is not None
        assert [report.init_duration_ms for report in warm] == [None, None]
        assert platform.stats()["cold_starts"] == 1


def test_a_cold_start_is_a_new_process_with_its_init_timed(tmp_path, runtime_dir):
    """Two invocations at once: the busy environment cannot serve the second, so a second one starts;
    the handler module's import (0.4 s of init work here) is reported as Init Duration and billed."""
    with start(tmp_path, runtime_dir, {"environment": {"TEST_INIT_SLEEP_S": "0.4"}}) as platform:
        client = lambda_client(platform.url)
        results = []
        threads = [
            threading.Thread(
                target=lambda: results.append(invoke(client, FUNCTION, {"action": "sleep", "seconds": 1})[1])
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({result["pid"] for result in results}) == 2
        reports = platform.reports(FUNCTION)
        assert all(report.init_duration_ms >= 400 for report in reports)
        assert all(
            report.billed_duration_ms >= report.duration_ms + report.init_duration_ms for report in reports
        )
        assert "Init Duration: " in reports[0].line()


def test_the_environment_sees_the_package_and_nothing_else(tmp_path, runtime_dir):
    extra = {"AWS_ENDPOINT_URL_LAMBDA": "{platform_url}"}
    with start(tmp_path, runtime_dir, {"memory": 256}, extra_environment=extra) as platform:
        _, seen = invoke(lambda_client(platform.url), FUNCTION, {"action": "describe"})
        spec = platform.functions[FUNCTION]
    code, layer = str(spec.code_dir), str(spec.layer_dirs[0] / "python")
    assert seen["path"][:3] == [code, layer, str(runtime_dir)]
    stdlib = seen["path"][3:]
    assert stdlib and all(path.startswith(sys.base_prefix) for path in stdlib), stdlib
    assert not [path for path in seen["path"] if "site-packages" in path]
    assert seen["cwd"] == code and seen["layer"] == "layer_helper"
    assert not list(spec.code_dir.parent.rglob("__pycache__"))  # read-only on Lambda: no bytecode written
    environ = seen["environ"]
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == FUNCTION == seen["function_name"]
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" == seen["memory_limit_in_mb"]
    assert environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert (environ["LAMBDA_TASK_ROOT"], environ["_HANDLER"]) == (code, "handlers.handler")
    assert environ["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert environ["AWS_ENDPOINT_URL_LAMBDA"] == platform.url
    assert "VIRTUAL_ENV" not in environ and "PYTEST_CURRENT_TEST" not in environ  # not the platform's own
    assert seen["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
    assert 0 < seen["remaining_ms"] <= 5000


def test_a_handler_exception_keeps_the_environment(tmp_path, runtime_dir):
    with start(tmp_path, runtime_dir) as platform:
        client = lambda_client(platform.url)
        pid = invoke(client, FUNCTION, {"action": "return"})[1]["pid"]
        response, _ = invoke(client, FUNCTION, {"action": "raise"})
        assert response["FunctionError"] == "Unhandled"
        assert invoke(client, FUNCTION, {"action": "return"})[1]["pid"] == pid


@pytest.mark.parametrize(
    "event, message",
    [
        ({"action": "exit", "code": 3}, "Runtime exited with error: exit status 3"),
        ({"action": "signal", "signal": 11}, "Runtime exited with error: signal: segmentation fault"),
    ],
)
def test_a_crash_discards_the_environment(tmp_path, runtime_dir, event, message):
    with start(tmp_path, runtime_dir) as platform:
        client = lambda_client(platform.url)
        pid = invoke(client, FUNCTION, {"action": "return"})[1]["pid"]
        response, error = invoke(client, FUNCTION, event)
        assert response["FunctionError"] == "Unhandled"
        assert error["errorType"] == "Runtime.ExitError" and message in error["errorMessage"]
        assert invoke(client, FUNCTION, {"action": "return"})[1]["pid"] != pid
        assert not alive(pid)
        crashed, next_one = platform.reports(FUNCTION)[-2:]
        assert (crashed.status, crashed.error_type) == ("error", "Runtime.ExitError")
        assert next_one.init_duration_ms is not None  # a cold start


@pytest.mark.parametrize(
    "options, error_type, message",
    [
        ({"handler": "missing.handler"}, "Runtime.ImportModuleError", "Unable to import module 'missing'"),
        (
            {"environment": {"TEST_INIT_EXIT": "4"}},
            "Runtime.ExitError",
            "Runtime exited with error: exit status 4",
        ),
    ],
)
def test_a_failed_init_is_a_function_error_and_the_next_invocation_starts_cold(
    tmp_path, runtime_dir, options, error_type, message
):
    with start(tmp_path, runtime_dir, options) as platform:
        client = lambda_client(platform.url)
        for _ in range(2):
            response, error = invoke(client, FUNCTION, {"action": "return"})
            assert response["FunctionError"] == "Unhandled"
            assert error["errorType"] == error_type and message in error["errorMessage"]
        reports = platform.reports(FUNCTION)
        assert [(r.status, r.error_type) for r in reports] == [("error", error_type)] * 2
        assert all(report.init_duration_ms is not None for report in reports)
        assert platform.stats()["cold_starts"] == 2


def test_the_timeout_kills_the_environment(tmp_path, runtime_dir):
    with start(tmp_path, runtime_dir, {"timeout": 1}) as platform:
        client = lambda_client(platform.url)
        pid = invoke(client, FUNCTION, {"action": "return"})[1]["pid"]
        started = time.monotonic()
        response, error = invoke(client, FUNCTION, {"action": "sleep", "seconds": 30})
        assert time.monotonic() - started < 5
        assert error == {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {platform.reports(FUNCTION)[-1].request_id} Error: Task timed out after 1.00 seconds",
        }
        report = platform.reports(FUNCTION)[-1]
        assert (report.status, report.error_type) == ("timeout", "Sandbox.Timedout")
        assert 1000 <= report.duration_ms < 2000
        assert invoke(client, FUNCTION, {"action": "return"})[1]["pid"] != pid
        assert not alive(pid)


def test_memory_over_memory_size_kills_the_environment(tmp_path, runtime_dir):
    with start(tmp_path, runtime_dir, {"memory": 128}) as platform:
        client = lambda_client(platform.url)
        pid = invoke(client, FUNCTION, {"action": "allocate", "mb": 40})[1]["pid"]  # under the limit: fine
        response, error = invoke(client, FUNCTION, {"action": "allocate", "mb": 400, "hold_s": 10})
        assert error["errorType"] == "Runtime.OutOfMemory"
        assert "Runtime exited with error: signal: killed" in error["errorMessage"]
        report = platform.reports(FUNCTION)[-1]
        assert report.max_memory_used_mb >= 128 and report.duration_ms < 5000
        assert "Error Type: Runtime.OutOfMemory" in report.line()
        assert invoke(client, FUNCTION, {"action": "return"})[1]["pid"] != pid
        assert not alive(pid)


def test_logs_are_kept_per_function_and_environment_like_cloudwatch(tmp_path, runtime_dir):
    with start(tmp_path, runtime_dir) as platform:
        client = lambda_client(platform.url)
        invoke(client, FUNCTION, {"action": "print", "text": "first"})
        invoke(client, FUNCTION, {"action": "print", "text": "second"})
        first, second = platform.reports(FUNCTION)
    (stream,) = (platform.logs_dir / FUNCTION).iterdir()
    assert stream.read_text().splitlines() == [
        "INIT_START Runtime Version: python:3.11.mainline",
        "init done",
        f"START RequestId: {first.request_id} Version: $LATEST",
        "first",
        f"END RequestId: {first.request_id}",
        first.line(),
        f"START RequestId: {second.request_id} Version: $LATEST",
        "second",
        f"END RequestId: {second.request_id}",
        second.line(),
    ]
    assert first.line().startswith(f"REPORT RequestId: {first.request_id}\tDuration: ")
    assert (
        "\tBilled Duration: " in first.line() and "\tMemory Size: 128 MB\tMax Memory Used: " in first.line()
    )
    assert platform.billed_gb_s() == pytest.approx(
        (first.billed_duration_ms + second.billed_duration_ms) / 1000 * 128 / 1024
    )


def test_invoke_and_cold_start_latencies_are_added(tmp_path, runtime_dir):
    with start(tmp_path, runtime_dir, invoke_latency_s=0.2, cold_start_latency_s=0.5) as platform:
        client = lambda_client(platform.url)
        timings = []
        for _ in range(2):
            started = time.monotonic()
            invoke(client, FUNCTION, {"action": "return"})
            timings.append(time.monotonic() - started)
    cold, warm = timings
    assert cold >= 0.7 and 0.2 <= warm < 0.5


def test_an_environment_outlives_the_request_thread_that_started_it(tmp_path, runtime_dir):
    """PR_SET_PDEATHSIG fires when the forking *thread* ends: environments are forked by the spawner
    thread, which lives as long as the platform, not by the request's (test_platform_shutdown kills
    the platform itself)."""
    with start(tmp_path, runtime_dir) as platform:
        client = lambda_client(platform.url)
        pid = invoke(client, FUNCTION, {"action": "return"})[1]["pid"]
        time.sleep(0.5)  # the request's connection thread has ended by now
        assert alive(pid) and invoke(client, FUNCTION, {"action": "return"})[1]["pid"] == pid
        assert os.getpgid(pid) == pid  # a session of its own: killpg reaches the handler's children


@pytest.mark.parametrize("freeze_idle", [True, False])
def test_an_idle_environment_is_frozen_until_it_is_reused(tmp_path, runtime_dir, freeze_idle):
    """A thread the handler left running does not run while the environment is idle (Lambda freezes it),
    and runs again once the next invocation thaws it; with freeze_idle=False it never stops."""
    ticks = tmp_path / "ticks"
    with start(tmp_path, runtime_dir, freeze_idle=freeze_idle) as platform:
        client = lambda_client(platform.url)
        invoke(client, FUNCTION, {"action": "background", "file": str(ticks)})
        time.sleep(0.2)
        idle_before = len(ticks.read_text().splitlines())
        time.sleep(0.5)
        idle_after = len(ticks.read_text().splitlines())
        invoke(client, FUNCTION, {"action": "sleep", "seconds": 0.5})
        busy_after = len(ticks.read_text().splitlines())
    assert (idle_after == idle_before) is freeze_idle
    assert busy_after >= idle_after + 10  # ~50 ticks in the 0.5 s invocation
