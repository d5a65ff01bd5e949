"""Stopping the platform stops everything it started: as a process (``python -m lambda_platform``, on
SIGTERM or Ctrl-C, and when it is killed outright) and in-process (leaving the ``with``), with
environments busy, idle and queued at that moment."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from platform_support import STACK, lambda_client, processes_of, running_platform, write_stack

from lambda_platform.__main__ import StopSignals

FUNCTION = "shutdown-test"
REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60


def start_cli(cdk_out: Path, *arguments: str) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-m",
        "lambda_platform",
        "--cdk-out",
        str(cdk_out),
        "--stack",
        STACK,
        *arguments,
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(READY_TIMEOUT_S)
    assert ready and ready[0].startswith("lambda_platform ready at http://127.0.0.1:"), (
        ready,
        process.poll(),
    )
    return process, ready[0].split(" at ")[1].strip()


def keep_busy(url: str, count: int) -> None:
    """``count`` environments: one left running, the rest idle, and queued events behind them."""
    client = lambda_client(url)
    client.invoke(
        FunctionName=FUNCTION,
        InvocationType="Event",
        Payload=json.dumps({"action": "sleep", "seconds": 60}).encode(),
    )
    for _ in range(count - 1):
        client.invoke(FunctionName=FUNCTION, Payload=b'{"action": "return"}')
    for _ in range(3):
        client.invoke(
            FunctionName=FUNCTION, InvocationType="Event", Payload=b'{"action": "sleep", "seconds": 60}'
        )


def wait_for_processes(cdk_out: Path, count: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while len(processes_of(cdk_out)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(processes_of(cdk_out)) >= count


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_cli_stops_every_environment_on_a_signal(tmp_path, runtime_dir, signum):
    cdk_out = write_stack(tmp_path, {FUNCTION: {"timeout": 120}})
    process, url = start_cli(cdk_out, "--concurrency", "4", "--logs-dir", str(tmp_path / "logs"))
    try:
        keep_busy(url, 3)
        wait_for_processes(cdk_out, 4)  # the busy one, an idle one, and two queued events started
        process.send_signal(signum)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert processes_of(cdk_out) == []
    stderr = process.stderr.read()
    assert "lambda_platform stopped:" in stderr, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_taken_by_another_thread_ends_the_wait(signum):
    """The kernel may run the handler on any thread (the platform has dozens): the main thread must
    still wake. A main thread blocked in a lock was not woken; it waited for a signal of its own."""
    woke = threading.Event()

    def rescue(main: int) -> None:  # should the wait miss the signal: ends it (late), so the test fails
        if not woke.wait(10):
            signal.pthread_kill(main, signum)

    with StopSignals() as stop_signals:
        started = time.monotonic()
        # once the main thread waits, the handler runs on the sender's own thread
        sender = threading.Thread(
            target=lambda: (time.sleep(0.3), signal.pthread_kill(threading.get_ident(), signum))
        )
        rescuer = threading.Thread(target=rescue, args=(threading.get_ident(),))
        sender.start()
        rescuer.start()
        assert stop_signals.wait() == signum
        waited_s = time.monotonic() - started
        woke.set()
        sender.join()
        rescuer.join()
    assert waited_s < 5, f"the main thread woke only after {waited_s:.1f} s, at the signal sent to it"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers put back
    assert signal.set_wakeup_fd(-1) == -1


def test_environments_die_with_a_killed_platform(tmp_path, runtime_dir):
    """SIGKILL leaves the platform no chance to clean up: the kernel ends the environments
    (PR_SET_PDEATHSIG), whichever thread's request started them."""
    cdk_out = write_stack(tmp_path, {FUNCTION: {"timeout": 120}})
    process, url = start_cli(cdk_out)
    try:
        keep_busy(url, 2)
        wait_for_processes(cdk_out, 2)
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 10
    while processes_of(cdk_out) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(cdk_out) == []


def test_leaving_the_with_stops_busy_idle_and_queued_work(tmp_path, runtime_dir):
    cdk_out = write_stack(tmp_path, {FUNCTION: {"timeout": 120}})
    with running_platform(cdk_out, runtime_dir, concurrency=3) as platform:  # asserts no process is left
        keep_busy(platform.url, 2)
        wait_for_processes(cdk_out, 3)
        started = time.monotonic()
    assert time.monotonic() - started < 10
    with pytest.raises(EndpointConnectionError):  # the server is gone too
        lambda_client(platform.url).invoke(FunctionName=FUNCTION, Payload=b"{}")
