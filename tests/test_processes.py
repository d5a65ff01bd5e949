"""After a script ends — normally, by an exception, by Ctrl-C, SIGTERM or SIGKILL — nothing of ours keeps
running and no temporary file or directory of ours is left; a cluster outlives the thread that made it;
redis-server's password is never in its argv."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wukong import Client, LocalCluster

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
if how == "wait":
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


@pytest.mark.parametrize("how", ["normal", "exception", "ctrl-c", "term", "kill"])
def test_no_process_or_temporary_file_outlives_the_script(how, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "wait" if how in ("ctrl-c", "term", "kill") else how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "WUKONG_PROGRESS": "off", "TMPDIR": str(tmp_path)},  # tempfile's directory
    )
    pids = [int(p) for p in process.stdout.readline().split()]
    assert len(pids) == 5, process.stderr.read()
    assert all(alive(p) for p in pids)
    process.stdin.write("go\n")
    process.stdin.flush()
    if how in ("ctrl-c", "term", "kill"):
        assert process.stdout.readline().strip() == "sleeping"
    signum = {"ctrl-c": signal.SIGINT, "term": signal.SIGTERM, "kill": signal.SIGKILL}.get(how)
    started = time.monotonic()
    if signum is not None:
        process.send_signal(signum)
    process.wait(30)
    assert wait_gone(pids) == []
    print(f"\nEXIT {how}: every process gone {time.monotonic() - started:.2f} s after")
    assert list(tmp_path.iterdir()) == []


def test_a_cluster_outlives_the_thread_that_made_it():
    """PR_SET_PDEATHSIG fires when the *thread* that forked a child ends: children come from one
    long-lived thread, so a cluster made in a thread that exits keeps its processes."""
    made = []
    maker = threading.Thread(target=lambda: made.append(LocalCluster(local_workers=1)))
    maker.start()
    maker.join()
    with made[0] as cluster:
        pids = [s.process.pid for s in cluster.servers] + [
            cluster.proxy.process.pid,
            cluster.pool.template.pid,
        ]
        time.sleep(1.0)  # a child that dies with the thread dies at once
        assert all(alive(p) for p in pids)
        assert Client(cluster).get({"x": 1, "y": (lambda v: v + 1, "x")}, "y") == 2
    assert wait_gone(pids) == []


def test_redis_password_never_in_argv_nor_on_disk(cluster):
    """The config reaches redis-server on stdin: argv (world-readable, /proc/<pid>/cmdline) never holds
    the password, not even while the server starts; its working directory is gone once it answers."""
    for server in cluster.servers:
        pid, password = server.process.pid, server.password.encode()
        assert password not in " ".join(server.process.args).encode()  # what it was started with
        assert password not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert password not in Path(f"/proc/{pid}/environ").read_bytes()
        assert os.readlink(f"/proc/{pid}/cwd").endswith("(deleted)")
        log = os.readlink(f"/proc/{pid}/fd/1")  # the log: a file without a name
        assert log.endswith("(deleted)") or log.startswith("/tmp/#"), log
