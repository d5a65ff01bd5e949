"""The Lambda platform: functions from a synthesized template, run in execution environments behind an
Invoke API on loopback.

    with LambdaPlatform.from_cdk_out("cdk.out", environment={"WUKONG_HOST": "127.0.0.1:6379"}) as platform:
        boto3.client("lambda", endpoint_url=platform.url).invoke(FunctionName="WukongStack-Executor", ...)
        platform.drain()                   # every Event invocation has run to its end
        platform.reports()                 # the REPORT records; platform.billed_gb_s() sums them

Stopping (``stop()``, leaving the ``with``, or the CLI's Ctrl-C/SIGTERM) kills every environment's
process group and stops the servers and threads.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from . import invocation
from .account import RequestRate
from .destinations import Destinations, invocation_record
from .environment import Sandbox
from .event_queue import EventQueue, QueuedEvent
from .intrinsics import Intrinsics
from .invoke_api import invoke_server
from .logs import Report, ReportBook
from .memory import MemoryWatcher
from .names import function_arn
from .pool import Capacity, Environments, Throttled
from .settings import PLATFORM_URL, DroppedEvent, PlatformSettings
from .spawner import Spawner
from .template import FunctionSpec, load_functions


class LambdaPlatform:
    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        settings: PlatformSettings | None = None,
        *,
        runtime_dir: Path | None = None,
    ):
        self.functions = dict(functions)
        self.settings = settings or PlatformSettings()
        self.runtime_dir = Path(runtime_dir).resolve() if runtime_dir else None
        self.logs_dir = Path(self.settings.logs_dir or tempfile.mkdtemp(prefix="lambda-platform-logs-"))
        self.book = ReportBook()
        self.capacity = Capacity(
            self.settings.concurrency,
            {
                name: spec.reserved_concurrency
                for name, spec in self.functions.items()
                if spec.reserved_concurrency is not None
            },
        )
        self.request_rate = RequestRate(self.settings.invoke_rate_per_s)
        self.duplicates = 0
        self.accepted: dict[str, int] = defaultdict(int)  # Event invocations answered 202, per function
        self.api_calls: dict[str, int] = defaultdict(int)  # requests per API operation
        self._dropped: list[DroppedEvent] = []
        self._lock = threading.Lock()
        self._random = random.Random(self.settings.seed)
        self._started = False
        self.server = self.spawner = self.environments = self.memory = self.events = None

    @classmethod
    def from_cdk_out(
        cls,
        cdk_out: Path | str,
        stack: str = "WukongStack",
        *,
        intrinsics: Intrinsics | None = None,
        environment: Mapping[str, str] | None = None,
        function_environment: Mapping[str, Mapping[str, str]] | None = None,
        settings: PlatformSettings | None = None,
        runtime_dir: Path | None = None,
    ) -> LambdaPlatform:
        settings = settings or PlatformSettings()
        intrinsics = intrinsics or Intrinsics(
            region=settings.region, account_id=settings.account_id, stack_name=stack
        )
        functions = load_functions(
            Path(cdk_out),
            stack,
            intrinsics=intrinsics,
            environment=environment,
            function_environment=function_environment,
        )
        return cls(functions, settings, runtime_dir=runtime_dir)

    # --- lifecycle ---

    def start(self) -> LambdaPlatform:
        from .runtime_dir import build_runtime_dir  # imports the repository's cdk and layers packages

        check_python_versions(self.functions.values())
        if self.runtime_dir is None:
            self.runtime_dir = build_runtime_dir(log=lambda line: print(line, file=sys.stderr))
        self._started = True
        try:
            self._start_parts()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_parts(self) -> None:
        settings = self.settings
        self.server = invoke_server(self, settings.host, settings.port)  # listens now, serves once started
        extra = {
            name: value.replace(PLATFORM_URL, self.url) for name, value in settings.extra_environment.items()
        }
        sandbox = Sandbox(
            self.runtime_dir, self.logs_dir, settings.region, settings.account_id, settings.credentials, extra
        )
        self.spawner = Spawner()
        self.environments = Environments(
            sandbox,
            self.spawner,
            limit=settings.concurrency,
            idle_s=settings.idle_timeout_s,
            cold_start_latency_s=settings.cold_start_latency_s,
            freeze_idle=settings.freeze_idle,
        )
        self.destinations = Destinations(
            sqs_endpoint_url=settings.sqs_endpoint_url, credentials=settings.credentials
        )
        self.memory = MemoryWatcher(
            self.environments.live,
            lambda environment, rss: environment.kill("memory"),
            settings.memory_poll_s,
        ).start()
        self.events = EventQueue(
            self.capacity, self._execute_event, self._drop, delay_scale=settings.delay_scale
        ).start()
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.server is not None:  # first: no new invocations
            self.server.stop()
        if self.events is not None:
            self.events.stop()
        if self.memory is not None:
            self.memory.stop()
        if self.environments is not None:
            self.environments.stop_all()
        if self.spawner is not None:
            self.spawner.close()

    def __enter__(self) -> LambdaPlatform:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- invocations (the Invoke API calls these) ---

    def count_call(self, operation: str) -> None:
        with self._lock:
            self.api_calls[operation] += 1

    def function(self, name: str) -> FunctionSpec | None:
        return self.functions.get(name)

    def invoke_sync(self, spec: FunctionSpec, payload: bytes, client_context: str = "") -> invocation.Result:
        if not self.capacity.try_acquire(spec.name):
            raise Throttled(spec.name, self.capacity.throttle_reason(spec.name))
        try:
            return self._execute(spec, str(uuid.uuid4()), payload, client_context)
        finally:
            self.capacity.release(spec.name)

    def invoke_async(self, spec: FunctionSpec, payload: bytes) -> str:
        request_id = str(uuid.uuid4())
        self.events.put(spec, request_id, payload)
        with self._lock:
            self.accepted[spec.name] += 1
            duplicate = self._random.random() < self.settings.duplicate_probability
            self.duplicates += duplicate
        if duplicate:  # the same event, the same request id, delivered once more
            self.events.put(spec, request_id, payload)
        return request_id

    def _execute(
        self, spec: FunctionSpec, request_id: str, payload: bytes, client_context: str = ""
    ) -> invocation.Result:
        environment = self.environments.acquire(spec)
        keep = False
        try:
            result = invocation.run(environment, request_id, payload, client_context)
            keep = result.keep_environment
        finally:
            self.environments.release(environment, keep)
        self.book.add(result.report)
        return result

    def _execute_event(self, spec: FunctionSpec, request_id: str, payload: bytes) -> bytes | None:
        result = self._execute(spec, request_id, payload)
        return result.payload if result.function_error else None

    def _drop(self, event: QueuedEvent, condition: str) -> None:
        spec = event.function
        destination, delivered, error = spec.async_config.on_failure_destination, False, ""
        if destination:
            record = invocation_record(
                request_id=event.request_id,
                function_arn=self.function_arn(spec.name),
                condition=condition,
                attempts=event.attempts,
                payload=event.payload,
                error=event.last_error,
            )
            try:
                self.destinations.send(destination, record)
                delivered = True
            except Exception as exc:  # a destination that fails must not stop the queue; it is recorded
                error = f"{type(exc).__name__}: {exc}"
                print(
                    f"lambda_platform: OnFailure record for {event.request_id} not sent: {error}",
                    file=sys.stderr,
                )
        dropped = DroppedEvent(
            spec.name, event.request_id, condition, event.attempts, event.age_s, destination, delivered, error
        )
        with self._lock:
            self._dropped.append(dropped)

    # --- what the caller reads ---

    def function_arn(self, name: str) -> str:
        return function_arn(self.settings.region, self.settings.account_id, name)

    def reports(self, function: str = "") -> list[Report]:
        return self.book.reports(function)

    def billed_gb_s(self, function: str = "") -> float:
        return self.book.billed_gb_s(function)

    def dropped_events(self) -> list[DroppedEvent]:
        with self._lock:
            return list(self._dropped)

    def drain(self, timeout_s: float = 60.0) -> None:
        """Wait until every Event invocation so far has succeeded or been dropped."""
        if not self.events.drain(timeout_s):
            raise TimeoutError(
                f"{self.events.pending()} Event invocation(s) still queued or running after {timeout_s} s"
            )

    def stats(self) -> dict:
        return {
            "invocations": len(self.book.reports()),
            "cold_starts": self.environments.cold_starts,
            "environments": len(self.environments.live()),
            "running": self.capacity.running,
            "queued": self.events.pending(),
            "throttles": self.events.throttles,
            "retries": self.events.retries,
            "duplicates": self.duplicates,
            "dropped": len(self.dropped_events()),
            "billed_gb_s": self.billed_gb_s(),
            "accepted": dict(self.accepted),
            "api_calls": dict(self.api_calls),
        }

    def dropped_as_dicts(self) -> list[dict]:
        return [asdict(event) for event in self.dropped_events()]


def check_python_versions(functions) -> None:
    running = "{}.{}".format(*sys.version_info[:2])
    for spec in functions:
        if spec.python_version != running:
            raise RuntimeError(
                f"{spec.name} runs on {spec.runtime}, but the platform runs on Python {running}: start it with "
                f"python{spec.python_version} (the environments use the platform's interpreter, without its packages)"
            )
