"""Local mode's KV-store proxy: ``python -m wukong.proxy`` as a child process on a free loopback port
with a random secret. It invokes through the cluster's queue (``platforms``: the test-only duplicate
delivery hook included, as for the workers)."""

from __future__ import annotations

import secrets
import subprocess
import sys

from ..config import WukongConfig
from ..errors import WukongError
from ..proxy.server import READY_LINE
from .processes import describe_exit, free_port, runtime_env, spawn, stop


class ProxyProcess:
    """Started at once on a port chosen here (so that the workers' settings can name it while the proxy
    still starts); :meth:`wait_ready` returns when it listens."""

    def __init__(self, config: WukongConfig):
        self.secret = secrets.token_urlsafe(24)
        self.host, self.port = "127.0.0.1", free_port()
        env = runtime_env(config.replace(proxy_secret=self.secret))
        self.process = spawn(
            [sys.executable, "-m", "wukong.proxy", "--host", self.host, "--port", str(self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        line = self.process.stdout.readline()
        self.process.stdout.close()  # nothing else comes on it; logs go to stderr
        if not line.startswith(READY_LINE):
            stop(self.process)
            raise WukongError(
                f"the local KV-store proxy did not start (it said {line!r} and "
                f"{describe_exit(self.process.poll())}); its error is printed above"
            )

    def close(self) -> None:
        stop(self.process)
