"""What both instances' boot scripts share: strict mode, a step log on the console, retries with back-off,
and the CloudFormation signal: success only after the instance's readiness check, failure with the step
that failed.

Each instance has a CreationPolicy, so CloudFormation waits for one signal. A failing command (``set -e``,
also an unset variable or a failed pipe) ends the script; its EXIT trap writes the step that failed to
/dev/console (``aws ec2 get-console-output``) and signals failure, so the deploy fails at once
(SignalResource carries no reason: the console has it).
A script that dies before cfn-signal is installed leaves the deploy to fail at the CreationPolicy's
timeout, with the same console line.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnCreationPolicy, CfnResource, CfnResourceSignal, Duration

CFN_SIGNAL = "/opt/aws/bin/cfn-signal"  # from the aws-cfn-bootstrap package on Amazon Linux 2023
CFN_BOOTSTRAP_PACKAGE = "aws-cfn-bootstrap"
NETWORK_ATTEMPTS = 6  # dnf, pip, aws: 2 + 4 + 8 + 16 + 32 s of back-off, about a minute in all
READINESS_ATTEMPTS = 8  # services coming up: about four minutes
LOG_PREFIX = "wukong-boot:"


def preamble(resource: CfnResource) -> list[str]:
    """The first lines of a boot script that signals for ``resource`` (its own instance). Add them after
    the instance exists: its ``logical_id`` token resolves to the final id, including the suffix that
    ``user_data_causes_replacement`` appends (``Stack.get_logical_id`` would give the id without it)."""
    logical_id = resource.logical_id
    return [
        "set -euo pipefail",
        'BOOT_STEP="starting"',
        "log() {",
        f'  echo "{LOG_PREFIX} $*"',
        f'  echo "{LOG_PREFIX} $*" >> /dev/console 2>/dev/null || true',
        "}",
        'step() { BOOT_STEP="$1"; log "$1"; }',
        "cfn_signal() {",
        f'  {CFN_SIGNAL} --exit-code "$1" --stack {Aws.STACK_NAME} --resource {logical_id} --region {Aws.REGION}',
        "}",
        "boot_exit() {",
        "  status=$?",
        '  if [ "$status" -eq 0 ]; then return; fi',
        '  log "FAILED (exit status $status) while $BOOT_STEP"',
        f'  if [ -x {CFN_SIGNAL} ]; then cfn_signal 1 || log "could not signal CloudFormation"; fi',
        "}",
        "trap boot_exit EXIT",
        "retry() {  # retry ATTEMPTS COMMAND...: 2, 4, 8 ... s between attempts; fails after the last",
        "  attempts=$1 delay=2 attempt=1",
        "  shift",
        '  until "$@"; do',
        '    if [ "$attempt" -ge "$attempts" ]; then return 1; fi',
        '    log "attempt $attempt of $attempts failed: $*; again in ${delay} s"',
        '    sleep "$delay"',
        "    attempt=$((attempt + 1)) delay=$((delay * 2))",
        "  done",
        "}",
        f'step "installing {CFN_BOOTSTRAP_PACKAGE} (cfn-signal)"',
        f"retry {NETWORK_ATTEMPTS} dnf install -y {CFN_BOOTSTRAP_PACKAGE}",
    ]


def signal_ready() -> list[str]:
    """The last lines: the readiness checks before them passed."""
    return ['step "ready: signalling CloudFormation"', f"retry {NETWORK_ATTEMPTS} cfn_signal 0", 'log "done"']


def wait_for_signal(resource: CfnResource, timeout: Duration) -> None:
    """CloudFormation marks ``resource`` created only when its boot script signals success."""
    resource.cfn_options.creation_policy = CfnCreationPolicy(
        resource_signal=CfnResourceSignal(count=1, timeout=timeout.to_iso_string())
    )
