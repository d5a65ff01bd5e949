"""``python -m rehearsal [--small] [EXAMPLE ...]`` (``./dev rehearse``): deploy WukongStack into moto and run
the seed examples on it, on this machine, the way they run on AWS (see run.py and docs/deploy.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .run import EXAMPLES, Options, rehearse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev rehearse", description=__doc__.splitlines()[0])
    parser.add_argument(
        "examples", nargs="*", metavar="EXAMPLE", help=f"default: all ({', '.join(EXAMPLES)})"
    )
    parser.add_argument("--small", action="store_true", help="the examples' quick sizes (CI)")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="kept afterwards (default: a temporary one)"
    )
    parser.add_argument("--concurrency", type=int, default=Options.concurrency, help="the platform's limit")
    parser.add_argument("--invoke-latency-ms", type=float, default=0.0, help="added to every Invoke call")
    parser.add_argument(
        "--delay-scale", type=float, default=Options.delay_scale, help="times Lambda's delays"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.examples) - set(EXAMPLES))
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; known: {', '.join(EXAMPLES)}")
    options = Options(
        examples=tuple(args.examples) or EXAMPLES,
        small=args.small,
        work_dir=args.work_dir,
        concurrency=args.concurrency,
        invoke_latency_ms=args.invoke_latency_ms,
        delay_scale=args.delay_scale,
    )
    return rehearse(options, out=lambda line: print(line, flush=True))


if __name__ == "__main__":
    sys.exit(main())
