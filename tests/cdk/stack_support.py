"""Helpers the infrastructure tests share (a module, not conftest: two conftest modules share one name)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"
DEPLOYED_OUTPUTS = pytest.StashKey[dict]()  # the moto deploy's outputs, for the terminal summary
REHEARSAL_REPORTS = pytest.StashKey[list]()  # the rehearsal's REPORT lines of one job and its estimate


def cdk_json_context() -> dict:
    """cdk.json's context: feature flags and Wukong's defaults, as `cdk synth` sees them."""
    return json.loads(CDK_JSON.read_text())["context"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Every CloudFormation output a client or CI reads from WukongStack.
STACK_OUTPUTS = (
    "SchedulerPublicDns",
    "SchedulerPublicIp",
    "SchedulerInstanceId",
    "SshCommand",
    "MdsAddress",
    "MdsInstanceId",
    "KvsServiceName",
    "KvsClusterName",
    "KvsEcsServiceName",
    "ExecutorFunctionName",
    "ExecutorLogGroup",
    "KvsLogGroup",
    "FailureQueueUrl",
    "ProxyAddress",
    "ProxyPort",
    "RedisPasswordSecretArn",
    "ProxySecretArn",
    "Region",
    "WukongConfig",
    "Ready",
)
