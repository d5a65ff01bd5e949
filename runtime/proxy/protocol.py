"""The proxy's wire protocol, in one place.

A connection opens with a **hello** that carries the shared secret, then carries requests, each
answered by a reply. Every frame is a 4-byte big-endian length, then that many bytes::

    hello:    <length 1..MAX_SECRET_BYTES> <the secret, UTF-8>
    request:  <length 1..MAX_REQUEST_BYTES> {"common": {"job": ..., "settings": {...}, "py": "3.11",
                                                         "inputs": {"7": "<b64>"}},
                                             "targets": [[task, schedule_id], ...]}
    reply:    <length> {"ok": true, "invoked": N}  or  {"ok": false, "error": "<reason>"}

The proxy reads and checks the secret (in constant time) before it reads anything else, so an
unauthenticated peer costs it at most 4 + MAX_SECRET_BYTES bytes, for at most
``proxy_auth_timeout_s``, and at most ``proxy_max_unauthenticated`` such peers are served at once
(more are closed at once). A good hello gets no reply; a bad one gets the reply
``{"ok": false, "error": "bad secret"}`` and the connection is closed, so every guess costs a new
connection. An authenticated connection stays open for further requests until it has been idle for
``proxy_idle_timeout_s``; the client then reconnects with a new hello.

The proxy invokes one executor per target with payload ``common`` + ``owner``/``start``/``sched``
(see ``wukong.protocol.payload``) and replies once all are invoked; a request it refuses (malformed,
too big) gets ``ok: false`` with the reason.
"""

from __future__ import annotations

import hmac
import json
import struct

from ..protocol import payload as wire

LENGTH = struct.Struct(">I")
MAX_SECRET_BYTES = 1024
MAX_REQUEST_BYTES = 64 * 1024 * 1024
COMMON_FIELDS = ("job", "settings", "py")
BAD_SECRET = "bad secret"


class ProtocolError(ValueError):
    """A frame the proxy refuses; the message is the logged reason."""


def frame(data: bytes) -> bytes:
    return LENGTH.pack(len(data)) + data


def encode(message: dict) -> bytes:
    return frame(json.dumps(message, separators=(",", ":")).encode())


def hello(secret: str) -> bytes:
    return frame(secret.encode())


def request(common: dict, targets: list[tuple[int, int]]) -> bytes:
    return encode({"common": common, "targets": [list(t) for t in targets]})


def check_length(length: int, limit: int, what: str) -> int:
    if not 0 < length <= limit:
        raise ProtocolError(f"a {what} of {length} bytes is outside 1..{limit}")
    return length


def secret_matches(presented: bytes, secret: str) -> bool:
    return hmac.compare_digest(presented, secret.encode())


def parse_request(body: bytes) -> list[dict]:
    """Check a request and expand it into invocation payloads; raise ProtocolError saying why not."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"body is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("body is not a JSON object")
    common, targets = message.get("common"), message.get("targets")
    if not isinstance(common, dict) or any(field not in common for field in COMMON_FIELDS):
        raise ProtocolError(f"'common' must be an object with {', '.join(COMMON_FIELDS)}")
    if not isinstance(targets, list) or not all(
        isinstance(t, list) and len(t) == 2 and all(isinstance(v, int) for v in t) for t in targets
    ):
        raise ProtocolError("'targets' must be a list of [task, schedule_id] integer pairs")
    return [
        {**common, "owner": wire.invoked_owner(task), "start": task, "sched": path} for task, path in targets
    ]
