r"""The Lambda platform as a process, until Ctrl-C or SIGTERM::

    python -m lambda_platform --cdk-out cdk.out --env WUKONG_HOST=127.0.0.1:6379 \
        --extra-env AWS_ENDPOINT_URL_LAMBDA={platform_url} --concurrency 32 --invoke-latency-ms 50

prints ``lambda_platform ready at http://127.0.0.1:PORT`` once it serves, and a summary when it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
from pathlib import Path

from .intrinsics import Intrinsics
from .limits import DEFAULT_CONCURRENCY, IDLE_ENVIRONMENT_S
from .platform import LambdaPlatform
from .settings import PlatformSettings
from .template import TemplateError

READY_LINE = "lambda_platform ready at {url}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = PlatformSettings(
        concurrency=args.concurrency,
        delay_scale=args.delay_scale,
        invoke_latency_s=args.invoke_latency_ms / 1000,
        invoke_rate_per_s=args.invoke_rate_per_s,
        cold_start_latency_s=args.cold_start_latency_ms / 1000,
        duplicate_probability=args.duplicate_probability,
        seed=args.seed,
        idle_timeout_s=args.idle_timeout_s,
        freeze_idle=not args.no_freeze,
        logs_dir=args.logs_dir,
        region=args.region,
        account_id=args.account_id,
        extra_environment=pairs(args.extra_env),
        sqs_endpoint_url=args.sqs_endpoint_url,
        host=args.host,
        port=args.port,
    )
    intrinsics = Intrinsics(
        refs=pairs(args.ref),
        attributes=pairs(args.attribute),
        region=args.region,
        account_id=args.account_id,
        stack_name=args.stack,
    )
    function_environment: dict[str, dict[str, str]] = {}
    for item in args.function_env:
        function, separator, variable = item.partition(":")
        if not separator:
            raise SystemExit(f"lambda_platform: expected FUNCTION:NAME=VALUE, got {item!r}")
        function_environment.setdefault(function, {}).update(pairs([variable]))
    try:
        platform = LambdaPlatform.from_cdk_out(
            args.cdk_out,
            args.stack,
            intrinsics=intrinsics,
            environment=pairs(args.env),
            function_environment=function_environment,
            settings=settings,
        )
    except TemplateError as exc:
        print(f"lambda_platform: {exc}", file=sys.stderr)
        return 2
    with StopSignals() as stop_signals, platform:
        print(READY_LINE.format(url=platform.url), flush=True)
        print(
            f"lambda_platform: functions {', '.join(sorted(platform.functions))}; logs in {platform.logs_dir}",
            file=sys.stderr,
        )
        stop_signals.wait()
        summary = platform.stats()
    print(f"lambda_platform stopped: {json.dumps(summary)}", file=sys.stderr)
    return 0


class StopSignals:
    """Ctrl-C and SIGTERM, waited for on the main thread.

    The kernel hands a process's signal to any of its threads. Python's C-level handler, on that thread,
    only marks the signal; the Python handler runs once the main thread executes bytecode again, and a main
    thread blocked in a lock (``Event.wait()``) is not woken: the platform, with its dozens of threads,
    then ignored a Ctrl-C now and then. The C handler also writes the signal's number to the wakeup fd
    from whichever thread it ran on, so the main thread waits on that.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> StopSignals:
        self.received: list[int] = []
        self._read_fd, write_fd = os.pipe()
        self._write_fd = write_fd
        os.set_blocking(write_fd, False)  # set_wakeup_fd requires it
        self._previous = {signum: signal.signal(signum, self._note) for signum in self.SIGNALS}
        self._previous_fd = signal.set_wakeup_fd(write_fd)
        return self

    def _note(self, signum, frame) -> None:
        self.received.append(signum)

    def wait(self) -> int:
        """Block until SIGINT or SIGTERM has arrived; its number."""
        # select returns once the C handler wrote the fd; the Python handler has then run by the check
        while not self.received:
            select.select([self._read_fd], [], [])
            os.read(self._read_fd, 512)
        return self.received[0]

    def __exit__(self, *exc) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._read_fd)
        os.close(self._write_fd)


def pairs(items: list[str]) -> dict[str, str]:
    """["A=1", "B=x=y"] -> {"A": "1", "B": "x=y"}."""
    result = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator:
            raise SystemExit(f"lambda_platform: expected NAME=VALUE, got {item!r}")
        result[name] = value
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lambda_platform", description=__doc__.splitlines()[0])
    p.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="the synthesized cloud assembly")
    p.add_argument("--stack", default="WukongStack")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    p.add_argument("--delay-scale", type=float, default=1.0, help="times Lambda's retry and throttle delays")
    p.add_argument("--invoke-latency-ms", type=float, default=0.0)
    p.add_argument("--cold-start-latency-ms", type=float, default=0.0)
    p.add_argument("--invoke-rate-per-s", type=float, default=0.0, help="Invoke requests a second before 429")
    p.add_argument("--duplicate-probability", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--idle-timeout-s", type=float, default=IDLE_ENVIRONMENT_S)
    p.add_argument("--no-freeze", action="store_true", help="let idle environments run (Lambda freezes them)")
    p.add_argument("--logs-dir", type=Path, default=None)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--account-id", default="123456789012")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set on every function")
    p.add_argument("--function-env", action="append", default=[], metavar="FUNCTION:NAME=VALUE")
    p.add_argument(
        "--extra-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="for every environment; {platform_url} is the platform's URL",
    )
    p.add_argument("--ref", action="append", default=[], metavar="LOGICAL_ID=VALUE", help="what Ref returns")
    p.add_argument("--attribute", action="append", default=[], metavar="LOGICAL_ID.ATTRIBUTE=VALUE")
    p.add_argument("--sqs-endpoint-url", default="", help="for OnFailure destinations (moto)")
    return p


if __name__ == "__main__":
    sys.exit(main())
