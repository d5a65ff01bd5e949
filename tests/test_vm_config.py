"""The scheduler VM's config writer and readiness check (``python -m wukong.aws.vm_config``), run here the
way the VM's boot runs them: the stack's settings in, /etc/dask/wukong.yaml out (in a temporary dir), read
back by dask and ``load_config``; the check against a real redis-server and a listening proxy port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import dask.config
import pytest
from moto import mock_aws

from wukong.aws.vm_config import check_deployment, write_config
from wukong.config import WukongConfig, load_config
from wukong.errors import KvsDiscoveryError, RedisUnreachableError, WukongError
from wukong.local.redis_server import RedisServer

SETTINGS = {  # what the stack renders into the VM's user data (tokens resolved)
    "mode": "aws",
    "host": "10.0.1.20:6379",
    "redis_password_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:RedisPassword-AbCdEf",
    "kvs_service_name": "kvs.wukong.internal:6379",
    "use_fargate": True,
    "executor_function_name": "WukongStack-Executor",
    "aws_region": "us-east-1",
    "proxy_address": "__WUKONG_PROXY_ADDRESS__",
    "proxy_port": 8989,
    "proxy_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ProxySecret-GhIjKl",
    "lambda_memory_mb": 3008,
    "failure_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/WukongStack-ExecutorFailures",
    "job_timeout_s": 600,
}


def test_the_written_file_is_what_dask_and_load_config_read(tmp_path):
    path = tmp_path / "etc" / "dask" / "wukong.yaml"
    write_config(SETTINGS, proxy_address="10.0.0.5", path=path)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    with dask.config.set(dask.config.collect(paths=[str(path.parent)], env={})):
        config = load_config()
    assert config.proxy_address == "10.0.0.5" and config.mode == "aws"
    assert config.max_payload_bytes == 1024 * 1024  # mode=aws: Lambda's asynchronous limit
    for name, value in SETTINGS.items():
        if name != "proxy_address":
            assert getattr(config, name) == value, name


def test_the_command_line_writes_the_same_file(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    output = tmp_path / "wukong.yaml"
    command = [sys.executable, "-m", "wukong.aws.vm_config", "write", "--settings", str(settings)]
    result = subprocess.run(
        [*command, "--proxy-address", "10.0.0.6", "--output", str(output)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(output.read_text()) == {"wukong": {**SETTINGS, "proxy_address": "10.0.0.6"}}


@pytest.fixture
def aws_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SERVICEDISCOVERY", raising=False)


@pytest.fixture(scope="module")
def mds():
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture
def proxy_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def deployed(mds, proxy_port, **changes) -> WukongConfig:
    return WukongConfig(
        mode="aws",
        host=mds.address,
        mds_password=mds.password,
        use_fargate=False,
        proxy_address="127.0.0.1",
        proxy_port=proxy_port,
    ).replace(**changes)


def test_the_check_passes_when_everything_answers(mds, proxy_port):
    lines = []
    check_deployment(deployed(mds, proxy_port), out=lines.append)
    assert lines[0].startswith("settings: mode=aws")
    assert "answers with the configured password" in lines[1]
    assert lines[-1] == f"proxy accepts connections at 127.0.0.1:{proxy_port}"


def test_the_check_names_a_wrong_password(mds, proxy_port):
    with pytest.raises(RedisUnreachableError, match="authentication failed"):
        check_deployment(deployed(mds, proxy_port, mds_password="not-the-password"), out=lambda line: None)


def test_the_check_names_a_kvs_service_cloud_map_does_not_know(mds, proxy_port, aws_credentials):
    config = deployed(mds, proxy_port, use_fargate=True, kvs_service_name="kvs.wukong.invalid:6379")
    with mock_aws(), pytest.raises(KvsDiscoveryError, match=r"'kvs.wukong.invalid:6379' in Cloud Map"):
        check_deployment(config, out=lambda line: None)


def test_the_check_refuses_local_settings():
    with pytest.raises(WukongError, match="mode='local', not 'aws'"):
        check_deployment(WukongConfig(), out=lambda line: None)


def test_the_check_fails_when_the_proxy_is_not_listening(mds):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(OSError):
        check_deployment(deployed(mds, closed_port), out=lambda line: None)
