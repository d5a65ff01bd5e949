"""Build the MDS and KVS clients a process needs from the config (passwords from AWS secrets if set)."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass

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


@dataclass
class Stores:
    mds: MetadataStore
    kvs: KVStore


def connect(config: WukongConfig, fast: bool = False) -> Stores:
    """``fast``: an executor's stores, whose hot MDS commands take ``storage/fastpath.py``."""
    password = config.mds_password or secret_value(config.redis_password_secret_arn, "password", config)
    host, port = config.mds_address
    mds_client = redis_client(host, port, password, config, MDS_ROLE)
    mds_client.ping()  # fails here, naming the node, if it is unreachable (NodeRetry)
    kvs_nodes = {}
    for kvs_host, kvs_port in kvs_endpoints(config):
        client = redis_client(kvs_host, kvs_port, config.kvs_password or password, config, KVS_ROLE)
        client.ping()
        kvs_nodes[f"{kvs_host}:{kvs_port}"] = client
    if not kvs_nodes:
        kvs_nodes[f"{host}:{port}"] = mds_client
    kvs = KVStore(
        kvs_nodes,
        ttl_s=config.key_ttl_s,
        max_value_bytes=config.max_value_bytes,
        chunk_large_tasks=config.chunk_large_tasks,
    )
    return Stores(MetadataStore(mds_client, config.key_ttl_s, config.max_value_bytes, fast=fast), kvs)


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


def kvs_endpoints(config: WukongConfig) -> list[tuple[str, int]]:
    """The KVS nodes: explicit endpoints, else every address of the service name, else none (use the MDS)."""
    if config.redis_endpoints:
        return list(config.redis_endpoints)
    if config.kvs_service_name and config.use_fargate:
        name, port = parse_address(config.kvs_service_name, "kvs_service_name")
        addresses = {info[4][0] for info in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)}
        return [(address, port) for address in sorted(addresses)]
    return []


def secret_value(arn: str, field: str, config: WukongConfig) -> str:
    """Read one field of a JSON secret from AWS Secrets Manager; '' when no secret is configured."""
    if not arn:
        return ""
    from .. import aws_sdk as sdk

    client = sdk.client("secretsmanager", region=config.aws_region)
    return json.loads(client.get_secret_value(SecretId=arn)["SecretString"])[field]
