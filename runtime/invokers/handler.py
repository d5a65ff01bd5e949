"""The invoker Lambda: takes a batch of executor payloads and invokes the executor function for each.

The scheduler splits the leaf burst over several invoker Lambdas (the seed's "initial task executor
invokers") so that thousands of leaves start in parallel from inside AWS.
"""

from __future__ import annotations

from .. import platforms
from ..config import load_config


def lambda_handler(event, context):
    invoker = platforms.make_invoker(load_config(), platforms.Role.INVOKER_FUNCTION)
    payloads = event["payloads"]
    invoker.invoke(payloads)
    return {"invoked": len(payloads)}
