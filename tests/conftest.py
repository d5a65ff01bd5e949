"""Shared fixtures: one embedded local cluster (real redis-server, real worker processes) per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the examples, rehearsal and lambda_platform packages

os.environ.setdefault("WUKONG_PROGRESS", "off")
os.environ.setdefault("WUKONG_TEST_VALIDATE", "1")  # every executor checks its state after every event


@pytest.fixture(scope="session")
def cluster():
    from wukong import LocalCluster

    with LocalCluster(job_timeout_s=120) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def client(cluster):
    from wukong import Client

    return Client(cluster)


@pytest.fixture(scope="session")
def runtime_dir():
    """The Lambda platform's stand-in for /var/runtime (awslambdaric, boto3), built once (then stamped)."""
    from lambda_platform.runtime_dir import build_runtime_dir

    return build_runtime_dir()
