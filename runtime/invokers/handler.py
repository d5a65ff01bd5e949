"""The invoker Lambda: takes a batch of executor payloads and invokes the executor function for each,
``platforms.INVOKE_THREADS`` at a time.

A client's leaf burst over ``invoker_function_min_leaves`` is split into batches over several invoker
invocations (``invokers/leaf_burst.py``; the seed's "initial task executor invokers"), so that thousands of
leaves start in parallel from inside AWS.
"""

from __future__ import annotations

from .. import platforms
from ..config import load_config

_INVOKER = None  # a warm environment keeps its boto3 client and its connections


def lambda_handler(event, context):
    global _INVOKER
    if _INVOKER is None:
        _INVOKER = platforms.make_invoker(load_config(), platforms.Role.INVOKER_FUNCTION)
    payloads = event["payloads"]
    _INVOKER.invoke(payloads)
    return {"invoked": len(payloads)}
