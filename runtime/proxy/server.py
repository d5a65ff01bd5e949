"""The KV-store proxy server: a long-running asyncio process that invokes big fan-outs in parallel.

On AWS it runs on the scheduler VM as a systemd service (``python -m wukong.proxy``); in local mode
``LocalCluster`` starts it as a child process (:class:`ProxyProcess`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import sys

from .. import platforms
from ..config import WukongConfig
from ..local.processes import runtime_env, spawn, stop
from ..storage.connect import secret_value
from . import protocol

log = logging.getLogger("wukong.proxy")
READY_LINE = "wukong proxy listening on "


async def handle(reader, writer, secret: str, invoker, stats: dict) -> None:
    peer = writer.get_extra_info("peername")
    try:
        while True:
            try:
                header = await reader.readexactly(protocol.LENGTH.size)
            except asyncio.IncompleteReadError:
                return
            (length,) = protocol.LENGTH.unpack(header)
            if length > protocol.MAX_REQUEST_BYTES:
                log.warning(
                    "refused a request from %s: %d bytes is over the %d-byte limit",
                    peer,
                    length,
                    protocol.MAX_REQUEST_BYTES,
                )
                writer.write(protocol.encode({"ok": False, "error": "request too large"}))
                return
            body = await reader.readexactly(length)
            try:
                payloads = protocol.parse_request(body, secret)
            except protocol.ProtocolError as exc:
                log.warning("refused a request from %s: %s", peer, exc)
                writer.write(protocol.encode({"ok": False, "error": str(exc)}))
                await writer.drain()
                continue
            try:
                await asyncio.get_running_loop().run_in_executor(None, invoker.invoke, payloads)
            except Exception as exc:
                log.error("invoking %d executors failed: %s", len(payloads), exc)
                writer.write(protocol.encode({"ok": False, "error": f"invocation failed: {exc}"}))
                await writer.drain()
                continue
            stats["fanouts"] += 1
            stats["invoked"] += len(payloads)
            writer.write(protocol.encode({"ok": True, "invoked": len(payloads)}))
            await writer.drain()
    finally:
        writer.close()


async def serve(config: WukongConfig, host: str, port: int) -> None:
    secret = config.proxy_secret or secret_value(config.proxy_secret_arn, "secret", config)
    if not secret:
        raise SystemExit("wukong proxy: no secret configured (set proxy_secret or proxy_secret_arn)")
    invoker = platforms.build(config, platforms.Role.PROXY).invoker
    stats = {"fanouts": 0, "invoked": 0}
    server = await asyncio.start_server(lambda r, w: handle(r, w, secret, invoker, stats), host, port)
    bound = server.sockets[0].getsockname()
    print(f"{READY_LINE}{bound[0]}:{bound[1]}", flush=True)
    async with server:
        await server.serve_forever()


class ProxyProcess:
    """Local mode: the proxy as a child process on a free loopback port, with a random secret."""

    def __init__(self, config: WukongConfig):
        self.secret = secrets.token_urlsafe(24)
        env = runtime_env(config.replace(proxy_secret=self.secret))
        self.process = spawn(
            [sys.executable, "-m", "wukong.proxy", "--host", "127.0.0.1", "--port", "0"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith(READY_LINE):
            stop(self.process)
            raise RuntimeError(f"the local KV-store proxy did not start (it said {line!r})")
        self.host, port = line[len(READY_LINE) :].strip().rsplit(":", 1)
        self.port = int(port)

    def close(self) -> None:
        stop(self.process)
