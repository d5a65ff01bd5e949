#!/usr/bin/env python3
"""The CDK app: reads context (cdk.json, ``-c key=value``), builds the layers, synthesizes WukongStack.

Context keys and their defaults are in cdk.json; docs/infrastructure.md explains each, and cdk/context.py
refuses a value AWS would not take (naming the key and the allowed range) before anything is built.
``-c wukong:moto=true`` leaves out what moto cannot deploy (Cloud Map, custom resources, CDK metadata) for
the moto test only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk.context import KEYS, ContextError, settings_from_context
from cdk.stack import WukongStack, WukongStackProps
from layers.build import build_layers, build_vm_bundle

STACK_NAME = "WukongStack"
MOTO_SWITCH = "wukong:moto"


def context_flag(app: cdk.App, key: str) -> bool:
    value = app.node.try_get_context(key)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def context_values(app: cdk.App) -> dict:
    """The only place that reads context; the stack and constructs take typed arguments."""
    return {key: app.node.try_get_context(key) for key in KEYS}


def props_from_context(app: cdk.App, *, layer_dirs: tuple[Path, ...], vm_bundle: Path) -> WukongStackProps:
    fields = settings_from_context(context_values(app))
    return WukongStackProps(
        layer_dirs=layer_dirs, vm_bundle=vm_bundle, moto_compatible=context_flag(app, MOTO_SWITCH), **fields
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
    try:
        settings_from_context(context_values(app))  # before the layer build: a typo need not wait for pip
    except ContextError as exc:
        sys.exit(f"error: {exc}")
    layer_dirs = tuple(build_layers())
    add_stack(app, props_from_context(app, layer_dirs=layer_dirs, vm_bundle=build_vm_bundle()))
    app.synth()


if __name__ == "__main__":
    main()
