#!/usr/bin/env python3
"""The CDK app: reads context (cdk.json, ``-c key=value``), builds the layers, synthesizes WukongStack.

Context keys and their defaults are in cdk.json; docs/infrastructure.md explains each.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk.stack import WukongStack, WukongStackProps
from layers.build import LOCK_FILE, build_layers

STACK_NAME = "WukongStack"
MOTO_SWITCH = "wukong:moto"


def context_flag(app: cdk.App, key: str) -> bool:
    value = app.node.try_get_context(key)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def props_from_context(app: cdk.App) -> WukongStackProps:
    """Only this function reads context; the stack and constructs take typed arguments."""
    get = app.node.try_get_context
    defaults = WukongStackProps(layer_dirs=(), lock_file=LOCK_FILE)
    strings = ("sshCidr", "keyName", "mdsInstanceType", "schedulerInstanceType", "kvsImage")
    numbers = ("kvsNodeCount", "kvsNodeCpu", "kvsNodeMemoryMiB", "lambdaMemoryMb", "lambdaTimeoutS")
    fields = ("ssh_cidr", "key_name", "mds_instance_type", "scheduler_instance_type", "kvs_image",
              "kvs_node_count", "kvs_node_cpu", "kvs_node_memory_mib", "lambda_memory_mb", "lambda_timeout_s")
    values = {}
    for key, field in zip(strings + numbers, fields, strict=True):
        value = get(key)
        if value is None:
            value = getattr(defaults, field)
        values[field] = int(value) if key in numbers else str(value)
    return WukongStackProps(
        layer_dirs=tuple(build_layers()), lock_file=LOCK_FILE,
        moto_compatible=context_flag(app, MOTO_SWITCH), **values,
    )


def main() -> None:
    app = cdk.App()
    props = props_from_context(app)
    # Env-agnostic: no account or region lookups at synthesis, so synth works with no AWS credentials.
    # moto cannot create AWS::CDK::Metadata; leave it out there only.
    WukongStack(app, STACK_NAME, props=props, analytics_reporting=not props.moto_compatible,
                description="Wukong: serverless DAG engine for Dask (executors on AWS Lambda)")
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()


if __name__ == "__main__":
    main()
