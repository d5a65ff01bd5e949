"""Start and stop a real ``redis-server`` on a free loopback port with a random password.

The configuration, password included, reaches the server on its stdin (``redis-server -``), never in
its argv, which every user of the machine can read in ``/proc/<pid>/cmdline``. Nothing of it stays on
disk: the server logs to a file that has no name (``tempfile.TemporaryFile``), and its working
directory (empty: nothing is saved) is removed as soon as it answers, so a user's process killed by
SIGTERM or SIGKILL leaves no directory behind.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import tempfile
import time

import redis

from ..errors import RedisNotInstalledError, WukongError
from .processes import describe_exit, free_port, spawn, stop

START_TIMEOUT_S = 10.0
START_ATTEMPTS = 3  # another process may take the free port between probe and bind
PASSWORD_PATTERN = re.compile(r"[A-Za-z0-9_-]+")  # secrets.token_urlsafe's alphabet: no quoting needed
CONFIG = """\
port {port}
bind 127.0.0.1
protected-mode yes
requirepass {password}
save ""
appendonly no
dir {workdir}
logfile ""
maxclients 10000
"""


class RedisServer:
    def __init__(self, binary: str = "redis-server", password: str | None = None, role: str = "Redis"):
        """``role``: what the node is to the cluster ("metadata store", "KV store"), for messages."""
        self.binary = shutil.which(binary)
        if self.binary is None:
            raise RedisNotInstalledError(binary)
        self.password = password or secrets.token_urlsafe(24)
        if not PASSWORD_PATTERN.fullmatch(self.password):
            raise ValueError("a local redis-server password must be URL-safe text (secrets.token_urlsafe)")
        self.role = role
        self.log = tempfile.TemporaryFile(prefix="wukong-redis-")  # noqa: SIM115 - the server's lifetime
        self.process: subprocess.Popen | None = None
        self.port = 0
        for attempt in range(START_ATTEMPTS):
            try:
                self._start()
                break
            except WukongError:
                if attempt == START_ATTEMPTS - 1:
                    self.close()
                    raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self) -> None:
        self.port = free_port()
        workdir = tempfile.mkdtemp(prefix="wukong-redis-")
        try:
            self.process = spawn(
                [self.binary, "-"],  # "-": read the configuration from stdin
                stdin=subprocess.PIPE,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
            self.process.stdin.write(
                CONFIG.format(port=self.port, password=self.password, workdir=workdir).encode()
            )
            self.process.stdin.close()
            self.wait_until_up()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def wait_until_up(self) -> None:
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.02)
        finally:
            client.close()
        stop(self.process)
        self.log.seek(0)
        text = self.log.read()[-2000:].decode(errors="replace").strip()
        raise WukongError(
            f"redis-server did not start on port {self.port} (it {describe_exit(self.process.poll())}): "
            f"{text or 'no log'}"
        )

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)
        self.log.close()
