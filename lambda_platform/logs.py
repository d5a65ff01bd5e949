"""Logs as CloudWatch keeps them, and the REPORT records a bill is made of.

Each execution environment writes one log stream, ``<logs_dir>/<function>/<stream>.log`` (CloudWatch:
one log group per function, one stream per environment). Per invocation::

    START RequestId: 8f1c... Version: $LATEST
    ...what the function printed...
    END RequestId: 8f1c...
    REPORT RequestId: 8f1c...	Duration: 12.31 ms	Billed Duration: 158 ms	Memory Size: 128 MB	Max Memory Used: 40 MB	Init Duration: 145.02 ms

A timed-out, crashed or killed invocation adds ``Status: timeout`` (or ``error``) and ``Error Type: ...``.
Billed Duration is rounded up to the millisecond and includes a cold start's Init Duration, as Lambda
bills since August 2025.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from .limits import BILLING_GRANULARITY_MS

MB = 1024 * 1024


@dataclass(frozen=True)
class Report:
    function: str
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None  # None for a warm start
    status: str = "success"  # "success", "error" (function or runtime error), "timeout"
    error_type: str = ""  # "Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory", ...

    @property
    def billed_duration_ms(self) -> int:
        total = self.duration_ms + (self.init_duration_ms or 0.0)
        return max(1, math.ceil(total / BILLING_GRANULARITY_MS)) * BILLING_GRANULARITY_MS

    @property
    def billed_gb_s(self) -> float:
        return self.billed_duration_ms / 1000 * self.memory_size_mb / 1024

    def line(self) -> str:
        fields = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {self.billed_duration_ms} ms",
            f"Memory Size: {self.memory_size_mb} MB",
            f"Max Memory Used: {self.max_memory_used_mb} MB",
        ]
        if self.init_duration_ms is not None:
            fields.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.status != "success":
            fields += [f"Status: {self.status}", f"Error Type: {self.error_type}"]
        return "\t".join(fields)

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "billed_duration_ms": self.billed_duration_ms,
            "billed_gb_s": self.billed_gb_s,
        }


class LogStream:
    """One environment's log: lines appended as they come, flushed at once (a reader may tail it)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8", errors="replace")
        self._lock = threading.Lock()
        self._tail: list[str] = []  # this invocation's lines, for X-Amz-Log-Type: Tail

    def write(self, text: str) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._file.write(text if text.endswith("\n") else text + "\n")
            self._file.flush()
            self._tail.append(text)

    def start(self, request_id: str) -> None:
        with self._lock:
            self._tail = []
        self.write(f"START RequestId: {request_id} Version: $LATEST")

    def end(self, report: Report) -> str:
        """Write END and REPORT; return the invocation's log (START to REPORT)."""
        self.write(f"END RequestId: {report.request_id}")
        self.write(report.line())
        with self._lock:
            return "".join(line if line.endswith("\n") else line + "\n" for line in self._tail)

    def close(self) -> None:
        with self._lock:
            self._file.close()


class ReportBook:
    """Every REPORT of the platform, in the order the invocations ended."""

    def __init__(self):
        self._reports: list[Report] = []
        self._lock = threading.Lock()

    def add(self, report: Report) -> None:
        with self._lock:
            self._reports.append(report)

    def reports(self, function: str = "") -> list[Report]:
        with self._lock:
            return [r for r in self._reports if not function or r.function == function]

    def billed_gb_s(self, function: str = "") -> float:
        return sum(report.billed_gb_s for report in self.reports(function))
