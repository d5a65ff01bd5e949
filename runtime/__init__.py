"""Wukong: run Dask graphs on decentralized serverless executors.

from wukong import LocalCluster, Client
client = Client(LocalCluster())
x.compute(scheduler=client)                   # dask's scheduler hook; or `with client:`
future = client.submit(func, *args)            # distributed's futures API: submit, map, gather,
client.gather(client.map(func, range(10)))     # scatter, compute, persist; wukong.as_completed, wait
"""

from .config import WukongConfig, load_config
from .errors import (
    AwsExtraMissingError,
    ClusterClosedError,
    ClusterFailedError,
    ConfigError,
    ExecutorDiedError,
    FutureCancelledError,
    FutureLostError,
    InMemoryTargetError,
    InvocationFailedError,
    JobTimeoutError,
    MissingKeyError,
    PayloadTooLargeError,
    RedisNotInstalledError,
    RedisUnreachableError,
    RemoteTaskError,
    UnknownFutureError,
    UnpicklableResultError,
    UnpicklableTaskError,
    UnsupportedOptionError,
    UnsupportedShuffleError,
    VersionMismatchError,
    WukongError,
)

# The cluster and the client import dask and numpy: loaded when first asked for, so that a process that
# needs only a part of the package (the proxy, the VM's config check) starts without them.
LAZY = {
    "LocalCluster": ".local.cluster",
    "Client": ".scheduler.client",
    "Future": ".scheduler.future",
    "as_completed": ".scheduler.completion",
    "wait": ".scheduler.completion",
    "ALL_COMPLETED": ".scheduler.completion",
    "FIRST_COMPLETED": ".scheduler.completion",
}


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
    "Future",
    "as_completed",
    "wait",
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "WukongConfig",
    "load_config",
    "WukongError",
    "ClusterClosedError",
    "ClusterFailedError",
    "ConfigError",
    "ExecutorDiedError",
    "FutureCancelledError",
    "FutureLostError",
    "InMemoryTargetError",
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
    "UnknownFutureError",
    "UnsupportedOptionError",
    "UnsupportedShuffleError",
    "VersionMismatchError",
]
