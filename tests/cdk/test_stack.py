"""WukongStack's template: what each construct must create, asserted on properties, never on logical ids.

Resources are found by what they are (a security group by its description, a function by its handler);
the ids CDK generated for them are only used to follow references between resources.
"""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Capture, Match, Template
from stack_support import STACK_OUTPUTS, cdk_json_context

from cdk.constants import (
    EXECUTOR_HANDLER,
    KVS_NAMESPACE,
    KVS_SERVICE,
    PROXY_PORT,
    PYTHON_VERSION,
    REDIS_PORT,
    SCHEDULER_CONFIG_PATH,
    SETTINGS_FILE,
)
from cdk.wukong_config import ENV_PREFIX, REQUIRED_SETTINGS

CONTEXT = cdk_json_context()
SSH_CIDR = "198.51.100.7/32"  # not cdk.json's default, to see that the context value is used


@pytest.fixture(scope="module")
def stack(make_stack):
    _, stack = make_stack(sshCidr=SSH_CIDR)
    return stack


@pytest.fixture(scope="module")
def template(stack) -> Template:
    return Template.from_stack(stack)


def only(found: dict) -> tuple[str, dict]:
    assert len(found) == 1, f"expected exactly one resource, found {sorted(found)}"
    return next(iter(found.items()))


def group_id(template: Template, description: str) -> str:
    logical_id, _ = only(
        template.find_resources("AWS::EC2::SecurityGroup", {"Properties": {"GroupDescription": description}})
    )
    return logical_id


def function(template: Template, handler: str) -> dict:
    return only(template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}}))[1]


def flatten(value) -> str:
    """A CloudFormation value as text: literal parts kept, references written as <Ref> / <GetAtt>."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(flatten(v) for v in value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(flatten(p) for p in parts)
        if "Fn::Base64" in value:
            return flatten(value["Fn::Base64"])
        return f"<{json.dumps(value, sort_keys=True)}>"
    return str(value)


def ingress_rules(template: Template, group: str, port: int) -> list[dict]:
    """Every ingress rule of ``group`` on ``port``, inline or as separate AWS::EC2::SecurityGroupIngress."""
    rules = []
    for resource in template.find_resources("AWS::EC2::SecurityGroupIngress").values():
        props = resource["Properties"]
        if props.get("GroupId") == {"Fn::GetAtt": [group, "GroupId"]} and props.get("FromPort") == port:
            rules.append(props)
    inline = template.to_json()["Resources"][group]["Properties"].get("SecurityGroupIngress", [])
    rules.extend(rule for rule in inline if rule.get("FromPort") == port)
    return rules


def instance_by_user_data(template: Template, marker: str) -> dict:
    found = {
        k: v
        for k, v in template.find_resources("AWS::EC2::Instance").items()
        if marker in flatten(v["Properties"].get("UserData", ""))
    }
    return only(found)[1]


def launch_template_of(template: Template, instance: dict) -> dict:
    reference = instance["Properties"]["LaunchTemplate"]["LaunchTemplateName"]
    for resource in template.find_resources("AWS::EC2::LaunchTemplate").values():
        if resource["Properties"].get("LaunchTemplateName") == reference:
            return resource
    raise AssertionError(f"no launch template named {reference}")


# --- network ---


def test_vpc_has_two_azs_public_and_private_subnets_one_nat_and_a_flow_log(template):
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::Subnet", 4)
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    template.has_resource_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": True})
    template.has_resource_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "REJECT", "LogDestinationType": "cloud-watch-logs"},
    )


def test_redis_is_reachable_only_from_executors_and_scheduler(template):
    redis = group_id(template, "Wukong metadata store and KVS Redis nodes")
    sources = {
        rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in ingress_rules(template, redis, REDIS_PORT)
    }
    assert sources == {
        group_id(template, "Wukong executor Lambdas"),
        group_id(template, "Wukong scheduler and proxy VM"),
    }
    all_rules = template.to_json()["Resources"][redis]["Properties"].get("SecurityGroupIngress", [])
    assert not [rule for rule in all_rules if "CidrIp" in rule], "no address range may reach Redis"


def test_ssh_only_from_the_context_cidr_and_proxy_only_from_executors(template):
    scheduler = group_id(template, "Wukong scheduler and proxy VM")
    ssh = ingress_rules(template, scheduler, 22)
    assert [rule.get("CidrIp") for rule in ssh] == [SSH_CIDR]
    proxy = ingress_rules(template, scheduler, PROXY_PORT)
    assert [rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in proxy] == [
        group_id(template, "Wukong executor Lambdas")
    ]


# --- secrets, metadata store ---


@pytest.mark.parametrize("key", ["password", "secret"])
def test_secrets_are_generated_json_without_punctuation(template, key):
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "GenerateSecretString": {
                "GenerateStringKey": key,
                "SecretStringTemplate": "{}",
                "ExcludePunctuation": True,
            }
        },
    )


def test_metadata_store_runs_redis_with_the_secret_imdsv2_and_encrypted_ebs(template):
    mds = instance_by_user_data(template, "redis6")
    user_data = flatten(mds["Properties"]["UserData"])
    assert "requirepass" in user_data and "secretsmanager get-secret-value" in user_data
    assert '"password"' in user_data
    assert mds["Properties"]["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert mds["Properties"]["SubnetId"]  # a private subnet: no public address
    launch = launch_template_of(template, mds)
    assert launch["Properties"]["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"


# --- key-value store ---


def test_kvs_is_a_fargate_service_of_redis_nodes_from_context(template):
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DesiredCount": CONTEXT["kvsNodeCount"],
            "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "DISABLED"}},
            "ServiceRegistries": [Match.object_like({"RegistryArn": Match.any_value()})],
        },
    )
    command = Capture()
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": str(CONTEXT["kvsNodeCpu"]),
            "Memory": str(CONTEXT["kvsNodeMemoryMiB"]),
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "Image": CONTEXT["kvsImage"],
                        "Command": command,
                        "Secrets": [Match.object_like({"Name": "REDIS_PASSWORD"})],
                        "PortMappings": [Match.object_like({"ContainerPort": REDIS_PORT})],
                    }
                )
            ],
        },
    )
    assert command.as_array()[:2] == ["sh", "-c"]
    assert "--maxmemory-policy noeviction" in command.as_array()[2]


def test_kvs_runs_a_pinned_image_as_its_redis_user_with_the_password_in_no_command_line(template):
    (task,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert re.search(r"@sha256:[0-9a-f]{64}$", container["Image"]), container["Image"]
    assert container["User"] == "redis"
    assert "EntryPoint" not in container  # the image's own entry point (it drops root itself)
    script = container["Command"][2]
    assert "--requirepass" not in script and "requirepass" in script  # into a config file, not argv
    assert script.index("> /tmp/wukong-redis.conf") < script.index("exec redis-server /tmp/wukong-redis.conf")
    health = " ".join(container["HealthCheck"]["Command"])
    assert "REDISCLI_AUTH=" in health and " -a " not in health


def test_kvs_nodes_register_a_records_in_cloud_map(template):
    assert not KVS_NAMESPACE.endswith(".local")  # reserved for multicast DNS (RFC 6762)
    template.has_resource_properties("AWS::ServiceDiscovery::PrivateDnsNamespace", {"Name": KVS_NAMESPACE})
    template.has_resource_properties(
        "AWS::ServiceDiscovery::Service",
        {
            "Name": KVS_SERVICE,
            "DnsConfig": Match.object_like({"DnsRecords": [Match.object_like({"Type": "A"})]}),
        },
    )


# --- functions ---


def test_the_executor_runs_the_runtime_in_private_subnets_with_the_layers(template):
    assert (
        len(
            template.find_resources(
                "AWS::Lambda::Function", {"Properties": {"Runtime": Match.string_like_regexp("^python")}}
            )
        )
        == 1
    )
    props = function(template, EXECUTOR_HANDLER)["Properties"]
    assert props["Runtime"] == f"python{PYTHON_VERSION}"
    assert len(props["Layers"]) == 3  # numpy, scipy, dask
    assert len(props["VpcConfig"]["SubnetIds"]) == 2


def test_executor_memory_and_timeout_come_from_context(template):
    props = function(template, EXECUTOR_HANDLER)["Properties"]
    assert props["MemorySize"] == CONTEXT["lambdaMemoryMb"]
    assert props["Timeout"] == CONTEXT["lambdaTimeoutS"]


def test_the_executor_gets_every_setting_as_a_known_config_field(template):
    from wukong.config import FIELD_TYPES

    variables = function(template, EXECUTOR_HANDLER)["Properties"]["Environment"]["Variables"]
    assert {name for name in variables if name.startswith(ENV_PREFIX)} == {
        ENV_PREFIX + name.upper() for name in REQUIRED_SETTINGS
    }
    assert all(name[len(ENV_PREFIX) :].lower() in FIELD_TYPES for name in variables)
    assert variables["WUKONG_MODE"] == "aws" and variables["WUKONG_USE_FARGATE"] == "true"
    assert variables["WUKONG_KVS_SERVICE_NAME"] == f"{KVS_SERVICE}.{KVS_NAMESPACE}:{REDIS_PORT}"
    assert variables["WUKONG_PROXY_PORT"] == str(PROXY_PORT)


def test_function_code_is_the_runtime_as_package_wukong(stack, template):
    from pathlib import Path

    import aws_cdk as cdk

    outdir = Path(cdk.Stage.of(stack).outdir)
    asset = outdir / function(template, EXECUTOR_HANDLER)["Metadata"]["aws:asset:path"]
    module = EXECUTOR_HANDLER.rsplit(".", 1)[0]
    assert (asset / (module.replace(".", "/") + ".py")).is_file(), f"{module} is not in the asset"
    assert not list(asset.rglob("__pycache__"))


def invoke_statements(template: Template, role_of: str) -> list[dict]:
    """lambda:InvokeFunction statements of the policies attached to the role that ``role_of`` uses."""
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = [ref["Ref"] for ref in policy["Properties"].get("Roles", [])]
        if role_of in roles:
            statements += [
                s
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
                if "lambda:InvokeFunction" in _actions(s)
            ]
    return statements


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _function_arn_text(statement: dict) -> list[str]:
    resources = statement["Resource"]
    return [flatten(r) for r in (resources if isinstance(resources, list) else [resources])]


def test_executor_may_invoke_only_itself(template):
    executor = function(template, EXECUTOR_HANDLER)["Properties"]
    statements = invoke_statements(template, executor["Role"]["Fn::GetAtt"][0])
    (arn,) = [arn for s in statements for arn in _function_arn_text(s)]
    assert arn.endswith(f":function:{executor['FunctionName']}"), arn


def test_scheduler_may_invoke_the_executor(template):
    scheduler = instance_by_user_data(template, SCHEDULER_CONFIG_PATH)
    profile = scheduler["Properties"]["IamInstanceProfile"]["Ref"]
    role = template.to_json()["Resources"][profile]["Properties"]["Roles"][0]["Ref"]
    arns = [arn for s in invoke_statements(template, role) for arn in _function_arn_text(s)]
    assert [arn.rsplit(":", 1)[1] for arn in arns] == [
        function(template, EXECUTOR_HANDLER)["Properties"]["FunctionName"]
    ]


def test_the_executor_and_scheduler_may_read_both_secrets(template):
    secrets = sorted(template.find_resources("AWS::SecretsManager::Secret"))
    scheduler = instance_by_user_data(template, SCHEDULER_CONFIG_PATH)
    profile = scheduler["Properties"]["IamInstanceProfile"]["Ref"]
    roles = [template.to_json()["Resources"][profile]["Properties"]["Roles"][0]["Ref"]]
    roles.append(function(template, EXECUTOR_HANDLER)["Properties"]["Role"]["Fn::GetAtt"][0])
    for role in roles:
        readable = set()
        for policy in template.find_resources("AWS::IAM::Policy").values():
            if role in [r["Ref"] for r in policy["Properties"]["Roles"]]:
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                    if "secretsmanager:GetSecretValue" in _actions(statement):
                        resources = statement["Resource"]
                        readable |= {
                            r["Ref"]
                            for r in (resources if isinstance(resources, list) else [resources])
                            if isinstance(r, dict) and "Ref" in r
                        }
        assert readable == set(secrets), f"role {role} reads {readable}"


# --- scheduler host ---


def test_scheduler_installs_the_runtime_writes_the_config_and_runs_the_proxy(template):
    scheduler = instance_by_user_data(template, SCHEDULER_CONFIG_PATH)
    user_data = flatten(scheduler["Properties"]["UserData"])
    assert f"dnf install -y python{PYTHON_VERSION}" in user_data
    assert f"bin/python{PYTHON_VERSION} -m wukong.proxy" in user_data
    assert "systemctl enable --now wukong-proxy" in user_data
    assert "aws s3 cp" in user_data
    install = [line for line in user_data.splitlines() if "pip install" in line]
    assert len(install) == 1 and "--no-index --find-links" in install[0] and "--require-hashes" in install[0]
    assert (
        f"-m wukong.aws.vm_config write --settings {SETTINGS_FILE} --output {SCHEDULER_CONFIG_PATH}"
        in user_data
    )
    written = user_data.split(f"cat > {SETTINGS_FILE} <<'EOF'\n", 1)[1].split("\nEOF", 1)[0]
    for name in REQUIRED_SETTINGS:
        assert f'"{name}":' in written, f"{name} missing from {SETTINGS_FILE}"
    launch = launch_template_of(template, scheduler)
    assert launch["Properties"]["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"
    assert scheduler["Properties"]["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is True
    assert scheduler["Properties"]["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert scheduler["Properties"]["InstanceType"] == CONTEXT["schedulerInstanceType"]


# --- outputs and the moto switch ---


def test_every_endpoint_and_name_is_an_output(template):
    assert sorted(template.find_outputs("*")) == sorted(STACK_OUTPUTS)


def output_text(template: Template, name: str) -> str:
    return flatten(template.find_outputs(name)[name]["Value"])


def test_login_is_session_manager_without_a_key_pair_and_ssh_with_one(make_stack, template):
    scheduler = only(
        {k: v for k, v in template.find_resources("AWS::EC2::Instance").items() if "Scheduler" in k}
    )[0]
    assert output_text(template, "SshCommand") == (
        f'aws ssm start-session --region <{{"Ref": "AWS::Region"}}> --target <{{"Ref": "{scheduler}"}}>'
    )
    _, keyed = make_stack(keyName="research-key")
    keyed_template = Template.from_stack(keyed)
    assert output_text(keyed_template, "SshCommand").startswith("ssh -i research-key.pem ec2-user@<")
    keyed_template.has_resource_properties("AWS::EC2::Instance", {"KeyName": "research-key"})


def test_log_groups_and_ecs_names_are_outputs_of_the_resources_themselves(template):
    for output, kind in (
        ("ExecutorLogGroup", "AWS::Logs::LogGroup"),
        ("KvsLogGroup", "AWS::Logs::LogGroup"),
        ("KvsClusterName", "AWS::ECS::Cluster"),
        ("MdsInstanceId", "AWS::EC2::Instance"),
        ("FailureQueueUrl", "AWS::SQS::Queue"),
    ):
        value = template.find_outputs(output)[output]["Value"]
        assert template.to_json()["Resources"][value["Ref"]]["Type"] == kind, output
    assert "Fn::GetAtt" in template.find_outputs("KvsEcsServiceName")["KvsEcsServiceName"]["Value"]


def test_zones_from_context_hold_the_subnets_and_the_instances(make_stack):
    _, stack = make_stack(zones="eu-west-1b,eu-west-1c")
    resources = Template.from_stack(stack).to_json()["Resources"]
    subnets = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::EC2::Subnet"}
    assert sorted(p["AvailabilityZone"] for p in subnets.values()) == [
        "eu-west-1b",
        "eu-west-1b",
        "eu-west-1c",
        "eu-west-1c",
    ]
    for resource in (r for r in resources.values() if r["Type"] == "AWS::EC2::Instance"):
        assert subnets[subnet_of(resource)]["AvailabilityZone"] == "eu-west-1b"  # the first zone


def subnet_of(instance: dict) -> str:
    properties = instance["Properties"]
    if "SubnetId" in properties:
        return properties["SubnetId"]["Ref"]
    return properties["NetworkInterfaces"][0]["SubnetId"]["Ref"]  # one with a public address


def test_without_zones_the_region_gives_the_first_two(template):
    zones = [
        r["Properties"]["AvailabilityZone"] for r in template.find_resources("AWS::EC2::Subnet").values()
    ]
    assert {json.dumps(z, sort_keys=True) for z in zones} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}, sort_keys=True) for i in (0, 1)
    }


def test_the_stack_is_environment_agnostic(stack, template):
    assert stack.environment == "aws://unknown-account/unknown-region"
    assert "123456789012" not in json.dumps(template.to_json())


def test_moto_switch_leaves_out_only_what_moto_cannot_deploy(make_stack, template):
    _, moto_stack = make_stack(**{"wukong:moto": "true"})
    moto = Template.from_stack(moto_stack).to_json()["Resources"]
    normal = template.to_json()["Resources"]
    left_out = sorted({r["Type"] for r in normal.values()} - {r["Type"] for r in moto.values()})
    assert not [
        t
        for t in left_out
        if not (t.startswith(("AWS::ServiceDiscovery::", "Custom::")) or t == "AWS::CDK::Metadata")
    ], left_out
    assert "AWS::ServiceDiscovery::PrivateDnsNamespace" in left_out
    assert any(t.startswith("Custom::") for t in left_out)
