"""The executor's entry point on every platform: ``lambda_handler(event, context)``.

A warm Lambda container (or local worker process) keeps its Redis connections and invoker between
invocations, as module state built on first use (on Lambda: at init, outside the handler).
"""

from __future__ import annotations

from .. import platforms
from ..config import load_config
from ..protocol.payload import decode
from .core import run_invocation

_PLATFORM: platforms.Platform | None = None


def lambda_handler(event, context):
    platform = environment()
    return run_invocation(decode(event), platform.stores, platform.invoker, platform.proxy, platform.observer)


def environment() -> platforms.Platform:
    """This process's stores, invoker and proxy client, built once from the WUKONG_* settings."""
    global _PLATFORM
    if _PLATFORM is None:
        _PLATFORM = platforms.build(load_config(), platforms.Role.EXECUTOR)
    return _PLATFORM
