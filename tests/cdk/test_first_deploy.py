"""What would break the first deploy and the first job on a real account (issue 12, items 3, 5, 6, 9, 10).

Template assertions only, on the template `cdk synth` makes from cdk.json's context: resources are found by
what they are (an instance by its user data, a function by its handler, a route by its NAT gateway), and
generated logical ids are only followed as references. These tests use nothing but the template and the
constants the stack has always had, so they run (and fail) on the code before the fixes as well.
"""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Template
from stack_support import cdk_json_context

from cdk.constants import EXECUTOR_HANDLER, KVS_NAMESPACE, KVS_SERVICE, SCHEDULER_CONFIG_PATH

CONTEXT = cdk_json_context()
AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
JOB_TIMEOUT_S = CONTEXT.get("jobTimeoutS", 600)  # the runtime's default deadline


@pytest.fixture(scope="module")
def template(make_stack) -> dict:
    _, stack = make_stack()
    return Template.from_stack(stack).to_json()


def text(value) -> str:
    """A template value as text; references as <Ref X> / <GetAtt X.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(text(v) for v in value)
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(text(p) for p in parts)
    if "Fn::Base64" in value:
        return text(value["Fn::Base64"])
    if "Ref" in value:
        return f"<Ref {value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<GetAtt {'.'.join(value['Fn::GetAtt'])}>"
    return f"<{value}>"


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def instance(template: dict, marker: str) -> tuple[str, dict, str]:
    """(logical id, resource, user data) of the one instance whose user data contains ``marker``."""
    found = [
        (k, r, text(r["Properties"].get("UserData", "")))
        for k, r in of_type(template, "AWS::EC2::Instance").items()
        if marker in text(r["Properties"].get("UserData", ""))
    ]
    assert len(found) == 1, [k for k, _, _ in found]
    return found[0]


def mds(template):
    return instance(template, "redis6")


def scheduler(template):
    return instance(template, SCHEDULER_CONFIG_PATH)


def function(template: dict, handler: str) -> tuple[str, dict]:
    (found,) = [
        (k, r)
        for k, r in of_type(template, "AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] == handler
    ]
    return found


def depends_on(resource: dict) -> set[str]:
    value = resource.get("DependsOn", [])
    return {value} if isinstance(value, str) else set(value)


def role_statements(template: dict, role: str) -> list[dict]:
    """Every statement of the inline and attached (AWS::IAM::Policy) policies of ``role``."""
    statements = []
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions(statement: dict) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else value


def resources(statement: dict) -> list:
    value = statement["Resource"]
    return value if isinstance(value, list) else [value]


def instance_role(template: dict, resource: dict) -> str:
    profile = resource["Properties"]["IamInstanceProfile"]["Ref"]
    return template["Resources"][profile]["Properties"]["Roles"][0]["Ref"]


def before(script: str, first: str, then: str) -> bool:
    return first in script and then in script and script.index(first) < script.rindex(then)


# --- item 3: boot order, retries, signals after readiness checks ---


def test_mds_and_kvs_service_wait_for_the_private_subnets_nat_route(template):
    nat_routes = {
        k for k, r in of_type(template, "AWS::EC2::Route").items() if "NatGatewayId" in r["Properties"]
    }
    assert len(nat_routes) == 2  # one default route per private subnet
    _, store, _ = mds(template)
    assert nat_routes <= depends_on(store)
    (service,) = of_type(template, "AWS::ECS::Service").values()
    assert nat_routes <= depends_on(service)


@pytest.mark.parametrize("which", [mds, scheduler], ids=["mds", "scheduler"])
def test_each_instance_waits_for_its_own_signal(template, which):
    logical_id, resource, user_data = which(template)
    signal = resource.get("CreationPolicy", {}).get("ResourceSignal", {})
    assert signal.get("Count", 1) == 1 and re.fullmatch(r"PT\d+M", signal.get("Timeout", ""))
    assert "/opt/aws/bin/cfn-signal" in user_data and "aws-cfn-bootstrap" in user_data
    assert f"--resource {logical_id} " in user_data  # its own, final logical id
    assert "--exit-code" in user_data and "trap " in user_data


def test_mds_signals_after_an_authenticated_ping_and_its_maxmemory(template):
    _, _, user_data = mds(template)
    assert "REDISCLI_AUTH" in user_data  # authenticated, without the password in a command line
    assert before(user_data, " ping", "cfn_signal 0")
    assert before(user_data, "config get maxmemory", "cfn_signal 0")


def test_scheduler_signals_after_the_proxy_and_the_runtime_check(template):
    _, _, user_data = scheduler(template)
    assert before(user_data, "systemctl is-active --quiet wukong-proxy", "cfn_signal 0")
    assert before(user_data, "-m wukong.aws.vm_config check", "cfn_signal 0")


@pytest.mark.parametrize("which", [mds, scheduler], ids=["mds", "scheduler"])
def test_package_and_aws_calls_are_retried(template, which):
    _, _, user_data = which(template)
    calls = [
        line
        for line in user_data.splitlines()
        if re.search(r"\bdnf install\b|\baws (s3|secretsmanager)\b", line)
    ]
    assert calls, "expected dnf and aws calls"
    assert all(re.search(r"\bretry \d+ (dnf|aws) ", line) for line in calls), calls
    pip = [line for line in user_data.splitlines() if "pip install" in line]
    assert all("--no-index" in line or line.startswith("retry ") for line in pip), pip


# --- item 5: the executor's asynchronous invocation settings ---


def test_executor_keeps_retries_ages_events_out_with_the_job_and_reports_failures_to_sqs(template):
    executor_id, executor = function(template, EXECUTOR_HANDLER)
    configs = [
        r["Properties"]
        for r in of_type(template, "AWS::Lambda::EventInvokeConfig").values()
        if r["Properties"]["FunctionName"] == {"Ref": executor_id}
    ]
    assert len(configs) == 1
    config = configs[0]
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == JOB_TIMEOUT_S
    queue = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"]
    assert template["Resources"][queue[0]]["Type"] == "AWS::SQS::Queue" and queue[1] == "Arn"
    sends = [
        s
        for s in role_statements(template, executor["Properties"]["Role"]["Fn::GetAtt"][0])
        if "sqs:SendMessage" in actions(s)
    ]
    assert [resources(s) for s in sends] == [[{"Fn::GetAtt": queue}]]
    _, vm, _ = scheduler(template)
    receives = [
        s
        for s in role_statements(template, instance_role(template, vm))
        if "sqs:ReceiveMessage" in actions(s)
    ]
    assert receives and all(resources(s) == [{"Fn::GetAtt": queue}] for s in receives)
    assert executor["Properties"]["Environment"]["Variables"]["WUKONG_FAILURE_QUEUE_URL"] == {"Ref": queue[0]}


# --- item 6: the metadata store's memory ---


def test_mds_redis_has_maxmemory_with_noeviction(template):
    _, _, user_data = mds(template)
    assert re.search(r"\nmaxmemory \S+\n", user_data)
    assert "\nmaxmemory-policy noeviction\n" in user_data
    assert "* 75 / 100" in user_data  # 75% of MemTotal


# --- item 9: no replacement on redeploy ---


def test_instances_resolve_the_ami_when_they_launch(template):
    images = [r["Properties"]["ImageId"] for r in of_type(template, "AWS::EC2::Instance").values()]
    assert images == [f"resolve:ssm:{AL2023_PARAMETER}"] * 2
    ssm_parameters = [
        p for p in template.get("Parameters", {}).values() if "AWS::EC2::Image::Id" in p["Type"]
    ]
    assert ssm_parameters == []  # a parameter would be re-resolved (and the instances replaced) per deploy


def test_an_ami_pinned_in_context_is_used_as_is(make_stack):
    _, stack = make_stack(amiId="ami-0123456789abcdef0")
    instances = of_type(Template.from_stack(stack).to_json(), "AWS::EC2::Instance").values()
    assert [r["Properties"]["ImageId"] for r in instances] == ["ami-0123456789abcdef0"] * 2


# --- item 10: least privilege ---


def test_scheduler_may_read_its_own_asset_object_only(template):
    _, vm, _ = scheduler(template)
    s3 = [
        s
        for s in role_statements(template, instance_role(template, vm))
        if any(a.startswith("s3:") for a in actions(s))
    ]
    assert len(s3) == 1 and actions(s3[0]) == ["s3:GetObject"], s3
    (arn,) = resources(s3[0])
    assert "*" not in text(arn) and text(arn).endswith(".zip"), text(arn)


def test_scheduler_may_list_the_kvs_nodes_of_its_own_service_in_cloud_map(template):
    """The client asks Cloud Map's API for each job's KVS nodes (DNS answers with at most 8 of them)."""
    _, vm, _ = scheduler(template)
    (statement,) = [
        s
        for s in role_statements(template, instance_role(template, vm))
        if any(a.startswith("servicediscovery:") for a in actions(s))
    ]
    assert actions(statement) == ["servicediscovery:DiscoverInstances"]
    assert statement["Condition"] == {
        "StringEquals": {
            "servicediscovery:NamespaceName": KVS_NAMESPACE,
            "servicediscovery:ServiceName": KVS_SERVICE,
        }
    }


def test_the_executor_writes_only_its_own_log_group(template):
    _, fn = function(template, EXECUTOR_HANDLER)
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    managed = text(template["Resources"][role]["Properties"].get("ManagedPolicyArns", []))
    assert "AWSLambdaBasicExecutionRole" not in managed and "AWSLambdaVPCAccessExecutionRole" not in managed
    log_statements = [
        s for s in role_statements(template, role) if any(a.startswith("logs:") for a in actions(s))
    ]
    log_group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert log_statements and all(
        resources(s) == [{"Fn::GetAtt": [log_group, "Arn"]}] for s in log_statements
    ), log_statements
    assert not any("logs:CreateLogGroup" in actions(s) for s in log_statements)


def test_each_secret_has_its_own_true_rotation_reason(template):
    reasons = {}
    for secret in of_type(template, "AWS::SecretsManager::Secret").values():
        rules = secret.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
        (reason,) = [r["reason"] for r in rules if r["id"] == "AwsSolutions-SMG4"]
        reasons[secret["Properties"]["GenerateSecretString"]["GenerateStringKey"]] = reason
    assert reasons["password"] != reasons["secret"]
    assert "proxy" in reasons["secret"].lower() and "redis-server" not in reasons["secret"]
