"""``LocalCluster``: where a Wukong job runs.

With no arguments it is the embedded local mode: a ``redis-server`` on a free loopback port with a
random password (the MDS, which also holds the KVS unless ``num_kvs_nodes`` > 1 starts more nodes),
the KV-store proxy, and the pool of warm workers. It stops all of them on ``close()``, at interpreter
exit, and when the process is killed (the children die with their parent).

With ``mode: aws`` in the config (the CDK stack writes it on the scheduler VM) it starts nothing and
reaches the deployed MDS, KVS nodes, proxy and Lambda functions instead; at start it reads Lambda's
concurrency for the executor function once (``wukong.aws.concurrency``) and watches the executor's
on-failure queue while jobs run (``wukong.aws.failures``).
"""

from __future__ import annotations

import atexit
import secrets
import weakref

from ..config import LAMBDA_DEFAULT_CONCURRENCY, load_config
from ..executor import faults
from ..invokers import LambdaInvoker, LocalInvoker
from ..storage.connect import connect
from .pool import WorkerPool, pool_size
from .redis_server import RedisServer


class LocalCluster:
    def __init__(self, **kwargs):
        self.config = load_config(**kwargs)
        self.servers: list[RedisServer] = []
        self.pool: WorkerPool | None = None
        self.proxy = None
        self.failures = None  # AWS: the watcher of the executor's on-failure queue
        self.lambda_concurrency = 0  # AWS: read once at start
        self.closed = False
        # Test-only fault injection: the workers inherit WUKONG_TEST_FAULTS; the leaf invoker honours it too.
        self.duplicate_deliveries = faults.duplicate_deliveries()
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
        changes = {"local_queue": f"wk:invocations:{secrets.token_hex(6)}"}
        if not config.host:
            mds = self.start_server()
            changes.update(host=mds.address, mds_password=mds.password)
        if config.num_kvs_nodes > 1 and not config.redis_endpoints:
            password = secrets.token_urlsafe(24)
            nodes = [self.start_server(password) for _ in range(config.num_kvs_nodes)]
            changes["redis_endpoints"] = tuple(("127.0.0.1", node.port) for node in nodes)
            changes["kvs_password"] = password
        self.config = config.replace(**changes)
        stores = connect(self.config)  # fails here, clearly, if a given Redis is unreachable
        if self.config.use_local_proxy:
            from ..proxy.server import ProxyProcess

            self.proxy = ProxyProcess(self.config)
            self.config = self.config.replace(
                proxy_address=self.proxy.host, proxy_port=self.proxy.port, proxy_secret=self.proxy.secret
            )
        servers = [server.process.pid for server in self.servers]
        if self.proxy is not None:
            servers.append(self.proxy.process.pid)
        self.pool = WorkerPool(self.config, stores.mds.redis, server_pids=servers)

    def attach_aws(self) -> None:
        from ..aws import concurrency, failures, sdk

        sdk.boto3_module()  # no AWS SDK: say which extra to install, before anything else fails
        if not self.config.max_concurrency:
            self.lambda_concurrency = concurrency.executor_concurrency(self.config)
        if self.config.failure_queue_url:
            self.failures = failures.FailureWatcher.for_config(self.config)

    def start_server(self, password: str | None = None) -> RedisServer:
        server = RedisServer(self.config.redis_server, password)
        self.servers.append(server)
        return server

    def make_invoker(self, stores, config=None):
        """The transport that starts executors for this cluster (``config``: a client's, if it has its own)."""
        config = config or self.config
        if config.mode == "aws":
            return LambdaInvoker.for_executors(config, concurrency=config.num_lambda_invokers)
        return LocalInvoker(stores.mds.redis, config.local_queue, duplicate=self.duplicate_deliveries)

    @property
    def concurrency(self) -> int:
        """How many executors run at once: Lambda's quota on AWS, the pool's maximum locally."""
        if self.config.max_concurrency:
            return self.config.max_concurrency
        if self.config.mode == "aws":
            return self.lambda_concurrency or LAMBDA_DEFAULT_CONCURRENCY
        return pool_size(self.config)[1]

    def connect(self):
        return connect(self.config)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.failures is not None:
            self.failures.close()
        if self.pool is not None:
            self.pool.close()
        if self.proxy is not None:
            self.proxy.close()
        for server in self.servers:
            server.close()
        self.servers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        workers = len(self.pool.workers) if self.pool else 0
        return f"<LocalCluster mode={self.config.mode} mds={self.config.host} workers={workers}>"


def _close_at_exit(ref) -> None:
    cluster = ref()
    if cluster is not None:
        cluster.close()
