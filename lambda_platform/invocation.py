"""One invocation on one execution environment: init if cold, invoke, classify, log, report.

What a caller gets back (:class:`Result`) is what Lambda's Invoke returns for RequestResponse: the
function's response, or an error document with ``X-Amz-Function-Error: Unhandled``. The documents for
failures outside the handler are Lambda's:

- timeout: ``Sandbox.Timedout``, "RequestId: ... Error: Task timed out after 3.00 seconds"
- the process exited: ``Runtime.ExitError``, "... Runtime exited with error: exit status 3" (or
  "signal: segmentation fault")
- over ``MemorySize``: ``Runtime.OutOfMemory``, "... Runtime exited with error: signal: killed"
- the handler could not be loaded: what awslambdaric posted to init/error (``Runtime.ImportModuleError``)

After any of these but a handler exception the environment is discarded (``Result.keep_environment``).
"""

from __future__ import annotations

import datetime
import json
import signal
import time
import uuid
from dataclasses import dataclass

from .environment import ExecutionEnvironment
from .logs import MB, Report
from .memory import peak_rss_bytes
from .runtime_api import Invocation, Outcome

RUNTIME_VERSION = "python:3.11.mainline"  # what INIT_START names; Lambda's has a build hash


@dataclass(frozen=True)
class Result:
    payload: bytes
    function_error: str  # "" or "Unhandled"
    report: Report
    log: str  # START to REPORT, for X-Amz-Log-Type: Tail
    keep_environment: bool


def run(
    environment: ExecutionEnvironment, request_id: str, payload: bytes, client_context: str = ""
) -> Result:
    spec, log = environment.spec, environment.log
    cold = environment.init_duration_ms is None
    if cold:
        log.write(f"INIT_START Runtime Version: {RUNTIME_VERSION}")
        state = environment.wait_initialized(spec.timeout_s)
        environment.drain_output()
        if state != "ready":
            return init_failure(environment, request_id, state)
    log.start(request_id)
    started = time.monotonic()
    invocation = Invocation(
        request_id=request_id,
        payload=payload,
        function_arn=environment.sandbox.function_arn(spec.name),
        deadline_epoch_ms=int((time.time() + spec.timeout_s) * 1000),
        trace_id=trace_id(),
        client_context=client_context,
    )
    outcome = environment.invoke(invocation, spec.timeout_s)
    duration_ms = (time.monotonic() - started) * 1000
    environment.drain_output()
    if outcome is None:
        outcome = platform_failure(environment, request_id)
    status = "success" if outcome.kind == "response" else failure_status(outcome)
    error_type = "" if outcome.kind == "response" else error_type_of(outcome)
    return finish(environment, request_id, outcome, duration_ms, cold, status, error_type)


def finish(environment, request_id, outcome: Outcome, duration_ms, cold, status, error_type) -> Result:
    spec = environment.spec
    peak = max(environment.peak_memory_bytes, peak_rss_bytes(environment.pid))
    environment.peak_memory_bytes = peak
    report = Report(
        function=spec.name,
        request_id=request_id,
        duration_ms=duration_ms,
        memory_size_mb=spec.memory_mb,
        max_memory_used_mb=max(1, round(peak / MB)),
        init_duration_ms=environment.init_duration_ms if cold else None,
        status=status,
        error_type=error_type,
    )
    return Result(
        payload=outcome.body,
        function_error="" if outcome.kind == "response" else "Unhandled",
        report=report,
        log=environment.log.end(report),
        keep_environment=environment.alive,  # a handler exception keeps it; a kill or an exit does not
    )


def init_failure(environment: ExecutionEnvironment, request_id: str, state: str) -> Result:
    """The handler never became ready: an init error, an exit during init, or init over the timeout."""
    if state == "init_error":
        document = dict(environment.api.init_error)
        document["requestId"] = request_id
        outcome = Outcome("error", json.dumps(document).encode(), str(document.get("errorType", "")))
        environment.wait_exit(1.0)  # awslambdaric exits after posting an init error
    elif state == "timeout":
        environment.kill("timeout")
        outcome = timeout_error(request_id, environment.spec.timeout_s)
    else:
        outcome = exit_error(request_id, environment.returncode)
    environment.kill("init failed")
    environment.log.start(request_id)
    if state == "timeout":
        environment.log.write(timeout_line(request_id, environment.spec.timeout_s))
    init_ms = (time.monotonic() - environment.started_at) * 1000
    environment.init_duration_ms = init_ms
    status = "timeout" if state == "timeout" else "error"
    return finish(environment, request_id, outcome, 0.0, True, status, outcome.error_type)


def platform_failure(environment: ExecutionEnvironment, request_id: str) -> Outcome:
    """No outcome was posted: the process died (maybe killed for memory) or the timeout passed."""
    if environment.returncode is None and not environment.kill_reason:
        environment.kill("timeout")
        environment.log.write(timeout_line(request_id, environment.spec.timeout_s))
        return timeout_error(request_id, environment.spec.timeout_s)
    environment.wait_exit(1.0)
    if environment.kill_reason == "memory":
        return error_outcome(
            "Runtime.OutOfMemory", f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
        )
    return exit_error(request_id, environment.returncode)


def timeout_error(request_id: str, timeout_s: float) -> Outcome:
    return error_outcome(
        "Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    )


def timeout_line(request_id: str, timeout_s: float) -> str:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"{now} {request_id} Task timed out after {timeout_s:.2f} seconds"


def exit_error(request_id: str, returncode: int | None) -> Outcome:
    return error_outcome(
        "Runtime.ExitError",
        f"RequestId: {request_id} Error: Runtime exited with error: {exit_text(returncode)}",
    )


def exit_text(returncode: int | None) -> str:
    """As Lambda's Go runtime manager words it: "exit status 3", "signal: killed"."""
    if returncode is None or returncode >= 0:
        return f"exit status {returncode}"
    description = signal.strsignal(-returncode) or f"signal {-returncode}"
    return f"signal: {description[0].lower()}{description[1:]}"


def error_outcome(error_type: str, message: str) -> Outcome:
    return Outcome(
        "error", json.dumps({"errorType": error_type, "errorMessage": message}).encode(), error_type
    )


def failure_status(outcome: Outcome) -> str:
    return "timeout" if error_type_of(outcome) == "Sandbox.Timedout" else "error"


def error_type_of(outcome: Outcome) -> str:
    if outcome.error_type:
        return outcome.error_type
    try:
        return str(json.loads(outcome.body).get("errorType", "Unhandled"))
    except (ValueError, AttributeError):
        return "Unhandled"


def trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
