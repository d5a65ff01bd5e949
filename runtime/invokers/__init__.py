"""Transports that start executors: one interface, ``invoke(payloads)``, two platforms."""

from .aws_lambda import LambdaInvoker
from .base import Invoker, decode_payload, encode_payload
from .local import LocalInvoker

__all__ = ["Invoker", "LocalInvoker", "LambdaInvoker", "encode_payload", "decode_payload"]
