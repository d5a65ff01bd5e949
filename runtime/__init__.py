"""Wukong: run Dask graphs on decentralized serverless executors.

from wukong import LocalCluster, Client
client = Client(LocalCluster())
x.compute(scheduler=client.get)
"""

from .config import WukongConfig, load_config
from .errors import (
    AwsExtraMissingError,
    ClusterClosedError,
    ClusterFailedError,
    ConfigError,
    ExecutorDiedError,
    InvocationFailedError,
    JobTimeoutError,
    MissingKeyError,
    PayloadTooLargeError,
    RedisNotInstalledError,
    RedisUnreachableError,
    RemoteTaskError,
    UnpicklableResultError,
    UnpicklableTaskError,
    VersionMismatchError,
    WukongError,
)

# The cluster and the client import dask and numpy: loaded when first asked for, so that a process that
# needs only a part of the package (the proxy, the invoker function) starts without them.
LAZY = {"LocalCluster": ".local.cluster", "Client": ".scheduler.client"}


def __getattr__(name: str):
    if name in LAZY:
        import importlib

        value = getattr(importlib.import_module(LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Client",
    "LocalCluster",
    "WukongConfig",
    "load_config",
    "WukongError",
    "ClusterClosedError",
    "ClusterFailedError",
    "ConfigError",
    "ExecutorDiedError",
    "AwsExtraMissingError",
    "InvocationFailedError",
    "JobTimeoutError",
    "MissingKeyError",
    "PayloadTooLargeError",
    "RedisNotInstalledError",
    "RedisUnreachableError",
    "RemoteTaskError",
    "UnpicklableResultError",
    "UnpicklableTaskError",
    "VersionMismatchError",
]
