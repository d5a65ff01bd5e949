"""The rehearsal of a deployment, step by step (``python -m rehearsal``, ``./dev rehearse``).

1. moto's server; ``cdk bootstrap`` and ``cdk deploy WukongStack`` into it with the pinned CLI (the app
   synthesizes and builds the asset and layers, cached after the first run).
2. ``redis-server``s for the MDS and each KVS node (the ECS service's desired count) with the password
   from moto's Secrets Manager; the KVS nodes registered in moto's Cloud Map as ECS registers its tasks.
3. The scheduler VM (``vm.py``): its venv, its config written by its boot's own command, then the
   rehearsal's loopback addresses written over the deployment's (each printed as a deviation).
4. The Lambda platform with the executor and invoker as deployed (``functions.py``), the same addresses
   given to them; then the proxy as the VM's systemd unit runs it.
5. Each example (``python -m examples NAME --report``) in a process of its own on the VM: its check
   against dask, its report, and the platform's REPORT records of its job (billed GB-s) beside the
   report's estimate.
6. The failure watcher's probe (``probes.py``): a task that kills its executor fails its job through the
   executor's on-failure queue.
7. Everything stopped (also on Ctrl-C and SIGTERM); then a look for any process of it left.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from cdk.constants import VENV_DIR
from lambda_platform import PLATFORM_URL, LambdaPlatform, PlatformSettings, Report
from wukong.local.processes import free_port

from . import probes
from .cdk_cli import deploy_into_moto
from .deployment import read_deployment
from .functions import deployed_functions
from .moto import DUMMY_CREDENTIALS, MotoServer
from .processes import MARKER_VARIABLE, leftovers, stop_group
from .stand_ins import RedisStandIns, register_kvs_nodes
from .vm import SchedulerVM, vm_venv

EXAMPLES = (
    "incr",
    "linear_chain",
    "fan_in",
    "tree_reduction",
    "svd",
    "svd_compressed",
    "qr",
    "tsqr",
    "cholesky",
    "gemm",
    "svc_predict",
)
EXAMPLE_TIMEOUT_S = 600
DRAIN_S = 60  # after an example: its last executors' REPORTs come in just after its results
COST_LINE = re.compile(r"Lambda (?P<gb_s>[0-9.]+) GB-s at (?P<mb>\d+) MB")


@dataclass
class Options:
    examples: tuple[str, ...] = EXAMPLES
    small: bool = False
    work_dir: Path | None = None  # default: a temporary directory, removed unless something failed
    concurrency: int = 16  # the platform's (the account's) concurrency limit
    invoke_latency_ms: float = 0.0
    delay_scale: float = 0.05  # Lambda's retry delays of 1 and 2 minutes become 3 and 6 s


@dataclass
class ExampleRun:
    name: str
    lines: list[str]
    returncode: int
    reports: list[Report] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if any("skipped: local mode only" in line for line in self.lines):
            return "skipped"
        if self.returncode == 0 and any("matches dask" in line for line in self.lines):
            return "matches"
        return "FAILED"

    def estimated_gb_s(self) -> float | None:
        found = [COST_LINE.search(line) for line in self.lines]
        return next((float(match["gb_s"]) for match in found if match), None)


def rehearse(options: Options, out=print) -> int:
    """Run the rehearsal; 0 when every example matched dask (or is local-only) and nothing is left."""
    work_dir = Path(options.work_dir or tempfile.mkdtemp(prefix="wukong-rehearsal-")).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    os.environ[MARKER_VARIABLE] = str(work_dir)  # every process started from here on carries it
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    runs: list[ExampleRun] = []
    probed = []
    try:
        with ExitStack() as stack:
            runs = run_deployment(options, work_dir, stack, out, probed)
    except KeyboardInterrupt:
        out("rehearsal: interrupted; everything it started is stopped")
    except Exception:  # noqa: BLE001 - the reason is printed, then the leftovers are looked for all the same
        out("rehearsal FAILED:\n" + traceback.format_exc())
    finally:
        signal.signal(signal.SIGTERM, previous)
        os.environ.pop(MARKER_VARIABLE, None)
    left = leftovers(work_dir)
    ok = len(runs) == len(options.examples) and all(r.verdict != "FAILED" for r in runs) and probed == [True]
    print_summary(runs, left, time.monotonic() - started, out)
    if ok and not left and options.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        out(f"rehearsal: logs kept in {work_dir}")
    return 0 if ok and not left else 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_deployment(options: Options, work_dir: Path, stack: ExitStack, out, probed: list) -> list[ExampleRun]:
    step = Steps(out)
    moto = stack.enter_context(MotoServer(work_dir / "moto.log"))
    step(f"moto server at {moto.url}")
    outputs, cdk_out = deploy_into_moto(moto.url, work_dir)
    deployment = read_deployment(moto, outputs, cdk_out)
    step(f"cdk bootstrap + deploy WukongStack into moto: {len(deployment.resources)} resources")

    redis = RedisStandIns(deployment.redis_password, deployment.kvs_node_count).start()
    stack.callback(redis.stop)
    kvs_service = deployment.vm_settings["kvs_service_name"]
    register_kvs_nodes(
        moto.client("servicediscovery"),
        service_name=kvs_service,
        vpc_id=deployment.resources_of_type("AWS::EC2::VPC")[0],
        nodes=redis.kvs,
        ecs_names={
            "ECS_CLUSTER_NAME": outputs["KvsClusterName"],
            "ECS_SERVICE_NAME": outputs["KvsEcsServiceName"],
        },
    )
    step(
        f"redis-server: MDS {redis.mds.address}, {len(redis.kvs)} KVS node(s) "
        f"{', '.join(node.address for node in redis.kvs)} (password from Secrets Manager, in Cloud Map as {kvs_service})"
    )

    platform_port = free_port()
    aws_environment = {
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{platform_port}",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.url,
        "AWS_ENDPOINT_URL_SQS": moto.url,
        "AWS_ENDPOINT_URL_SERVICEDISCOVERY": moto.url,
        # Cloud Map's DiscoverInstances goes to data-servicediscovery.<region>: boto3 prefixes the host,
        # which a loopback address cannot take.
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }
    vm = SchedulerVM(deployment, work_dir / "vm", vm_venv(deployment.vm_asset_dir, log=out), aws_environment)
    written = vm.write_config(proxy_address=outputs["ProxyAddress"])
    proxy_port = free_port()
    addresses = {"host": redis.mds.address, "proxy_address": "127.0.0.1", "proxy_port": proxy_port}
    vm.override(addresses)
    step(f"scheduler VM config {vm.config_path} written by `{' '.join(deployment.vm_config_command()[1:4])}`")
    for name, value in addresses.items():
        out(f"  deviation: {name} {written[name]} -> {value}")

    functions = deployed_functions(
        deployment,
        {
            "WUKONG_HOST": redis.mds.address,
            "WUKONG_PROXY_ADDRESS": "127.0.0.1",
            "WUKONG_PROXY_PORT": str(proxy_port),
        },
    )
    settings = PlatformSettings(
        concurrency=options.concurrency,
        delay_scale=options.delay_scale,
        invoke_latency_s=options.invoke_latency_ms / 1000,
        logs_dir=work_dir / "lambda-logs",
        extra_environment={
            "AWS_ENDPOINT_URL_LAMBDA": PLATFORM_URL,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.url,
        },
        sqs_endpoint_url=moto.url,
        port=platform_port,
    )
    platform = stack.enter_context(LambdaPlatform(functions, settings))
    step(
        f"Lambda platform at {platform.url}: {', '.join(sorted(functions))} (concurrency {options.concurrency}, "
        f"Invoke latency {options.invoke_latency_ms:g} ms)"
    )
    stack.callback(vm.stop_proxy)
    assert vm.start_proxy(work_dir / "proxy.log") == proxy_port
    step(f"proxy `{' '.join(deployment.proxy_unit()[0])}` listening on port {proxy_port}")

    runs = []
    for name in options.examples:
        runs.append(run_example(vm, platform, name, options.small, work_dir, out))
    step(f"{len(runs)} example(s) run")
    probed.append(probes.failure_watcher(vm, work_dir, out))
    step("failure watcher probed")
    return runs


class Steps:
    """Prints each step with the seconds it took."""

    def __init__(self, out):
        self.out, self.last = out, time.monotonic()

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        self.out(f"rehearsal [{now - self.last:6.1f} s] {text}")
        self.last = now


def run_example(
    vm: SchedulerVM, platform: LambdaPlatform, name: str, small: bool, work_dir: Path, out
) -> ExampleRun:
    mark = len(platform.reports())
    command = [f"{VENV_DIR}/bin/python", "-m", "examples", name, "--report", *(["--small"] if small else [])]
    process = vm.run(command, work_dir / f"example-{name}.log")
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            out(line.rstrip("\n"))
        process.wait(EXAMPLE_TIMEOUT_S)
    finally:
        stop_group(process)
    if process.returncode != 0:
        log = (work_dir / f"example-{name}.log").read_text(errors="replace")
        out(f"  {name} exited with {process.returncode}:\n" + log[-3000:])
    with contextlib.suppress(TimeoutError):
        platform.drain(DRAIN_S)
    run = ExampleRun(name, lines, process.returncode, platform.reports()[mark:])
    if run.reports:
        out("  " + platform_line(run))
    return run


def platform_line(run: ExampleRun) -> str:
    billed = sum(report.billed_gb_s for report in run.reports)
    without_init = sum(duration_gb_s(report) for report in run.reports)
    peak = max(report.max_memory_used_mb for report in run.reports)
    estimate = run.estimated_gb_s()
    return (
        f"platform: {len(run.reports)} REPORTs, billed {billed:.2f} GB-s ({without_init:.2f} without Init Duration), "
        f"max memory {peak} MB | Wukong's estimate: "
        + (f"{estimate:.2f} GB-s" if estimate is not None else "none")
    )


def duration_gb_s(report: Report) -> float:
    return max(1, -(-report.duration_ms // 1)) / 1000 * report.memory_size_mb / 1024


def print_summary(runs: list[ExampleRun], left, wall_s: float, out) -> None:
    shown = next((run for run in runs if run.verdict == "matches" and 0 < len(run.reports) <= 3), None)
    if shown is not None:
        out(f"REPORT lines of one job ({shown.name}), next to its report's cost estimate:")
        for report in shown.reports:
            out("  " + report.line())
        cost = next((line.strip() for line in shown.lines if COST_LINE.search(line)), "")
        out(f"  Wukong's estimate: {cost}")
        out(f"  {platform_line(shown)}")
    counts = {
        verdict: sum(run.verdict == verdict for run in runs) for verdict in ("matches", "skipped", "FAILED")
    }
    out(
        f"rehearsal: {counts['matches']} example(s) match dask, {counts['skipped']} local-only, "
        f"{counts['FAILED']} failed; {wall_s:.0f} s"
    )
    if left:
        out(f"rehearsal: {len(left)} process(es) LEFT RUNNING:")
        for pid, command in left:
            out(f"  {pid} {command[:200]}")
    else:
        out(
            "rehearsal: stopped everything it started (moto, redis-servers, platform and environments, proxy)"
        )
