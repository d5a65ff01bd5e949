"""The runtime (``runtime/`` in the repo) packaged as the import package ``wukong``, without Docker.

The Lambda code asset is ``<asset>/wukong/...``; the scheduler VM's asset adds its wheels (``wheels/`` and
``vm-requirements.txt``: the layers' pins plus boto3, with hashes; built by layers/build.py) and the
examples. Both are built by a local bundling step (plain file copies), so synthesis needs no Docker.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from .constants import REPO_ROOT, RUNTIME_DIR, RUNTIME_PACKAGE, VM_REQUIREMENTS, VM_WHEELS_DIR

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache")
EXAMPLES_DIR = REPO_ROOT / "examples"
# Never pulled: local bundling always succeeds, and CDK only falls back to Docker when it does not.
NO_DOCKER = DockerImage.from_registry("wukong-local-bundling-only")


def stage_runtime(output_dir: Path) -> Path:
    """Copy ``runtime/`` to ``output_dir/wukong`` and return that directory."""
    package_dir = Path(output_dir) / RUNTIME_PACKAGE
    shutil.copytree(RUNTIME_DIR, package_dir, ignore=IGNORED, dirs_exist_ok=True)
    return package_dir


def stage_scheduler_bundle(output_dir: Path, *, vm_bundle: Path) -> None:
    """What the scheduler VM installs: the runtime, its wheels and their pins, and the examples to run."""
    stage_runtime(output_dir)
    shutil.copyfile(vm_bundle / VM_REQUIREMENTS, Path(output_dir) / VM_REQUIREMENTS)
    shutil.copytree(vm_bundle / VM_WHEELS_DIR, Path(output_dir) / VM_WHEELS_DIR, dirs_exist_ok=True)
    if EXAMPLES_DIR.is_dir():
        shutil.copytree(EXAMPLES_DIR, Path(output_dir) / "examples", ignore=IGNORED, dirs_exist_ok=True)


@jsii.implements(ILocalBundling)
class _LocalCopy:
    """CDK calls ``try_bundle`` during synthesis with the asset's staging directory."""

    def __init__(self, stage, **kwargs):
        self._stage = stage
        self._kwargs = kwargs

    def try_bundle(self, output_dir: str, options=None) -> bool:
        self._stage(Path(output_dir), **self._kwargs)
        return True


def bundling(stage, **kwargs) -> BundlingOptions:
    # CDK caches bundling output by source path and options, and cannot see inside the local bundler: the
    # command names the step so that two bundles of runtime/ are not mistaken for one. Docker never runs it.
    return BundlingOptions(image=NO_DOCKER, local=_LocalCopy(stage, **kwargs), command=[stage.__name__])


def function_code() -> lambda_.Code:
    """The Lambda deployment package: ``wukong/`` at the root, so handlers are ``wukong.<module>.<func>``."""
    return lambda_.Code.from_asset(
        str(RUNTIME_DIR),
        bundling=bundling(stage_runtime),
        asset_hash_type=AssetHashType.OUTPUT,
    )
