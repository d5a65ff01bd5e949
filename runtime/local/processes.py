"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys

PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 3.0


def die_with_parent() -> None:
    """preexec_fn: the kernel sends SIGTERM to the child when its parent dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError):  # not Linux: close() and atexit still stop the children
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


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


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    # A session of its own: Ctrl-C in the user's terminal reaches the user's process, which closes us.
    return subprocess.Popen(args, preexec_fn=die_with_parent, start_new_session=True, **kwargs)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
