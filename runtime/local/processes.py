"""Child processes that never outlive the process that started them, and stop for sure when asked.

Every child is started by :func:`spawn`: in a session of its own (the user's Ctrl-C reaches the user's
process, which closes us), with ``PR_SET_PDEATHSIG`` (the kernel signals the child when its parent
dies, even by SIGKILL), and from one long-lived thread. The kernel sends that signal when the *thread*
that forked the child ends, not the process: a cluster made in a short-lived thread (a web request, a
helper thread) would lose its redis-server and workers as soon as that thread returned.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from functools import partial
from pathlib import Path

PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 3.0  # SIGTERM, then this long, then SIGKILL (a task may ignore SIGTERM)


def die_with_parent(signum: int = signal.SIGTERM, parent: int | None = None) -> None:
    """In a new child: the kernel sends ``signum`` to it when its parent (thread) dies (Linux). With
    ``parent``, a child whose parent died before this call exits at once."""
    with contextlib.suppress(OSError):  # not Linux: close() and atexit still stop the children
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


class Spawner:
    """Starts every child from one thread that lives as long as the process (see the module doc)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: queue.SimpleQueue | None = None

    def popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        done: Future = Future()
        self.queue().put((args, kwargs, done))
        return done.result()

    def queue(self) -> queue.SimpleQueue:
        with self.lock:
            if self.requests is None:
                self.requests = queue.SimpleQueue()
                threading.Thread(
                    target=self.serve, args=(self.requests,), name="wukong-spawner", daemon=True
                ).start()
            return self.requests

    @staticmethod
    def serve(requests: queue.SimpleQueue) -> None:
        while True:
            args, kwargs, done = requests.get()
            try:
                done.set_result(subprocess.Popen(args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)

    def forget_thread(self) -> None:
        """After fork(): the thread did not come along; the child starts its own when it needs one."""
        self.lock = threading.Lock()
        self.requests = None


SPAWNER = Spawner()
os.register_at_fork(after_in_child=SPAWNER.forget_thread)


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    preexec = partial(die_with_parent, signal.SIGTERM, os.getpid())
    return SPAWNER.popen(args, preexec_fn=preexec, start_new_session=True, **kwargs)


def runtime_env(config, **extra: str) -> dict[str, str]:
    """The environment of a child that runs ``wukong`` with ``config``: ours, the WUKONG_* settings, and
    this interpreter's path (so the package is found however it was made importable here)."""
    from ..config import config_to_env

    return {
        **os.environ,
        **extra,
        **config_to_env(config),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
    }


def stop(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; reaps the child. Never raises for a child already gone."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()


def describe_exit(code: int | None) -> str:
    """'is running', 'exited with code 3', 'was killed by SIGKILL' (a Popen return code)."""
    if code is None:
        return "is running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def process_state(pid: int) -> str:
    """The process' state letter from /proc (R running or runnable, S sleeping, Z zombie...), or ''
    when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def alive(pid: int) -> bool:
    """Is ``pid`` a running process (not a zombie)?"""
    return process_state(pid) not in ("", "Z", "X")


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait (bounded) until none of ``pids`` runs; the ones still running."""
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
