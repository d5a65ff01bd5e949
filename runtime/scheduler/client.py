"""``Client``: dask's ``get`` protocol on top of a Wukong cluster, and distributed's futures API
(``scheduler/futures.py``).

client = Client(LocalCluster())
x.compute(scheduler=client)          # or client.get, or `with client:` then x.compute()
future = client.compute(x)           # in the cluster; future.result() reads it
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import dask

from .. import platforms
from ..config import with_job_settings
from ..diagnostics.progress import progress_hooks
from ..errors import RedisUnreachableError
from .annotations import retries_by_key
from .dag import as_task_graph, build_dag, check_requested, client_finalizers, flat_keys, repack
from .durations import Durations
from .futures import ClientFutures
from .grouping import cluster_reductions, group_leaves
from .job import run_job
from .modules import task_modules
from .safety import hold_task_shuffle_default, refuse_lost_side_effects, release_task_shuffle_default
from .sizes import chunk_bytes

if TYPE_CHECKING:
    from ..diagnostics.report import JobReport
    from ..local.cluster import LocalCluster


class Client(ClientFutures):
    """``Client(cluster, **job_settings)``; with no cluster, ``Client(**kwargs)`` starts a LocalCluster.

    While open it makes dask's default shuffle the task-based one, as a distributed Client does."""

    asynchronous = False  # dask's scheduler hook asks (``scheduler=client``): every call here blocks

    def __init__(self, cluster: LocalCluster | None = None, **kwargs: Any) -> None:
        if cluster is None:
            from ..local.cluster import LocalCluster

            cluster = LocalCluster(**kwargs)
            self.owns_cluster = True
            kwargs = {}
        else:
            self.owns_cluster = False
        self.cluster = cluster
        self.config = with_job_settings(cluster.config, **kwargs)
        platform = cluster.platform(self.config)
        self.stores, self.invoker = platform.stores, platform.invoker
        self.durations = Durations()  # how long this client's tasks took, per key prefix
        self._last_report = None  # a Future: the report completes after the results return
        self._scheduler_context: Any = None
        self.closed = False
        hold_task_shuffle_default()

    def get(self, dsk, keys: Hashable | list, **kwargs: Any) -> Any:
        """dask's scheduler interface: compute ``keys`` of the graph ``dsk``."""
        self.cluster.check()  # closed, or a process of it dead: say so, rather than a socket error
        requested = flat_keys(keys)
        if not requested:
            return repack(keys, {})  # dask's get of nothing is an empty tuple
        graph = self.futures_graph(as_task_graph(dsk), requested)
        check_requested(graph, requested)
        refuse_lost_side_effects(graph)
        finalizers = client_finalizers(graph, requested)
        executor_keys = [k for k in requested if k not in finalizers]
        executor_keys += [d for node in finalizers.values() for d in sorted(node.dependencies, key=str)]
        dag = build_dag(graph, list(dict.fromkeys(executor_keys)), retries=retries_by_key(dsk, graph))
        if self.config.task_grouping:
            dag = group_leaves(dag, self.cluster.concurrency)
        if self.config.cluster_reductions:
            dag = cluster_reductions(dag, chunk_bytes(dsk, dag.keys))
        self.cluster.warm(task_modules(dag.specs))
        with progress_hooks(dag, self.config, kwargs.get("callbacks"), self.stores.mds) as on_progress:
            try:
                # One node list for the whole job, checked now: a node that is gone fails it before it starts.
                stores = self.stores.for_job(platforms.job_kvs_nodes(self.config), check=True)
                values, report = run_job(
                    dag,
                    stores,
                    self.invoker,
                    self.config,
                    use_proxy=bool(self.config.proxy_address),
                    on_progress=on_progress,
                    check=self.cluster.check,
                    failures=getattr(self.cluster, "failures", None),
                    concurrency_limit=self.cluster.concurrency,
                    durations=self.durations,
                    leaf_invocations=self.cluster.concurrency if self.config.task_grouping else 0,
                )
                if on_progress is not None:
                    on_progress.ended(report)  # the callbacks replay the tasks' own times
            except RedisUnreachableError:
                self.cluster.check()  # a closed cluster, or which process of it died, says more
                raise
        self._last_report = report
        by_key = {dag.keys[task]: value for task, value in values.items()}
        for key, node in finalizers.items():
            by_key[key] = node({d: by_key[d] for d in node.dependencies})
        return repack(keys, by_key)

    @property
    def last_report(self) -> JobReport | None:
        """The last job's :class:`JobReport` (None before the first job). Its counters arrive from the
        executors just after the results, so the first read may wait for them, up to a few seconds."""
        return None if self._last_report is None else self._last_report.result()

    def close(self) -> None:
        """Cancel what is pending, delete the session's values from the cluster; stop the cluster if
        this client started it."""
        if self.closed:
            return
        self.closed = True
        self._close_futures()
        release_task_shuffle_default()
        if self.owns_cluster:
            self.cluster.close()

    def __enter__(self) -> Client:
        """Wukong is dask's scheduler in the block (``scheduler=client``), with the task shuffle."""
        settings: dict[str, Any] = {"scheduler": self}
        if dask.config.get("dataframe.shuffle.method", None) is None:
            settings["dataframe.shuffle.method"] = "tasks"
        self._scheduler_context = dask.config.set(settings)
        self._scheduler_context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._scheduler_context.__exit__(*exc)
        self._scheduler_context = None
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.cluster!r}>"
