"""Read big values straight from the socket into writable buffers: one copy instead of four.

redis-py with hiredis reads a reply in ``socket_read_size`` pieces, feeds each into hiredis' own
buffer and then builds a ``bytes`` from it; numpy can only view a ``bytes`` read-only, so
``serialization.loads`` copied every array once more to make it writable. For an 8 MB value that was
~14 ms against ~5 ms for reading it straight into a buffer of its own that the arrays then use in
place (benchmarks/README.md). The buffer is numpy's (``np.empty``, seen through a ``memoryview``): it
is not zeroed first and, 4 MB or more, sits on huge pages, so filling it faults 512 times fewer pages
than a ``bytearray`` would (executor CPU of gemm_4000 in process: 2.13 -> 1.81 s). Task outputs and
finals, the values that are big, are read with :func:`mget`; every other command stays on redis-py, whose connection (with its pool, authentication, timeouts and
retry policy) this module borrows.
"""

from __future__ import annotations

import socket

import numpy as np
import redis

RECV_BYTES = 1 << 16  # one read of reply headers; values go straight into their own buffer
CRLF = b"\r\n"


class ReplyReader:
    """A reply parser (RESP2 and the RESP3 null) over a socket; bulk strings land in a writable buffer
    of their own."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.pending = bytearray()  # bytes received beyond what has been parsed

    def line(self) -> bytes:
        while True:
            end = self.pending.find(CRLF)
            if end >= 0:
                line = bytes(self.pending[:end])
                del self.pending[: end + 2]
                return line
            self.receive()

    def receive(self) -> None:
        chunk = self.sock.recv(RECV_BYTES)
        if not chunk:
            raise redis.ConnectionError("the Redis server closed the connection")
        self.pending += chunk

    def bulk(self, length: int) -> memoryview:
        view = memoryview(np.empty(length, dtype=np.uint8))  # not zeroed; huge pages when big
        got = min(length, len(self.pending))
        view[:got] = self.pending[:got]
        del self.pending[:got]
        while got < length:
            n = self.sock.recv_into(view[got:])
            if n == 0:
                raise redis.ConnectionError("the Redis server closed the connection")
            got += n
        while len(self.pending) < 2:
            self.receive()
        del self.pending[:2]  # the CRLF after the value
        return view

    def reply(self):
        """One reply: an array of bulk strings (``None`` for missing keys), a bulk string, or a status."""
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            length = int(rest)
            return None if length < 0 else self.bulk(length)
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        if kind == b"_":  # RESP3's null (redis-py 8 speaks RESP3 by default)
            return None
        if kind == b"-":
            raise redis.ResponseError(rest.decode(errors="replace"))
        if kind in (b"+", b":"):
            return rest
        raise redis.ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")


def mget(client: redis.Redis, keys: list[str]) -> list[memoryview | None]:
    """``MGET keys`` with every value in a writable buffer of its own (``None`` if missing)."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        return connection.retry.call_with_retry(
            lambda: _mget_once(connection, keys), lambda _error: connection.disconnect()
        )
    finally:
        pool.release(connection)


def _mget_once(connection, keys: list[str]) -> list[memoryview | None]:
    connection.send_command("MGET", *keys)
    try:
        reader = ReplyReader(connection._sock)  # redis-py's own socket, connected and authenticated
        values = reader.reply()
        if reader.pending:
            raise redis.ConnectionError("unexpected bytes after an MGET reply")
    except TimeoutError as exc:  # socket.timeout
        connection.disconnect()
        raise redis.TimeoutError("Timeout reading from socket") from exc
    except (OSError, redis.ConnectionError) as exc:
        connection.disconnect()
        raise redis.ConnectionError(f"Error while reading from socket: {exc}") from exc
    except BaseException:
        connection.disconnect()  # a reply half read leaves the connection out of step
        raise
    return values
