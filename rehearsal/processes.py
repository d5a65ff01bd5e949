"""The rehearsal's processes: each is started in a session of its own (``wukong.local.processes.spawn``:
it also dies with the rehearsal, ``PR_SET_PDEATHSIG``) and stopped with its whole process group (the CDK
CLI's node runs the app's Python; a proxy or example process may have threads and children). Every
process it starts carries ``MARKER_VARIABLE`` in its environment, or the work directory on its command
line (the platform's environments), so :func:`leftovers` can say whether any survived."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

STOP_GRACE_S = 5.0
MARKER_VARIABLE = "REHEARSAL_WORK_DIR"  # not WUKONG_*: those are settings


def stop_group(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace_s``; reaps the leader."""
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        try:
            process.wait(wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    # The leader is gone; a member that outlived it (it ignored SIGTERM) gets SIGKILL too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def ancestors() -> set[int]:
    """This process and the ones that started it (a caller's command line may name the work directory)."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def leftovers(work_dir: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every process that belongs to the rehearsal in ``work_dir``, but this one
    and its ancestors."""
    marker = f"{MARKER_VARIABLE}={work_dir}".encode()
    found, excluded = [], ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in excluded:
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environment = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(work_dir).encode() in command or marker in environment.split(b"\0")):
            found.append((int(entry.name), command.replace(b"\0", b" ").decode(errors="replace").strip()))
    return found
