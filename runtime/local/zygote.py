"""A warm template process that forks local workers in milliseconds, as Lambda starts containers.

Started by the pool as ``python -m wukong.local.zygote`` with the cluster's WUKONG_* settings, it
imports the executor's libraries once, then obeys lines on stdin and reports on stdout:

    stdin:  "spawn <worker-id> <idle-exit-seconds> <slot>"   "import <module> ..."   "quit"
    stdout: "ready"   "spawned <worker-id> <pid>"   "exit <worker-id> <code>"
            "imported <seconds> <new> <module that failed> ..." (after an "import": workers forked
            from then on have those modules already; <new> is how many were not imported before;
            a module that fails to import is named and left alone)

Forked workers share the template's imported modules, so a new worker is ready at once; the pool can
grow with queued invocations without paying Python's start-up each time. A worker dies with SIGKILL
when the template dies (``PR_SET_PDEATHSIG``), so no worker outlives it, whatever its task does with
SIGTERM; the pool then starts a new template. On "quit" or SIGTERM the template stops its workers:
SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import signal
import sys
import time

from . import slots
from .processes import STOP_GRACE_S, die_with_parent

REAP_INTERVAL_S = 0.05


def preload() -> None:
    """The executor and nothing else: the libraries of a job's tasks (dask.array, pandas, sklearn) come
    with the job, imported here once before its executors start ("import"), so that a cluster starts in
    a fraction of a second and a job pays only for the modules it uses, once. dask's config (every
    worker reads its settings through it) and task specs (every task is one) are the executor's."""
    import dask._task_spec  # noqa: F401
    import dask.config  # noqa: F401

    from ..executor import handler  # noqa: F401
    from . import worker  # noqa: F401


def warm(modules: list[str]) -> str:
    """Import ``modules`` here, so that workers forked afterwards need not:
    "<seconds> <how many were new> <failed> ..."."""
    started, failed, before = time.monotonic(), [], len(sys.modules)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a task's own module that fails here fails in its task too
            failed.append(name)
    return " ".join([f"{time.monotonic() - started:.3f}", str(len(sys.modules) - before), *failed])


def fork_worker(worker_id: str, idle_exit_s: float, slot: str) -> int:
    template = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    # The child: stdout is the zygote's report pipe, so route prints to stderr; stdin is not ours.
    try:
        die_with_parent(signal.SIGKILL, template)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.dup2(2, 1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.environ["WUKONG_WORKER_ID"] = worker_id
        os.environ[slots.ENV_INDEX] = slot  # where it tells the pool what it runs (slots.py)
        from . import worker

        worker.main(idle_exit_s=idle_exit_s)
        code = 0
    except BaseException:  # noqa: BLE001 - a forked child must never return into the zygote's loop
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


def report(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def reap(children: dict[int, str]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        worker_id = children.pop(pid, None)
        if worker_id is not None:
            report(f"exit {worker_id} {os.waitstatus_to_exitcode(status)}")


def stop_children(children: dict[int, str], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every worker, SIGKILL the ones still running after ``grace_s``, reap them all."""
    signal_all(children, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while children and time.monotonic() < deadline:
        reap_quietly(children)
        time.sleep(0.02)
    signal_all(children, signal.SIGKILL)
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):  # reaped already
            os.waitpid(pid, 0)
    children.clear()


def signal_all(children: dict[int, str], signum: int) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):  # it exited already
            os.kill(pid, signum)


def reap_quietly(children: dict[int, str]) -> None:
    """Reap exited workers without reporting them (the pool is stopping us)."""
    for pid in list(children):
        try:
            exited = os.waitpid(pid, os.WNOHANG)[0] != 0
        except ChildProcessError:  # reaped already (by reap(), which this signal handler interrupted)
            exited = True
        if exited:
            children.pop(pid)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: dict[int, str] = {}
    signal.signal(signal.SIGTERM, lambda *_: (stop_children(children), os._exit(0)))
    preload()
    report("ready")
    buffer = b""
    while True:
        readable, _, _ = select.select([0], [], [], REAP_INTERVAL_S)
        reap(children)
        if not readable:
            continue
        data = os.read(0, 4096)
        if not data:  # the pool went away
            break
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            words = line.decode().split()
            if words and words[0] == "spawn":
                pid = fork_worker(words[1], float(words[2]), words[3])
                children[pid] = words[1]
                report(f"spawned {words[1]} {pid}")
            elif words and words[0] == "import":
                report(f"imported {warm(words[1:])}")
            elif words and words[0] == "quit":
                stop_children(children)
                return
    stop_children(children)


if __name__ == "__main__":
    main()
