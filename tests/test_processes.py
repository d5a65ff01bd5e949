"""After a script ends — normally, by an exception, by Ctrl-C or killed — nothing of ours keeps running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import os, sys, time
from wukong import Client, LocalCluster
cluster = LocalCluster(local_workers=2)
client = Client(cluster)
assert client.get({"x": 1, "y": (lambda v: v + 1, "x")}, "y") == 2
pids = [s.process.pid for s in cluster.servers] + cluster.pool.pids()
pids += [cluster.proxy.process.pid, cluster.pool.template.pid]
print(" ".join(map(str, pids)), flush=True)
sys.stdin.readline()  # the test checks everything is up, then lets the script end
how = sys.argv[1]
if how == "exception":
    raise RuntimeError("the user's script failed")
if how in ("wait", "kill"):
    print("sleeping", flush=True)
    time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.mark.parametrize("how", ["normal", "exception", "ctrl-c", "kill"])
def test_no_process_outlives_the_script(how):
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, {"ctrl-c": "wait"}.get(how, how)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WUKONG_PROGRESS": "off"},
    )
    pids = [int(p) for p in process.stdout.readline().split()]
    assert len(pids) == 5, process.stderr.read()
    assert all(alive(p) for p in pids)
    process.stdin.write("go\n")
    process.stdin.flush()
    if how in ("ctrl-c", "kill"):
        assert process.stdout.readline().strip() == "sleeping"
    if how == "ctrl-c":
        process.send_signal(signal.SIGINT)
    elif how == "kill":
        process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert wait_gone(pids) == []
