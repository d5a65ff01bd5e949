"""Lambda's concurrency, read with boto3 over HTTP from tests/lambda_endpoint.py (GetAccountSettings,
GetFunctionConcurrency), and what ``LocalCluster(mode="aws")`` makes of it; and mode="aws" without boto3."""

from __future__ import annotations

import sys

import pytest
from lambda_endpoint import LambdaEndpoint

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


def functions():
    return {EXECUTOR: lambda event, context: None, OTHER: lambda event, context: None}


def aws_settings(endpoint: LambdaEndpoint) -> dict:
    return {
        "mode": "aws",
        "executor_function_name": EXECUTOR,
        "aws_region": REGION,
        "lambda_endpoint_url": endpoint.url,
    }


def test_a_new_account_shares_its_small_unreserved_pool():
    with LambdaEndpoint(functions(), account_concurrency=10) as endpoint:
        lambda_client = client("lambda", region=REGION, endpoint_url=endpoint.url)
        found = read_concurrency(lambda_client, EXECUTOR)
    assert found == LambdaConcurrency(account_limit=10, unreserved=10, reserved=None)
    assert found.executors == 10


def test_a_reserved_function_gets_its_reservation_and_others_share_the_rest():
    with LambdaEndpoint(functions(), account_concurrency=1000, reserved={OTHER: 300}) as endpoint:
        lambda_client = client("lambda", region=REGION, endpoint_url=endpoint.url)
        assert read_concurrency(lambda_client, EXECUTOR).executors == 700
        endpoint.reserved[EXECUTOR] = 250
        assert read_concurrency(lambda_client, EXECUTOR) == LambdaConcurrency(1000, 450, 250)


def test_the_cluster_reads_it_once_at_start():
    """LocalCluster.concurrency is what task grouping folds leaves for (Client.get)."""
    with LambdaEndpoint(functions(), account_concurrency=50) as endpoint:
        cluster = LocalCluster(**aws_settings(endpoint))
        reads = len(endpoint.requests)
        assert cluster.concurrency == 50
        assert cluster.concurrency == 50
        assert len(endpoint.requests) == reads == 2  # GetAccountSettings and GetFunctionConcurrency, once
        cluster.close()


def test_a_set_max_concurrency_is_not_asked_of_lambda():
    with LambdaEndpoint(functions()) as endpoint:
        cluster = LocalCluster(
            mode="aws", max_concurrency=7, lambda_endpoint_url=endpoint.url, aws_region=REGION
        )
        assert cluster.concurrency == 7 and endpoint.requests == []
        cluster.close()


def test_an_unreadable_account_falls_back_to_the_default_quota_with_a_warning(caplog):
    with LambdaEndpoint(
        {OTHER: lambda e, c: None}
    ) as endpoint:  # no executor function: GetFunctionConcurrency 404
        assert executor_concurrency(WukongConfig(**aws_settings(endpoint))) == LAMBDA_DEFAULT_CONCURRENCY
    assert "lambda:GetAccountSettings and lambda:GetFunctionConcurrency" in caplog.text


def test_aws_mode_without_boto3_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if `pip install wukong` without [aws]
    with pytest.raises(AwsExtraMissingError, match=r"pip install 'wukong\[aws\]'"):
        LocalCluster(mode="aws")
