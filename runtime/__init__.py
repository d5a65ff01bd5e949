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
from .local.cluster import LocalCluster
from .scheduler.client import Client

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
