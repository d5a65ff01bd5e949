"""`cdk bootstrap` and `cdk deploy WukongStack` into moto, with the pinned CDK CLI, no AWS account.

moto runs as a subprocess on a free loopback port (tests/cdk/moto_server.py: moto_server plus
AWS::SecretsManager::Secret) and is stopped when the module's tests end, pass or fail. The stack is synthesized
by app.py exactly as for AWS, with ``-c wukong:moto=true``: Cloud Map, the default-security-group custom
resource and CDK metadata are left out, because moto cannot create them. The outputs the CLI wrote are printed
(and repeated in pytest's summary, see conftest.py) and checked: every endpoint and name is there, the config
the scheduler VM writes from its deployed user data loads into a complete ``WukongConfig``, and the deployed
Lambdas carry the same settings.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from stack_support import DEPLOYED_OUTPUTS, REPO_ROOT, STACK_OUTPUTS, free_port

from cdk.constants import SCHEDULER_CONFIG_PATH
from cdk.scheduler_host import SETTINGS_FILE
from cdk.wukong_config import ENV_PREFIX, PROXY_ADDRESS_PLACEHOLDER, REQUIRED_SETTINGS
from wukong.local.processes import stop

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "WukongStack"
# Bootstrap, deploy and (on a fresh machine) the first layer build run in fixture setup.
pytestmark = pytest.mark.timeout(900)

CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"
MOTO_SERVER = Path(__file__).with_name("moto_server.py")
SERVER_START_S = 60
CLI_TIMEOUT_S = 420


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, server, log_path)
        yield url
    finally:
        stop(server)


def wait_until_serving(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"moto server exited with {server.returncode}:\n{log_path.read_text()[-3000:]}"
            )
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"moto server did not answer within {SERVER_START_S} s:\n{log_path.read_text()[-3000:]}"
    )


def cli_environment(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    port = endpoint.rsplit(":", 1)[1]
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            # The CLI hands CloudFormation a TemplateURL built from this; moto reads the bucket from the path
            # only for a "localhost" URL (for an IP it takes the first label as a virtual-hosted bucket).
            "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "CDK_DEFAULT_ACCOUNT": ACCOUNT,
            "CDK_DEFAULT_REGION": REGION,
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "AWS_EC2_METADATA_DISABLED": "true",  # never ask a (missing) instance metadata service for credentials
        }
    )
    return env


def run_cli(args: list[str], env: dict[str, str]) -> str:
    if not CDK_CLI.exists():
        pytest.fail(f"{CDK_CLI} is missing: install the pinned CDK CLI with `npm ci` (./dev does)")
    result = subprocess.run(
        [str(CDK_CLI), *args, "--no-notices"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"cdk {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def deployed(moto_endpoint, tmp_path_factory, request) -> dict[str, str]:
    work = tmp_path_factory.mktemp("deploy")
    env = cli_environment(moto_endpoint)
    common = ["-c", "wukong:moto=true", "--output", str(work / "cdk.out")]
    run_cli(["bootstrap", f"aws://{ACCOUNT}/{REGION}", *common], env)
    outputs_file = work / "outputs.json"
    run_cli(
        [
            "deploy",
            STACK,
            *common,
            "--method=direct",
            "--require-approval",
            "never",
            "--outputs-file",
            str(outputs_file),
        ],
        env,
    )
    outputs = json.loads(outputs_file.read_text())[STACK]
    print(f"\nWukongStack outputs read back from moto ({outputs_file}):")
    print(json.dumps(outputs, indent=2, sort_keys=True))
    request.config.stash[DEPLOYED_OUTPUTS] = outputs  # conftest repeats them in the terminal summary
    return outputs


@pytest.fixture(scope="module")
def aws(moto_endpoint):
    import boto3

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=moto_endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


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
    assert (config["executor_function_name"], config["invoker_function_name"]) == (
        deployed["ExecutorFunctionName"],
        deployed["InvokerFunctionName"],
    )


def test_scheduler_vm_writes_a_complete_config_that_dask_and_wukong_load(deployed, aws, tmp_path):
    """Replays the VM's boot with the same code: the settings in its deployed user data, written by
    wukong.aws.vm_config with its own IP as the proxy address, read by dask."""
    import dask.config

    from wukong.aws.vm_config import write_config
    from wukong.config import load_config

    user_data = aws("ec2").describe_instance_attribute(
        InstanceId=deployed["SchedulerInstanceId"], Attribute="userData"
    )["UserData"]["Value"]
    script = base64.b64decode(user_data).decode()
    written = script.split(f"cat > {SETTINGS_FILE} <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    settings = json.loads(written)
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


@pytest.mark.parametrize("function", ["ExecutorFunctionName", "InvokerFunctionName"])
def test_deployed_functions_carry_the_same_settings(deployed, aws, function):
    from wukong.config import coerce

    configuration = aws("lambda").get_function_configuration(FunctionName=deployed[function])
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
