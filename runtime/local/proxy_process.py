"""Local mode's KV-store proxy: a child process on a free loopback port with a random secret.

:class:`ProxyProcess` is the cluster's side; run as ``python -m wukong.local.proxy_process``, the
child serves ``wukong.proxy.server`` with a local invoker that honours the test-only duplicate
delivery hook (``WUKONG_TEST_FAULTS``), as the workers' invokers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import subprocess
import sys

from ..config import WukongConfig, load_config
from ..errors import WukongError
from ..executor import faults
from ..invokers import LocalInvoker
from ..proxy.server import READY_LINE, serve
from ..storage.connect import connect
from .processes import describe_exit, runtime_env, spawn, stop


class ProxyProcess:
    def __init__(self, config: WukongConfig):
        self.secret = secrets.token_urlsafe(24)
        env = runtime_env(config.replace(proxy_secret=self.secret))
        self.process = spawn(
            [sys.executable, "-m", "wukong.local.proxy_process"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        self.process.stdout.close()  # nothing else comes on it; logs go to stderr
        if not line.startswith(READY_LINE):
            stop(self.process)
            raise WukongError(
                f"the local KV-store proxy did not start (it said {line!r} and "
                f"{describe_exit(self.process.poll())}); its error is printed above"
            )
        self.host, port = line[len(READY_LINE) :].strip().rsplit(":", 1)
        self.port = int(port)

    def close(self) -> None:
        stop(self.process)


def main() -> None:
    config = load_config()
    invoker = LocalInvoker(
        connect(config).mds.redis, config.local_queue, duplicate=faults.duplicate_deliveries()
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, "127.0.0.1", 0, invoker=invoker))


if __name__ == "__main__":
    main()
