"""WukongStack's context keys: what each may be, checked before anything is built.

Pure: ``settings_from_context(values)`` takes the context values (cdk.json, ``-c key=value``; app.py is
the only module that reads them from CDK) and returns ``WukongStackProps`` fields, or raises
:class:`ContextError` naming the key, the value and what is allowed. docs/infrastructure.md lists the keys.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

# Fargate's CPU units and the task memory (MiB) each allows (Amazon ECS Developer Guide, "Task CPU and
# memory"): 256 takes 512, 1024 or 2048; 512 takes 1-4 GB; ... 16384 takes 32-120 GB in 8 GB steps.
FARGATE_MEMORY_MIB = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
LAMBDA_MEMORY_MB = (128, 10240)  # Lambda's range for a function's memory
LAMBDA_TIMEOUT_S = (1, 900)  # Lambda's longest timeout is 15 minutes
MAX_EVENT_AGE_S = (60, 21600)  # the executor's maximum event age follows jobTimeoutS
MIN_ZONES = 2
ZONE_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+[a-z]$")  # us-east-1a, ap-southeast-2b, us-gov-west-1a
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")  # m6i.large, c7gn.16xlarge
AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

TEXT_KEYS = {  # context key -> WukongStackProps field
    "sshCidr": "ssh_cidr",
    "keyName": "key_name",
    "mdsInstanceType": "mds_instance_type",
    "schedulerInstanceType": "scheduler_instance_type",
    "kvsImage": "kvs_image",
    "amiId": "ami_id",
}
NUMBER_KEYS = {
    "kvsNodeCount": "kvs_node_count",
    "kvsNodeCpu": "kvs_node_cpu",
    "kvsNodeMemoryMiB": "kvs_node_memory_mib",
    "lambdaMemoryMb": "lambda_memory_mb",
    "lambdaTimeoutS": "lambda_timeout_s",
    "jobTimeoutS": "job_timeout_s",
}
LIST_KEYS = {"zones": "zones"}
KEYS = (*TEXT_KEYS, *NUMBER_KEYS, *LIST_KEYS)


class ContextError(ValueError):
    """A context value the stack cannot be built with; the message names the key and the allowed range."""


def settings_from_context(values: Mapping[str, Any]) -> dict[str, Any]:
    """WukongStackProps fields from the context ``values`` that are set (None: not given, the default)."""
    fields: dict[str, Any] = {}
    for key, field in TEXT_KEYS.items():
        if values.get(key) is not None:
            fields[field] = str(values[key]).strip()
    for key, field in NUMBER_KEYS.items():
        if values.get(key) is not None:
            fields[field] = integer(key, values[key])
    if values.get("zones") not in (None, "", []):
        fields["zones"] = zone_list(values["zones"])
    check(fields)
    return fields


def integer(key: str, value: Any) -> int:
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError(value)
        return int(float(value))
    except (TypeError, ValueError):
        raise ContextError(f"context {key}={value!r}: must be a whole number") from None


def zone_list(value: Any) -> tuple[str, ...]:
    """``-c zones=us-east-1a,us-east-1b`` or a JSON list in cdk.json."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def check(fields: Mapping[str, Any]) -> None:
    """Raise ContextError for the first value outside what AWS (or the stack) accepts."""
    in_range("lambdaMemoryMb", fields.get("lambda_memory_mb"), *LAMBDA_MEMORY_MB, "MB")
    in_range("lambdaTimeoutS", fields.get("lambda_timeout_s"), *LAMBDA_TIMEOUT_S, "s")
    in_range(
        "jobTimeoutS", fields.get("job_timeout_s"), *MAX_EVENT_AGE_S, "s (the executor's maximum event age)"
    )
    if fields.get("kvs_node_count") is not None and fields["kvs_node_count"] < 1:
        raise ContextError(f"context kvsNodeCount={fields['kvs_node_count']}: must be at least 1")
    check_fargate_size(fields.get("kvs_node_cpu"), fields.get("kvs_node_memory_mib"))
    if "ssh_cidr" in fields:
        try:
            ipaddress.ip_network(fields["ssh_cidr"], strict=False)
        except ValueError:
            raise ContextError(
                f"context sshCidr={fields['ssh_cidr']!r}: must be an address range like 203.0.113.7/32"
            ) from None
    for key in ("mdsInstanceType", "schedulerInstanceType"):
        value = fields.get(TEXT_KEYS[key])
        if value is not None and not INSTANCE_TYPE.match(value):
            raise ContextError(f"context {key}={value!r}: must be an EC2 instance type like m6i.large")
    if fields.get("ami_id") and not AMI_ID.match(fields["ami_id"]):
        raise ContextError(f"context amiId={fields['ami_id']!r}: must be an AMI id (ami-...) or empty")
    if "kvs_image" in fields and not IMAGE_DIGEST.search(fields["kvs_image"]):
        raise ContextError(
            f"context kvsImage={fields['kvs_image']!r}: must be pinned by digest (REPOSITORY:TAG@sha256:<64 "
            "hex digits>), so every node runs the same image; `docker buildx imagetools inspect` shows it"
        )
    check_zones(fields.get("zones"))


def in_range(key: str, value: int | None, low: int, high: int, unit: str) -> None:
    if value is not None and not low <= value <= high:
        raise ContextError(f"context {key}={value}: must be from {low} to {high} {unit}")


def check_fargate_size(cpu: int | None, memory_mib: int | None) -> None:
    if cpu is not None and cpu not in FARGATE_MEMORY_MIB:
        allowed = ", ".join(map(str, FARGATE_MEMORY_MIB))
        raise ContextError(f"context kvsNodeCpu={cpu}: Fargate takes {allowed} CPU units")
    if cpu is not None and memory_mib is not None and memory_mib not in FARGATE_MEMORY_MIB[cpu]:
        sizes = FARGATE_MEMORY_MIB[cpu]
        step = sizes[1] - sizes[0]
        raise ContextError(
            f"context kvsNodeMemoryMiB={memory_mib}: with kvsNodeCpu={cpu} Fargate takes "
            f"{sizes[0]} to {sizes[-1]} MiB in steps of {step}"
        )


def check_zones(zones: tuple[str, ...] | None) -> None:
    if zones is None:
        return
    bad = [zone for zone in zones if not ZONE_NAME.match(zone)]
    if bad:
        raise ContextError(f"context zones: {', '.join(bad)} is not a zone name like us-east-1a")
    if len(set(zones)) < MIN_ZONES:
        raise ContextError(f"context zones={','.join(zones)}: needs at least {MIN_ZONES} different zones")
    regions = {zone[:-1] for zone in zones}
    if len(regions) > 1:
        raise ContextError(f"context zones={','.join(zones)}: all zones must be in one region")
