"""The three schedulers a case runs on, behind one small interface: start, compute, settle, close.

* ``wukong``: the embedded local mode (loopback redis-server, warm worker processes with one BLAS
  thread each), the default ``LocalCluster()`` plus the case's own settings.
* ``threaded``: dask's threaded scheduler (one thread per core), with BLAS limited to one thread per
  worker thread by threadpoolctl, so the two schedulers split the cores the same way.
* ``distributed``: ``distributed.LocalCluster(n_workers=2, threads_per_worker=1)``; its nannies start
  the workers with one BLAS thread each (``distributed.nanny.pre-spawn-environ``).
"""

from __future__ import annotations

import logging

import dask

NAMES = ("wukong", "threaded", "distributed")


def as_tuple(collection) -> tuple:
    return collection if isinstance(collection, tuple) else (collection,)


class Wukong:
    name = "wukong"

    def __init__(self, **cluster_kwargs):
        self.cluster_kwargs = {"progress": "off", **cluster_kwargs}
        self.cluster = self.client = None

    def start(self) -> None:
        from wukong import Client, LocalCluster

        self.cluster = LocalCluster(**self.cluster_kwargs)
        self.client = Client(self.cluster)

    def compute(self, collection) -> tuple:
        return dask.compute(*as_tuple(collection), scheduler=self.client.get)

    def settle(self) -> None:
        """Wait until workers the pool added during the warm-up run have finished importing."""
        pool = getattr(self.cluster, "pool", None)
        if pool is not None:
            pool.wait_until_warm()

    def describe(self) -> str:
        pool = getattr(self.cluster, "pool", None)
        return f"{len(pool.workers)} workers" if pool is not None else ""

    def job_report(self):
        return self.client.last_report

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()


class Threaded:
    name = "threaded"

    def start(self) -> None:
        pass

    def compute(self, collection) -> tuple:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return dask.compute(*as_tuple(collection), scheduler="threads")

    def settle(self) -> None:
        pass

    def describe(self) -> str:
        from dask.system import CPU_COUNT

        return f"{CPU_COUNT} threads, BLAS 1 thread each"

    def job_report(self) -> None:
        return None

    def close(self) -> None:
        pass


class Distributed:
    name = "distributed"
    N_WORKERS = 2

    def __init__(self):
        self.cluster = self.client = None

    def start(self) -> None:
        import distributed

        self.cluster = distributed.LocalCluster(
            n_workers=self.N_WORKERS,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
        self.client = distributed.Client(self.cluster, set_as_default=False)

    def compute(self, collection) -> tuple:
        return dask.compute(*as_tuple(collection), scheduler=self.client.get)

    def settle(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.N_WORKERS} processes x 1 thread"

    def job_report(self) -> None:
        return None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make(name: str, wukong_kwargs: dict):
    if name == "wukong":
        return Wukong(**wukong_kwargs)
    if name == "threaded":
        return Threaded()
    if name == "distributed":
        return Distributed()
    raise ValueError(f"unknown system {name!r}; known: {', '.join(NAMES)}")
