"""``python -m benchmarks [--size quick|seed] [--reps N] [--only NAME...] [--json PATH]``

Runs every case on Wukong's local mode, dask's threaded scheduler and distributed's LocalCluster in
the same run, prints a table of medians and ratios plus Wukong's invocations and bytes moved, and
writes everything as JSON (default ``benchmarks/results/<size>-<time>.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_REPS = 3


def parse_args(argv):
    from .cases import SIZES
    from .systems import NAMES

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="quick")
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS, help="timed runs per case and system")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these cases")
    parser.add_argument("--systems", nargs="+", choices=NAMES, default=list(NAMES))
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a LocalCluster setting for Wukong in every case (e.g. max_local_workers=4)",
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        metavar="DIR",
        help="also save each case's last Wukong job as an HTML timeline",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("WUKONG_PROGRESS", "off")
    from .cases import cases
    from .machine import describe_machine
    from .runner import run_case
    from .table import format_table

    selected = cases(args.size)
    if args.only:
        unknown = set(args.only) - {c.name for c in selected}
        if unknown:
            print(
                f"unknown case(s): {', '.join(sorted(unknown))}; known: {', '.join(c.name for c in selected)}"
            )
            return 2
        selected = [c for c in selected if c.name in args.only]
    if args.set:
        overrides = dict(item.split("=", 1) for item in args.set)
        selected = [dataclasses.replace(c, wukong={**c.wukong, **overrides}) for c in selected]
    began = time.time()
    print("measuring the machine (BLAS limit) ...", flush=True)
    machine = describe_machine()
    print(
        f"  {machine['cpus']} CPUs, {machine['blas']}: {machine['blas_gflops_all_cores']} GFLOP/s", flush=True
    )
    results = []
    for case in selected:
        print(f"{case.name}: {case.about}", flush=True)
        results.append(run_case(case, args.systems, args.reps, log=lambda line: print(line, flush=True)))
        if args.timeline:
            save_timeline(results[-1], args.timeline)
    machine["load_average_after"] = os.getloadavg()
    table = format_table(results, machine, args.size, args.reps)
    print()
    print(table)
    path = args.json or RESULTS_DIR / f"{args.size}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "size": args.size,
        "reps": args.reps,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(began)),
        "duration_s": round(time.time() - began, 1),
        "machine": machine,
        "cases": [r.to_dict() for r in results],
        "table": table,
    }
    path.write_text(json.dumps(document, indent=1, default=str))
    print(f"\nwrote {path} ({document['duration_s']:.0f} s in all)")
    failed = any(o.error or o.check == "differs" for r in results for o in r.outcomes.values())
    return 1 if failed else 0


def save_timeline(result, folder: Path) -> None:
    wukong = result.outcomes.get("wukong")
    if wukong is not None and wukong.job is not None:
        folder.mkdir(parents=True, exist_ok=True)
        wukong.job.timeline(folder / f"{result.case.name}.html")


if __name__ == "__main__":
    sys.exit(main())
