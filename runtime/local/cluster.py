"""``LocalCluster``: where a Wukong job runs.

With no arguments it is the embedded local mode: a ``redis-server`` on a free loopback port with a
random password (the MDS, which also holds the KVS unless ``num_kvs_nodes`` > 1 starts more nodes),
the KV-store proxy, and the pool of warm workers. It stops all of them on ``close()``, at interpreter
exit, and when the process is killed (the children die with their parent). :meth:`check` says, before
and during every job, whether the cluster can still run one: closed, or a process of it died.

With ``mode: aws`` in the config (the CDK stack writes it on the scheduler VM) it starts nothing and
reaches the deployed MDS, KVS nodes, proxy and Lambda functions instead; at start it reads Lambda's
concurrency for the executor function once (``wukong.aws.concurrency``) and watches the executor's
on-failure queue while jobs run (``wukong.aws.failures``).
"""

from __future__ import annotations

import atexit
import secrets
import sys
import weakref
from typing import Any

from .. import platforms, testhooks
from ..config import LAMBDA_DEFAULT_CONCURRENCY, load_config
from ..errors import ClusterClosedError, ClusterFailedError, RedisUnreachableError
from ..storage import keys
from ..storage.connect import KVS_ROLE, MDS_ROLE, connect
from .pool import WorkerPool, pool_size
from .processes import describe_exit
from .redis_server import RedisServer

LOST_NODE_ADVICE = (
    "This LocalCluster started that redis-server and cannot run jobs without it: "
    "close() the cluster and start a new LocalCluster()"
)


class LocalCluster:
    def __init__(self, **kwargs: Any) -> None:
        self.config = load_config(**kwargs)
        self.servers: list[RedisServer] = []
        self.pool: WorkerPool | None = None
        self.proxy = None  # a ProxyProcess
        self.failures = None  # AWS: the watcher of the executor's on-failure queue
        self.lambda_concurrency = 0  # AWS: read once at start
        self.closed = False
        # Test-only fault injection: the workers inherit WUKONG_TEST_FAULTS; the leaf invoker honours it too.
        self.duplicate_deliveries = testhooks.duplicate_deliveries()
        atexit.register(_close_at_exit, weakref.ref(self))
        try:
            if self.config.mode == "local":
                self.start_local()
            else:
                self.attach_aws()
        except BaseException:
            self.close()
            raise

    def start_local(self) -> None:
        config = self.config
        changes = {"local_queue": config.local_queue or keys.local_queue(secrets.token_hex(6))}
        if not config.host:
            mds = self.start_server(MDS_ROLE)
            changes.update(host=mds.address, mds_password=mds.password)
        if config.num_kvs_nodes > 1 and not config.redis_endpoints:
            password = secrets.token_urlsafe(24)
            nodes = [self.start_server(KVS_ROLE, password) for _ in range(config.num_kvs_nodes)]
            changes["redis_endpoints"] = tuple(("127.0.0.1", node.port) for node in nodes)
            changes["kvs_password"] = password
        self.config = config.replace(**changes)
        stores = connect(self.config)  # fails here, clearly, if a given Redis is unreachable
        if self.config.use_local_proxy:
            from .proxy_process import ProxyProcess

            # The proxy and the worker template start at once, each on a core of its own.
            self.proxy = ProxyProcess(self.config)
            self.config = self.config.replace(
                proxy_address=self.proxy.host, proxy_port=self.proxy.port, proxy_secret=self.proxy.secret
            )
        servers = [server.process.pid for server in self.servers]
        if self.proxy is not None:
            servers.append(self.proxy.process.pid)
        self.pool = WorkerPool(self.config, stores.mds.redis, server_pids=servers)
        if self.proxy is not None:
            self.proxy.wait_ready()

    def attach_aws(self) -> None:
        from .. import aws_sdk as sdk
        from ..aws import concurrency, failures

        sdk.boto3_module()  # no AWS SDK: say which extra to install, before anything else fails
        if not self.config.max_concurrency:
            self.lambda_concurrency = concurrency.executor_concurrency(self.config)
        if self.config.failure_queue_url:
            self.failures = failures.FailureWatcher.for_config(self.config)

    def start_server(self, role: str, password: str | None = None) -> RedisServer:
        server = RedisServer(self.config.redis_server, password, role=role)
        self.servers.append(server)
        return server

    def warm(self, modules: list[str]) -> None:
        """Before a job's executors start, have the local workers hold the modules its tasks come from
        (``pool.warm``). On AWS an execution environment imports what the handler module imports at
        init, outside the handler (numpy, dask.array); a job's own modules it imports on first use."""
        if self.pool is not None:
            self.pool.warm(modules)

    def platform(self, config=None) -> platforms.Platform:
        """A client's stores and the invoker of its leaf bursts (``config``: the client's, if it has its own)."""
        self.check()
        return platforms.build(
            config or self.config, platforms.Role.CLIENT, duplicate=self.duplicate_deliveries
        )

    @property
    def concurrency(self) -> int:
        """How many executors run at once: Lambda's quota on AWS, the pool's maximum locally."""
        if self.config.max_concurrency:
            return self.config.max_concurrency
        if self.config.mode == "aws":
            return self.lambda_concurrency or LAMBDA_DEFAULT_CONCURRENCY
        return pool_size(self.config)[1]

    def check(self) -> None:
        """Raise if this cluster cannot run a job: it was closed, or a process of it died (named, with
        how it died). Cheap (no I/O): the client calls it before and, every second, during each job."""
        if self.closed:
            raise ClusterClosedError()
        for server in self.servers:
            code = server.process.poll()
            if code is not None:
                reason = f"its redis-server (pid {server.process.pid}) {describe_exit(code)}"
                raise RedisUnreachableError(server.role, server.address, reason, LOST_NODE_ADVICE)
        if self.proxy is not None and self.proxy.process.poll() is not None:
            code = self.proxy.process.poll()
            raise ClusterFailedError(
                f"the local KV-store proxy (pid {self.proxy.process.pid}) {describe_exit(code)}"
            )
        if self.pool is not None and self.pool.failure is not None:
            raise ClusterFailedError(self.pool.failure)

    def close(self) -> None:
        """Stop every process of the cluster (SIGKILL after a grace period), whatever has died already;
        never raises."""
        if self.closed:
            return
        self.closed = True
        if self.failures is not None:
            _quietly(self.failures.close)
        if self.pool is not None:
            _quietly(self.pool.close)
            if not any(server.role == MDS_ROLE for server in self.servers):  # an MDS that outlives us
                _quietly(self.pool.delete_keys)
        if self.proxy is not None:
            _quietly(self.proxy.close)
        for server in self.servers:
            _quietly(server.close)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        workers = len(self.pool.workers) if self.pool else 0
        return f"<LocalCluster mode={self.config.mode} mds={self.config.host} workers={workers}>"


def _quietly(stop) -> None:
    """Run one step of close(): a step that fails (a Redis already gone) must not skip the others."""
    try:
        stop()
    except Exception as exc:  # noqa: BLE001 - close() must stop everything else whatever this was
        print(f"wukong: while closing the cluster: {exc}", file=sys.stderr)


def _close_at_exit(ref) -> None:
    cluster = ref()
    if cluster is not None:
        cluster.close()
