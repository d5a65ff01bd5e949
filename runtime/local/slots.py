"""What each local worker is running, in memory the pool and the workers share.

The pool makes one anonymous memory file (``memfd_create``: no name on disk, gone with the last
process that holds it, whatever dies) of one slot per possible worker, and hands its descriptor to the
worker template, whose forked workers inherit it. A worker writes into its slot the invocation it runs
and the task it computes (a few hundred nanoseconds, no system call); the pool reads the slots to name
the task that killed a worker, and to find the workers still in a task of a job that has ended. Where
there is no ``memfd_create`` (not Linux), there are no slots: errors name the invocation's first task.

A slot is ``(sequence, job, owner, task)``; the writer makes the sequence odd while it writes (a
seqlock), so a reader never takes half a write for a whole one. After the slots, one counter: the
pool's *generation*, bumped when the worker template imported more modules; a worker born in an older
generation leaves before its next invocation (``worker.py``), so that a warmer one replaces it.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

SLOT = struct.Struct("<Q16s16sq")  # sequence, job id, owner, task (-1: between tasks)
GENERATION = struct.Struct("<Q")
ENV_FD = "WUKONG_SLOTS_FD"  # the template's and the workers' inherited descriptor
ENV_INDEX = "WUKONG_WORKER_SLOT"  # a worker's own slot
READ_ATTEMPTS = 100


@dataclass(frozen=True)
class Running:
    job: str
    owner: str
    task: int | None  # None: the invocation is between tasks (registering, waiting, reading)


class Slots:
    def __init__(self, fd: int, count: int):
        self.fd, self.count = fd, count
        self.map = mmap.mmap(fd, count * SLOT.size + GENERATION.size)

    @classmethod
    def create(cls, count: int) -> Slots | None:
        if not hasattr(os, "memfd_create"):
            return None
        fd = os.memfd_create("wukong-worker-slots", 0)  # inherited across fork and exec (no CLOEXEC)
        os.ftruncate(fd, count * SLOT.size + GENERATION.size)
        return cls(fd, count)

    @classmethod
    def inherited(cls) -> Slots | None:
        """The slots a template or worker was given, if any."""
        text = os.environ.get(ENV_FD)
        if not text:
            return None
        fd, count = (int(part) for part in text.split(":"))
        return cls(fd, count)

    def environment(self) -> dict[str, str]:
        return {ENV_FD: f"{self.fd}:{self.count}"}

    def write(self, index: int, job: str | None, owner: str | None, task: int | None) -> None:
        offset = index * SLOT.size
        (sequence,) = struct.unpack_from("<Q", self.map, offset)
        struct.pack_into("<Q", self.map, offset, sequence + 1)  # odd: being written
        fields = (
            (job or "").encode()[:16],
            (owner or "").encode()[:16],
            -1 if task is None else task,
        )
        struct.pack_into("<16s16sq", self.map, offset + 8, *fields)
        struct.pack_into("<Q", self.map, offset, sequence + 2)

    def read(self, index: int) -> Running | None:
        """What the worker in slot ``index`` runs, or None when it runs no invocation."""
        offset = index * SLOT.size
        for _ in range(READ_ATTEMPTS):
            before, job, owner, task = SLOT.unpack_from(self.map, offset)
            (after,) = struct.unpack_from("<Q", self.map, offset)
            if before == after and not before % 2:
                job = job.rstrip(b"\0").decode()
                if not job:
                    return None
                return Running(job, owner.rstrip(b"\0").decode(), None if task < 0 else task)
        return None  # a writer stopped half-way (it died): nothing to say

    def generation(self) -> int:
        return GENERATION.unpack_from(self.map, self.count * SLOT.size)[0]

    def next_generation(self) -> None:
        """Workers born before this leave before their next invocation (one writer: the pool)."""
        GENERATION.pack_into(self.map, self.count * SLOT.size, self.generation() + 1)

    def clear(self, index: int) -> None:
        self.write(index, None, None, None)

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


class WorkerSlot:
    """A worker's own slot: what the executor tells its observer, written where the pool reads it."""

    def __init__(self, slots: Slots, index: int):
        self.slots, self.index = slots, index
        self.born = slots.generation()

    def stale(self) -> bool:
        """Was the template warmed since this worker was forked? Then it should leave for a warmer one."""
        return self.slots.generation() != self.born

    def __call__(self, job: str | None, owner: str | None, task: int | None) -> None:
        self.slots.write(self.index, job, owner, task)

    @classmethod
    def inherited(cls) -> WorkerSlot | None:
        slots, index = Slots.inherited(), os.environ.get(ENV_INDEX)
        return None if slots is None or index is None else cls(slots, int(index))
