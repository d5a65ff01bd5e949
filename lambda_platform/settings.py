"""What a platform is started with, and what it records of the events it drops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .limits import DEFAULT_CONCURRENCY, IDLE_ENVIRONMENT_S, MEMORY_POLL_S

# In ``extra_environment`` values, replaced by the platform's own URL once it listens: functions that
# invoke functions go back through the platform (AWS_ENDPOINT_URL_LAMBDA={platform_url}).
PLATFORM_URL = "{platform_url}"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass(frozen=True)
class PlatformSettings:
    concurrency: int = DEFAULT_CONCURRENCY  # invocations at once over all functions (an account's limit)
    delay_scale: float = 1.0  # times Lambda's retry delays (1 and 2 min) and throttle back-off (1 s..5 min)
    invoke_latency_s: float = 0.0  # added to every Invoke call (the seed measured ~0.05 s on AWS)
    # Invoke requests per second over all functions before 429 (Lambda: 10 x the account's concurrency,
    # per second); 0 = no limit. One second's worth may come at once.
    invoke_rate_per_s: float = 0.0
    cold_start_latency_s: float = 0.0  # added before each new environment starts
    duplicate_probability: float = 0.0  # an Event invocation delivered twice (Lambda: at least once)
    seed: int | None = None  # for the duplicates' random draws
    idle_timeout_s: float = IDLE_ENVIRONMENT_S
    freeze_idle: bool = True  # SIGSTOP idle environments, as Lambda freezes them between invocations
    memory_poll_s: float = MEMORY_POLL_S
    logs_dir: Path | None = None  # default: a temporary directory, kept after stop
    region: str = "us-east-1"
    account_id: str = "123456789012"
    credentials: Mapping[str, str] = field(default_factory=lambda: dict(DUMMY_CREDENTIALS))
    extra_environment: Mapping[str, str] = field(default_factory=dict)  # e.g. AWS_ENDPOINT_URL_LAMBDA
    sqs_endpoint_url: str = ""  # where OnFailure records to SQS queues go (moto)
    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True)
class DroppedEvent:
    function: str
    request_id: str
    condition: str  # "RetriesExhausted" or "EventAgeExceeded"
    attempts: int
    age_s: float
    destination: str = ""
    delivered: bool = False  # the record reached the OnFailure destination
    destination_error: str = ""
