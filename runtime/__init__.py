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
from .local.cluster import LocalCluster
from .scheduler.client import Client
from .scheduler.completion import ALL_COMPLETED, FIRST_COMPLETED, as_completed, wait
from .scheduler.future import Future

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
