"""One typed configuration for the client, the executors and the proxy.

Precedence, highest first: keyword arguments, ``WUKONG_<NAME>`` environment variables, dask's config
(``wukong.<name>``, e.g. ``/etc/dask/wukong.yaml`` that the CDK stack writes on the scheduler VM), defaults.
Every setting a user can change is a field here, and the platform limits they relate to are constants
here; names carry their units. Internal constants (poll intervals, back-off bounds) live with the code
they pace, with their units in their names.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import os
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

# Lambda's Invoke API takes up to 1 MB for an asynchronous (Event) invocation since October 2025 (it was
# 256 KB; AWS's earlier limits were binary: "limit 262144 bytes"). RequestResponse takes 6 MB; the
# deprecated InvokeAsync API keeps 256 KB. Wukong's executors only use Invoke with InvocationType=Event.
LAMBDA_ASYNC_PAYLOAD_BYTES = 1024 * 1024
LOCAL_PAYLOAD_BYTES = 256 * 1024  # local mode's invocations (a Redis list): the old Lambda limit, unchanged
# Lambda's default concurrent-executions quota per account and region. New accounts often get less: on AWS
# LocalCluster reads the real figure (wukong.aws.concurrency) and uses this only when it cannot.
LAMBDA_DEFAULT_CONCURRENCY = 1000
# Lambda's on-failure destination: how the client hears that Lambda gave up on an executor event.
FAILURE_POLL_WAIT_S = 2.0  # SQS long poll per receive; bounds how late a record is seen and close() waits
# A record of a job this client does not run is left for the client that does: it is received invisible
# for this long, then other watchers of the queue see it again.
FAILURE_FOREIGN_VISIBILITY_S = 5
# What starting one more executor costs, measured: a local warm worker ~1-2 ms of queue, pop and set-up
# (benchmarks/README.md); an asynchronous Invoke call ~20-50 ms before the function runs, more when cold.
LOCAL_INVOCATION_COST_S = 0.002
LAMBDA_INVOCATION_COST_S = 0.03
LAMBDA_DEFAULT_RETRY_ATTEMPTS = 2  # Lambda retries a failed asynchronous invocation twice by default
LAMBDA_MAX_RETRY_ATTEMPTS = 2  # and at most twice (MaximumRetryAttempts: 0-2)
REDIS_MAX_VALUE_BYTES = 512 * 1024 * 1024  # Redis' proto-max-bulk-len default
ENV_PREFIX = "WUKONG_"
# An invocation holds a lease while it runs, renewed every LEASE_RENEW_S; a second delivery of the same
# invocation waits up to LEASE_WAIT_S for it: a live holder keeps it (the delivery was a duplicate and
# stops), a dead one lets it expire (the delivery was a retry and takes over).
LEASE_TTL_S = 2.0
LEASE_RENEW_S = 0.5
LEASE_WAIT_S = 3.0
DASK_CONFIG_SECTION = "wukong"

# WUKONG_* environment variables that are not settings (WUKONG_TEST_* are the tests' own).
NON_SETTING_ENV = frozenset({"WUKONG_WORKER_ID", "WUKONG_WORKER_SLOT", "WUKONG_SLOTS_FD"})  # local workers
TEST_ENV_PREFIX = "WUKONG_TEST_"

# Settings a Client may set for its own jobs; the rest belong to the cluster. The executor's ones travel
# with every invocation (``protocol.payload.JobSettings`` has exactly these fields, plus ``use_proxy`` and
# the job's KV-store nodes); the client's shape the job before it runs.
EXECUTOR_JOB_SETTINGS = (
    "exactly_one_result",
    "invocation_cost_s",
    "task_clustering",
    "big_task_threshold",
    "max_task_fanout",
    "max_payload_bytes",
    "delayed_io_max_wait_s",
)
CLIENT_JOB_SETTINGS = (
    "job_timeout_s",
    "task_grouping",
    "cluster_reductions",
    "progress",
    "num_lambda_invokers",
    "session_ttl_s",
    "futures_batch_s",
    "max_concurrent_jobs",
)
JOB_SETTINGS = frozenset(EXECUTOR_JOB_SETTINGS + CLIENT_JOB_SETTINGS)

# Names the seed accepted with no meaning here; kept so old scripts keep running.
IGNORED_ARGUMENTS = frozenset({"n_workers"})


@dataclass(frozen=True)
class WukongConfig:
    """Every knob of a Wukong deployment. Immutable; build it with :func:`load_config`."""

    # --- where things are (empty = the embedded local mode starts its own) ---
    mode: str = "local"  # "local": worker processes; "aws": Lambda
    host: str = ""  # metadata store "host:port" (the seed's scheduler host)
    mds_password: str = ""
    redis_endpoints: tuple[tuple[str, int], ...] = ()  # KVS nodes; empty = the MDS holds the KVS too
    kvs_password: str = ""
    kvs_service_name: str = ""  # AWS: a DNS name with one A record per KVS node ("kvs.wukong.internal:6379")
    redis_password_secret_arn: str = ""  # AWS: Secrets Manager secret {"password": ...} for MDS and KVS
    num_kvs_nodes: int = 1  # local mode: how many KVS redis-server nodes to start
    use_fargate: bool = True  # AWS: KVS on the Fargate Redis nodes; False = use the MDS as the KVS
    proxy_address: str = ""
    proxy_port: int = 8989
    proxy_secret: str = ""
    proxy_secret_arn: str = ""  # AWS: Secrets Manager secret {"secret": ...}; used when proxy_secret is empty
    use_local_proxy: bool = True
    # The proxy's bounds on peers: a connection must present the secret within proxy_auth_timeout_s (at
    # most proxy_max_unauthenticated such connections at once), and an authenticated one that sends no
    # request for proxy_idle_timeout_s is closed (the executor's client reconnects).
    proxy_auth_timeout_s: float = 5.0
    proxy_idle_timeout_s: float = 300.0
    proxy_max_unauthenticated: int = 64

    # --- invocation ---
    # AWS: threads that invoke the leaf executors in parallel. The seed's 4 took 39 s for a burst of 2000
    # leaves at Lambda's ~50 ms per Invoke call on the Lambda platform, 64 took 23 s (benchmarks/README.md).
    num_lambda_invokers: int = 64
    max_task_fanout: int = 10  # fan-outs this large or larger go through the proxy
    # 0 = the platform's limit: LAMBDA_ASYNC_PAYLOAD_BYTES on AWS, LOCAL_PAYLOAD_BYTES locally
    max_payload_bytes: int = 0
    executor_function_name: str = "WukongExecutor"
    aws_region: str = "us-east-1"
    lambda_endpoint_url: str = ""  # a Lambda-compatible endpoint (tests); empty = AWS
    lambda_memory_mb: int = 3008
    # AWS: the SQS queue that is the executor's on-failure destination (an event Lambda gave up on)
    failure_queue_url: str = ""

    # How often a failed delivery of an invocation is delivered again: Lambda's MaximumRetryAttempts
    # (0-2), and the local pool's budget for an invocation whose executor dies. One death more fails
    # the job at once, naming the task and how its executor died.
    max_retry_attempts: int = LAMBDA_DEFAULT_RETRY_ATTEMPTS

    # Executors the platform runs at once; 0 = the local pool's maximum, or LAMBDA_DEFAULT_CONCURRENCY on
    # AWS. A DAG with many more leaves than this has its subtrees of leaves grouped (task_grouping).
    max_concurrency: int = 0

    # A task's value is decided once, even when its executor dies and a retry runs it again (impure
    # tasks: random numbers, clocks, I/O): a value is published, first writer wins, before it leaves its
    # executor, and a retry re-uses it. Off: a retry recomputes (fine for pure tasks), with fewer writes.
    exactly_one_result: bool = True

    # What starting an executor costs (local: a queue round trip and a warm worker; AWS: an Invoke call
    # and maybe a cold start). A claimed dependent estimated to run for less than this runs where its
    # input is rather than in an executor of its own, up to LOCAL_WORK_INVOCATIONS of them in a row.
    # 0: the platform's (LOCAL_INVOCATION_COST_S, LAMBDA_INVOCATION_COST_S).
    invocation_cost_s: float = 0.0

    # --- locality ---
    task_clustering: bool = True  # also switches delayed I/O
    task_grouping: bool = True  # fold subtrees of leaves into one task when the DAG outgrows the platform
    cluster_reductions: bool = True  # run a reduction with the products it sums (GEMM tiles) in one executor
    # Serialized bytes above which an output stays with its executor (clustering, delayed I/O): writing
    # 16 MiB to Redis and reading it back costs ~20 ms on loopback (more across a network), more than most
    # tasks. The seed randomized SVD's 32 MB blocks then stay where they were made (1.47 -> 0.57 s).
    big_task_threshold: int = 16 * 1024 * 1024
    chunk_large_tasks: bool = False  # split values over max_value_bytes across several keys
    max_value_bytes: int = REDIS_MAX_VALUE_BYTES
    # How long an executor holds a big output for dependents that are not ready yet; registrations wake it,
    # so waiting costs an idle worker, not polling. Long enough for a tree of QRs to come back.
    delayed_io_max_wait_s: float = 60.0

    # --- local mode ---
    local_workers: int = 0  # 0 = two per core
    max_local_workers: int = 0  # the pool grows with queued invocations up to this; 0 = 4x local_workers
    redis_server: str = "redis-server"  # the binary the embedded mode starts
    local_queue: str = ""  # the Redis list the local workers pop invocations from; "": the cluster's own

    # --- jobs ---
    job_timeout_s: float = 600.0
    key_ttl_s: int = 3600
    # How long one Redis command may take: generous, because an 80 MB value on a busy server is slow and a
    # slow command is not a dead server (leases and the job deadline catch those).
    redis_timeout_s: float = 120.0
    redis_connect_timeout_s: float = 5.0
    progress: str = "auto"  # "auto" (on when stderr is a terminal), "on", "off"

    # --- futures (client sessions) ---
    # How long a future's value lives in the KV store without its client: the client renews it every
    # quarter of this while the Future exists; a session whose client died without close() is gone this
    # long after the last renewal.
    session_ttl_s: int = 600
    futures_batch_s: float = 0.005  # submits gathered this long become one job (a map of 10 000: one)
    max_concurrent_jobs: int = 8  # jobs one client's futures run at once (threads waiting on them)

    # --- cost model (list prices, us-east-1; docs/deploy.md "What it costs" shows the same figures) ---
    price_lambda_gb_s: float = 0.0000166667
    price_lambda_request: float = 0.0000002
    price_fargate_vcpu_h: float = 0.04048
    price_fargate_gb_h: float = 0.004445
    price_ec2_h: float = 0.192  # the MDS and the scheduler VM: two m6i.large at $0.096/h each

    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for name in NUMBER_FIELDS:  # built directly or by replace(): numbers are checked the same way
            object.__setattr__(self, name, coerce(name, getattr(self, name)))
        if self.max_payload_bytes == 0:  # frozen: the platform's limit is filled in once, here
            object.__setattr__(self, "max_payload_bytes", default_payload_bytes(self.mode))
        if self.invocation_cost_s == 0:
            cost = LAMBDA_INVOCATION_COST_S if self.mode == "aws" else LOCAL_INVOCATION_COST_S
            object.__setattr__(self, "invocation_cost_s", cost)
        validate(self)

    def replace(self, **changes) -> WukongConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("extra")
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> WukongConfig:
        data = json.loads(text)
        data["redis_endpoints"] = tuple(tuple(e) for e in data.get("redis_endpoints", ()))
        return cls(**data)

    @property
    def mds_address(self) -> tuple[str, int]:
        return parse_address(self.host, "host")


def default_payload_bytes(mode: str) -> int:
    """The invocation payload limit of the platform ``mode`` runs on."""
    return LAMBDA_ASYNC_PAYLOAD_BYTES if mode == "aws" else LOCAL_PAYLOAD_BYTES


FIELD_TYPES = {f.name: f.type for f in fields(WukongConfig) if f.name != "extra"}
FIELD_DEFAULTS = {f.name: f.default for f in fields(WukongConfig) if f.name != "extra"}
NUMBER_FIELDS = tuple(name for name, kind in FIELD_TYPES.items() if kind in ("int", "float"))
KIND_WORDS = {"int": "an integer", "float": "a finite number", "bool": "a boolean", "str": "a string"}


def validate(config: WukongConfig) -> None:
    """Raise :class:`ConfigError` naming the first bad setting."""
    positive = (
        "num_lambda_invokers",
        "max_task_fanout",
        "max_payload_bytes",
        "invocation_cost_s",
        "big_task_threshold",
        "max_value_bytes",
        "job_timeout_s",
        "key_ttl_s",
        "num_kvs_nodes",
        "redis_timeout_s",
        "redis_connect_timeout_s",
        "proxy_auth_timeout_s",
        "proxy_idle_timeout_s",
        "proxy_max_unauthenticated",
        "session_ttl_s",
        "futures_batch_s",
        "max_concurrent_jobs",
    )
    for name in positive:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)!r}")
    for name in ("max_concurrency", "local_workers", "max_local_workers"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be 0 (the default) or positive, got {getattr(config, name)!r}")
    if not 0 <= config.max_retry_attempts <= LAMBDA_MAX_RETRY_ATTEMPTS:
        raise ConfigError(
            f"max_retry_attempts must be 0 to {LAMBDA_MAX_RETRY_ATTEMPTS} (Lambda's range), "
            f"got {config.max_retry_attempts!r}"
        )
    if config.mode not in ("local", "aws"):
        raise ConfigError(f"mode must be 'local' or 'aws', got {config.mode!r}")
    if config.progress not in ("auto", "on", "off"):
        raise ConfigError(f"progress must be 'auto', 'on' or 'off', got {config.progress!r}")
    if config.host:
        parse_address(config.host, "host")
    for endpoint in config.redis_endpoints:
        if len(endpoint) != 2 or not isinstance(endpoint[1], int):
            raise ConfigError(f"redis_endpoints entries must be (host, port) pairs, got {endpoint!r}")


def parse_address(text: str, name: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 6379
    if not port.isdigit():
        raise ConfigError(f"{name} must look like 'host:port', got {text!r}")
    return host, int(port)


def load_config(**kwargs) -> WukongConfig:
    """Build the config: kwargs, then WUKONG_* env, then dask config ``wukong.*``, then defaults."""
    values: dict[str, Any] = {}
    values.update(_from_dask_config())
    values.update(_from_environment())
    for name, value in kwargs.items():
        if name in IGNORED_ARGUMENTS:
            continue
        check_known(name, repr(name))
        values[name] = value
    return WukongConfig(**{name: coerce(name, value) for name, value in values.items()})


def check_known(name: str, where: str) -> None:
    """Raise ConfigError for a name that is no setting; ``where`` says how it was given."""
    if name not in FIELD_TYPES:
        raise ConfigError(f"unknown setting {where}; known settings: {', '.join(sorted(FIELD_TYPES))}")


def coerce(name: str, value: Any) -> Any:
    """Turn a text or loose value into the field's type, or raise ConfigError naming the field."""
    kind = FIELD_TYPES[name]
    try:
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind == "int":
            return as_integer(value)
        if kind == "float":
            return as_finite_float(value)
        if kind == "str":
            return str(value)
        if name == "redis_endpoints":
            return _parse_endpoints(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} must be {KIND_WORDS.get(kind, kind)}, got {value!r}") from exc
    return value


def as_integer(value: Any) -> int:
    """An int, a text of one ("3", from an environment variable), or a float with an integer value
    (2.0, 1e6); 2.7, NaN, infinities and booleans are refused instead of truncated."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            value = float(text)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return operator.index(value)  # int, numpy integers; TypeError for anything else


def as_finite_float(value: Any) -> float:
    """A float from a number or its text; NaN and infinities are refused (a NaN deadline never expires)."""
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _parse_endpoints(value) -> tuple[tuple[str, int], ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    endpoints = []
    for item in value:
        if isinstance(item, str):
            item = parse_address(item.strip(), "redis_endpoints")
        host, port = item
        endpoints.append((str(host), int(port)))
    return tuple(endpoints)


def _from_environment() -> dict[str, Any]:
    found = {}
    for env_name, value in os.environ.items():
        if (
            not env_name.startswith(ENV_PREFIX)
            or env_name in NON_SETTING_ENV
            or env_name.startswith(TEST_ENV_PREFIX)
        ):
            continue
        name = env_name[len(ENV_PREFIX) :].lower()
        check_known(name, f"in environment variable {env_name}")
        found[name] = value
    return found


def _from_dask_config() -> dict[str, Any]:
    import dask.config

    section = dask.config.get(DASK_CONFIG_SECTION, default=None) or {}
    found = {}
    for raw_name, value in section.items():
        name = raw_name.replace("-", "_")
        check_known(name, f"wukong.{raw_name} in dask config")
        found[name] = value
    return found


def config_to_env(config: WukongConfig) -> dict[str, str]:
    """The WUKONG_* variables that reproduce ``config`` in another process (a worker, a Lambda)."""
    env = {}
    for name, default in FIELD_DEFAULTS.items():
        value = getattr(config, name)
        if value == default:
            continue
        if name == "redis_endpoints":
            text = ",".join(f"{host}:{port}" for host, port in value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[ENV_PREFIX + name.upper()] = text
    return env


def with_job_settings(config: WukongConfig, **settings) -> WukongConfig:
    """``config`` with per-client job settings; cluster settings are refused with a pointer to LocalCluster."""
    for name in settings:
        check_known(name, repr(name))
        if name not in JOB_SETTINGS:
            raise ConfigError(
                f"setting {name!r} belongs to the cluster: pass it to LocalCluster(...), "
                f"not Client(cluster, ...). Per-client settings: {', '.join(sorted(JOB_SETTINGS))}"
            )
    return config.replace(**{name: coerce(name, value) for name, value in settings.items()})
