"""Lambda's concurrency, read with boto3 over HTTP from the Lambda platform (GetAccountSettings: its
concurrency limit; GetFunctionConcurrency: the template's ReservedConcurrentExecutions), and what
``LocalCluster(mode="aws")`` makes of it; and mode="aws" without boto3."""

from __future__ import annotations

import sys

import pytest
from platform_support import running_platform, write_stack

from wukong import LocalCluster
from wukong.aws.concurrency import LambdaConcurrency, executor_concurrency, read_concurrency
from wukong.aws_sdk import client
from wukong.config import LAMBDA_DEFAULT_CONCURRENCY, WukongConfig
from wukong.errors import AwsExtraMissingError

EXECUTOR = "WukongStack-Executor"
OTHER = "SomeoneElses"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def platform_of(tmp_path, runtime_dir, functions: dict[str, dict], concurrency: int):
    """The platform on a template with these functions (their ``reserved`` concurrency); none runs."""
    return running_platform(write_stack(tmp_path, functions), runtime_dir, concurrency=concurrency)


def aws_settings(url: str) -> dict:
    return {
        "mode": "aws",
        "executor_function_name": EXECUTOR,
        "aws_region": REGION,
        "lambda_endpoint_url": url,
    }


def test_a_new_account_shares_its_small_unreserved_pool(tmp_path, runtime_dir):
    with platform_of(tmp_path, runtime_dir, {EXECUTOR: {}, OTHER: {}}, concurrency=10) as platform:
        found = read_concurrency(client("lambda", region=REGION, endpoint_url=platform.url), EXECUTOR)
    assert found == LambdaConcurrency(account_limit=10, unreserved=10, reserved=None)
    assert found.executors == 10


def test_others_reservations_shrink_the_shared_pool(tmp_path, runtime_dir):
    with platform_of(tmp_path, runtime_dir, {EXECUTOR: {}, OTHER: {"reserved": 300}}, 1000) as platform:
        found = read_concurrency(client("lambda", region=REGION, endpoint_url=platform.url), EXECUTOR)
    assert found == LambdaConcurrency(1000, 700, None) and found.executors == 700


def test_a_reserved_function_gets_its_reservation(tmp_path, runtime_dir):
    functions = {EXECUTOR: {"reserved": 250}, OTHER: {"reserved": 300}}
    with platform_of(tmp_path, runtime_dir, functions, 1000) as platform:
        found = read_concurrency(client("lambda", region=REGION, endpoint_url=platform.url), EXECUTOR)
    assert found == LambdaConcurrency(1000, 450, 250) and found.executors == 250


def test_the_cluster_reads_it_once_at_start(tmp_path, runtime_dir):
    """LocalCluster.concurrency is what task grouping folds leaves for (Client.get)."""
    with platform_of(tmp_path, runtime_dir, {EXECUTOR: {}}, concurrency=50) as platform:
        cluster = LocalCluster(**aws_settings(platform.url))
        assert cluster.concurrency == 50
        assert cluster.concurrency == 50
        cluster.close()
        assert platform.stats()["api_calls"] == {"GetAccountSettings": 1, "GetFunctionConcurrency": 1}


def test_a_set_max_concurrency_is_not_asked_of_lambda(tmp_path, runtime_dir):
    with platform_of(tmp_path, runtime_dir, {EXECUTOR: {}}, concurrency=50) as platform:
        cluster = LocalCluster(
            mode="aws", max_concurrency=7, lambda_endpoint_url=platform.url, aws_region=REGION
        )
        assert cluster.concurrency == 7
        cluster.close()
        assert platform.stats()["api_calls"] == {}


def test_an_unreadable_account_falls_back_to_the_default_quota_with_a_warning(tmp_path, runtime_dir, caplog):
    with platform_of(tmp_path, runtime_dir, {OTHER: {}}, concurrency=50) as platform:  # no executor: 404
        assert executor_concurrency(WukongConfig(**aws_settings(platform.url))) == LAMBDA_DEFAULT_CONCURRENCY
    assert "lambda:GetAccountSettings and lambda:GetFunctionConcurrency" in caplog.text


def test_aws_mode_without_boto3_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if `pip install wukong` without [aws]
    with pytest.raises(AwsExtraMissingError, match=r"pip install 'wukong\[aws\]'"):
        LocalCluster(mode="aws")
