"""Transports that start executors: one interface, ``invoke(payloads)``, two platforms."""

from .aws_lambda import LambdaInvoker
from .base import Invoker, decode_payload, encode_payload
from .leaf_burst import InvokerFunctionBurst
from .local import LocalInvoker

__all__ = [
    "Invoker",
    "InvokerFunctionBurst",
    "LocalInvoker",
    "LambdaInvoker",
    "encode_payload",
    "decode_payload",
]
