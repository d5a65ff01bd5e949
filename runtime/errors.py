"""Wukong's own exceptions. Each message says what went wrong and what to do about it."""

from __future__ import annotations


class WukongError(Exception):
    """Base class of every error Wukong raises itself (task exceptions keep their own type)."""


class ConfigError(WukongError, ValueError):
    """A setting is unknown or has a bad value."""


class RedisNotInstalledError(WukongError):
    def __init__(self, binary: str):
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

    def __init__(self, role: str, address: str, reason: str, advice: str = ""):
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
    def __init__(self):
        super().__init__(
            "this LocalCluster was closed (by close(), the end of its `with` block, or interpreter exit); "
            "start a new LocalCluster() and make a Client on it"
        )


class ClusterFailedError(WukongError, RuntimeError):
    """A process of a local cluster stopped for good (the worker template died too often, the proxy exited)."""

    def __init__(self, what: str):
        self.what = what
        super().__init__(
            f"{what}. The cluster cannot run jobs any more: close() it and start a new LocalCluster()"
        )

    def __reduce__(self):
        return type(self), (self.what,)


class UnpicklableTaskError(WukongError, TypeError):
    def __init__(self, key, reason: str):
        super().__init__(
            f"task {key!r} cannot be serialized for the executors: {reason}. "
            "Tasks travel to other processes with cloudpickle: avoid capturing locks, open files, sockets "
            "or generators in the task's function or arguments; create them inside the task instead."
        )


class UnpicklableResultError(WukongError, TypeError):
    def __init__(self, key, reason: str):
        super().__init__(
            f"the output of task {key!r} cannot be serialized to travel to other executors or to the "
            f"client: {reason}. Return plain data (arrays, frames, numbers, strings, containers of them) "
            "from tasks, not objects holding locks, open files, sockets or generators."
        )


class PayloadTooLargeError(WukongError, ValueError):
    """A value or an invocation is over a platform limit."""


class VersionMismatchError(WukongError, RuntimeError):
    def __init__(self, client_version: str, executor_version: str):
        super().__init__(
            f"the client runs Python {client_version} but the executors run Python {executor_version}; "
            "cloudpickle needs the same minor version on both sides. Run the client with the executors' "
            "version (on AWS: the scheduler VM's interpreter) or redeploy the executors with the client's."
        )


class JobTimeoutError(WukongError, TimeoutError):
    def __init__(self, job_id: str, timeout_s: float, missing: list):
        shown = ", ".join(repr(k) for k in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        super().__init__(
            f"job {job_id} did not finish within {timeout_s:g} s; {len(missing)} task(s) never completed: "
            f"{shown}{more}. An executor may have died or be stuck; raise job_timeout_s for longer jobs."
        )
        self.missing = missing


class MissingKeyError(WukongError, KeyError):
    def __init__(self, missing: list):
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

    def __init__(self, key, deaths: list[str], retries: int):
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
    """Carries an executor's traceback text; attached as ``__cause__`` of a re-raised task exception."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return f"\n\nRemote traceback (from the executor):\n{self.text}"


class RemoteTaskError(WukongError):
    """Stands in for a task exception that could not be pickled back to the client."""


class AwsExtraMissingError(WukongError, ImportError):
    def __init__(self, missing: str):
        super().__init__(
            f"mode='aws' needs the AWS SDK for Python, and {missing!r} is not installed. "
            "Install Wukong with its AWS extra: pip install 'wukong[aws]' (the scheduler VM's venv has it)."
        )


class InvocationFailedError(WukongError, RuntimeError):
    """Lambda gave up on an executor event (its on-failure destination said so): the job cannot finish."""

    def __init__(self, job_id: str, key, owner: str, condition: str, attempts: int, error: str):
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
