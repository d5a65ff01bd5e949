"""The invocation payload: a JSON object (Lambda events are JSON), the same on every transport.

    {"job": "3f2a...", "owner": "L12", "start": 12, "sched": 4,
     "sched_b64": "<cloudpickled Schedule, when it fits>", "inputs": {"7": "<b64 serialized value>"},
     "more": [[13, 5], ...], "py": "3.11", "settings": {...JobSettings...}}

``more``: further leaves (and their schedules' ids) a leaf invocation starts, when a job has more
leaves than the platform runs executors at once.

``owner`` names the invocation for claims: a redelivered invocation has the same owner, so it keeps
the claims its first delivery made (Lambda retries asynchronous invocations). Binary parts (schedules,
inline inputs) are bytes carried as base64 text under keys that end in ``_b64`` or in ``inputs``.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import asdict, dataclass, fields

PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
# Room left in a payload for its JSON (job id, owner, settings, the inputs' keys): what is not base64.
PAYLOAD_ENVELOPE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The per-job knobs every executor of the job needs, copied by name from the client's config
    (``config.EXECUTOR_JOB_SETTINGS`` lists the same names), plus whether the proxy may be used and the
    job's KV-store nodes (resolved once by the client: every executor places keys on the same ring)."""

    exactly_one_result: bool
    invocation_cost_s: float
    task_clustering: bool
    big_task_threshold: int
    max_task_fanout: int
    max_payload_bytes: int
    delayed_io_max_wait_s: float
    use_proxy: bool
    kvs_nodes: tuple[str, ...] = ()  # "host:port"; (): the MDS holds the outputs

    @classmethod
    def from_config(cls, config, use_proxy: bool, kvs_nodes: tuple[str, ...] = ()) -> JobSettings:
        """The node list travels in every payload: what it takes is left out of the payload limit the
        executors fill with schedules and inline inputs."""
        names = [f.name for f in fields(cls) if f.name not in ("use_proxy", "kvs_nodes")]
        settings = {name: getattr(config, name) for name in names}
        settings["max_payload_bytes"] -= len(encode({"kvs_nodes": list(kvs_nodes)}))
        return cls(**settings, use_proxy=use_proxy, kvs_nodes=tuple(kvs_nodes))

    @classmethod
    def from_payload(cls, data: dict) -> JobSettings:
        return cls(**{**data, "kvs_nodes": tuple(data.get("kvs_nodes", ()))})


def payload_room(max_payload_bytes: int) -> int:
    """How many raw bytes (schedules, inputs) fit in one payload: base64 grows them by 4/3, and the
    JSON around them takes ``PAYLOAD_ENVELOPE_BYTES``."""
    return max(0, (max_payload_bytes - PAYLOAD_ENVELOPE_BYTES) * 3 // 4)


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


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def decode(data: bytes | str | dict) -> dict:
    if isinstance(data, dict):
        return data
    return json.loads(data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def leaf_owner(leaf: int) -> str:
    return f"L{leaf}"


def invoked_owner(task: int) -> str:
    return f"I{task}"


def is_leaf_owner(owner: str) -> bool:
    return owner.startswith("L")
