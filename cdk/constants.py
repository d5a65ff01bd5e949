"""Values every construct, the layer build and the tests agree on. Units are in the names."""

from __future__ import annotations

from pathlib import Path

# One Python minor version for the Lambda runtime, the layer wheels and the scheduler VM: cloudpickle
# serializes functions as bytecode, which only the same minor version can load.
PYTHON_VERSION = "3.11"

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIR = REPO_ROOT / "runtime"  # the source of the import package `wukong`
RUNTIME_PACKAGE = "wukong"

REDIS_PORT = 6379
PROXY_PORT = 8989
SSH_PORT = 22

EXECUTOR_HANDLER = "wukong.executor.handler.lambda_handler"
INVOKER_HANDLER = "wukong.invokers.handler.lambda_handler"
PROXY_MODULE = "wukong.proxy"

INVOKER_MEMORY_MB = 1024  # the invoker only makes Invoke calls; memory buys it network throughput
INVOKER_TIMEOUT_S = 300

KVS_NAMESPACE = "wukong.local"  # Cloud Map private DNS namespace in the VPC
KVS_SERVICE = "kvs"  # one A record per Fargate Redis node: kvs.wukong.local
KVS_DNS_TTL_S = 10  # nodes come and go with deployments; short TTL so clients see new ones soon

# Files the scheduler VM and the Lambdas share.
SCHEDULER_CONFIG_PATH = "/etc/dask/wukong.yaml"  # dask reads /etc/dask/*.yaml by itself
SCHEDULER_INSTALL_DIR = "/opt/wukong"
