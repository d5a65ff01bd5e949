"""The pinned CDK CLI (``node_modules/.bin/cdk``, ``npm ci``) run against moto or offline, as a user runs it.

``deploy_into_moto`` is what a rehearsal and the deploy test do: ``cdk bootstrap`` and ``cdk deploy
WukongStack --method=direct`` with ``-c wukong:moto=true`` into a moto server, the outputs written to a
file. ``synthesize`` is ``cdk synth WukongStack`` into a directory of its own, no account at all.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from wukong.local.processes import spawn

from .moto import ACCOUNT, DUMMY_CREDENTIALS, REGION
from .processes import stop_group

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"
STACK = "WukongStack"
MOTO_SWITCH = "wukong:moto=true"  # app.py: leave out what moto cannot deploy (docs/infrastructure.md)
CLI_TIMEOUT_S = 420


class CdkCliError(RuntimeError):
    pass


def cli_environment(endpoint: str = "") -> dict[str, str]:
    """Ours without AWS_* and CDK_*; with ``endpoint``, every AWS call goes to it (moto), dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    # jsii prints a banner on every start under an end-of-life Node; it says nothing about the stack.
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if endpoint:
        port = endpoint.rsplit(":", 1)[1]
        env.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                # The CLI hands CloudFormation a TemplateURL built from this; moto reads the bucket from the
                # path only for a "localhost" URL (for an IP it takes the first label as a bucket).
                "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{port}",
                **DUMMY_CREDENTIALS,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "CDK_DEFAULT_ACCOUNT": ACCOUNT,
                "CDK_DEFAULT_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true",  # never ask a (missing) metadata service for credentials
            }
        )
    return env


def run_cli(args: list[str], env: dict[str, str], log_path: Path | None = None) -> str:
    """Run ``cdk ARGS --no-notices`` in the repository; its output, or CdkCliError with its tail."""
    if not CDK_CLI.exists():
        raise CdkCliError(f"{CDK_CLI} is missing: install the pinned CDK CLI with `npm ci` (./dev does)")
    process = spawn(
        [str(CDK_CLI), *args, "--no-notices"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=CLI_TIMEOUT_S)
    except BaseException:  # the timeout, Ctrl-C: node and the app's Python go with it
        stop_group(process)
        raise
    if log_path is not None:
        log_path.write_text(output)
    if process.returncode != 0:
        raise CdkCliError(f"cdk {' '.join(args)} failed ({process.returncode}):\n{output[-6000:]}")
    return output


def deploy_into_moto(endpoint: str, work_dir: Path) -> tuple[dict[str, str], Path]:
    """Bootstrap and deploy WukongStack into the moto server at ``endpoint``: (its outputs, the cdk.out
    that was deployed)."""
    env = cli_environment(endpoint)
    cdk_out = work_dir / "cdk.out"
    common = ["-c", MOTO_SWITCH, "--output", str(cdk_out)]
    run_cli(["bootstrap", f"aws://{ACCOUNT}/{REGION}", *common], env, work_dir / "cdk-bootstrap.log")
    outputs_file = work_dir / "outputs.json"
    deploy = ["deploy", STACK, *common, "--method=direct", "--require-approval", "never"]
    run_cli([*deploy, "--outputs-file", str(outputs_file)], env, work_dir / "cdk-deploy.log")
    return json.loads(outputs_file.read_text())[STACK], cdk_out


def synthesize(cdk_out: Path) -> Path:
    """``cdk synth WukongStack`` into ``cdk_out`` (offline: no account, no Docker; layers built or cached)."""
    run_cli(["synth", STACK, "-q", "-o", str(cdk_out)], cli_environment())
    return cdk_out
