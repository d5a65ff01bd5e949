"""Starting environment processes from one long-lived thread, so that they die with the platform.

``PR_SET_PDEATHSIG`` asks the kernel to signal a child when its parent dies, even by SIGKILL; but
"parent" is the *thread* that forked it. Environments are started while serving requests, on threads
that end when their connection closes, which would kill them: so every start goes through one thread
that lives as long as the platform. A platform killed between the fork and the ``prctl`` would leave
the child unsignalled: the child checks that its parent is still the platform after asking.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

PR_SET_PDEATHSIG = 1


class Spawner:
    def __init__(self):
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="spawner")
        self._prctl = None
        with contextlib.suppress(OSError, AttributeError):  # not Linux: stop() still ends every process
            self._prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # resolved here, not after fork

    def __call__(self, args: list[str], **kwargs) -> subprocess.Popen:
        """subprocess.Popen in a session of its own (killpg reaches the handler's children too)."""
        platform = os.getpid()

        def die_with_platform() -> None:  # in the child, between fork and exec
            if self._prctl is not None:
                self._prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != platform:  # it died before the request took effect
                    os._exit(1)

        started = self._thread.submit(
            subprocess.Popen, args, preexec_fn=die_with_platform, start_new_session=True, **kwargs
        )
        return started.result()

    def close(self) -> None:
        self._thread.shutdown(wait=True)
