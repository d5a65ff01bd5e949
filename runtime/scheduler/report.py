"""What a job did: counts, bytes per store, timings. ``client.last_report`` holds the latest one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
    timings: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def slowest(self, n: int = 5) -> list[dict]:
        return sorted(self.timings, key=lambda t: t["end"] - t["start"], reverse=True)[:n]

    def __str__(self) -> str:
        lines = [
            f"Wukong job {self.job_id}: {self.tasks} tasks in {self.wall_s:.3f} s, "
            f"{self.invocations} invocations ({self.leaf_invocations} leaves)",
            f"  KVS: {_size(self.kvs_bytes_written)} written, {_size(self.kvs_bytes_read)} read; "
            f"MDS: {_size(self.mds_bytes_written)} written, {_size(self.mds_bytes_read)} read",
            f"  tasks whose inputs were all in memory: {self.tasks_local_input}",
        ]
        for record in self.slowest(3):
            lines.append(f"  slow: {record['key']} {1000 * (record['end'] - record['start']):.1f} ms")
        return "\n".join(lines)


def build_report(
    job_id: str,
    wall_s: float,
    leaves: int,
    counters: dict[str, int],
    timings: list[dict],
    client_bytes: dict[str, int],
    kvs_keys: dict[str, int],
) -> JobReport:
    def per_node(prefix: str) -> dict[str, int]:
        return {
            name.split("@", 1)[1]: value for name, value in counters.items() if name.startswith(prefix + "@")
        }

    return JobReport(
        job_id=job_id,
        wall_s=wall_s,
        tasks=counters.get("tasks", 0),
        invocations=counters.get("invocations", 0),
        leaf_invocations=leaves,
        tasks_local_input=counters.get("tasks_local_input", 0),
        kvs_bytes_written=counters.get("kvs_bytes_written", 0),
        kvs_bytes_read=counters.get("kvs_bytes_read", 0),
        mds_bytes_written=counters.get("mds_bytes_written", 0) + client_bytes.get("mds_bytes_written", 0),
        mds_bytes_read=counters.get("mds_bytes_read", 0) + client_bytes.get("mds_bytes_read", 0),
        kvs_bytes_written_by_node=per_node("kvs_bytes_written"),
        kvs_bytes_read_by_node=per_node("kvs_bytes_read"),
        kvs_keys_by_node=kvs_keys,
        counters=counters,
        timings=timings,
    )


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
