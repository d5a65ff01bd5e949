"""The intermediate KV store: task outputs spread over 1..N Redis nodes by consistent hashing.

``uhashring`` places each key on a node, so adding a node moves few keys. Values over Redis' value
limit are split into parts when ``chunk_large_tasks`` is on (the seed's meaning of that flag), and
refused with a clear message otherwise (``storage.chunks``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from uhashring import HashRing

from ..errors import PayloadTooLargeError
from . import bulk, chunks, keys
from .fastpath import FAST_VALUE_BYTES
from .metadata import delete_matching, unlink
from .serialization import Frames


@dataclass
class PipelinedWrite:
    """An output's SET NX queued on another command's pipeline; ``stored`` once the reply is in."""

    key: str
    data: object
    ttl_s: int
    stored: bool | None = None

    def queue(self, pipe) -> None:
        pipe.set(self.key, self.data, ex=self.ttl_s, nx=True)

    def command(self) -> tuple:
        """The same SET as a command tuple (for ``storage/fastpath.py``: ``data`` is small bytes)."""
        return ("SET", self.key, self.data, "EX", self.ttl_s, "NX")

    def answer(self, reply) -> None:
        self.stored = bool(reply)


class KVStore:
    """Reads and writes task outputs; counts bytes per node in ``bytes_written`` / ``bytes_read``."""

    def __init__(
        self, nodes: dict[str, object], *, ttl_s: int, max_value_bytes: int, chunk_large_tasks: bool
    ):
        if not nodes:
            raise ValueError("the KV store needs at least one node")
        self.nodes = nodes
        self.ring = HashRing(nodes=sorted(nodes))
        self.ttl_s = ttl_s
        self.max_value_bytes = max_value_bytes
        self.chunk_large_tasks = chunk_large_tasks
        self.bytes_written: dict[str, int] = defaultdict(int)
        self.bytes_read: dict[str, int] = defaultdict(int)

    def node_of(self, key: str) -> str:
        return self.ring.get_node(key)

    def put_output(self, job: str, task: int, data: bytes, key_name=None) -> bool:
        """Store a task's output unless one is stored already (the first writer wins: a retry's or a
        duplicate's value never replaces the one others may have read); whether this one was stored."""
        head, parts = chunks.split(data, self.max_value_bytes)
        if parts and not self.chunk_large_tasks:
            raise PayloadTooLargeError(
                f"the output of task {key_name if key_name is not None else task!r} is {len(data)} bytes, over "
                f"the KV store's {self.max_value_bytes}-byte value limit. Pass chunk_large_tasks=True to split "
                "large outputs across several keys, or use smaller chunks in your dask collection."
            )
        for number, part in enumerate(parts):
            self._set(keys.output_chunk(job, task, number), part)
        return self._set(keys.output(job, task), head)

    def pipelined_put(self, job: str, task: int, data: bytes, connection) -> PipelinedWrite | None:
        """The output's first-writer-wins SET, to be queued on ``connection``'s pipeline before other
        commands, when the output lives on that connection's node and fits one value; else None."""
        key = keys.output(job, task)
        node = self.node_of(key)
        if self.nodes[node] is not connection or len(data) > self.max_value_bytes:
            return None
        self.bytes_written[node] += len(data)
        if isinstance(data, Frames) and len(data) <= FAST_VALUE_BYTES:
            data = data.to_bytes()  # small: joined now (redis-py's packer would join it too)
        return PipelinedWrite(key, data, self.ttl_s)

    def get_outputs(self, job: str, tasks: list[int]) -> dict[int, memoryview | bytearray]:
        """Fetch several outputs, one MGET per node, each into a writable buffer of its own
        (``storage.bulk``); the missing ones are left out."""
        found = {}
        for task, head in zip(tasks, self._get_many([keys.output(job, t) for t in tasks]), strict=True):
            value = chunks.whole(head, self._get_many, partial(keys.output_chunk, job, task))
            if value is not None:
                found[task] = value
        return found

    def delete_job(self, job: str, tasks: int, skip=frozenset()) -> dict[str, int]:
        """Delete the outputs of a job of ``tasks`` tasks, by name (but on the nodes in ``skip``, known
        lost); return how many each node held (to show how keys spread). Outputs split in parts
        (``chunk_large_tasks``) are found by a scan."""
        by_node: dict[str, list[str]] = defaultdict(list)
        for task in range(tasks):
            key = keys.output(job, task)
            by_node[self.node_of(key)].append(key)
        deleted = {}
        for name, client in self.nodes.items():
            if name in skip:
                continue
            deleted[name] = unlink(client, by_node.get(name, []))
            if self.chunk_large_tasks:
                deleted[name] += delete_matching(client, keys.output_pattern(job))
        return deleted

    # --- futures' values: a client session's keys (``keys.session_value``), each with its own TTL ---
    def put_values(self, items: list[tuple[str, object]], ttl_s: int, key_names=()) -> list[int]:
        """Store each ``(name, serialized value)`` unless one is stored already (first writer wins, as for
        outputs: a retry's value never replaces one a Future may have read), in one pipeline per node.
        Each value's part count as stored (the first writer's, when another came first)."""
        pipes, queued = {}, []  # queued: (node, position of the head's SET in that node's pipeline)
        for i, (name, data) in enumerate(items):
            head, parts = chunks.split(data, self.max_value_bytes)
            if parts and not self.chunk_large_tasks:
                key = key_names[i] if i < len(key_names) else name
                raise PayloadTooLargeError(
                    f"the value of future {key!r} is {len(data)} bytes, over the KV store's "
                    f"{self.max_value_bytes}-byte value limit. Pass chunk_large_tasks=True to split large "
                    "values across several keys, or use smaller chunks in your dask collection."
                )
            for number, part in enumerate(parts):
                self._queue_set(pipes, keys.session_value_part(name, number), part, ttl_s)
            queued.append(self._queue_set(pipes, name, head, ttl_s) + (len(parts),))
        replies = {node: pipe.execute() for node, pipe in pipes.items()}
        stored = [
            (name, bool(replies[node][at]), parts)
            for (name, _), (node, at, parts) in zip(items, queued, strict=True)
        ]
        winners = self.value_parts([name for name, ok, _ in stored if not ok])
        return [parts if ok else winners.get(name) or 0 for name, ok, parts in stored]

    def _queue_set(self, pipes: dict, name: str, data, ttl_s: int) -> tuple[str, int]:
        node = self.node_of(name)
        if node not in pipes:
            pipes[node] = self.nodes[node].pipeline(transaction=False)
        pipes[node].set(name, data, ex=ttl_s, nx=True)
        self.bytes_written[node] += len(data)
        return node, len(pipes[node]) - 1

    def get_values(self, names: list[str]) -> dict[str, memoryview | bytearray]:
        """Several values by name, one MGET per node, each in a writable buffer; missing ones left out."""
        found = {}
        for name, head in zip(names, self._get_many(names), strict=True):
            value = chunks.whole(head, self._get_many, partial(keys.session_value_part, name))
            if value is not None:
                found[name] = value
        return found

    def value_parts(self, names: list[str]) -> dict[str, int]:
        """For each value that is stored, how many parts it has (0: it is whole); missing ones left out."""
        by_node: dict[str, list[str]] = defaultdict(list)
        for name in names:
            by_node[self.node_of(name)].append(name)
        found = {}
        for node, some in by_node.items():
            pipe = self.nodes[node].pipeline(transaction=False)
            for name in some:
                pipe.getrange(name, 0, len(chunks.MARKER) + 20)
            for name, head in zip(some, pipe.execute(), strict=True):
                if head:
                    found[name] = chunks.part_count(head) or 0
        return found

    def renew_values(self, values: Mapping[str, int], ttl_s: int) -> None:
        """Give each value (name -> its part count) and its parts ``ttl_s`` more seconds."""
        self._each_value_key(values, lambda pipe, key: pipe.expire(key, ttl_s))

    def delete_values(self, values: Mapping[str, int]) -> None:
        """Delete each value (name -> its part count) and its parts."""
        self._each_value_key(values, lambda pipe, key: pipe.unlink(key))

    def delete_matching_values(self, pattern: str) -> int:
        """Delete every value whose name matches ``pattern`` on every node (a scan: at close only)."""
        return sum(delete_matching(client, pattern) for client in self.nodes.values())

    def _each_value_key(self, values: Mapping[str, int], command) -> None:
        pipes: dict = {}
        for name, parts in values.items():
            for key in [name, *(keys.session_value_part(name, n) for n in range(parts))]:
                node = self.node_of(key)
                if node not in pipes:
                    pipes[node] = self.nodes[node].pipeline(transaction=False)
                command(pipes[node], key)
        for pipe in pipes.values():
            pipe.execute()

    def _set(self, key: str, data) -> bool:
        node = self.node_of(key)
        stored = self.nodes[node].set(key, data, ex=self.ttl_s, nx=True)
        self.bytes_written[node] += len(data)
        return bool(stored)

    def _get_many(self, key_list: list[str]) -> list[memoryview | None]:
        by_node: dict[str, list[int]] = defaultdict(list)
        for index, key in enumerate(key_list):
            by_node[self.node_of(key)].append(index)
        values: list[memoryview | None] = [None] * len(key_list)
        for node, indices in by_node.items():
            got = bulk.mget(self.nodes[node], [key_list[i] for i in indices])
            for i, value in zip(indices, got, strict=True):
                values[i] = value
                self.bytes_read[node] += len(value or b"")
        return values
