"""`cdk bootstrap` and `cdk deploy WukongStack` into moto, with the pinned CDK CLI, no AWS account.

moto runs as a subprocess on a free loopback port (``rehearsal.moto.MotoServer``: moto_server plus
AWS::SecretsManager::Secret and AWS::Lambda::EventInvokeConfig) and is stopped when the module's tests
end, pass or fail; the CLI runs as the rehearsal runs it (``rehearsal.cdk_cli.deploy_into_moto``). The stack
is synthesized by app.py exactly as for AWS, with ``-c wukong:moto=true``: Cloud Map, the
default-security-group custom resource and CDK metadata are left out, because moto cannot create them. The
outputs the CLI wrote are printed (and repeated in pytest's summary, see conftest.py) and checked: every
endpoint and name is there, the config the scheduler VM writes from its deployed user data loads into a
complete ``WukongConfig``, and the deployed Lambdas carry the same settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from stack_support import DEPLOYED_OUTPUTS, STACK_OUTPUTS

from cdk.constants import SCHEDULER_CONFIG_PATH, SETTINGS_FILE
from cdk.wukong_config import ENV_PREFIX, PROXY_ADDRESS_PLACEHOLDER, REQUIRED_SETTINGS
from rehearsal.cdk_cli import CDK_CLI, deploy_into_moto
from rehearsal.deployment import read_deployment
from rehearsal.moto import REGION, MotoServer

# Bootstrap, deploy and (on a fresh machine) the first layer build run in fixture setup.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture(scope="module")
def deployment(moto, tmp_path_factory, request):
    if not CDK_CLI.exists():
        pytest.fail(f"{CDK_CLI} is missing: install the pinned CDK CLI with `npm ci` (./dev does)")
    work = tmp_path_factory.mktemp("deploy")
    outputs, cdk_out = deploy_into_moto(moto.url, work)
    print(f"\nWukongStack outputs read back from moto ({work / 'outputs.json'}):")
    print(json.dumps(outputs, indent=2, sort_keys=True))
    request.config.stash[DEPLOYED_OUTPUTS] = outputs  # conftest repeats them in the terminal summary
    return read_deployment(moto, outputs, cdk_out)


@pytest.fixture(scope="module")
def deployed(deployment) -> dict[str, str]:
    return deployment.outputs


@pytest.fixture(scope="module")
def aws(moto):
    return moto.client


def test_every_output_is_present_and_non_empty(deployed):
    missing = [name for name in STACK_OUTPUTS if not deployed.get(name) or deployed[name] == "None"]
    assert missing == [], f"outputs missing or empty: {missing}"
    # No key pair in cdk.json: Session Manager, then `sudo su - ec2-user` (docs/deploy.md).
    assert deployed["SshCommand"] == (
        f"aws ssm start-session --region {REGION} --target {deployed['SchedulerInstanceId']}"
    )
    assert deployed["Ready"] == f"mds={deployed['MdsInstanceId']} scheduler={deployed['SchedulerInstanceId']}"


def test_config_output_is_complete_and_agrees_with_the_other_outputs(deployed):
    config = json.loads(deployed["WukongConfig"])
    assert_complete(config)
    assert config["host"] == deployed["MdsAddress"]
    assert config["kvs_service_name"] == deployed["KvsServiceName"]
    assert config["proxy_address"] == deployed["ProxyAddress"]
    assert config["redis_password_secret_arn"] == deployed["RedisPasswordSecretArn"]
    assert config["proxy_secret_arn"] == deployed["ProxySecretArn"]
    assert config["executor_function_name"] == deployed["ExecutorFunctionName"]


def test_scheduler_vm_writes_a_complete_config_that_dask_and_wukong_load(deployment, deployed, tmp_path):
    """Replays the VM's boot with the same code: the settings in its deployed user data, written by
    wukong.aws.vm_config with its own IP as the proxy address, read by dask."""
    import dask.config

    from wukong.aws.vm_config import write_config
    from wukong.config import load_config

    script = deployment.user_data
    settings = deployment.vm_settings
    assert settings["proxy_address"] == PROXY_ADDRESS_PLACEHOLDER
    assert (
        f"-m wukong.aws.vm_config write --settings {SETTINGS_FILE} --output {SCHEDULER_CONFIG_PATH}" in script
    )
    etc_dask = tmp_path / "etc" / "dask"
    write_config(
        settings, proxy_address=deployed["ProxyAddress"], path=etc_dask / Path(SCHEDULER_CONFIG_PATH).name
    )

    section = yaml.safe_load((etc_dask / "wukong.yaml").read_text())["wukong"]
    assert_complete(section)
    with dask.config.set(dask.config.collect(paths=[str(etc_dask)], env={})):
        config = load_config()
    assert config.mode == "aws" and config.use_fargate is True
    for name in REQUIRED_SETTINGS:
        assert getattr(config, name) == section[name], name


def test_the_deployed_executor_carries_the_same_settings(deployed, aws):
    from wukong.config import coerce

    configuration = aws("lambda").get_function_configuration(FunctionName=deployed["ExecutorFunctionName"])
    variables = configuration["Environment"]["Variables"]
    config = json.loads(deployed["WukongConfig"])
    assert {name: coerce(name[len(ENV_PREFIX) :].lower(), value) for name, value in variables.items()} == {
        ENV_PREFIX + name.upper(): value for name, value in config.items()
    }
    assert configuration["Runtime"] == "python3.11"
    assert configuration["VpcConfig"]["SubnetIds"]


def test_the_deployed_executor_keeps_retries_and_reports_failures_to_the_queue(deployed, aws):
    config = aws("lambda").get_function_event_invoke_config(FunctionName=deployed["ExecutorFunctionName"])
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == json.loads(deployed["WukongConfig"])["job_timeout_s"]
    queue_arn = aws("sqs").get_queue_attributes(
        QueueUrl=deployed["FailureQueueUrl"], AttributeNames=["QueueArn"]
    )
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn["Attributes"]["QueueArn"]


@pytest.mark.parametrize(
    ("output", "key"), [("RedisPasswordSecretArn", "password"), ("ProxySecretArn", "secret")]
)
def test_secrets_hold_generated_json(deployed, aws, output, key):
    value = json.loads(aws("secretsmanager").get_secret_value(SecretId=deployed[output])["SecretString"])
    assert list(value) == [key]
    assert len(value[key]) == 40 and value[key].isalnum()


def assert_complete(config: dict) -> None:
    missing = [name for name in REQUIRED_SETTINGS if config.get(name) in (None, "", "None")]
    assert missing == [], f"settings missing or empty: {missing}"
