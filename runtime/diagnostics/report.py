"""What a job did: counts, bytes per store, timings, and what it would have cost on AWS.

``client.last_report`` holds the latest one; ``print(report)`` gives a short summary,
``report.to_dict()`` everything, ``report.timeline("job.html")`` a picture of the executors.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from ..config import WukongConfig
from ..protocol import counters as names

# The KVS node size of the stack's Fargate service (cdk/stack.py, WukongStackProps.kvs_node_*).
FARGATE_NODE_VCPU = 1.0
FARGATE_NODE_MEMORY_GB = 4.0
MB_PER_GB = 1024
S_PER_H = 3600.0


@dataclass(frozen=True)
class JobCost:
    """The job at list prices (the config's ``price_*``): Lambda compute and requests, plus the share of
    the always-on parts (Fargate KVS nodes, EC2 MDS/scheduler) for the job's wall time."""

    lambda_memory_mb: int
    lambda_gb_s: float
    lambda_compute_usd: float
    lambda_requests: int
    lambda_requests_usd: float
    fargate_nodes: int
    fargate_usd: float
    ec2_usd: float
    total_usd: float

    def __str__(self) -> str:
        return (
            f"AWS cost about ${self.total_usd:.6f}: Lambda {self.lambda_gb_s:.2f} GB-s at "
            f"{self.lambda_memory_mb} MB ${self.lambda_compute_usd:.6f} + {self.lambda_requests} requests "
            f"${self.lambda_requests_usd:.6f}; Fargate ({self.fargate_nodes} KVS nodes) "
            f"${self.fargate_usd:.6f}; EC2 ${self.ec2_usd:.6f}"
        )


def estimate_cost(
    config: WukongConfig, *, wall_s: float, invocations: int, executor_ms: int, kvs_nodes: int
) -> JobCost:
    """Lambda bills each invocation's duration rounded up to the millisecond; ``executor_ms`` sums each
    invocation's whole milliseconds, so one more per invocation bounds the rounding from above."""
    billed_s = (executor_ms + invocations) / 1000
    gb_s = billed_s * config.lambda_memory_mb / MB_PER_GB
    compute = gb_s * config.price_lambda_gb_s
    requests = invocations * config.price_lambda_request
    nodes = kvs_nodes if config.use_fargate else 0
    node_h = (
        FARGATE_NODE_VCPU * config.price_fargate_vcpu_h + FARGATE_NODE_MEMORY_GB * config.price_fargate_gb_h
    )
    fargate = nodes * node_h * wall_s / S_PER_H
    ec2 = config.price_ec2_h * wall_s / S_PER_H
    return JobCost(
        lambda_memory_mb=config.lambda_memory_mb,
        lambda_gb_s=gb_s,
        lambda_compute_usd=compute,
        lambda_requests=invocations,
        lambda_requests_usd=requests,
        fargate_nodes=nodes,
        fargate_usd=fargate,
        ec2_usd=ec2,
        total_usd=compute + requests + fargate + ec2,
    )


@dataclass
class JobReport:
    job_id: str
    wall_s: float
    tasks: int
    invocations: int
    leaf_invocations: int
    tasks_local_input: int
    kvs_bytes_written: int
    kvs_bytes_read: int
    mds_bytes_written: int
    mds_bytes_read: int
    kvs_bytes_written_by_node: dict[str, int] = field(default_factory=dict)
    kvs_bytes_read_by_node: dict[str, int] = field(default_factory=dict)
    kvs_keys_by_node: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    timings: list[dict] = field(default_factory=list)  # {"task", "key", "owner", "start", "end"} per task
    cost: JobCost | None = None
    # Throttling. Lambda queues an asynchronous event it cannot run yet instead of refusing it, so the
    # client sees throttling only indirectly: the invocations that ran at once reaching the limit, and
    # Invoke calls answered TooManyRequestsException (the request rate; botocore retries them).
    concurrency_limit: int = 0  # executors the platform runs at once (0: not known)
    peak_executors: int = 0  # most invocations running at the same time, from the timings
    invoke_throttles: int = 0  # the leaf burst's Invoke calls Lambda throttled

    @property
    def at_concurrency_limit(self) -> bool:
        """The job ran as many executors at once as the platform allows, and had more to run."""
        return 0 < self.concurrency_limit <= self.peak_executors and self.invocations > self.concurrency_limit

    @property
    def throttled(self) -> bool:
        return self.at_concurrency_limit or self.invoke_throttles > 0

    def throttling(self) -> str:
        """One line on throttling, "" when the job was not throttled."""
        if not self.throttled:
            return ""
        reasons = []
        if self.at_concurrency_limit:
            reasons.append(
                f"{self.peak_executors} executors ran at once, the limit of {self.concurrency_limit}: "
                "more waited for a free one"
            )
        if self.invoke_throttles:
            reasons.append(
                f"{self.invoke_throttles} Invoke calls of the leaf burst were throttled and retried"
            )
        return "throttled: " + "; ".join(reasons)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def executor_s(self) -> float:
        """Executor time summed over invocations as Lambda bills it (``protocol.counters.EXECUTOR_MS``)."""
        return self.counters.get(names.EXECUTOR_MS, 0) / 1000

    def slowest(self, n: int = 5) -> list[dict]:
        return sorted(self.timings, key=lambda t: t["end"] - t["start"], reverse=True)[:n]

    def timeline(self, path):
        """Save a picture of the job (executors as rows, tasks as bars): .html, .svg, or .png."""
        from .timeline import write_timeline

        return write_timeline(self, path)

    def __str__(self) -> str:
        lines = [
            f"Wukong job {self.job_id}: {self.tasks} tasks in {self.wall_s:.3f} s, "
            f"{self.invocations} invocations ({self.leaf_invocations} leaves), "
            f"executors billed {self.executor_s:.3f} s in all",
            f"  KVS: {_size(self.kvs_bytes_written)} written, {_size(self.kvs_bytes_read)} read; "
            f"MDS: {_size(self.mds_bytes_written)} written, {_size(self.mds_bytes_read)} read",
            f"  tasks whose inputs were all in memory: {self.tasks_local_input}",
        ]
        if self.cost is not None:
            lines.append(f"  {self.cost}")
        if self.throttled:
            lines.append(f"  {self.throttling()}")
        slow = self.slowest(3)
        if slow:
            lines.append(
                "  slowest tasks: "
                + ", ".join(f"{r['key']} {1000 * (r['end'] - r['start']):.1f} ms" for r in slow)
            )
        return "\n".join(lines)


def build_report(
    job_id: str,
    wall_s: float,
    leaves: int,
    counters: dict[str, int],
    timings: list[dict],
    client_bytes: dict[str, int],
    kvs_keys: dict[str, int],
    config: WukongConfig | None = None,
    *,
    concurrency_limit: int = 0,
    invoke_throttles: int = 0,
) -> JobReport:
    """``config`` sets the prices and Lambda memory of the cost estimate (the defaults' list prices without)."""
    invocations = counters.get(names.INVOCATIONS, 0)
    cost = estimate_cost(
        config if config is not None else WukongConfig(),
        wall_s=wall_s,
        invocations=invocations,
        executor_ms=counters.get(names.EXECUTOR_MS, 0),
        kvs_nodes=max(1, len(kvs_keys)),
    )

    def mds_bytes(counter: str) -> int:
        return counters.get(counter, 0) + client_bytes.get(counter, 0)

    return JobReport(
        job_id=job_id,
        wall_s=wall_s,
        tasks=counters.get(names.TASKS, 0),
        invocations=invocations,
        leaf_invocations=leaves,
        tasks_local_input=counters.get(names.TASKS_LOCAL_INPUT, 0),
        kvs_bytes_written=counters.get(names.KVS_BYTES_WRITTEN, 0),
        kvs_bytes_read=counters.get(names.KVS_BYTES_READ, 0),
        mds_bytes_written=mds_bytes(names.MDS_BYTES_WRITTEN),
        mds_bytes_read=mds_bytes(names.MDS_BYTES_READ),
        kvs_bytes_written_by_node=names.by_node(counters, names.KVS_BYTES_WRITTEN),
        kvs_bytes_read_by_node=names.by_node(counters, names.KVS_BYTES_READ),
        kvs_keys_by_node=kvs_keys,
        counters=counters,
        timings=timings,
        cost=cost,
        concurrency_limit=concurrency_limit,
        peak_executors=peak_concurrency(timings),
        invoke_throttles=invoke_throttles,
    )


def peak_concurrency(timings: list[dict]) -> int:
    """Most invocations running at once: each invocation (``owner``) spans its first task's start to its
    last task's end. Executors' clocks differ by little, so this is an estimate, not Lambda's metric."""
    spans: dict[str, list[float]] = defaultdict(list)
    for record in timings:
        spans[record["owner"]] += [record["start"], record["end"]]
    events = sorted(
        (t, change) for times in spans.values() for t, change in ((min(times), 1), (max(times), -1))
    )
    running = peak = 0
    for _, change in events:  # at equal times an end (-1) sorts first: back-to-back runs do not overlap
        running += change
        peak = max(peak, running)
    return peak


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
