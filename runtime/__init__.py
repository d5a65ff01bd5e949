"""Wukong: run Dask graphs on decentralized serverless executors.

from wukong import LocalCluster, Client
client = Client(LocalCluster())
x.compute(scheduler=client.get)
"""

from .config import WukongConfig, load_config
from .errors import (
    AwsExtraMissingError,
    ConfigError,
    InvocationFailedError,
    JobTimeoutError,
    PayloadTooLargeError,
    RedisNotInstalledError,
    RedisUnreachableError,
    RemoteTaskError,
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
    "ConfigError",
    "AwsExtraMissingError",
    "InvocationFailedError",
    "JobTimeoutError",
    "PayloadTooLargeError",
    "RedisNotInstalledError",
    "RedisUnreachableError",
    "RemoteTaskError",
    "UnpicklableTaskError",
    "VersionMismatchError",
]
