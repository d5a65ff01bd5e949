"""Local transport: invocations are pushed onto a Redis list that warm worker processes pop."""

from __future__ import annotations

from .base import encode_payload


class LocalInvoker:
    """Queue invocations for the local worker pool (``wukong.local.worker``), in one round trip."""

    def __init__(self, redis_client, queue: str, duplicate: bool = False):
        self.redis = redis_client
        self.queue = queue
        self.copies = 2 if duplicate else 1  # test-only: deliver twice, as Lambda's retries can

    def invoke(self, payloads: list[dict]) -> None:
        if payloads:
            bodies = [encode_payload(p) for p in payloads for _ in range(self.copies)]
            self.redis.rpush(self.queue, *bodies)
