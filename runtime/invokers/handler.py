"""The invoker Lambda: takes a batch of executor payloads and invokes the executor function for each.

The scheduler splits the leaf burst over several invoker Lambdas (the seed's "initial task executor
invokers") so that thousands of leaves start in parallel from inside AWS.
"""

from __future__ import annotations

from ..config import load_config
from .aws_lambda import LambdaInvoker


def lambda_handler(event, context):
    config = load_config()
    invoker = LambdaInvoker.for_executors(config, concurrency=config.num_lambda_invokers)
    payloads = event["payloads"]
    invoker.invoke(payloads)
    return {"invoked": len(payloads)}
