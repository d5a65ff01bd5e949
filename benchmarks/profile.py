"""Where Wukong's time goes on one case: ``python -m benchmarks.profile CASE [--size quick] [--rate HZ]``.

Starts the embedded local mode with the case's settings, runs the case once to warm up, then runs it
once more while

* py-spy samples every worker process (the executors) and the proxy,
* pyinstrument samples the client (this process),
* the CPU seconds of every process (workers, redis-server, proxy, client) are read before and after.

It prints the CPU budget per process kind and, for the executors, the share of samples in each part
of an invocation (``PARTS``, matched on the sampled stacks), and keeps the raw profiles in
``--out`` (default ``benchmarks/results/profile-CASE/``). Needs ``py-spy`` and ``pyinstrument``.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .cases import cases
from .systems import Wukong

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Parts of an executor's work: a sample belongs to the first part whose pattern matches any frame of
# its stack, so inner parts come before the parts that enclose them.
W = r"\((?:wukong|runtime)/"  # a frame in Wukong's own code (py-spy names it by package or by folder)
PARTS = (
    ("wait for an invocation (idle)", r"blmove \(redis/commands"),
    ("acknowledge the invocation (LREM)", r"lrem \(redis/commands"),
    ("import (new worker warming up)", r"_find_and_load|<module> \(dask/array/__init__"),
    ("lease (acquire/renew/release)", W + r"executor/lease\.py"),
    (
        "serialize outputs (dumps)",
        r"^(?:dumps|pickle_frames|serialized_size) " + W + r"storage/serialization",
    ),
    ("deserialize inputs (loads)", r"^loads " + W + r"storage/serialization"),
    ("KVS write (put_output)", r"^KVStore\.put_output"),
    ("KVS read (get_outputs)", r"^KVStore\.get_outputs"),
    ("register on dependents (Lua)", r"^MetadataStore\.register"),
    ("final result to MDS", r"^MetadataStore\.put_result"),
    ("counters/timings flush", r"^MetadataStore\.add_stats"),
    (
        "invoke others (queue push / proxy)",
        r"^LocalInvoker\.invoke|^LambdaInvoker\.invoke|^ProxyClient\.fan_out",
    ),
    ("schedule load/decode", r"^decode_schedule|^MetadataStore\.get_schedule"),
    ("payload decode (JSON, base64)", r"^decode_payload|^unb64"),
    ("task code (the dask task itself)", r"\(dask/_task_spec\.py"),
    ("other executor logic", W),
)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("case")
    parser.add_argument("--size", choices=("quick", "seed"), default="quick")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second per process")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-spy", action="store_true", help="only the CPU budget (py-spy itself costs CPU)")
    parser.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE", help="LocalCluster setting"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    found = {c.name: c for c in cases(args.size)}
    if args.case not in found:
        print(f"unknown case {args.case!r}; known: {', '.join(found)}")
        return 2
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    case = found[args.case]
    out = args.out or RESULTS_DIR / f"profile-{case.name}"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.txt"):
        stale.unlink()
    settings = {**case.wukong, **dict(s.split("=", 1) for s in args.setting)}
    system = Wukong(**settings)
    system.start()
    try:
        system.compute(case.build())
        system.settle()
        processes = process_kinds(system.cluster)
        collection = case.build()
        cpu_before = cpu_seconds(processes)
        spies = [] if args.no_spy else start_spies(spy, processes, out, args.rate)
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        started = time.perf_counter()
        profiler.start()
        system.compute(collection)
        profiler.stop()
        wall = time.perf_counter() - started
        cpu_after = cpu_seconds(processes)
        stop_spies(spies)
        (out / "client.txt").write_text(profiler.output_text(unicode=False))
        report = system.client.last_report
        print(f"{case.name}: {wall:.3f} s wall; {report}")
        print_cpu_budget(processes, cpu_before, cpu_after, wall)
        if spies:
            print_parts(sorted(out.glob("worker-*.txt")))
        print(f"raw profiles in {out} (py-spy raw stacks per worker, pyinstrument text for the client)")
    finally:
        system.close()
    return 0


def process_kinds(cluster) -> dict[int, str]:
    kinds = {os.getpid(): "client"}
    for worker in cluster.pool.workers.values():
        pid = getattr(worker, "pid", worker)  # a Popen, or a pid (workers forked from a template)
        if pid:
            kinds[pid] = "worker"
    for server in cluster.servers:
        kinds[server.process.pid] = "redis-server"
    if cluster.proxy is not None:
        kinds[cluster.proxy.process.pid] = "proxy"
    return kinds


def cpu_seconds(processes: dict[int, str]) -> dict[int, float]:
    import psutil

    found = {}
    for pid in processes:
        try:
            times = psutil.Process(pid).cpu_times()
            found[pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return found


def print_cpu_budget(processes, before, after, wall: float) -> None:
    by_kind = collections.Counter()
    for pid, kind in processes.items():
        if pid in before and pid in after:
            by_kind[kind] += after[pid] - before[pid]
    total = sum(by_kind.values())
    cores = os.cpu_count() or 1
    print(f"CPU seconds during the job ({cores} cores x {wall:.2f} s = {cores * wall:.2f} s available):")
    for kind, seconds in by_kind.most_common():
        print(f"  {kind:<13} {seconds:7.2f} s  ({100 * seconds / max(total, 1e-9):4.1f}% of the CPU used)")


def start_spies(spy: str, processes: dict[int, str], out: Path, rate: int) -> list[subprocess.Popen]:
    spies = []
    for pid, kind in processes.items():
        if kind not in ("worker", "proxy"):
            continue
        command = [spy, "record", "-p", str(pid), "-o", str(out / f"{kind}-{pid}.txt"), "-f", "raw"]
        command += ["-r", str(rate), "--nonblocking"]
        spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)  # py-spy attaches
    return spies


def stop_spies(spies) -> None:
    for process in spies:
        process.send_signal(signal.SIGINT)
    for process in spies:
        process.wait(timeout=30)


def classify(stack: list[str]) -> str:
    if stack and stack[0].startswith("Thread._bootstrap"):
        return "background threads (e.g. the lease keeper)"
    for part, pattern in PARTS:
        if any(re.search(pattern, frame) for frame in stack):
            return part
    return "other (outside wukong)"


def print_parts(files: list[Path]) -> None:
    parts = collections.Counter()
    total = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            parts[classify(stack.split(";"))] += int(count)
            total += int(count)
    if not total:
        print("executors: no samples")
        return
    print(f"executor samples ({total}, all workers, idle included) by part of an invocation:")
    for part, count in parts.most_common():
        print(f"  {100 * count / total:5.1f}%  {part}")


if __name__ == "__main__":
    sys.exit(main())
