"""A lean command path for the executor's hot commands: registrations, leases, results, counters.

redis-py spends ~100 µs of Python per command on its way to the socket (argument encoding, the
connection pool, health checks, observability hooks); an executor sends several commands per task.
Here one connection that redis-py opened and authenticated is kept for the executor's thread alone;
commands are packed by hiredis' C packer and replies parsed by its C reader: a registration costs
~45 µs of CPU instead of ~140 µs (measured side by side, benchmarks/README.md). Everything else, and
every other thread (the lease keeper), stays on redis-py. Failures go through the connection's own
retry policy (``connect.NodeRetry``), so a lost node still raises ``RedisUnreachableError`` naming it.
"""

from __future__ import annotations

import threading

import hiredis
import redis
from redis.exceptions import NoScriptError, ResponseError

RECV_BYTES = 1 << 16
# Bigger values go through redis-py's packer, which hands them to the socket without a copy (hiredis'
# packer copies them: an 8 MB SET took 21 ms against 7 ms, storage/connect.py).
FAST_VALUE_BYTES = 64 * 1024


class FastPath:
    """Commands on one dedicated connection of ``client``'s pool, from one thread at a time."""

    def __init__(self, client: redis.Redis):
        self.pool = client.connection_pool
        self.connection = None
        self.reader = None
        self.lock = threading.Lock()  # the executor's thread; a lock only so misuse cannot corrupt

    def call(self, *commands: tuple) -> list:
        """Send every command in one write and return their replies, in order (errors as exceptions
        in the list, as a pipeline with ``raise_on_error=False`` gives them)."""
        with self.lock:
            connection = self.ensure_connection()
            return connection.retry.call_with_retry(
                lambda: self.exchange(commands), lambda _error: self.reset()
            )

    def ensure_connection(self):
        if self.connection is None:
            self.connection = self.pool.get_connection()  # kept: never handed back to the pool
            self.reader = None
        return self.connection

    def exchange(self, commands) -> list:
        connection = self.connection
        if connection._sock is None:
            connection.connect()
            self.reader = None
        if self.reader is None:
            self.reader = hiredis.Reader()
        sock = connection._sock
        try:
            sock.sendall(b"".join(hiredis.pack_command(command) for command in commands))
            replies = []
            while len(replies) < len(commands):
                reply = self.reader.gets()
                if reply is False:
                    chunk = sock.recv(RECV_BYTES)
                    if not chunk:
                        raise redis.ConnectionError("the Redis server closed the connection")
                    self.reader.feed(chunk)
                    continue
                replies.append(as_exception(reply))
        except TimeoutError as exc:  # socket.timeout
            self.reset()
            raise redis.TimeoutError("Timeout reading from socket") from exc
        except OSError as exc:
            self.reset()
            raise redis.ConnectionError(f"Error while talking to Redis: {exc}") from exc
        return replies

    def reset(self) -> None:
        """Drop the socket (and a half-read reply); the next call connects again."""
        if self.connection is not None:
            self.connection.disconnect()
        self.reader = None

    def script(self, script, keys: list, args: list, before: tuple | None = None):
        """``script`` (redis-py's ``Script``) run by its SHA, after the command ``before`` (an output's
        SET) in the same write; loaded through redis-py when the server does not have it yet.
        Returns (``before``'s reply or None, the script's reply)."""
        evalsha = ("EVALSHA", script.sha, len(keys), *keys, *args)
        replies = self.call(*((before,) if before else ()), evalsha)
        reply = replies[-1]
        if isinstance(reply, NoScriptError):
            reply = script(keys=keys, args=args)  # loads it, then runs it (``before`` has run)
        elif isinstance(reply, Exception):
            raise reply
        first = replies[0] if before else None
        if isinstance(first, Exception):
            raise first
        return first, reply


def as_exception(reply):
    """hiredis returns a server error as a ReplyError object: make it redis-py's exception."""
    if isinstance(reply, hiredis.ReplyError):
        text = str(reply)
        return NoScriptError(text) if text.startswith("NOSCRIPT") else ResponseError(text)
    return reply
