"""``./dev rehearse --small`` (its Python entry, ``python -m rehearsal``): WukongStack deployed into moto, the
seed examples run on the Lambda platform from a process with only the scheduler VM's packages. Every example
that can run on Lambda's layers matches dask, the local-only one says why, the failure watcher fails a job
through the on-failure queue, nothing is left running, also after Ctrl-C; the platform's REPORT lines of
one job and that job's cost estimate are printed in the run's summary (issue 11's "CI log line")."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from stack_support import REHEARSAL_REPORTS, REPO_ROOT

from rehearsal.processes import leftovers
from rehearsal.run import EXAMPLES

pytestmark = pytest.mark.timeout(900)  # a fresh machine builds the layers and the VM's venv first
LOCAL_ONLY = {"svc_predict"}
RUN_TIMEOUT_S = 600


def rehearse(work_dir, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rehearsal", "--small", "--work-dir", str(work_dir), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_every_example_matches_dask_and_nothing_is_left(tmp_path, request):
    started = time.monotonic()
    process = rehearse(tmp_path)
    output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    lines = output.splitlines()
    print(output)
    assert process.returncode == 0, output[-6000:]
    for name in EXAMPLES:
        (line,) = [line for line in lines if line.startswith(f"{name} ")]
        assert ("skipped: local mode only (" if name in LOCAL_ONLY else "matches dask") in line, line
    assert any(line.startswith("failure watcher: ") and "InvocationFailedError" in line for line in lines)
    assert "rehearsal: stopped everything it started" in output
    assert leftovers(tmp_path) == []
    block = lines[lines.index(next(line for line in lines if line.startswith("REPORT lines of one job"))) :]
    reports = [line for line in block[1:] if line.strip().startswith(("REPORT ", "Wukong's", "platform:"))][
        :5
    ]
    assert any("Billed Duration:" in line and "Max Memory Used:" in line for line in reports), reports
    request.config.stash[REHEARSAL_REPORTS] = [
        *reports,
        f"(the rehearsal took {time.monotonic() - started:.0f} s)",
    ]


def test_ctrl_c_stops_everything_it_started(tmp_path):
    """SIGINT, as Ctrl-C sends it, while the first example's executors run on the platform."""
    process = rehearse(tmp_path, "tree_reduction")
    lines = []
    for line in process.stdout:
        lines.append(line)
        if " proxy `" in line:  # everything is up: moto, redis-servers, platform, proxy; the example starts
            time.sleep(3)  # its process and the platform's environments are running
            process.send_signal(signal.SIGINT)
            break
    output = "".join(lines) + process.communicate(timeout=120)[0]
    assert "rehearsal: interrupted; everything it started is stopped" in output, output[-4000:]
    assert "stopped everything it started" in output, output[-4000:]
    assert process.returncode == 1
    assert leftovers(tmp_path) == []
