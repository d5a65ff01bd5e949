"""Memory of an execution environment, read from /proc: what ``MemorySize`` is enforced against.

Lambda limits an environment's memory with a cgroup and reports its peak as "Max Memory Used". Here an
environment is a process tree: its resident memory is the sum of every member's ``VmRSS``, sampled every
``MEMORY_POLL_S`` by :class:`MemoryWatcher`, which kills a tree over its function's ``MemorySize``.

Why RSS and not ``RLIMIT_AS``: an address-space limit counts reservations, not use. numpy's OpenBLAS
reserves a buffer per thread and glibc a 64 MB arena per thread, so a 3008 MB executor that uses 300 MB
can have gigabytes of address space; RLIMIT_AS would fail its mmaps at random (a MemoryError inside a
library, not Lambda's kill). RSS counts what Lambda's cgroup counts, minus the page cache. The cost: an
allocation faster than one poll can overshoot the limit briefly before the kill.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from .limits import MEMORY_POLL_S

BYTES_PER_KIB = 1024


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (0 once it is gone)."""
    return sum(_status_kib(member, "VmRSS") for member in _tree(pid)) * BYTES_PER_KIB


def peak_rss_bytes(pid: int) -> int:
    """The kernel's high-water mark of ``pid``'s own resident memory (catches peaks between polls)."""
    return _status_kib(pid, "VmHWM") * BYTES_PER_KIB


def _tree(pid: int) -> list[int]:
    members, pending = [], [pid]
    while pending:
        member = pending.pop()
        members.append(member)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{member}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
    return members


def _status_kib(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # "VmRSS:   12345 kB"
    return 0


class MemoryWatcher:
    """One thread for every environment: samples each tree's RSS and calls ``over_limit`` on those above
    their limit. ``environments()`` yields objects with ``pid``, ``memory_limit_bytes`` and a writable
    ``peak_memory_bytes``."""

    def __init__(
        self, environments: Callable[[], Iterable], over_limit: Callable, poll_s: float = MEMORY_POLL_S
    ):
        self.environments, self.over_limit, self.poll_s = environments, over_limit, poll_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watcher", daemon=True)

    def start(self) -> MemoryWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self.poll_s):
            for environment in list(self.environments()):
                rss = tree_rss_bytes(environment.pid) if environment.pid else 0
                environment.peak_memory_bytes = max(environment.peak_memory_bytes, rss)
                if rss > environment.memory_limit_bytes:
                    self.over_limit(environment, rss)
