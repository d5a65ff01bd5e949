"""An execution environment: one process that runs one function exactly as packaged.

The process is ``python -I -S -B`` (no site-packages, no PYTHON* variables, no script directory, no
bytecode written): its
``sys.path`` is the function's code directory (Lambda's ``/var/task``), each layer's ``python/`` in order
(``/opt/python``), the runtime directory (``/var/runtime``: awslambdaric, boto3), then the standard library.
It runs ``awslambdaric`` with the handler string, in the code directory, with the function's environment
and Lambda's reserved variables, against its own :class:`RuntimeApi`. Its stdout and stderr go to its log
stream. One thread per environment reads that output and notices the process's exit (a pidfd).

The environment knows nothing of retries or billing; :mod:`invocation` runs an invocation on it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .logs import MB, LogStream
from .names import function_arn
from .runtime_api import Invocation, Outcome, RuntimeApi
from .template import FunctionSpec

# The environment's whole program: put the packaged directories first on the path, then run the runtime
# interface client as Lambda's bootstrap does (``python -m awslambdaric <handler>``).
BOOTSTRAP = (
    "import os, sys\n"
    "sys.path[:0] = sys.argv.pop(1).split(os.pathsep)\n"
    "from awslambdaric.__main__ import main\n"
    "main(sys.argv)\n"
)
LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
# Set on some processors of this workplace, where older OpenBLAS builds crash or compute wrong results
# without them; an environment must see them as the process that started it does.
PASSED_THROUGH_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
READ_CHUNK_BYTES = 64 * 1024

Spawn = Callable[..., subprocess.Popen]


@dataclass(frozen=True)
class Sandbox:
    """What every environment of a platform shares."""

    runtime_dir: Path
    logs_dir: Path
    region: str = "us-east-1"
    account_id: str = "123456789012"
    credentials: Mapping[str, str] = field(default_factory=dict)  # AWS_ACCESS_KEY_ID, ... (dummy here)
    extra_environment: Mapping[str, str] = field(default_factory=dict)  # e.g. AWS_ENDPOINT_URL_LAMBDA

    def function_arn(self, name: str) -> str:
        return function_arn(self.region, self.account_id, name)


class ExecutionEnvironment:
    def __init__(self, spec: FunctionSpec, sandbox: Sandbox):
        self.spec, self.sandbox = spec, sandbox
        today = datetime.datetime.now(datetime.UTC).strftime("%Y/%m/%d")
        self.stream_name = f"{today}/[$LATEST]{uuid.uuid4().hex}"
        self.condition = threading.Condition()
        self.api = RuntimeApi(self.condition)
        self.log = LogStream(
            sandbox.logs_dir / spec.name / f"{today.replace('/', '-')}-{self.stream_name[-32:]}.log"
        )
        self.memory_limit_bytes = spec.memory_mb * MB
        self.peak_memory_bytes = 0
        self.process: subprocess.Popen | None = None
        self.pid = 0
        self.started_at = 0.0
        self.init_duration_ms: float | None = None  # set once init is over
        self.returncode: int | None = None
        self.kill_reason = ""  # why the platform killed it: "timeout", "memory", "stopped"
        self.last_used = time.monotonic()
        self._output_lock = threading.Lock()
        self._partial = b""
        self._pump: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self.returncode is None and not self.kill_reason

    def start(self, spawn: Spawn) -> None:
        paths = [self.spec.code_dir, *python_dirs(self.spec), self.sandbox.runtime_dir]
        # -B: no bytecode written into the package (Lambda's /var/task and /opt are read-only; a deployment
        # zipped from a cdk.out an environment had run in would ship __pycache__)
        command = [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            BOOTSTRAP,
            os.pathsep.join(map(str, paths)),
            self.spec.handler,
        ]
        self.started_at = time.monotonic()
        self.process = spawn(
            command,
            cwd=self.spec.code_dir,
            env=self.environment_variables(paths),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid
        self._pump = threading.Thread(target=self._pump_output, name=f"env-{self.pid}", daemon=True)
        self._pump.start()

    def environment_variables(self, paths: list[Path]) -> dict[str, str]:
        spec, sandbox = self.spec, self.sandbox
        reserved = {
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.stream_name,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_REGION": sandbox.region,
            "AWS_DEFAULT_REGION": sandbox.region,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(sandbox.runtime_dir),
            "PATH": LAMBDA_PATH,
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            # Lambda's is /var/runtime; here every packaged directory, for Pythons the handler starts
            "PYTHONPATH": os.pathsep.join(map(str, paths)),
            **sandbox.credentials,
        }
        passed = {name: os.environ[name] for name in PASSED_THROUGH_VARIABLES if name in os.environ}
        return {**spec.environment, **sandbox.extra_environment, **passed, **reserved}

    # --- waiting for the runtime ---

    def wait_initialized(self, timeout_s: float) -> str:
        """ "ready", "init_error", "exited" or "timeout"; sets init_duration_ms when ready."""
        api = self.api
        with self.condition:
            self.condition.wait_for(
                lambda: api.ready_at or api.init_error or self.returncode is not None, timeout=timeout_s
            )
            if api.ready_at is not None:
                self.init_duration_ms = (api.ready_at - self.started_at) * 1000
                return "ready"
            if api.init_error is not None:
                return "init_error"
            return "exited" if self.returncode is not None else "timeout"

    def invoke(self, invocation: Invocation, timeout_s: float) -> Outcome | None:
        """Hand the invocation over and wait: its outcome, or None if the process died or time ran out."""
        self.last_used = time.monotonic()
        self.api.hand(invocation)
        request_id = invocation.request_id
        with self.condition:
            self.condition.wait_for(
                lambda: request_id in self.api.outcomes or self.returncode is not None, timeout=timeout_s
            )
            return self.api.outcomes.pop(request_id, None)

    def wait_exit(self, timeout_s: float) -> int | None:
        with self.condition:
            self.condition.wait_for(lambda: self.returncode is not None, timeout=timeout_s)
            return self.returncode

    # --- output and exit ---

    def drain_output(self) -> None:
        """Write to the log whatever the process has printed so far (it flushes before it posts)."""
        with self._output_lock:
            self._read_available(final=True)

    def _pump_output(self) -> None:
        stdout = self.process.stdout.fileno()
        os.set_blocking(stdout, False)
        pidfd = os.pidfd_open(self.pid)
        watched = [stdout, pidfd]
        try:
            while True:
                ready, _, _ = select.select(watched, [], [])
                if stdout in ready:
                    with self._output_lock:
                        if not self._read_available(final=False):
                            watched.remove(stdout)
                if pidfd in ready:
                    break
        finally:
            os.close(pidfd)
        self.drain_output()
        returncode = self.process.wait()
        self.process.stdout.close()
        with self.condition:
            self.returncode = returncode
            self.condition.notify_all()

    def _read_available(self, *, final: bool) -> bool:
        """Read what the pipe holds into the log; False at end of file. Holds the output lock."""
        if self.process.stdout.closed:
            return False
        chunks, open_ = [], True
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.process.stdout.fileno(), READ_CHUNK_BYTES):
                chunks.append(chunk)
            open_ = False  # read returned b"": every writer has closed the pipe
        # awslambdaric ends the lines of one error record with "\r" (one CloudWatch event): one line each here
        data = (self._partial + b"".join(chunks)).replace(b"\r", b"\n")
        lines, _, self._partial = data.rpartition(b"\n")
        if final and self._partial:
            lines, self._partial = (lines + b"\n" if lines else b"") + self._partial, b""
        if lines:
            self.log.write(lines.decode("utf-8", errors="replace"))
        return open_

    # --- ending ---

    def freeze(self) -> None:
        """Lambda freezes an environment between invocations: its background threads do not run."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self, reason: str) -> None:
        """SIGKILL the whole process group (the runtime and whatever the handler started)."""
        with self.condition:
            if not self.kill_reason:
                self.kill_reason = reason
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.pid and self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)

    def stop(self, timeout_s: float) -> None:
        self.kill("stopped")
        if self.process is not None:
            if self.wait_exit(timeout_s) is None:
                self.process.kill()
                self.process.wait(timeout_s)
            if self._pump is not None:
                self._pump.join(timeout_s)
        self.api.close()
        self.log.close()


def python_dirs(spec: FunctionSpec) -> list[Path]:
    """Each layer's directories that Lambda puts on sys.path (under /opt), in layer order."""
    dirs = []
    for layer in spec.layer_dirs:
        site = layer / "python" / "lib" / f"python{spec.python_version}" / "site-packages"
        dirs += [path for path in (site, layer / "python") if path.is_dir()]
    return dirs
