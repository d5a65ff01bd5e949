"""The executor's side of the proxy: hand a big fan-out over in one request."""

from __future__ import annotations

import socket
import threading
import time

from ..errors import WukongError
from ..storage.connect import secret_value
from . import protocol

CONNECT_ATTEMPTS = 3
RETRY_BACKOFF_S = 0.1  # doubled after each attempt: the proxy may be busy authenticating others
TIMEOUT_S = 60.0


class ProxyClient:
    def __init__(self, host: str, port: int, secret: str):
        self.address = (host, port)
        self.secret = secret
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()

    @classmethod
    def from_config(cls, config) -> ProxyClient:
        secret = config.proxy_secret or secret_value(config.proxy_secret_arn, "secret", config)
        return cls(config.proxy_address, config.proxy_port, secret)

    def fan_out(self, common: dict, targets: list[tuple[int, int]]) -> int:
        """Ask the proxy to invoke one executor per (task, schedule id); returns how many it invoked.
        A connection the proxy closed (idle, or busy) is opened again, with back-off, a few times."""
        data = protocol.request(common, targets)
        with self.lock:
            for attempt in range(CONNECT_ATTEMPTS):
                try:
                    return self._exchange(data)
                except OSError as exc:
                    self.close()
                    if attempt == CONNECT_ATTEMPTS - 1:
                        raise WukongError(
                            f"the KV-store proxy at {self.address[0]}:{self.address[1]} "
                            f"did not answer: {exc}. Is `python -m wukong.proxy` running?"
                        ) from exc
                    time.sleep(RETRY_BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")

    def _exchange(self, data: bytes) -> int:
        if self.sock is None:  # a new connection opens with the secret (protocol.py)
            self.sock = socket.create_connection(self.address, timeout=TIMEOUT_S)
            data = protocol.hello(self.secret) + data
        self.sock.sendall(data)
        header = _read_exactly(self.sock, protocol.LENGTH.size)
        reply = protocol.json.loads(_read_exactly(self.sock, protocol.LENGTH.unpack(header)[0]))
        if not reply.get("ok"):
            self.close()  # a bad secret closes the connection on the proxy's side too
            raise WukongError(f"the KV-store proxy refused a fan-out: {reply.get('error')}")
        return reply["invoked"]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed by the proxy")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
