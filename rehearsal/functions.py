"""WukongStack's functions for the Lambda platform, from a cdk.out: as deployed (the environment Lambda
holds for them in moto, the resources' physical ids for the template's intrinsics), or on loopback with
no deployment at all (placeholder ARNs for what only a deployment creates)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from lambda_platform import FunctionSpec, Intrinsics, load_functions

from .cdk_cli import STACK
from .deployment import Deployment
from .moto import ACCOUNT, REGION

QUEUE_TYPE = "AWS::SQS::Queue"


def deployed_functions(deployment: Deployment, overrides: Mapping[str, str]) -> dict[str, FunctionSpec]:
    """The deployed functions: code, layers, memory, timeout and async settings from the template that
    was deployed, the environment as Lambda (moto) holds it, then ``overrides`` (loopback addresses)."""
    intrinsics = Intrinsics(
        refs={logical_id: physical for logical_id, (_, physical) in deployment.resources.items()},
        attributes={f"{logical_id}.Arn": arn for logical_id, arn in deployment.queue_arns.items()},
        region=deployment.region,
        account_id=ACCOUNT,
        stack_name=STACK,
    )
    environments = {
        name: {**variables, **overrides} for name, variables in deployment.function_environments.items()
    }
    return load_functions(deployment.cdk_out, STACK, intrinsics=intrinsics, function_environment=environments)


def loopback_functions(cdk_out: Path, environment: Mapping[str, str]) -> dict[str, FunctionSpec]:
    """The synthesized functions with ``environment`` for what a deployment would set; queues (the
    executor's on-failure destination) get placeholder ARNs: their records are dropped and recorded."""
    resources = json.loads((Path(cdk_out) / f"{STACK}.template.json").read_text())["Resources"]
    queues = [logical_id for logical_id, resource in resources.items() if resource["Type"] == QUEUE_TYPE]
    intrinsics = Intrinsics(
        attributes={f"{q}.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{q}" for q in queues},
        region=REGION,
        account_id=ACCOUNT,
        stack_name=STACK,
    )
    return load_functions(Path(cdk_out), STACK, intrinsics=intrinsics, environment=environment)
