"""``./dev preflight`` against moto (STS, IAM, EC2, CloudFormation, SSM; in-process) and the Lambda platform
(moto has no GetAccountSettings; the platform answers it with its concurrency limit): the table, and each
failing check with its fix. One run is the real command line against the moto server the deploy test uses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws
from stack_support import REPO_ROOT

from cdk import preflight
from lambda_platform import LambdaPlatform, PlatformSettings
from rehearsal.moto import MotoServer

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AWS_") and name not in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture
def lambda_concurrency() -> int:
    """The account's Lambda concurrency the platform reports; a test may ask for less."""
    return 1000


@pytest.fixture
def lambda_api(lambda_concurrency, runtime_dir, tmp_path):
    """The platform with no functions: it serves GetAccountSettings (and would serve Invoke)."""
    settings = PlatformSettings(concurrency=lambda_concurrency, logs_dir=tmp_path / "logs")
    with LambdaPlatform({}, settings, runtime_dir=runtime_dir) as platform:
        yield platform


@pytest.fixture
def fresh(lambda_api):
    """An empty moto account (in-process): boto3 clients for it, Lambda's from the loopback endpoint."""
    with mock_aws():

        def clients(service: str):
            endpoint = {"endpoint_url": lambda_api.url} if service == "lambda" else {}
            return boto3.client(service, region_name=REGION, **endpoint)

        yield clients


@pytest.fixture
def account(fresh):
    """A moto account where everything is in place: the ECS role, a bootstrap stack of version 21."""
    fresh("iam").create_service_linked_role(AWSServiceName=preflight.ECS_SERVICE)
    bootstrap(fresh)
    return fresh


def bootstrap(clients, version: str = "21") -> None:
    parameter = {"Name": preflight.BOOTSTRAP_VERSION_PARAMETER, "Type": "String", "Value": version}
    template = {"Resources": {"Version": {"Type": "AWS::SSM::Parameter", "Properties": parameter}}}
    clients("cloudformation").create_stack(
        StackName=preflight.BOOTSTRAP_STACK, TemplateBody=json.dumps(template)
    )


def rows(output: str) -> dict[str, tuple[str, str]]:
    """{check: (status, detail)} from the printed table."""
    table = output.split("\n\n", 1)[0].splitlines()[2:]
    return {
        name: (status, detail)
        for name, status, detail in (re.split(r"\s{2,}", line, maxsplit=2) for line in table)
    }


def preflight_run(clients, capsys, *argv) -> tuple[int, str]:
    status = preflight.main(list(argv), clients_for=lambda region: (clients, REGION))
    return status, capsys.readouterr().out


def test_a_ready_account_passes_every_check_and_prints_the_table(account, capsys):
    status, output = preflight_run(account, capsys)
    assert status == 0, output
    assert output.splitlines()[0].split() == ["check", "status", "detail"]
    table = rows(output)
    assert list(table) == [
        "credentials and region",
        "ECS service-linked role",
        "zones x instance types",
        "Lambda concurrency",
        "CDK bootstrap",
    ]
    assert {status for status, _ in table.values()} == {"ok"}
    assert table["credentials and region"][1].startswith(f"account {ACCOUNT} in {REGION} as arn:aws:")
    assert table["zones x instance types"][1] == "us-east-1a, us-east-1b: m6i.large offered"
    assert table["CDK bootstrap"][1] == "CDKToolkit CREATE_COMPLETE, version 21"
    assert "to fix:" not in output


def test_a_missing_ecs_role_fails_and_the_flag_creates_it(fresh, capsys):
    bootstrap(fresh)
    status, output = preflight_run(fresh, capsys)
    assert status == 1
    assert rows(output)["ECS service-linked role"][0] == "FAIL"
    assert (
        "ECS service-linked role: ./dev preflight --create-service-linked-role (or: aws iam "
        "create-service-linked-role --aws-service-name ecs.amazonaws.com)"
    ) in output
    status, output = preflight_run(fresh, capsys, "--create-service-linked-role")
    assert status == 0 and " created" in output  # moto names it AWSServiceRoleForecs; AWS: ...ForECS
    assert preflight.ecs_linked_roles(fresh("iam"))


def test_a_zone_without_the_instance_type_fails_with_zones_that_have_it(account, capsys):
    # moto's offerings, like AWS's: us-east-1e has no m6i instances
    status, output = preflight_run(account, capsys, "-c", "zones=us-east-1d,us-east-1e")
    assert status == 1
    assert "not offered: m6i.large in us-east-1e" in output
    assert (
        "zones x instance types: deploy with -c zones=us-east-1a,us-east-1b (zones of us-east-1 offering "
        "m6i.large: us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f)"
    ) in output


@pytest.mark.parametrize("lambda_concurrency", [10])
def test_a_small_lambda_quota_warns_with_the_quota_request(account, capsys):
    status, output = preflight_run(account, capsys)
    assert status == 0  # a warning: jobs still run, with fewer executors at once
    assert rows(output)["Lambda concurrency"] == (
        "warn",
        "10 concurrent executions, 10 unreserved (under 1000: jobs run, fewer executors at once)",
    )
    assert (
        "aws service-quotas request-service-quota-increase --service-code lambda --quota-code L-B99A9384 "
        "--desired-value 1000" in output
    )


def test_a_missing_bootstrap_stack_fails_with_the_bootstrap_command(fresh, capsys):
    fresh("iam").create_service_linked_role(AWSServiceName=preflight.ECS_SERVICE)
    status, output = preflight_run(fresh, capsys)
    assert status == 1
    assert rows(output)["CDK bootstrap"] == ("FAIL", "no CDKToolkit stack in us-east-1")
    assert "CDK bootstrap: npx cdk bootstrap aws://123456789012/us-east-1" in output


def test_an_old_bootstrap_fails_with_the_same_fix(fresh):
    bootstrap(fresh, version="5")
    check = preflight.check_bootstrap(fresh("cloudformation"), fresh("ssm"), ACCOUNT, REGION)
    assert check.status == preflight.FAIL and "bootstrap version 5, the stack needs 6+" in check.detail
    assert check.fix == "npx cdk bootstrap aws://123456789012/us-east-1"


def test_no_region_and_no_credentials_skip_the_rest_with_their_fixes(monkeypatch):
    target = preflight.Target(zones=(), instance_types=("m6i.large",))
    no_region = preflight.run_checks(lambda service: None, "", target)
    assert [c.status for c in no_region] == ["FAIL"] + ["skipped"] * 4
    assert no_region[0].fix.startswith("set one: export AWS_DEFAULT_REGION=us-east-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    session = boto3.Session(region_name=REGION)
    no_credentials = preflight.run_checks(lambda service: session.client(service), REGION, target)
    assert no_credentials[0].detail == "no credentials"
    assert no_credentials[0].fix == "aws configure, or export AWS_PROFILE=<profile>"


def test_a_bad_context_value_is_refused_like_the_app_does(capsys):
    assert preflight.main(["-c", "kvsNodeCount=0"], clients_for=lambda region: (None, REGION)) == 2
    assert "context kvsNodeCount=0: must be at least 1" in capsys.readouterr().err


def test_the_command_line_against_the_moto_server(lambda_api, tmp_path):
    """What `./dev preflight` runs (python -m cdk.preflight), with AWS_ENDPOINT_URL at a moto server."""
    with MotoServer(tmp_path / "moto.log") as moto:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_ENDPOINT_URL_LAMBDA": lambda_api.url,
            "AWS_REGION": REGION,  # what the CDK CLI reads; boto3 alone would want AWS_DEFAULT_REGION
        }
        result = subprocess.run(
            [sys.executable, "-m", "cdk.preflight"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    print(result.stdout)
    assert result.returncode == 1  # a fresh moto account: no ECS role, no bootstrap stack
    table = rows(result.stdout)
    assert table["ECS service-linked role"][0] == "FAIL" and table["CDK bootstrap"][0] == "FAIL"
    assert table["zones x instance types"] == ("ok", "us-east-1a, us-east-1b: m6i.large offered")
