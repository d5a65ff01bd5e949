"""Start and stop a real ``redis-server`` on a free loopback port with a random password."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from ..errors import RedisNotInstalledError, WukongError
from .processes import free_port, spawn, stop

START_TIMEOUT_S = 10.0
START_ATTEMPTS = 3  # another process may take the free port between probe and bind


class RedisServer:
    def __init__(self, binary: str = "redis-server", password: str | None = None):
        self.binary = shutil.which(binary)
        if self.binary is None:
            raise RedisNotInstalledError(binary)
        self.password = password or secrets.token_urlsafe(24)
        self.workdir = tempfile.mkdtemp(prefix="wukong-redis-")
        self.process: subprocess.Popen | None = None
        self.port = 0
        for attempt in range(START_ATTEMPTS):
            try:
                self._start()
                break
            except WukongError:
                if attempt == START_ATTEMPTS - 1:
                    raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self) -> None:
        self.port = free_port()
        log = Path(self.workdir) / f"redis-{self.port}.log"
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            self.password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.workdir,
            "--logfile",
            str(log),
            "--protected-mode",
            "yes",
            "--maxclients",
            "10000",
        ]
        self.process = spawn(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        stop(self.process)
        text = log.read_text()[-2000:] if log.exists() else ""
        raise WukongError(f"redis-server did not start on port {self.port}: {text.strip() or 'no log'}")

    def close(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
