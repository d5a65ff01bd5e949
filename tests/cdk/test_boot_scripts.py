"""The instances' boot scripts as they will run: shellcheck-clean, and their failure and retry paths work.

Every user-data script of the synthesized template is rendered with placeholder values for what only AWS
knows (tests/cdk/rendering.py) and checked by shellcheck (Debian's package; ./dev test installs it), as is
the KVS container's shell command. The shared preamble (strict mode, the step log, retries, the EXIT trap
that signals CloudFormation) is then run with bash, with cfn-signal, dnf and the console pointed at
stand-ins in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Template
from rendering import render, user_data_scripts

from cdk.boot_script import CFN_SIGNAL

SHELLCHECK = shutil.which("shellcheck")
PREAMBLE_END = "retry 6 dnf install -y aws-cfn-bootstrap\n"


@pytest.fixture(scope="module")
def template(make_stack) -> dict:
    _, stack = make_stack()
    return Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def scripts(template) -> dict[str, str]:
    found = user_data_scripts(template)
    assert len(found) == 2, sorted(found)  # the metadata store and the scheduler VM
    return found


def shellcheck(script: str, shell: str) -> str:
    if SHELLCHECK is None:
        pytest.fail("shellcheck is not installed: apt-get install shellcheck (./dev test installs it)")
    result = subprocess.run(
        [SHELLCHECK, f"--shell={shell}", "--severity=style", "-"],
        input=script,
        capture_output=True,
        text=True,
    )
    return result.stdout if result.returncode else ""


def test_every_user_data_script_is_shellcheck_clean(scripts):
    for logical_id, script in scripts.items():
        assert script.startswith("#!/bin/bash\n"), logical_id
        assert shellcheck(script, "bash") == "", f"{logical_id}:\n{shellcheck(script, 'bash')}"


def test_the_kvs_container_command_is_shellcheck_clean(template):
    (task,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    shell, flag, script = container["Command"]
    assert (shell, flag) == ("sh", "-c")
    assert shellcheck(render(script) + "\n", "sh") == ""


# --- the preamble, run ---


@pytest.fixture
def stand_ins(tmp_path) -> dict[str, Path]:
    """A cfn-signal that records its arguments, a dnf that succeeds, and a file for the console."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    signals = tmp_path / "signals"
    signal = bin_dir / "cfn-signal"
    signal.write_text(f'#!/bin/sh\necho "$@" >> {signals}\n')
    (bin_dir / "dnf").write_text("#!/bin/sh\nexit 0\n")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return {"bin": bin_dir, "signal": signal, "signals": signals, "console": tmp_path / "console"}


def run_boot(scripts, stand_ins, body: str) -> subprocess.CompletedProcess:
    """The metadata store's real preamble followed by ``body``, with the stand-ins in place."""
    mds_script = next(s for s in scripts.values() if "redis6" in s)
    preamble = mds_script[: mds_script.index(PREAMBLE_END) + len(PREAMBLE_END)]
    script = preamble.replace(CFN_SIGNAL, str(stand_ins["signal"])).replace(
        "/dev/console", str(stand_ins["console"])
    )
    env = {**os.environ, "PATH": f"{stand_ins['bin']}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", script + body], env=env, capture_output=True, text=True, timeout=60)


def test_a_failed_step_signals_failure_with_the_step_on_the_console(scripts, stand_ins):
    result = run_boot(scripts, stand_ins, 'step "configuring Redis"\nfalse\nstep "never reached"\n')
    assert result.returncode == 1
    console = stand_ins["console"].read_text()
    assert "wukong-boot: FAILED (exit status 1) while configuring Redis" in console
    assert "never reached" not in console
    (signal,) = stand_ins["signals"].read_text().splitlines()
    assert signal.startswith("--exit-code 1 --stack WukongStack --resource MetadataStoreInstance")
    assert signal.endswith("--region us-east-1")


def test_an_unset_variable_fails_the_boot_too(scripts, stand_ins):
    result = run_boot(scripts, stand_ins, 'step "reading a setting"\necho "$NOT_SET"\n')
    assert result.returncode != 0
    assert "while reading a setting" in stand_ins["console"].read_text()
    assert stand_ins["signals"].read_text().startswith("--exit-code 1 ")


def test_success_signals_once_after_the_checks(scripts, stand_ins):
    result = run_boot(scripts, stand_ins, 'step "checking readiness"\ntrue\nretry 6 cfn_signal 0\n')
    assert result.returncode == 0, result.stderr
    assert [line.split()[:2] for line in stand_ins["signals"].read_text().splitlines()] == [
        ["--exit-code", "0"]
    ]


def test_retry_backs_off_and_gives_up_after_its_attempts(scripts, stand_ins, tmp_path):
    flaky = stand_ins["bin"] / "flaky"
    flaky.write_text(f"#!/bin/sh\n[ -e {tmp_path}/once ] && exit 0\ntouch {tmp_path}/once\nexit 1\n")
    flaky.chmod(0o755)
    result = run_boot(scripts, stand_ins, 'step "flaky download"\nretry 3 flaky\nretry 2 false\n')
    console = stand_ins["console"].read_text()
    assert "attempt 1 of 3 failed: flaky; again in 2 s" in console  # then it worked
    assert "attempt 1 of 2 failed: false; again in 2 s" in console
    assert "attempt 2 of 2" not in console  # the last attempt fails the boot instead of waiting again
    assert result.returncode == 1 and "FAILED (exit status 1) while flaky download" in console
