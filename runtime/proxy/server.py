"""The KV-store proxy server: a long-running asyncio process that invokes big fan-outs in parallel.

On AWS it runs on the scheduler VM as a systemd service (``python -m wukong.proxy``); in local mode
``LocalCluster`` starts it as a child process (``wukong.local.proxy_process``), which passes its own
invoker. The wire protocol, and what a peer may cost the proxy before it has shown the secret, are
described in ``protocol.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from .. import platforms
from ..config import WukongConfig
from ..storage.connect import secret_value
from . import protocol

log = logging.getLogger("wukong.proxy")
PROXY_INVOKE_CONCURRENCY = 64  # parallel Lambda Invoke calls: the reason the proxy exists
READY_LINE = "wukong proxy listening on "
BUSY_LOG_INTERVAL_S = 10.0  # refusals for too many unauthenticated peers are logged this often at most


@dataclass(frozen=True)
class Limits:
    auth_timeout_s: float
    idle_timeout_s: float
    max_unauthenticated: int

    @classmethod
    def from_config(cls, config: WukongConfig) -> Limits:
        return cls(config.proxy_auth_timeout_s, config.proxy_idle_timeout_s, config.proxy_max_unauthenticated)


async def read_frame(reader: asyncio.StreamReader, limit: int, what: str) -> bytes:
    (length,) = protocol.LENGTH.unpack(await reader.readexactly(protocol.LENGTH.size))
    return await reader.readexactly(protocol.check_length(length, limit, what))


class ProxyServer:
    """One per process: authenticates connections, then serves their fan-out requests."""

    def __init__(self, secret: str, invoker, limits: Limits):
        self.secret, self.invoker, self.limits = secret, invoker, limits
        self.unauthenticated = 0  # connections that have not shown the secret yet
        self.refused_busy, self.busy_logged_at = 0, 0.0
        self.stats = {"fanouts": 0, "invoked": 0}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            if await self.admit(reader, writer, peer):
                await self.serve_requests(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the peer went away
        except TimeoutError:
            log.warning(
                "closed %s: a request body did not arrive within %g s", peer, self.limits.idle_timeout_s
            )
        finally:
            writer.close()

    async def admit(self, reader, writer, peer) -> bool:
        """Read and check the hello, within the bounds on unauthenticated peers; True when it matches."""
        if self.unauthenticated >= self.limits.max_unauthenticated:
            self.log_busy(peer)
            return False
        self.unauthenticated += 1
        try:
            presented = await asyncio.wait_for(
                read_frame(reader, protocol.MAX_SECRET_BYTES, "hello"), self.limits.auth_timeout_s
            )
            if protocol.secret_matches(presented, self.secret):
                return True
            log.warning("closed %s: bad secret", peer)
            writer.write(protocol.encode({"ok": False, "error": protocol.BAD_SECRET}))
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.drain(), self.limits.auth_timeout_s)
        except TimeoutError:
            log.warning("closed %s: no hello within %g s", peer, self.limits.auth_timeout_s)
        except protocol.ProtocolError as exc:
            log.warning("closed %s: %s", peer, exc)
        finally:
            self.unauthenticated -= 1
        return False

    def log_busy(self, peer) -> None:
        self.refused_busy += 1
        now = time.monotonic()
        if now - self.busy_logged_at >= BUSY_LOG_INTERVAL_S:
            self.busy_logged_at = now
            log.warning(
                "closed %s: %d connections are authenticating (the limit, proxy_max_unauthenticated); "
                "%d refused so far",
                peer,
                self.limits.max_unauthenticated,
                self.refused_busy,
            )

    async def serve_requests(self, reader, writer, peer) -> None:
        while True:
            try:
                header = await asyncio.wait_for(
                    reader.readexactly(protocol.LENGTH.size), self.limits.idle_timeout_s
                )
            except TimeoutError:
                log.debug("closed %s: idle for %g s", peer, self.limits.idle_timeout_s)
                return
            try:
                length = protocol.check_length(
                    protocol.LENGTH.unpack(header)[0], protocol.MAX_REQUEST_BYTES, "request"
                )
            except protocol.ProtocolError as exc:
                log.warning("refused a request from %s: %s", peer, exc)
                writer.write(protocol.encode({"ok": False, "error": str(exc)}))
                await writer.drain()
                return
            body = await asyncio.wait_for(reader.readexactly(length), self.limits.idle_timeout_s)
            writer.write(await self.answer(body, peer))
            await writer.drain()

    async def answer(self, body: bytes, peer) -> bytes:
        try:
            payloads = protocol.parse_request(body)
        except protocol.ProtocolError as exc:
            log.warning("refused a request from %s: %s", peer, exc)
            return protocol.encode({"ok": False, "error": str(exc)})
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.invoker.invoke, payloads)
        except Exception as exc:
            log.error("invoking %d executors failed: %s", len(payloads), exc)
            return protocol.encode({"ok": False, "error": f"invocation failed: {exc}"})
        self.stats["fanouts"] += 1
        self.stats["invoked"] += len(payloads)
        return protocol.encode({"ok": True, "invoked": len(payloads)})


async def serve(config: WukongConfig, host: str, port: int, invoker=None) -> None:
    """Serve until cancelled; ``invoker`` defaults to the config's platform (Lambda, or the local queue)."""
    secret = config.proxy_secret or secret_value(config.proxy_secret_arn, "secret", config)
    if not secret:
        raise SystemExit("wukong proxy: no secret configured (set proxy_secret or proxy_secret_arn)")
    invoker = invoker or platforms.make_invoker(config, platforms.Role.PROXY)
    proxy = ProxyServer(secret, invoker, Limits.from_config(config))
    server = await asyncio.start_server(proxy.handle, host, port)
    bound = server.sockets[0].getsockname()
    print(f"{READY_LINE}{bound[0]}:{bound[1]}", flush=True)
    async with server:
        await server.serve_forever()
