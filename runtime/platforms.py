"""The one seam between Wukong and where it runs: every process builds its stores, its invoker and (for
executors) its proxy client here, from its config. ``mode`` picks the platform: ``local`` (invocations
on the cluster's Redis list, popped by warm worker processes) or ``aws`` (Lambda's Invoke API through
boto3, against AWS or any endpoint that speaks it, ``lambda_endpoint_url``). What a client must do for
each job on a platform is here too: find the job's KV-store nodes, and ship the user's modules where
executors do not share the client's files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from . import testhooks
from .config import WukongConfig
from .invokers import LambdaInvoker, LocalInvoker
from .storage.connect import Stores, connect, endpoint_nodes


class Role(Enum):
    """Who builds the platform: it decides how many Invoke calls go out at once."""

    CLIENT = "client"  # the leaf burst of a job
    EXECUTOR = "executor"  # an executor invoking the dependents it does not run
    PROXY = "proxy"  # a big fan-out: the reason the proxy exists


# Parallel Invoke calls per role (AWS); the client uses num_lambda_invokers.
INVOKE_THREADS = {Role.EXECUTOR: 8, Role.PROXY: 64}  # the proxy exists to start big fan-outs at once


@dataclass
class Platform:
    stores: Stores
    invoker: object  # invokers.Invoker
    proxy: object | None = None  # proxy.client.ProxyClient, for executors when a proxy is configured
    # Executors: told (job, owner, task) as an invocation starts, enters and leaves each task, and ends
    # (all None). The local pool reads it to name a task that killed its worker, and to stop ended jobs.
    observer: Callable[[str | None, str | None, int | None], None] | None = None


def build(config: WukongConfig, role: Role, *, stores: Stores | None = None, duplicate: bool | None = None):
    """The stores, invoker and proxy client of a process in ``role``. ``stores``: reuse connections made
    already; ``duplicate``: the test hook's duplicate deliveries, as read when the cluster was made."""
    stores = stores or connect(config, fast=role is Role.EXECUTOR)
    return Platform(stores, make_invoker(config, role, stores, duplicate), make_proxy_client(config, role))


def make_invoker(
    config: WukongConfig, role: Role, stores: Stores | None = None, duplicate: bool | None = None
):
    """The transport that starts executors; on AWS it needs no stores."""
    if config.mode == "aws":
        threads = INVOKE_THREADS.get(role, config.num_lambda_invokers)
        return LambdaInvoker.for_executors(config, concurrency=threads)
    if duplicate is None:
        duplicate = testhooks.duplicate_deliveries()
    return LocalInvoker((stores or connect(config)).mds.redis, config.local_queue, duplicate=duplicate)


def job_kvs_nodes(config: WukongConfig) -> tuple[str, ...]:
    """The KV-store nodes of the next job, "host:port", resolved once by its client: the configured
    endpoints, else on AWS the KVS service's instances in Cloud Map, else () (the MDS holds the outputs)."""
    if config.mode == "aws":
        from .aws.kvs_nodes import deployment_kvs_nodes

        return deployment_kvs_nodes(config)
    return endpoint_nodes(config)


def executors_import_client_modules(config: WukongConfig) -> bool:
    """Local workers run with the client's files and sys.path; a Lambda executor has only its package
    and layers, so the user's modules must travel by value (``scheduler.user_code``)."""
    return config.mode == "local"


def make_proxy_client(config: WukongConfig, role: Role):
    if role is not Role.EXECUTOR or not config.proxy_address:
        return None
    from .proxy.client import ProxyClient

    return ProxyClient.from_config(config)
