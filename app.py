#!/usr/bin/env python3
"""The CDK app: reads context (cdk.json, ``-c key=value``), builds the layers, synthesizes WukongStack.

Context keys and their defaults are in cdk.json; docs/infrastructure.md explains each. ``-c wukong:moto=true``
leaves out what moto cannot deploy (Cloud Map, custom resources, CDK metadata) for the moto test only.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk.stack import WukongStack, WukongStackProps
from layers.build import LOCK_FILE, build_layers

STACK_NAME = "WukongStack"
MOTO_SWITCH = "wukong:moto"
TEXT_SETTINGS = {  # context key -> WukongStackProps field
    "sshCidr": "ssh_cidr",
    "keyName": "key_name",
    "mdsInstanceType": "mds_instance_type",
    "schedulerInstanceType": "scheduler_instance_type",
    "kvsImage": "kvs_image",
}
NUMBER_SETTINGS = {
    "kvsNodeCount": "kvs_node_count",
    "kvsNodeCpu": "kvs_node_cpu",
    "kvsNodeMemoryMiB": "kvs_node_memory_mib",
    "lambdaMemoryMb": "lambda_memory_mb",
    "lambdaTimeoutS": "lambda_timeout_s",
}


def context_flag(app: cdk.App, key: str) -> bool:
    value = app.node.try_get_context(key)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def props_from_context(app: cdk.App, *, layer_dirs: tuple[Path, ...], lock_file: Path) -> WukongStackProps:
    """The only place that reads context; the stack and constructs take typed arguments."""
    values = {}
    for key, field in TEXT_SETTINGS.items():
        value = app.node.try_get_context(key)
        if value is not None:
            values[field] = str(value)
    for key, field in NUMBER_SETTINGS.items():
        value = app.node.try_get_context(key)
        if value is not None:
            values[field] = int(value)
    return WukongStackProps(
        layer_dirs=layer_dirs, lock_file=lock_file, moto_compatible=context_flag(app, MOTO_SWITCH), **values
    )


def add_stack(app: cdk.App, props: WukongStackProps) -> WukongStack:
    """WukongStack with cdk-nag's AwsSolutions checks on the whole app (the tests build it the same way)."""
    # Env-agnostic (no env=): no account or region lookups, so synthesis needs no AWS credentials.
    stack = WukongStack(
        app,
        STACK_NAME,
        props=props,
        analytics_reporting=not props.moto_compatible,
        description="Wukong: serverless DAG engine for Dask (executors on AWS Lambda)",
    )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


def main() -> None:
    app = cdk.App()
    add_stack(app, props_from_context(app, layer_dirs=tuple(build_layers()), lock_file=LOCK_FILE))
    app.synth()


if __name__ == "__main__":
    main()
