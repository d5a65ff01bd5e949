"""Test-only hooks: fault injection, off unless ``WUKONG_TEST_FAULTS`` holds a JSON spec, e.g.::

    {"kill": {"at": ["after_task", "before_register"], "probability": 0.1}, "duplicate": true}

``kill`` ends the executor's process at that point, at most once per job and invocation: the
redelivered invocation gets through, within Lambda's budget of retries (``max_retry_attempts``; an
invocation that dies more often fails its job, as on Lambda); ``duplicate`` makes the local invoker deliver every invocation
twice, as Lambda's retries can. The protocol tests use it to prove readiness is exactly-once.
``WUKONG_TEST_VALIDATE=1`` makes every executor check its state's invariants after every event.
"""

from __future__ import annotations

import json
import os
import random

from .storage import keys

SPEC = json.loads(os.environ.get("WUKONG_TEST_FAULTS") or "null")


def validate_state() -> bool:
    return os.environ.get("WUKONG_TEST_VALIDATE") == "1"


def duplicate_deliveries() -> bool:
    spec = json.loads(os.environ.get("WUKONG_TEST_FAULTS") or "null")
    return bool(spec and spec.get("duplicate"))


def fault_point(name: str, invocation, task: int) -> None:
    if not SPEC or "kill" not in SPEC:
        return
    kill = SPEC["kill"]
    points = kill.get("at", [])
    if name not in (points if isinstance(points, list) else [points]):
        return
    if random.random() >= kill.get("probability", 0):
        return
    marker = keys.test_fault_marker(invocation.job, invocation.owner)
    if invocation.mds.redis.set(marker, 1, nx=True, ex=600):
        os._exit(17)
