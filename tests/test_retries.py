"""Retries (issue 13, item 4) on a real cluster: a task whose function raised runs again in its
executor, up to N times (``submit(..., retries=N)``, ``dask.annotate(retries=N)``), before the job
fails with that task's exception.
"""

from __future__ import annotations

import itertools

import dask
import pytest
from dask import delayed

from wukong import Client

CALLS: dict[str, int] = {}  # token -> calls so far, in the executor's process
TOKENS = itertools.count()
TIMEOUT_S = 60


def fails_twice(token: str, value):
    """Raises on its first two calls (in one process: a retry runs where the error was), then succeeds."""
    CALLS[token] = CALLS.get(token, 0) + 1
    if CALLS[token] <= 2:
        raise ConnectionResetError(f"flaky call {CALLS[token]}")
    return value


def token() -> str:
    return f"{id(CALLS)}-{next(TOKENS)}"


@pytest.fixture(scope="module")
def c(cluster):
    client = Client(cluster)
    yield client
    client.close()


def test_submit_with_two_retries_succeeds_and_with_one_raises(c):
    assert c.submit(fails_twice, token(), 42, retries=2).result(timeout=TIMEOUT_S) == 42
    with pytest.raises(ConnectionResetError, match="flaky call 2"):
        c.submit(fails_twice, token(), 42, retries=1).result(timeout=TIMEOUT_S)
    with pytest.raises(ConnectionResetError, match="flaky call 1"):
        c.submit(fails_twice, token(), 42).result(timeout=TIMEOUT_S)


def test_map_with_retries_and_the_annotate_default(c):
    assert c.gather(c.map(fails_twice, [token() for _ in range(20)], range(20), retries=2)) == list(range(20))
    with dask.annotate(retries=2):
        assert c.submit(fails_twice, token(), "annotated").result(timeout=TIMEOUT_S) == "annotated"


def test_dask_annotate_retries_reach_the_executors(c):
    with dask.annotate(retries=2):
        flaky = delayed(fails_twice)(token(), 7)
    assert (flaky + 1).compute(scheduler=c) == 8  # through get: the layer's annotation
    assert c.last_report.counters["task_retries"] == 2
    assert c.compute(delayed(fails_twice)(token(), 1), retries=2).result(timeout=TIMEOUT_S) == 1
    with dask.annotate(retries=1):
        too_few = delayed(fails_twice)(token(), 7)
    with pytest.raises(ConnectionResetError, match="flaky call 2"):
        too_few.compute(scheduler=c)
