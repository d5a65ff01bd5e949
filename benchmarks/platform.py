"""Benchmarks on the Lambda platform (issue 11): WukongStack's executor exactly as synthesized, Invoke calls
taking ``--latency-ms`` (the seed measured ~50 ms on AWS), arms alternating rep by rep in one run::

    python -m benchmarks.platform fanout [--reps 3] [--width 1000]   one task fanning out to 1000 dependents,
                                                                    through the proxy vs without it
    python -m benchmarks.platform leaves [--reps 2] [--leaves 2000]  the leaf burst from the client's Invoke
                                                                    threads: the seed's 4 vs 64 (the default)

The platform runs in this process (``rehearsal.loopback.LoopbackDeployment``: loopback MDS, two KVS nodes,
the proxy); the client in a child process (``benchmarks.platform_client``), as the scheduler VM is a
machine of its own. Printed: each arm's job wall times and, for the leaf burst, the time until the
platform had accepted every leaf's event (the burst itself), their medians and ratios. This machine's cores
are shared by everything: the executors' own work competes with the invoking.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lambda_platform import PlatformSettings
from rehearsal.cdk_cli import synthesize
from rehearsal.loopback import LoopbackDeployment

REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_S = 3600


def run(what: str, args) -> dict:
    cdk_out = args.cdk_out or synthesize(Path(tempfile.mkdtemp(prefix="wukong-bench-cdk-")) / "cdk.out")
    settings = PlatformSettings(
        concurrency=args.concurrency,
        invoke_latency_s=args.latency_ms / 1000,
        delay_scale=args.delay_scale,
        logs_dir=Path(tempfile.mkdtemp(prefix="wukong-bench-logs-")),
    )
    with LoopbackDeployment(cdk_out, settings, kvs_nodes=2) as deployment:
        request = {
            "what": what,
            "cluster": deployment.cluster_settings(job_timeout_s=1800),
            "reps": args.reps,
            "width": args.width,
            "leaves": args.leaves,
            "threads": args.threads,
            "platform_url": deployment.url,
        }
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.platform_client", json.dumps(request)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
        if child.returncode != 0:
            raise SystemExit(f"the client failed:\n{child.stdout[-3000:]}\n{child.stderr[-5000:]}")
        stats = deployment.platform.stats()
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["platform"] = {k: stats[k] for k in ("invocations", "cold_starts", "throttles", "retries")}
    return result


def print_fanout(result: dict, args) -> None:
    times = result["times"]
    print(
        f"one task fanning out to {args.width} dependents on the Lambda platform, Invoke latency "
        f"{args.latency_ms:g} ms, concurrency {args.concurrency}; {args.reps} alternating runs each"
    )
    for arm in ("proxy", "direct"):
        runs = times[arm]
        print(
            f"  {arm:6s}: median {statistics.median(runs):6.2f} s  (runs {', '.join(f'{t:.2f}' for t in runs)})"
        )
    ratio = statistics.median(times["proxy"]) / statistics.median(times["direct"])
    print(f"  time with proxy / without: {ratio:.2f}  (platform: {result['platform']})")


def print_leaves(result: dict, args) -> None:
    print(
        f"the leaf burst of {args.leaves} leaves on the Lambda platform, Invoke latency {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency}; {args.reps} alternating runs each"
    )
    medians = {}
    for arm, runs in result["times"].items():
        bursts = result["bursts"][arm]
        medians[arm] = (statistics.median(bursts), statistics.median(runs))
        print(
            f"  {arm:10s}: burst median {medians[arm][0]:6.2f} s (runs {', '.join(f'{t:.2f}' for t in bursts)}), "
            f"job median {medians[arm][1]:6.2f} s (runs {', '.join(f'{t:.2f}' for t in runs)})"
        )
    first, *others = medians
    for arm in others:
        print(
            f"  {arm} / {first}: burst {medians[arm][0] / medians[first][0]:.2f}, "
            f"job {medians[arm][1] / medians[first][1]:.2f}"
        )
    print(f"  (platform: {result['platform']})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["fanout", "leaves"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=64, help="the platform's (the account's) limit")
    parser.add_argument("--delay-scale", type=float, default=0.01, help="times Lambda's throttle back-off")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--leaves", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[4, 64], help="the client's Invoke threads")
    parser.add_argument("--cdk-out", type=Path, default=None, help="default: cdk synth into a temporary dir")
    args = parser.parse_args(argv)
    result = run(args.what, args)
    (print_fanout if args.what == "fanout" else print_leaves)(result, args)


if __name__ == "__main__":
    main()
