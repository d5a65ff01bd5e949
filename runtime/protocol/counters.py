"""The names of a job's counters, once: executors add to them in the MDS (``wk:<job>:stats``), the job
runner reads them to know every executor has flushed, and the report shows them.

Per-node byte counters are ``<counter>@<node>`` (``kvs_bytes_written@127.0.0.1:6379``).
"""

from __future__ import annotations

from collections.abc import Mapping

INVOCATIONS = "invocations"  # deliveries that started, duplicates included
DUPLICATES_DROPPED = "duplicates_dropped"  # deliveries that found the lease held or done and stopped
LEAF_INVOCATIONS_RUN = "leaf_invocations_run"  # leaf invocations that took their lease
INVOKED_RUN = "invoked_run"  # invoked (non-leaf) invocations that took their lease
INVOKED = "invoked"  # invocations an executor started for others (direct or through the proxy)
PROXY_FANOUTS = "proxy_fanouts"  # fan-outs handed to the proxy
TASKS = "tasks"  # tasks run (each member of a task group counts)
TASKS_LOCAL_INPUT = "tasks_local_input"  # tasks whose inputs were all in this executor's memory
TASK_RETRIES = "task_retries"  # tasks run again after they raised (TaskInfo.retries)
DELAYED_IO = "delayed_io"  # big outputs held back for dependents not ready yet
KVS_WRITES = "kvs_writes"  # outputs written to the KV store
# Each delivery's time as Lambda bills it, in whole milliseconds, summed: from the handler's entry (a cold
# start on Lambda: from the process's start, its Init Duration) to the invocation's end.
EXECUTOR_MS = "executor_ms"
MDS_BYTES_WRITTEN = "mds_bytes_written"
MDS_BYTES_READ = "mds_bytes_read"
KVS_BYTES_WRITTEN = "kvs_bytes_written"  # also per node
KVS_BYTES_READ = "kvs_bytes_read"  # also per node
NODE_SEPARATOR = "@"


def per_node(counter: str, node: str) -> str:
    return f"{counter}{NODE_SEPARATOR}{node}"


def by_node(counters: Mapping[str, int], counter: str) -> dict[str, int]:
    """``{node: value}`` of one per-node counter."""
    prefix = counter + NODE_SEPARATOR
    return {name[len(prefix) :]: value for name, value in counters.items() if name.startswith(prefix)}


def all_flushed(counters: Mapping[str, int], leaves: int, running: int) -> bool:
    """Every invocation of the job has flushed its counters: every leaf ran, as many invoked ones ran as
    the flushed invocations say they invoked, and none still runs (an invocation enters the job's
    running set with its lease and leaves it with its counters; that closes the gap the counts leave:
    an unflushed invoker whose invoked executor has flushed makes the counts add up early)."""
    return (
        running == 0
        and counters.get(LEAF_INVOCATIONS_RUN, 0) >= leaves
        and counters.get(INVOKED_RUN, 0) >= counters.get(INVOKED, 0)
    )
