"""What the rehearsal checks besides the examples, each as a user's script on the VM.

``failure_watcher``: a task that kills its executor (``os._exit``) on every attempt. Lambda (the
platform) retries the event twice, then sends its record to the executor's on-failure destination (moto's
SQS queue); the client's failure watcher reads it there and fails the job at once with
``InvocationFailedError``, long before the job's deadline.
"""

from __future__ import annotations

import time
from pathlib import Path

from cdk.constants import LOGIN_USER, VENV_DIR

from .processes import stop_group

FAILURE_SCRIPT = """\
import os
import dask
from wukong import Client, LocalCluster
from wukong.errors import InvocationFailedError

def crash(x):
    os._exit(3)  # the executor's process dies: Lambda's Runtime.ExitError

with LocalCluster() as cluster:
    try:
        dask.delayed(crash)(1, dask_key_name="crash-probe").compute(scheduler=Client(cluster).get)
        print("the job did not fail")
    except InvocationFailedError as exc:
        print(f"InvocationFailedError: {exc}")
"""
PROBE_TIMEOUT_S = 300


def failure_watcher(vm, work_dir: Path, out) -> bool:
    script = f"/home/{LOGIN_USER}/crash_probe.py"  # on the VM
    vm.here(script).write_text(FAILURE_SCRIPT)
    started = time.monotonic()
    process = vm.run([f"{VENV_DIR}/bin/python", script], work_dir / "probe-failure-watcher.log")
    try:
        output, _ = process.communicate(timeout=PROBE_TIMEOUT_S)
    finally:
        stop_group(process)
    seen = output.strip().startswith("InvocationFailedError:") and "RetriesExhausted after 3" in output
    out(
        f"failure watcher: a task that kills its executor failed its job in {time.monotonic() - started:.0f} s "
        + ("through the on-failure queue: " if seen else "WITHOUT the watcher's error: ")
        + (output.strip()[:300] or (work_dir / "probe-failure-watcher.log").read_text()[-2000:])
    )
    return seen
