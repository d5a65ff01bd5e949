"""What a deployment of WukongStack is, read back from the account it was deployed into (moto): the
outputs, the resources' physical ids, the functions' deployed environment, the secrets, the KVS service's
size, and the scheduler VM's boot script, from which the rehearsal takes what the VM would run.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from cdk.constants import PROXY_UNIT, SETTINGS_FILE, VM_CONFIG_MODULE

from .cdk_cli import STACK

SETTINGS_HEREDOC = re.compile(rf"cat > {re.escape(SETTINGS_FILE)} <<'EOF'\n(?P<json>.*?)\nEOF\n", re.S)
UNIT_HEREDOC = re.compile(
    rf"cat > /etc/systemd/system/{PROXY_UNIT}\.service <<'EOF'\n(?P<unit>.*?)\nEOF\n", re.S
)
ASSET_COPY = re.compile(r"aws s3 cp .*? s3://[^/\s]+/(?P<hash>[0-9a-f]+)\.zip ")


@dataclass(frozen=True)
class Deployment:
    outputs: dict[str, str]
    cdk_out: Path  # what was deployed
    user_data: str  # the scheduler VM's boot script, as EC2 holds it
    resources: dict[str, tuple[str, str]]  # logical id -> (resource type, physical id)
    function_environments: dict[str, dict[str, str]]  # function name -> its deployed variables
    queue_arns: dict[str, str]  # logical id of each SQS queue -> its ARN
    kvs_node_count: int  # the KVS service's desired count
    redis_password: str  # from Secrets Manager
    region: str

    @property
    def vm_settings(self) -> dict:
        """The ``wukong:`` settings the stack rendered into the VM's boot script."""
        return json.loads(SETTINGS_HEREDOC.search(self.user_data)["json"])

    @property
    def vm_asset_dir(self) -> Path:
        """The VM's runtime asset in cdk.out (wukong/, examples/, its wheels): what its boot downloads."""
        return self.cdk_out / f"asset.{ASSET_COPY.search(self.user_data)['hash']}"

    def vm_config_command(self) -> list[str]:
        """The boot script's ``... python -m wukong.aws.vm_config write ...`` command, as words."""
        line = next(line for line in self.user_data.splitlines() if f"-m {VM_CONFIG_MODULE} write" in line)
        words = shlex.split(line)
        return words[words.index("-m") - 1 :]  # from the interpreter on, without the boot's `retry N`

    def proxy_unit(self) -> tuple[list[str], dict[str, str]]:
        """The proxy unit's ExecStart (as words) and its Environment= variables."""
        unit = UNIT_HEREDOC.search(self.user_data)["unit"]
        fields = [line.split("=", 1) for line in unit.splitlines() if "=" in line]
        command = shlex.split(next(value for key, value in fields if key == "ExecStart"))
        environment = dict(value.split("=", 1) for key, value in fields if key == "Environment")
        return command, environment

    def resources_of_type(self, resource_type: str) -> list[str]:
        return [physical for kind, physical in self.resources.values() if kind == resource_type]


def read_deployment(moto, outputs: dict[str, str], cdk_out: Path) -> Deployment:
    """Everything the rehearsal needs of the stack deployed into ``moto`` (a :class:`MotoServer`)."""
    pages = moto.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=STACK)
    resources = {
        r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
        for page in pages
        for r in page["StackResourceSummaries"]
        if r["LogicalResourceId"]  # moto leaves it empty for the types moto_server.py models
    }
    user_data = moto.client("ec2").describe_instance_attribute(
        InstanceId=outputs["SchedulerInstanceId"], Attribute="userData"
    )["UserData"]["Value"]
    lambda_client = moto.client("lambda")
    name = outputs["ExecutorFunctionName"]
    environments = {
        name: lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    }
    sqs = moto.client("sqs")
    queue_arns = {
        logical_id: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for logical_id, (kind, url) in resources.items()
        if kind == "AWS::SQS::Queue"
    }
    (service,) = moto.client("ecs").describe_services(
        cluster=outputs["KvsClusterName"], services=[outputs["KvsEcsServiceName"]]
    )["services"]
    secret = moto.client("secretsmanager").get_secret_value(SecretId=outputs["RedisPasswordSecretArn"])
    return Deployment(
        outputs=outputs,
        cdk_out=cdk_out,
        user_data=base64.b64decode(user_data).decode(),
        resources=resources,
        function_environments=environments,
        queue_arns=queue_arns,
        kvs_node_count=int(service["desiredCount"]),
        redis_password=json.loads(secret["SecretString"])["password"],
        region=outputs["Region"],
    )
