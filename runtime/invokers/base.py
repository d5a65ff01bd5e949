"""The invoker interface and the invocation payload's wire form.

A payload is a JSON object (Lambda requires JSON events). Binary parts (schedules, inline inputs) are
cloudpickled bytes carried as base64 text under keys that end in ``_b64``.
"""

from __future__ import annotations

import base64
import json
from typing import Protocol


class Invoker(Protocol):
    def invoke(self, payloads: list[dict]) -> None:
        """Start one executor per payload, asynchronously. Raises on a transport failure."""


def encode_payload(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def decode_payload(data: bytes | str | dict) -> dict:
    if isinstance(data, dict):
        return data
    return json.loads(data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)
