"""WukongStack's functions, exactly as synthesized, on the Lambda platform with a loopback metadata store,
KVS nodes and proxy: a deployment with no account, no moto and no secrets. The tests of a job surviving
faults on the platform and the platform benchmarks run on it::

    with LoopbackDeployment(cdk_out, PlatformSettings(invoke_latency_s=0.05)) as deployment:
        cluster = LocalCluster(**deployment.cluster_settings())     # mode="aws"

``changes`` replace fields of a function's spec (``{"WukongStack-Executor": {"timeout_s": 5}}``), for
tests that need a shorter timeout than the stack's; ``environment`` adds variables to every function's
(the tests' fault hooks, ``WUKONG_TEST_FAULTS``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from lambda_platform import PLATFORM_URL, LambdaPlatform, PlatformSettings
from wukong.config import WukongConfig
from wukong.local.processes import free_port
from wukong.local.proxy_process import ProxyProcess

from .functions import loopback_functions
from .moto import DUMMY_CREDENTIALS, REGION
from .stand_ins import RedisStandIns

EXECUTOR = "WukongStack-Executor"


class LoopbackDeployment:
    def __init__(
        self,
        cdk_out: Path,
        settings: PlatformSettings | None = None,
        *,
        kvs_nodes: int = 0,
        proxy: bool = True,
        changes: Mapping[str, Mapping] | None = None,
        environment: Mapping[str, str] | None = None,
        runtime_dir: Path | None = None,
    ):
        self.cdk_out, self.kvs_count, self.with_proxy = Path(cdk_out), kvs_nodes, proxy
        self.changes, self.runtime_dir = dict(changes or {}), runtime_dir
        self.extra_environment = dict(environment or {})
        settings = settings or PlatformSettings()
        self.platform_settings = dataclasses.replace(
            settings,
            port=settings.port or free_port(),  # known before the proxy starts: it invokes through it
            extra_environment={"AWS_ENDPOINT_URL_LAMBDA": PLATFORM_URL, **settings.extra_environment},
        )
        self.url = f"http://{self.platform_settings.host}:{self.platform_settings.port}"
        self.redis = RedisStandIns(secrets.token_urlsafe(24), kvs_nodes)
        self.proxy: ProxyProcess | None = None
        self.platform: LambdaPlatform | None = None

    def start(self) -> LoopbackDeployment:
        for name, value in DUMMY_CREDENTIALS.items():  # the proxy and the client sign their Invoke calls
            os.environ.setdefault(name, value)
        try:
            self.redis.start()
            if self.with_proxy:
                self.proxy = ProxyProcess(WukongConfig(**self.base_settings()))
            functions = loopback_functions(self.cdk_out, self.function_environment())
            for name, change in self.changes.items():
                functions[name] = dataclasses.replace(functions[name], **change)
            self.platform = LambdaPlatform(
                functions, self.platform_settings, runtime_dir=self.runtime_dir
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.platform is not None:
            with contextlib.suppress(Exception):
                self.platform.stop()
        if self.proxy is not None:
            with contextlib.suppress(Exception):
                self.proxy.close()
        self.redis.stop()

    def __enter__(self) -> LoopbackDeployment:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def base_settings(self) -> dict:
        """What every process of the deployment is configured with (the stack's settings, on loopback)."""
        return {
            "mode": "aws",
            "host": self.redis.mds.address,
            "mds_password": self.redis.password,
            "use_fargate": False,
            "executor_function_name": EXECUTOR,
            "aws_region": REGION,
            "lambda_endpoint_url": self.url,
        }

    def proxy_settings(self) -> dict:
        if self.proxy is None:
            return {"proxy_address": ""}
        return {
            "proxy_address": self.proxy.host,
            "proxy_port": self.proxy.port,
            "proxy_secret": self.proxy.secret,
        }

    def function_environment(self) -> dict[str, str]:
        proxy = self.proxy_settings()
        return {
            "WUKONG_HOST": self.redis.mds.address,
            "WUKONG_MDS_PASSWORD": self.redis.password,
            "WUKONG_REDIS_PASSWORD_SECRET_ARN": "",
            "WUKONG_USE_FARGATE": "false",
            "WUKONG_PROXY_ADDRESS": proxy["proxy_address"],
            "WUKONG_PROXY_PORT": str(proxy.get("proxy_port", 8989)),
            "WUKONG_PROXY_SECRET": proxy.get("proxy_secret", ""),
            "WUKONG_PROXY_SECRET_ARN": "",
            "WUKONG_FAILURE_QUEUE_URL": "",
            **self.extra_environment,
        }

    def cluster_settings(self, **changes) -> dict:
        """``LocalCluster(**settings)`` for a client of this deployment (the KVS nodes as endpoints)."""
        kvs = tuple(("127.0.0.1", node.port) for node in self.redis.kvs)
        return {**self.base_settings(), **self.proxy_settings(), "redis_endpoints": kvs, **changes}
