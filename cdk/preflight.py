"""``./dev preflight``: can this account and region take WukongStack? Read-only checks, one table.

    ./dev preflight [--region R] [--create-service-linked-role] [-c key=value ...]

Checks, each with the fix for a failure: credentials and region (STS), the ECS service-linked role (an
account that never used ECS fails to create the KVS service without it; ``--create-service-linked-role``
creates it, the only write), the zones the stack will use (context ``zones``, else the region's first two)
offering both instance types (``DescribeInstanceTypeOfferings``), Lambda's concurrency quota
(``GetAccountSettings``; a low one only warns: task grouping adapts), and the CDK bootstrap stack and its
version. Context values come from cdk.json and ``-c``, checked as app.py checks them. Exit status 1 when
a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .context import ContextError, settings_from_context

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
ECS_SERVICE = "ecs.amazonaws.com"
ECS_ROLE = "AWSServiceRoleForECS"
BOOTSTRAP_STACK = "CDKToolkit"
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_BOOTSTRAP_VERSION = 6  # what the synthesized template's CheckBootstrapVersion rule requires
DEFAULT_ZONE_COUNT = 2  # as cdk/network.py: Fn::GetAZs' first two
LAMBDA_CONCURRENCY_QUOTA_CODE = "L-B99A9384"  # Service Quotas: AWS Lambda, Concurrent executions
WANTED_LAMBDA_CONCURRENCY = 1000  # Lambda's default quota, what Wukong's benchmarks assume

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Target:
    """What the stack will need of the account (from context)."""

    zones: tuple[str, ...]
    instance_types: tuple[str, ...]


def run_checks(
    clients: Callable[[str], object], region: str, target: Target, *, create_role: bool = False
) -> list[Check]:
    identity, account = check_credentials(clients, region)
    if identity.status != OK:
        later = ("ECS service-linked role", "zones x instance types", "Lambda concurrency", "CDK bootstrap")
        return [identity, *(Check(name, SKIP, "needs credentials and a region") for name in later)]
    return [
        identity,
        check_ecs_role(clients("iam"), create_role),
        check_zones(clients("ec2"), region, target),
        check_lambda_concurrency(clients("lambda")),
        check_bootstrap(clients("cloudformation"), clients("ssm"), account, region),
    ]


def check_credentials(clients, region: str) -> tuple[Check, str]:
    """The check and the account id ("" when there is none)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    name = "credentials and region"
    if not region:
        fix = "set one: export AWS_DEFAULT_REGION=us-east-1 (or --region, or aws configure set region ...)"
        return Check(name, FAIL, "no region", fix), ""
    try:
        identity = clients("sts").get_caller_identity()
    except NoCredentialsError:
        return Check(name, FAIL, "no credentials", "aws configure, or export AWS_PROFILE=<profile>"), ""
    except (BotoCoreError, ClientError) as exc:
        return Check(name, FAIL, str(exc), "check the credentials: aws sts get-caller-identity"), ""
    account = identity["Account"]
    return Check(name, OK, f"account {account} in {region} as {identity['Arn']}"), account


def check_ecs_role(iam, create: bool) -> Check:
    name = "ECS service-linked role"
    found = ecs_linked_roles(iam)
    if found:
        return Check(name, OK, f"{found[0]} exists")
    if create:
        created = iam.create_service_linked_role(AWSServiceName=ECS_SERVICE)["Role"]["RoleName"]
        return Check(name, OK, f"{created} created")
    return Check(
        name,
        FAIL,
        f"{ECS_ROLE} is missing (this account never used ECS): creating the KVS service would fail",
        f"./dev preflight --create-service-linked-role (or: aws iam create-service-linked-role "
        f"--aws-service-name {ECS_SERVICE})",
    )


def ecs_linked_roles(iam) -> list[str]:
    """Service-linked roles live under /aws-service-role/<service>/: found by path, whatever the name."""
    pages = iam.get_paginator("list_roles").paginate(PathPrefix=f"/aws-service-role/{ECS_SERVICE}/")
    return [role["RoleName"] for page in pages for role in page["Roles"]]


def check_zones(ec2, region: str, target: Target) -> Check:
    name = "zones x instance types"
    zones = target.zones or default_zones(ec2)
    offered = offerings(ec2, list(zones), target.instance_types)
    missing = [f"{t} in {z}" for z in zones for t in target.instance_types if (z, t) not in offered]
    detail = f"{', '.join(zones)}: {', '.join(target.instance_types)}"
    if not missing:
        return Check(name, OK, detail + " offered")
    every_zone = [z["ZoneName"] for z in available_zones(ec2)]
    everywhere = offerings(ec2, every_zone, target.instance_types)
    good = [z for z in every_zone if all((z, t) in everywhere for t in target.instance_types)]
    fix = (
        f"deploy with -c zones={','.join(good[:DEFAULT_ZONE_COUNT])} (zones of {region} offering "
        f"{' and '.join(target.instance_types)}: {', '.join(good)})"
        if len(good) >= DEFAULT_ZONE_COUNT
        else "choose instance types offered in two zones of this region (-c mdsInstanceType=... "
        "-c schedulerInstanceType=...), or another region"
    )
    return Check(name, FAIL, f"{detail}; not offered: {', '.join(missing)}", fix)


def available_zones(ec2) -> list[dict]:
    zones = ec2.describe_availability_zones(
        Filters=[
            {"Name": "state", "Values": ["available"]},
            {"Name": "zone-type", "Values": ["availability-zone"]},
        ]
    )["AvailabilityZones"]
    return sorted(zones, key=lambda z: z["ZoneName"])


def default_zones(ec2) -> tuple[str, ...]:
    """The zones Fn::GetAZs gives the stack: the region's available zones in name order, the first two."""
    return tuple(z["ZoneName"] for z in available_zones(ec2)[:DEFAULT_ZONE_COUNT])


def offerings(ec2, zones: list[str], instance_types: tuple[str, ...]) -> set[tuple[str, str]]:
    found, token = set(), None
    while True:
        page = ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[
                {"Name": "location", "Values": zones},
                {"Name": "instance-type", "Values": list(instance_types)},
            ],
            **({"NextToken": token} if token else {}),
        )
        found |= {(o["Location"], o["InstanceType"]) for o in page["InstanceTypeOfferings"]}
        token = page.get("NextToken")
        if not token:
            return found


def check_lambda_concurrency(lambda_client) -> Check:
    name = "Lambda concurrency"
    limit = lambda_client.get_account_settings()["AccountLimit"]
    detail = (
        f"{limit['ConcurrentExecutions']} concurrent executions, "
        f"{limit['UnreservedConcurrentExecutions']} unreserved"
    )
    if limit["UnreservedConcurrentExecutions"] >= WANTED_LAMBDA_CONCURRENCY:
        return Check(name, OK, detail)
    return Check(
        name,
        WARN,
        detail + f" (under {WANTED_LAMBDA_CONCURRENCY}: jobs run, fewer executors at once)",
        "request more in Service Quotas: aws service-quotas request-service-quota-increase --service-code "
        f"lambda --quota-code {LAMBDA_CONCURRENCY_QUOTA_CODE} --desired-value {WANTED_LAMBDA_CONCURRENCY}",
    )


def check_bootstrap(cloudformation, ssm, account: str, region: str) -> Check:
    name = "CDK bootstrap"
    fix = f"npx cdk bootstrap aws://{account}/{region}"
    try:
        (stack,) = cloudformation.describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except cloudformation.exceptions.ClientError:
        return Check(name, FAIL, f"no {BOOTSTRAP_STACK} stack in {region}", fix)
    status = stack["StackStatus"]
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        return Check(name, FAIL, f"{BOOTSTRAP_STACK} is {status}", f"fix or delete the stack, then {fix}")
    try:
        version = int(ssm.get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return Check(name, FAIL, f"{BOOTSTRAP_STACK} has no {BOOTSTRAP_VERSION_PARAMETER}", fix)
    if version < MIN_BOOTSTRAP_VERSION:
        return Check(
            name, FAIL, f"bootstrap version {version}, the stack needs {MIN_BOOTSTRAP_VERSION}+", fix
        )
    return Check(name, OK, f"{BOOTSTRAP_STACK} {status}, version {version}")


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  status   detail", f"{'-' * width}  -------  ------"]
    lines += [f"{c.name:<{width}}  {c.status:<7}  {c.detail}" for c in checks]
    fixes = [c for c in checks if c.fix and c.status in (FAIL, WARN)]
    if fixes:
        lines += ["", "to fix:"] + [f"  {c.name}: {c.fix}" for c in fixes]
    return "\n".join(lines)


def target_from_context(overrides: list[str]) -> Target:
    values = json.loads(CDK_JSON.read_text())["context"]
    values.update(item.split("=", 1) for item in overrides)
    fields = settings_from_context(values)
    types = tuple(dict.fromkeys((fields["mds_instance_type"], fields["scheduler_instance_type"])))
    return Target(zones=fields.get("zones", ()), instance_types=types)


def main(argv: list[str] | None = None, clients_for=None) -> int:
    parser = argparse.ArgumentParser(prog="./dev preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--region", default=None, help="default: the AWS CLI's (AWS_REGION, ~/.aws/config)")
    parser.add_argument(
        "--create-service-linked-role", action="store_true", help=f"create {ECS_ROLE} if missing"
    )
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="as cdk -c")
    args = parser.parse_args(argv)
    try:
        target = target_from_context(args.context)
    except ContextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    clients, region = clients_for(args.region) if clients_for else session_clients(args.region)
    checks = run_checks(clients, region, target, create_role=args.create_service_linked_role)
    print(table(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


def session_clients(region: str | None):
    import boto3

    # boto3 reads AWS_DEFAULT_REGION and the config file; the CDK CLI also reads AWS_REGION.
    session = boto3.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    return (lambda service: session.client(service)), session.region_name or ""


if __name__ == "__main__":
    sys.exit(main())
