"""Run seed workloads and check them against dask's synchronous scheduler, on the embedded local mode or,
with ``mode: aws`` in the config (the scheduler VM's /etc/dask/wukong.yaml), on the deployment.

python -m examples                 # every workload at the seed size
python -m examples svd gemm --small --report
"""

from __future__ import annotations

import argparse
import time

import dask

from wukong import Client, LocalCluster

from .workloads import WORKLOADS, same_result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *WORKLOADS],
        metavar="NAME",
        help=f"workloads to run (default: all): {', '.join(WORKLOADS)}",
    )
    parser.add_argument("--small", action="store_true", help="a quick size instead of the seed size")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the comparison with dask's sync scheduler"
    )
    parser.add_argument("--report", action="store_true", help="print each job's report (cost included)")
    args = parser.parse_args(argv)
    failures = 0
    with LocalCluster() as cluster:
        client = Client(cluster)
        for name in args.names or list(WORKLOADS):
            if cluster.config.mode == "aws" and WORKLOADS[name].local_only:
                print(f"{name:15s} skipped: local mode only ({WORKLOADS[name].local_only})", flush=True)
                continue
            collection = WORKLOADS[name].build(args.small)
            started = time.perf_counter()
            (result,) = dask.compute(collection, scheduler=client.get)
            elapsed = time.perf_counter() - started
            verdict = ""
            if not args.no_check:
                (expected,) = dask.compute(collection, scheduler="sync")
                ok = same_result(result, expected)
                failures += not ok
                verdict = "matches dask" if ok else "DIFFERS FROM DASK"
            report = client.last_report
            print(
                f"{name:15s} {elapsed:8.3f} s  {report.tasks:6d} tasks  {report.invocations:5d} invocations  "
                f"{verdict}  {summary(result)}",
                flush=True,
            )
            if args.report:
                print("  " + str(report).replace("\n", "\n  "), flush=True)
    return 1 if failures else 0


def summary(result) -> str:
    text = repr(result if not isinstance(result, tuple) else result[0])
    return text if len(text) < 60 else text[:57] + "..."


if __name__ == "__main__":
    raise SystemExit(main())
