"""Local transport: invocations are pushed onto a Redis list that warm worker processes pop."""

from __future__ import annotations

from ..storage.keys import INVOCATION_QUEUE
from .base import encode_payload


class LocalInvoker:
    """Queue invocations for the local worker pool (``wukong.local.worker``), in one round trip."""

    def __init__(self, redis_client, queue: str = INVOCATION_QUEUE):
        self.redis = redis_client
        self.queue = queue

    def invoke(self, payloads: list[dict]) -> None:
        if payloads:
            self.redis.rpush(self.queue, *(encode_payload(p) for p in payloads))
