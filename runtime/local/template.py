"""The pool's handle on its warm worker template (``wukong.local.zygote``): start it, ask it to fork
workers, hear which of them exited, and notice when the template itself dies."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading

from ..errors import WukongError
from .processes import STOP_GRACE_S, describe_exit, spawn


class WorkerTemplate:
    def __init__(self, env: dict[str, str], on_report, pass_fds=()):
        """``on_report(words)`` hears each report line: ``["spawned", id, pid]``, ``["exit", id, code]``;
        ``pass_fds``: descriptors the template and its workers inherit (the pool's slots)."""
        self.process = spawn(
            [sys.executable, "-m", "wukong.local.zygote"],
            env=env,
            pass_fds=tuple(pass_fds),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        if self.process.stdout.readline().strip() != "ready":
            self.close()
            raise WukongError(
                f"the local worker template did not start (it {describe_exit(self.process.poll())}); "
                "its error is printed above"
            )
        self.gone = threading.Event()  # set when its report pipe closes: it died, or close()
        self.lock = threading.Lock()  # one command line at a time on its stdin
        self.warmed = threading.Event()  # its answer to the last "import"
        self.warm_answer: tuple[int, list[str]] = (0, [])
        threading.Thread(
            target=self.read_reports, args=(on_report,), name="wukong-template-reports", daemon=True
        ).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_reports(self, on_report) -> None:
        try:
            for line in self.process.stdout:
                words = line.split()
                if words and words[0] == "imported":
                    self.warm_answer = (int(words[2]), words[3:])
                    self.warmed.set()
                elif words:
                    on_report(words)
        except (OSError, ValueError):  # the pipe was closed under us by close()
            pass
        finally:
            self.gone.set()

    def warm(self, modules: list[str], timeout_s: float) -> tuple[int, list[str]] | None:
        """Have the template import ``modules`` (workers forked afterwards inherit them): (how many
        modules it imported anew, the ones that failed), or None when it did not answer within
        ``timeout_s`` (it died)."""
        with self.lock:
            self.warmed.clear()
            if not self.send("import " + " ".join(modules)):
                return None
        if not self.warmed.wait(timeout_s):
            return None
        return self.warm_answer

    def send(self, line: str) -> bool:
        if self.gone.is_set():
            return False
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            return True
        except (OSError, ValueError):  # BrokenPipeError: it died since
            return False

    def fork(self, worker_id: str, idle_exit_s: float, slot: int) -> bool:
        """Ask for a worker; False when the template is gone (the pool then starts a new one)."""
        with self.lock:
            return self.send(f"spawn {worker_id} {idle_exit_s} {slot}")

    def exit_code(self, timeout_s: float = 1.0) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout_s)
        return None

    def close(self) -> None:
        """Ask the template to stop its workers (SIGTERM, SIGKILL after STOP_GRACE_S); kill it if it does
        not exit by then. Its workers die with it (SIGKILL, PR_SET_PDEATHSIG), whatever their tasks do."""
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
        try:
            self.process.wait(STOP_GRACE_S + 2.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
