"""The invoker interface. A payload's wire form is the protocol's (``protocol/payload.py``)."""

from __future__ import annotations

from typing import Protocol

from ..protocol.payload import decode as decode_payload
from ..protocol.payload import encode as encode_payload

__all__ = ["Invoker", "decode_payload", "encode_payload"]


class Invoker(Protocol):
    def invoke(self, payloads: list[dict]) -> None:
        """Start one executor per payload, asynchronously. Raises on a transport failure."""
