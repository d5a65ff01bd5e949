"""Build the MDS and KVS clients a process needs from the config (passwords from AWS secrets if set).

A job's KV store is the one of its node list (``Stores.for_job``): the client resolves the nodes once per
job (``platforms.job_kvs_nodes``) and sends them with the job, so every executor of the job places keys
on the same ring whatever DNS or Cloud Map answer later. A node that cannot be reached fails the job
(``RedisUnreachableError``, naming it); the ring never drops it and re-hashes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import redis
from redis.backoff import ExponentialBackoff
from redis.connection import PythonRespSerializer
from redis.retry import Retry

from ..config import WukongConfig, parse_address
from ..errors import RedisUnreachableError
from .kvs import KVStore
from .metadata import MetadataStore
from .serialization import Frames

REDIS_RETRIES = 3  # bounded: a Redis that stays away surfaces as RedisUnreachableError
MDS_ROLE = "metadata store"
KVS_ROLE = "KV store"
# KV stores a warm process keeps, one per node list it served jobs with (a deployment's list changes
# only when nodes are replaced); past this many the oldest is forgotten (its connections stay shared).
KVS_STORES_KEPT = 8


@dataclass
class Stores:
    mds: MetadataStore
    kvs: KVStore
    kvs_nodes: tuple[str, ...] = ()  # the "host:port" nodes ``kvs`` places outputs on; (): on the MDS
    open_kvs: Callable[[tuple[str, ...]], KVStore] | None = field(default=None, repr=False, compare=False)

    def for_job(self, nodes: Sequence[str], *, check: bool = False) -> Stores:
        """These stores with the KV store of a job's node list; ``check`` pings every node first (the
        client, before a job: a node that is gone fails the job before it starts, naming the node)."""
        nodes = tuple(nodes)
        stores = (
            self
            if nodes == self.kvs_nodes or self.open_kvs is None
            else replace(self, kvs=self.open_kvs(nodes), kvs_nodes=nodes)
        )
        if check:
            for client in dict.fromkeys(stores.kvs.nodes.values()):
                client.ping()
        return stores


def connect(config: WukongConfig, fast: bool = False) -> Stores:
    """``fast``: an executor's stores, whose hot MDS commands take ``storage/fastpath.py``."""
    password = config.mds_password or secret_value(config.redis_password_secret_arn, "password", config)
    host, port = config.mds_address
    mds_client = redis_client(host, port, password, config, MDS_ROLE)
    mds_client.ping()  # fails here, naming the node, if it is unreachable (NodeRetry)
    kvs_password = config.kvs_password or password
    clients: dict[str, redis.Redis] = {}  # one client (connection pool) per KVS node, shared by stores
    stores: dict[tuple[str, ...], KVStore] = {}

    def open_kvs(nodes: tuple[str, ...]) -> KVStore:
        if nodes not in stores:
            for node in nodes:
                if node not in clients:
                    node_host, node_port = parse_address(node, "KV store node")
                    clients[node] = redis_client(node_host, node_port, kvs_password, config, KVS_ROLE)
            if len(stores) >= KVS_STORES_KEPT:
                stores.pop(next(iter(stores)))
            stores[nodes] = KVStore(
                {node: clients[node] for node in nodes} or {f"{host}:{port}": mds_client},
                ttl_s=config.key_ttl_s,
                max_value_bytes=config.max_value_bytes,
                chunk_large_tasks=config.chunk_large_tasks,
            )
        return stores[nodes]

    own_nodes = endpoint_nodes(config)
    own = Stores(
        MetadataStore(mds_client, config.key_ttl_s, config.max_value_bytes, fast=fast),
        open_kvs(own_nodes),
        own_nodes,
        open_kvs,
    )
    return own.for_job(own_nodes, check=True)


def endpoint_nodes(config: WukongConfig) -> tuple[str, ...]:
    """The configured KV-store endpoints (``redis_endpoints``) as sorted "host:port" node names."""
    return tuple(sorted(f"{host}:{port}" for host, port in config.redis_endpoints))


class FramesPacker(PythonRespSerializer):
    """redis-py's command packer, which also takes a :class:`serialization.Frames` as a value: its
    parts go to the socket one after another instead of being joined into one ``bytes`` first."""

    def __init__(self, buffer_cutoff: int, encode):
        def encode_frames(value):
            if isinstance(value, Frames):  # a small one is joined: it is copied into the command anyway
                return value if len(value) > buffer_cutoff else value.to_bytes()
            return encode(value)

        super().__init__(buffer_cutoff, encode_frames)

    def pack(self, *args):
        output = super().pack(*args)
        if not any(isinstance(item, Frames) for item in output):
            return output
        pieces = [part for item in output for part in (item.parts() if isinstance(item, Frames) else [item])]
        merged, small = [], []  # one sendall per big buffer, and one for each run of small pieces between
        for piece in pieces:
            if len(piece) > self._buffer_cutoff:
                merged += [b"".join(small), piece] if small else [piece]
                small = []
            else:
                small.append(piece)
        return merged + [b"".join(small)] if small else merged


class PythonPackerConnection(redis.Connection):
    """hiredis (when installed) parses replies, 3x faster for big values, but redis-py packs commands:
    hiredis' packer copies big values slowly (SET of 8 MB: 7 ms with redis-py's packer, 21 ms with it)."""

    def _construct_command_packer(self, packer):
        return FramesPacker(self._buffer_cutoff, self.encoder.encode)


class NodeRetry(Retry):
    """redis-py's bounded retry (exponential back-off, REDIS_RETRIES) that names the node when it gives
    up. Every command, pipeline, script, pub/sub read and bulk read of a client runs inside its
    connection's ``retry``, so this is the one place where a raw ``redis.ConnectionError`` or
    ``TimeoutError`` becomes :class:`RedisUnreachableError` (role and address), in the client and in
    the executors alike. redis-py nests retries (a command's around its connect's): only the outermost
    call on a thread translates, so the inner ones still retry."""

    def __init__(self, role: str, address: str):
        super().__init__(
            ExponentialBackoff(cap=1.0, base=0.05),
            REDIS_RETRIES,
            supported_errors=(redis.ConnectionError, redis.TimeoutError),
        )
        self.role, self.address = role, address

    def call_with_retry(self, do, fail, *args, **kwargs):
        outermost = not getattr(_RETRYING, "active", False)
        _RETRYING.active = True
        try:
            return super().call_with_retry(do, fail, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not outermost:
                raise
            raise RedisUnreachableError(self.role, self.address, describe_failure(exc)) from exc
        finally:
            if outermost:
                _RETRYING.active = False


_RETRYING = threading.local()  # module state: redis-py deep-copies a connection's retry


def describe_failure(exc: Exception) -> str:
    if isinstance(exc, redis.AuthenticationError):
        return f"authentication failed ({exc})"
    text = str(exc).rstrip(".") or type(exc).__name__
    if isinstance(exc, redis.TimeoutError):
        return f"no answer in time ({text}; {REDIS_RETRIES + 1} attempts)"
    return f"{text} ({REDIS_RETRIES + 1} attempts)"


def redis_client(host: str, port: int, password: str, config: WukongConfig, role: str) -> redis.Redis:
    pool = redis.ConnectionPool(
        connection_class=PythonPackerConnection,
        host=host,
        port=port,
        password=password or None,
        socket_timeout=config.redis_timeout_s,
        socket_connect_timeout=config.redis_connect_timeout_s,
        socket_keepalive=True,
        retry=NodeRetry(role, f"{host}:{port}"),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    return redis.Redis(connection_pool=pool)


def secret_value(arn: str, field: str, config: WukongConfig) -> str:
    """Read one field of a JSON secret from AWS Secrets Manager; '' when no secret is configured."""
    if not arn:
        return ""
    from .. import aws_sdk as sdk

    client = sdk.client("secretsmanager", region=config.aws_region)
    return json.loads(client.get_secret_value(SecretId=arn)["SecretString"])[field]
