"""The proxy's wire protocol, in one place.

A request is a 4-byte big-endian length, then a JSON object::

    {"secret": "<shared secret>",
     "common": {"job": ..., "settings": {...}, "py": "3.11", "inputs": {"7": "<b64>"}},
     "targets": [[task, schedule_id], ...]}

The proxy invokes one executor per target with payload ``common`` + ``owner``/``start``/``sched``
(see ``wukong.protocol.payload``) and answers ``{"ok": true, "invoked": N}`` once all are invoked,
or ``{"ok": false, "error": "<reason>"}`` for a request it refuses (bad secret, malformed, too big).
"""

from __future__ import annotations

import hmac
import json
import struct

from ..protocol import payload as wire

LENGTH = struct.Struct(">I")
MAX_REQUEST_BYTES = 64 * 1024 * 1024
COMMON_FIELDS = ("job", "settings", "py")


class ProtocolError(ValueError):
    """A request the proxy refuses; the message is the logged reason."""


def encode(message: dict) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return LENGTH.pack(len(body)) + body


def request(secret: str, common: dict, targets: list[tuple[int, int]]) -> bytes:
    return encode({"secret": secret, "common": common, "targets": [list(t) for t in targets]})


def parse_request(body: bytes, secret: str) -> list[dict]:
    """Check a request and expand it into invocation payloads; raise ProtocolError saying why not."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"body is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("body is not a JSON object")
    if not hmac.compare_digest(str(message.get("secret", "")).encode(), secret.encode()):
        raise ProtocolError("bad or missing secret")
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
