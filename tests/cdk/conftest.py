"""Fixtures for the infrastructure tests: WukongStack synthesized in-process with cdk.json's context.

The template, nag and lint tests use small stand-in layer directories (the stack only zips them), so they
run offline in seconds; the packaging and moto tests build the real layers through app.py. ``synthesized``
is the pinned CLI's ``cdk synth`` output, shared by the packaging and Lambda-platform tests;
``redis_server`` is a loopback redis-server with a random password.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from stack_support import DEPLOYED_OUTPUTS, REHEARSAL_REPORTS, cdk_json_context, free_port

from layers.build import build_layers
from wukong.local.processes import stop

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

# jsii prints a banner on every start under an end-of-life Node; it says nothing about the code under test.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def stand_in_build(tmp_path_factory) -> tuple[tuple[Path, ...], Path]:
    """Two layer directories and a VM bundle shaped like layers/build's, holding a few bytes each."""
    from cdk.constants import VM_REQUIREMENTS, VM_WHEELS_DIR

    root = tmp_path_factory.mktemp("layers")
    layer_dirs = []
    for name in ("numpy", "scipy", "dask"):
        package = root / name / "python" / f"{name}_stand_in"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        layer_dirs.append(root / name)
    vm_bundle = root / "vm"
    (vm_bundle / VM_WHEELS_DIR).mkdir(parents=True)
    (vm_bundle / VM_WHEELS_DIR / "stand_in-0-py3-none-any.whl").write_bytes(b"")
    (vm_bundle / VM_REQUIREMENTS).write_text("stand-in==0 --hash=sha256:" + "0" * 64 + "\n")
    return tuple(layer_dirs), vm_bundle


@pytest.fixture(scope="session")
def make_stack(stand_in_build, tmp_path_factory):
    """Build (app, stack) the way app.py does, from cdk.json's context plus ``overrides``; nag attached."""
    import aws_cdk as cdk

    from app import add_stack, props_from_context

    layer_dirs, vm_bundle = stand_in_build

    def make(**overrides):
        # The CLI adds asset metadata (aws:asset:path) to the context it passes; the tests read it too.
        context = {**cdk_json_context(), "aws:cdk:enable-asset-metadata": True, **overrides}
        app = cdk.App(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
        stack = add_stack(app, props_from_context(app, layer_dirs=layer_dirs, vm_bundle=vm_bundle))
        return app, stack

    return make


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Show the moto deploy's outputs and the rehearsal's REPORT lines in every run's report, also when
    output capture hides prints."""
    outputs = config.stash.get(DEPLOYED_OUTPUTS, None)
    if outputs is not None:
        terminalreporter.section("WukongStack outputs (cdk deploy into moto)")
        terminalreporter.write_line(json.dumps(outputs, indent=2, sort_keys=True))
    reports = config.stash.get(REHEARSAL_REPORTS, None)
    if reports:
        terminalreporter.section(
            "./dev rehearse --small: the platform's REPORT lines of one job, its estimate"
        )
        for line in reports:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Path:
    """cdk.out of `cdk synth WukongStack` by the pinned CLI, with the real layers, as for a deployment."""
    from rehearsal.cdk_cli import CDK_CLI, synthesize

    if not CDK_CLI.exists():
        pytest.fail(f"{CDK_CLI} is missing: install the pinned CDK CLI with `npm ci` (./dev does)")
    build_layers()
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture
def redis_server(tmp_path):
    port, password = free_port(), secrets.token_hex(16)
    server = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_redis(port, password, server)
        yield port, password
    finally:
        stop(server)


def wait_for_redis(port: int, password: str, server: subprocess.Popen) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"redis-server exited with {server.returncode}")
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not answer within 20 s")
