"""Wukong's own exceptions. Each message says what went wrong and what to do about it."""

from __future__ import annotations

from collections.abc import Hashable
from concurrent.futures import CancelledError


class WukongError(Exception):
    """Base class of every error Wukong raises itself (task exceptions keep their own type)."""


class ConfigError(WukongError, ValueError):
    """A setting is unknown or has a bad value."""


class RedisNotInstalledError(WukongError):
    def __init__(self, binary: str) -> None:
        super().__init__(
            f"cannot start the embedded metadata store: {binary!r} was not found on PATH. "
            "Install Redis (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`), "
            "or pass redis_server='/path/to/redis-server', or point host=... at a running Redis."
        )


class RedisUnreachableError(WukongError, ConnectionError):
    """A Redis node (the metadata store or a KV store node) cannot be reached: at connect time, or
    mid-job once redis-py's bounded retries gave up. ``role`` and ``address`` name the node."""

    ADVICE = (
        "Check that redis-server is running there and that host/port/password are right "
        "(settings `host`, `redis_endpoints`, `mds_password`, or the WUKONG_* environment variables)."
    )

    def __init__(self, role: str, address: str, reason: str, advice: str = "") -> None:
        self.role, self.address, self.reason, self.advice = role, address, reason, advice or self.ADVICE
        super().__init__(f"cannot reach the {role} Redis at {address}: {reason}. {self.advice}")

    def __reduce__(self):  # travels from an executor to the client with its node
        return type(self), (self.role, self.address, self.reason, self.advice)


class KvsDiscoveryError(WukongError):
    """The KV-store nodes of a deployment could not be found in Cloud Map."""

    def __init__(self, service_name: str, reason: str):
        self.service_name, self.reason = service_name, reason
        super().__init__(
            f"cannot find the KV-store nodes of {service_name!r} in Cloud Map: {reason}. Check that the KVS "
            "service runs (the stack's KvsClusterName and KvsEcsServiceName outputs: aws ecs describe-services) "
            "and that this machine's role may call servicediscovery:DiscoverInstances."
        )

    def __reduce__(self):
        return type(self), (self.service_name, self.reason)


class ClusterClosedError(WukongError):
    def __init__(self) -> None:
        super().__init__(
            "this LocalCluster was closed (by close(), the end of its `with` block, or interpreter exit); "
            "start a new LocalCluster() and make a Client on it"
        )


class ClusterFailedError(WukongError, RuntimeError):
    """A process of a local cluster stopped for good (the worker template died too often, the proxy exited)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"{what}. The cluster cannot run jobs any more: close() it and start a new LocalCluster()"
        )

    def __reduce__(self):
        return type(self), (self.what,)


class UnpicklableTaskError(WukongError, TypeError):
    def __init__(self, key: Hashable, reason: str) -> None:
        super().__init__(
            f"task {key!r} cannot be serialized for the executors: {reason}. "
            "Tasks travel to other processes with cloudpickle: avoid capturing locks, open files, sockets "
            "or generators in the task's function or arguments; create them inside the task instead."
        )


class UnpicklableResultError(WukongError, TypeError):
    def __init__(self, key: Hashable, reason: str) -> None:
        self.key, self.reason = key, reason
        super().__init__(
            f"the output of task {key!r} cannot be serialized to travel to other executors or to the "
            f"client: {reason}. Return plain data (arrays, frames, numbers, strings, containers of them) "
            "from tasks, not objects holding locks, open files, sockets or generators."
        )

    def __reduce__(self):  # travels from the executor to the client as itself
        return type(self), (self.key, self.reason)


class PayloadTooLargeError(WukongError, ValueError):
    """A value or an invocation is over a platform limit."""


class VersionMismatchError(WukongError, RuntimeError):
    def __init__(self, client_version: str, executor_version: str) -> None:
        super().__init__(
            f"the client runs Python {client_version} but the executors run Python {executor_version}; "
            "cloudpickle needs the same minor version on both sides. Run the client with the executors' "
            "version (on AWS: the scheduler VM's interpreter) or redeploy the executors with the client's."
        )


class JobTimeoutError(WukongError, TimeoutError):
    def __init__(self, job_id: str, timeout_s: float, missing: list) -> None:
        shown = ", ".join(repr(k) for k in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        super().__init__(
            f"job {job_id} did not finish within {timeout_s:g} s; {len(missing)} task(s) never completed: "
            f"{shown}{more}. An executor may have died or be stuck; raise job_timeout_s for longer jobs."
        )
        self.missing = missing


class MissingKeyError(WukongError, KeyError):
    def __init__(self, missing: list) -> None:
        shown = ", ".join(repr(k) for k in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        super().__init__(
            f"requested key(s) not in the graph: {shown}{more}. Ask for keys the graph has (a collection's "
            "keys are in `collection.__dask_keys__()`)."
        )
        self.missing = missing

    def __str__(self) -> str:  # KeyError's own shows the message quoted
        return self.args[0]


class ExecutorDiedError(WukongError):
    """An invocation killed the process that ran it every time it was delivered (a poison task)."""

    def __init__(self, key: Hashable, deaths: list[str], retries: int) -> None:
        self.key, self.deaths, self.retries = key, list(deaths), retries
        super().__init__(
            f"task {key!r} was running each time its executor died, {len(deaths)} times "
            f"(the first delivery and {retries} retries, as Lambda retries an invocation): "
            f"{'; '.join(deaths)}. A task that ends its process (os._exit, a crash in a C extension) "
            "or runs out of memory (the kernel then kills it with SIGKILL) fails this way; make the task "
            "use less memory (smaller chunks) or find the crash by running it alone."
        )

    def __reduce__(self):
        return type(self), (self.key, self.deaths, self.retries)


class RemoteTraceback(Exception):
    """Carries an executor's traceback text; attached as ``__cause__`` of a re-raised task exception,
    with the dask ``key`` of the task that raised (None if unknown)."""

    def __init__(self, text: str, key: Hashable | None = None) -> None:
        super().__init__(text)
        self.text, self.key = text, key

    def __str__(self):
        return f"\n\nRemote traceback (from the executor):\n{self.text}"


class RemoteTaskError(WukongError):
    """Stands in for a task exception that could not be pickled back to the client."""


class AwsExtraMissingError(WukongError, ImportError):
    def __init__(self, missing: str) -> None:
        super().__init__(
            f"mode='aws' needs the AWS SDK for Python, and {missing!r} is not installed. "
            "Install Wukong with its AWS extra: pip install 'wukong[aws]' (the scheduler VM's venv has it)."
        )


class InvocationFailedError(WukongError, RuntimeError):
    """Lambda gave up on an executor event (its on-failure destination said so): the job cannot finish."""

    def __init__(
        self, job_id: str, key: Hashable, owner: str, condition: str, attempts: int, error: str
    ) -> None:
        detail = f": {error}" if error else ""
        super().__init__(
            f"job {job_id} failed: Lambda gave up on the executor invocation {owner} that starts task "
            f"{key!r} ({condition} after {attempts} attempt(s){detail}). "
            + CONDITION_ADVICE.get(condition, "See the executor function's log group in CloudWatch Logs.")
        )
        self.key, self.owner, self.condition, self.attempts = key, owner, condition, attempts


CONDITION_ADVICE = {
    "RetriesExhausted": (
        "The executor crashed or timed out on every attempt: its log group in CloudWatch Logs has the "
        "reason (out of memory: raise lambdaMemoryMb; timeout: raise lambdaTimeoutS)."
    ),
    "EventAgeExceeded": (
        "The event waited in Lambda's queue longer than the maximum event age (the stack's jobTimeoutS): "
        "the function was throttled. Raise its concurrency quota or run fewer executors at once."
    ),
}


class FutureLostError(WukongError, KeyError):
    """A future's value is no longer in the KV store."""

    def __init__(self, key: Hashable, ttl_s: int | None = None) -> None:
        self.key, self.ttl_s = key, ttl_s
        expiry = f", or its session expired ({ttl_s} s after its client last renewed it)" if ttl_s else ""
        super().__init__(
            f"the value of future {key!r} is no longer in the KV store: it was released (no Future "
            f"referred to it any more), its client was closed{expiry}. Compute it again "
            "(client.submit / client.compute)."
        )

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):  # raised in an executor (a task loading the future), re-raised in the client
        return type(self), (self.key, self.ttl_s)


class FutureCancelledError(WukongError, CancelledError):
    """A future was cancelled (``Future.cancel``, ``Client.cancel``, or its client closed)."""

    def __init__(self, key: Hashable, reason: str = "it was cancelled") -> None:
        self.key, self.reason = key, reason
        super().__init__(f"future {key!r} has no value: {reason}")

    def __reduce__(self):
        return type(self), (self.key, self.reason)


class UnknownFutureError(WukongError, KeyError):
    """A graph depends on a key that is neither in it nor a future of this client."""

    def __init__(self, keys: list) -> None:
        self.keys = keys
        shown = ", ".join(repr(k) for k in keys[:5])
        super().__init__(
            f"the graph depends on {shown}{' and more' if len(keys) > 5 else ''}, neither in the graph "
            "nor a future of this client. A Future belongs to the Client that made it: pass it to that "
            "client, or gather its value and pass the value."
        )

    def __str__(self) -> str:
        return self.args[0]


class UnsupportedOptionError(WukongError, TypeError):
    """An option of distributed's API that a serverless cluster cannot honour."""

    def __init__(self, option: str, why: str) -> None:
        super().__init__(f"{option}= cannot be honoured by Wukong: {why}. Leave it out.")


class UnsupportedShuffleError(WukongError, ValueError):
    """A graph shuffles through something executors do not share (partd's disk, distributed's P2P)."""

    def __init__(self, method: str, where: str) -> None:
        self.method = method
        super().__init__(
            f"this graph carries a {method!r} shuffle ({where}), which cannot work on Wukong: "
            + SHUFFLE_REASONS[method]
            + " Use the task-based shuffle: `shuffle='tasks'` (dask.bag groupby), "
            "`shuffle_method='tasks'` (dask.dataframe), or `dask.config.set({'dataframe.shuffle.method': "
            "'tasks'})`, which an open Client sets unless you chose another method; then build the "
            "collection again."
        )


SHUFFLE_REASONS = {
    "disk": (
        "partd's directory belongs to the one executor that creates it, which deletes it while others "
        "still write (on Lambda every executor has its own /tmp), so groups would silently lose data."
    ),
    "p2p": "the P2P shuffle needs dask.distributed's workers and their shuffle extension.",
}


class InMemoryTargetError(WukongError, ValueError):
    """``da.store`` into an object in the client's memory, which executors cannot write to."""

    def __init__(self, target_type: str) -> None:
        super().__init__(
            f"this graph stores a dask array into a {target_type} in the client's memory; each executor "
            "would write into its own copy, and the target would stay untouched. Compute the array and "
            "assign it (`target[...] = x.compute()`), or store into a target every executor reaches "
            "(zarr or TileDB on shared storage, such as S3)."
        )
