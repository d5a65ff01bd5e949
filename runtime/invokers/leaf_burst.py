"""A client's leaf burst through the invoker function (AWS): the seed's "initial task executor invokers".

Above ``invoker_function_min_leaves`` leaves, the client sends the leaf payloads in batches to the invoker
function (``invokers/handler.py``), one Event invocation per batch, and each invoker invokes the executor
once per payload of its batch, in parallel, from inside AWS. A batch holds at most
``invoker_batch_leaves`` payloads and stays under the Event payload limit. Smaller bursts, and anything
that is not a leaf burst, are invoked directly.
"""

from __future__ import annotations

from ..protocol.payload import encode
from .aws_lambda import LambdaInvoker

BATCH_ENVELOPE_BYTES = len(encode({"payloads": []}))  # the batch's JSON around its payloads


def batches(payloads: list[dict], max_count: int, max_bytes: int) -> list[list[dict]]:
    """Consecutive batches of at most ``max_count`` payloads whose ``{"payloads": [...]}`` fits
    ``max_bytes``; a payload that fits no batch alone is the invoker's to refuse (it is a bug upstream)."""
    result: list[list[dict]] = []
    current: list[dict] = []
    size = BATCH_ENVELOPE_BYTES
    for payload in payloads:
        body = len(encode(payload)) + 1  # and its comma
        if current and (len(current) >= max_count or size + body > max_bytes):
            result.append(current)
            current, size = [], BATCH_ENVELOPE_BYTES
        current.append(payload)
        size += body
    if current:
        result.append(current)
    return result


class InvokerFunctionBurst:
    def __init__(
        self, direct: LambdaInvoker, invoker_function: LambdaInvoker, *, min_leaves: int, batch_leaves: int
    ):
        self.direct, self.invoker_function = direct, invoker_function
        self.min_leaves, self.batch_leaves = min_leaves, batch_leaves

    @classmethod
    def for_config(cls, config, direct: LambdaInvoker) -> InvokerFunctionBurst:
        invoker_function = LambdaInvoker(
            config.invoker_function_name,
            region=config.aws_region,
            endpoint_url=config.lambda_endpoint_url,
            concurrency=direct.concurrency,
            max_payload_bytes=config.max_payload_bytes,
        )
        return cls(
            direct,
            invoker_function,
            min_leaves=config.invoker_function_min_leaves,
            batch_leaves=config.invoker_batch_leaves,
        )

    @property
    def throttled_calls(self) -> int:
        return self.direct.throttled_calls + self.invoker_function.throttled_calls

    def invoke(self, payloads: list[dict]) -> None:
        if len(payloads) <= self.min_leaves:
            self.direct.invoke(payloads)
            return
        groups = batches(payloads, self.batch_leaves, self.invoker_function.max_payload_bytes)
        self.invoker_function.invoke([{"payloads": group} for group in groups])
