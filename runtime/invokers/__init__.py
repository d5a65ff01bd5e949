"""Transports that start executors: one interface, ``invoke(payloads)``, two platforms."""

from .base import Invoker, encode_payload, decode_payload
from .local import LocalInvoker
from .aws_lambda import LambdaInvoker

__all__ = ["Invoker", "LocalInvoker", "LambdaInvoker", "encode_payload", "decode_payload"]
