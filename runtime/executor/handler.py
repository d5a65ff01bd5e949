"""The executor's entry point on every platform: ``lambda_handler(event, context)``.

A warm Lambda container (or local worker process) keeps its Redis connections and invoker between
invocations, as module state built on first use.
"""

from __future__ import annotations

from ..config import load_config
from ..invokers import LambdaInvoker, LocalInvoker, decode_payload
from ..storage.connect import connect
from . import faults
from .core import run_invocation

_ENVIRONMENT = None


def lambda_handler(event, context):
    stores, invoker, proxy = environment()
    return run_invocation(decode_payload(event), stores, invoker, proxy)


def environment():
    """(stores, invoker, proxy client) for this process, built once from the WUKONG_* settings."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        config = load_config()
        stores = connect(config)
        if config.mode == "aws":
            invoker = LambdaInvoker.for_executors(config)
        else:
            invoker = LocalInvoker(
                stores.mds.redis, config.local_queue, duplicate=faults.duplicate_deliveries()
            )
        _ENVIRONMENT = (stores, invoker, make_proxy_client(config))
    return _ENVIRONMENT


def make_proxy_client(config):
    if not config.proxy_address:
        return None
    from ..proxy.client import ProxyClient

    return ProxyClient.from_config(config)
