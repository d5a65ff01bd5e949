"""The account-level parts of Lambda's API: its concurrency quota as GetAccountSettings and
GetFunctionConcurrency report it, and the Invoke request rate over which Lambda answers 429.

``GET /2016-08-19/account-settings`` gives ``AccountLimit.ConcurrentExecutions`` (the platform's
``concurrency``) and ``UnreservedConcurrentExecutions`` (that less every function's reservation, as
Lambda computes it); ``GET /2019-09-30/functions/{name}/concurrency`` gives the function's
``ReservedConcurrentExecutions`` from the template, or ``{}`` for a function without one.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .limits import CODE_SIZE_UNZIPPED_BYTES, CODE_SIZE_ZIPPED_BYTES, TOTAL_CODE_SIZE_BYTES

if TYPE_CHECKING:
    from .platform import LambdaPlatform

RATE_LIMIT_REASON = "FunctionInvocationRateLimitExceeded"  # Lambda's ThrottleReason for the request rate


class RequestRate:
    """A token bucket of ``per_s`` tokens a second holding at most one second's worth; 0 = no limit."""

    def __init__(self, per_s: float):
        self.per_s = per_s
        self._tokens = per_s
        self._refilled_at = time.monotonic()
        self._lock = threading.Lock()
        self.refused = 0

    def take(self) -> bool:
        if self.per_s <= 0:
            return True
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.per_s, self._tokens + (now - self._refilled_at) * self.per_s)
            self._refilled_at = now
            if self._tokens < 1:
                self.refused += 1
                return False
            self._tokens -= 1
            return True


def account_settings(platform: LambdaPlatform) -> dict:
    capacity = platform.capacity
    return {
        "AccountLimit": {
            "ConcurrentExecutions": capacity.limit,
            "UnreservedConcurrentExecutions": capacity.unreserved,
            "CodeSizeUnzipped": CODE_SIZE_UNZIPPED_BYTES,
            "CodeSizeZipped": CODE_SIZE_ZIPPED_BYTES,
            "TotalCodeSize": TOTAL_CODE_SIZE_BYTES,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(platform.functions)},
    }


def function_concurrency(platform: LambdaPlatform, name: str) -> dict:
    reserved = platform.capacity.reserved.get(name)
    return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}
