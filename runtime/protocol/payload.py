"""The invocation payload: a JSON object (Lambda events are JSON), the same on every transport.

    {"job": "3f2a...", "owner": "L12", "start": 12, "sched": 4,
     "sched_b64": "<cloudpickled Schedule, when it fits>", "inputs": {"7": "<b64 serialized value>"},
     "py": "3.11", "settings": {...JobSettings...}}

``owner`` names the invocation for claims: a redelivered invocation has the same owner, so it keeps
the claims its first delivery made (Lambda retries asynchronous invocations).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

from ..invokers.base import b64

PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class JobSettings:
    """The per-job knobs every executor of the job needs, copied from the client's config."""

    task_clustering: bool
    big_task_threshold: int
    max_task_fanout: int
    max_payload_bytes: int
    delayed_io_max_wait_s: float
    use_proxy: bool

    @classmethod
    def from_config(cls, config, use_proxy: bool) -> JobSettings:
        return cls(
            config.task_clustering,
            config.big_task_threshold,
            config.max_task_fanout,
            config.max_payload_bytes,
            config.delayed_io_max_wait_s,
            use_proxy,
        )


def invocation(
    job: str,
    owner: str,
    start: int,
    schedule_id: int,
    settings: JobSettings | dict,
    schedule: bytes | None = None,
    inputs: dict[int, bytes] | None = None,
) -> dict:
    payload = {
        "job": job,
        "owner": owner,
        "start": start,
        "sched": schedule_id,
        "py": PY_VERSION,
        "settings": settings if isinstance(settings, dict) else asdict(settings),
    }
    if schedule is not None:
        payload["sched_b64"] = b64(schedule)
    if inputs:
        payload["inputs"] = {str(task): b64(data) for task, data in inputs.items()}
    return payload


def leaf_owner(leaf: int) -> str:
    return f"L{leaf}"


def invoked_owner(task: int) -> str:
    return f"I{task}"


def is_leaf_owner(owner: str) -> bool:
    return owner.startswith("L")
