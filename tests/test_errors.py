"""Bad input gets its own clear message; a task's exception arrives with its type and remote traceback."""

from __future__ import annotations

import threading
import time

import pytest
from dask import delayed

import wukong
from wukong import (
    Client,
    ClusterClosedError,
    ConfigError,
    JobTimeoutError,
    LocalCluster,
    PayloadTooLargeError,
    RedisNotInstalledError,
    RedisUnreachableError,
    RemoteTaskError,
    UnpicklableTaskError,
    VersionMismatchError,
)
from wukong.config import JOB_SETTINGS, with_job_settings
from wukong.errors import RemoteTraceback


def divide(a, b):
    return a / b


def test_zero_division_arrives_with_type_and_remote_traceback(client):
    started = time.monotonic()
    with pytest.raises(ZeroDivisionError) as caught:
        delayed(divide)(delayed(lambda: 1)(), 0).compute(scheduler=client.get)
    assert time.monotonic() - started < 30  # well before the 120 s deadline: no waiting for it
    cause = caught.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "ZeroDivisionError" in cause.text and "in divide" in cause.text and "return a / b" in cause.text
    assert any("divide" in note for note in getattr(caught.value, "__notes__", []))


def test_job_after_an_error_still_works(client):
    with pytest.raises(ZeroDivisionError):
        client.get({"x": (divide, 1, 0)}, "x")
    assert client.get({"x": (divide, 1, 2)}, "x") == 0.5


class Unpicklable(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()


def raise_unpicklable():
    raise Unpicklable("boom")


def test_exception_that_cannot_travel_keeps_its_type_name_and_message(client):
    with pytest.raises(RemoteTaskError, match="Unpicklable: boom") as caught:
        client.get({"x": (raise_unpicklable,)}, "x")
    assert "raise_unpicklable" in caught.value.__cause__.text


def test_unpicklable_task_names_the_task(client):
    lock = threading.Lock()
    task = delayed(lambda: lock.locked())(dask_key_name="holds-a-lock")
    with pytest.raises(UnpicklableTaskError, match="holds-a-lock.*cannot be serialized.*lock"):
        task.compute(scheduler=client.get)


def test_missing_redis_server_says_what_to_install():
    with pytest.raises(RedisNotInstalledError, match="apt-get install redis-server"):
        LocalCluster(redis_server="/nonexistent/redis-server")


def test_unreachable_redis_names_the_address():
    with pytest.raises(RedisUnreachableError, match=r"metadata store Redis at 127\.0\.0\.1:1\b"):
        LocalCluster(host="127.0.0.1:1", redis_connect_timeout_s=1)


def test_wrong_redis_password_is_reported(cluster):
    with pytest.raises(RedisUnreachableError, match="authentication failed"):
        LocalCluster(host=cluster.config.host, mds_password="wrong", redis_connect_timeout_s=1)


def test_bad_config_key_and_value_are_named(monkeypatch):
    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        LocalCluster(bogus=1)
    with pytest.raises(ConfigError, match="big_task_threshold must be positive"):
        wukong.load_config(big_task_threshold=-1)
    with pytest.raises(ConfigError, match="'max_task_fanout' must be an integer"):
        wukong.load_config(max_task_fanout="many")
    monkeypatch.setenv("WUKONG_TYPO", "1")
    with pytest.raises(ConfigError, match="WUKONG_TYPO"):
        wukong.load_config()


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("job_timeout_s", float("nan"), "a finite number"),  # a NaN deadline would never expire
        ("job_timeout_s", "inf", "a finite number"),
        ("delayed_io_max_wait_s", float("-inf"), "a finite number"),
        ("redis_timeout_s", True, "a finite number"),
        ("local_workers", 2.7, "an integer"),  # was truncated to 2
        ("local_workers", "2.7", "an integer"),
        ("max_local_workers", float("nan"), "an integer"),
        ("key_ttl_s", False, "an integer"),
    ],
)
def test_settings_refuse_nan_infinities_and_fractions(name, value, expected):
    with pytest.raises(ConfigError, match=f"setting '{name}' must be {expected}, got"):
        wukong.load_config(**{name: value})
    with pytest.raises(ConfigError, match=f"'{name}'"):  # built directly, or per client: the same check
        wukong.WukongConfig(**{name: value})
    if name in JOB_SETTINGS:
        with pytest.raises(ConfigError, match=f"'{name}'"):
            with_job_settings(wukong.WukongConfig(), **{name: value})


def test_integer_settings_accept_text_and_whole_floats(monkeypatch):
    monkeypatch.setenv("WUKONG_LOCAL_WORKERS", "3")
    assert wukong.load_config().local_workers == 3
    config = wukong.load_config(local_workers=2.0, max_value_bytes=5e8)
    assert (config.local_workers, config.max_value_bytes) == (2, 500_000_000)
    assert type(config.local_workers) is int


def test_a_client_of_a_closed_cluster_says_so():
    cluster = LocalCluster(local_workers=1, use_local_proxy=False)
    client = Client(cluster)
    assert client.get({"x": 1}, "x") == 1
    cluster.close()
    started = time.monotonic()
    with pytest.raises(ClusterClosedError, match="LocalCluster was closed.*start a new LocalCluster"):
        client.get({"x": 1}, "x")
    print(f"\nFAULT a client of a closed cluster: {time.monotonic() - started:.3f} s")
    assert time.monotonic() - started < 1  # no waiting on redis-py's retries
    with pytest.raises(ClusterClosedError):
        Client(cluster)
    cluster.close()  # twice is fine


def test_cluster_setting_on_a_client_is_refused(cluster):
    with pytest.raises(ConfigError, match="belongs to the cluster"):
        Client(cluster, num_kvs_nodes=3)


def test_deadline_names_the_tasks_that_never_completed(cluster):
    client = Client(cluster, job_timeout_s=2)
    slow = delayed(time.sleep)(6, dask_key_name="sleeps-too-long")
    after = delayed(lambda _: 1)(slow, dask_key_name="waits-for-it")
    started = time.monotonic()
    with pytest.raises(JobTimeoutError, match="did not finish within 2 s") as caught:
        after.compute(scheduler=client.get)
    assert time.monotonic() - started < 10
    names = {str(k) for k in caught.value.missing}
    assert any("sleeps-too-long" in n for n in names) and any("waits-for-it" in n for n in names)


def test_python_version_mismatch_is_explained(client, monkeypatch):
    from wukong.protocol import payload

    monkeypatch.setattr(payload, "PY_VERSION", "3.99")
    with pytest.raises(VersionMismatchError, match="client runs Python 3.99 but the executors run Python 3"):
        client.get({"x": (divide, 1, 2)}, "x")


@pytest.fixture(scope="module")
def small_values_cluster():
    with LocalCluster(max_value_bytes=10_000, local_workers=2, use_local_proxy=False) as cluster:
        yield cluster


def test_output_over_the_value_limit_says_how_to_fix(small_values_cluster):
    import numpy as np

    client = Client(small_values_cluster)
    big = delayed(np.ones)(5_000)  # 40 kB, over the 10 kB limit
    total = delayed(np.dot)(big, delayed(np.ones)(5_000))  # a fan-in: the output must be written
    with pytest.raises(
        PayloadTooLargeError, match="over the KV store's 10000-byte value limit.*chunk_large_tasks=True"
    ):
        total.compute(scheduler=client.get)


def test_chunk_large_tasks_splits_big_outputs():
    import numpy as np

    with LocalCluster(
        max_value_bytes=10_000, chunk_large_tasks=True, local_workers=2, use_local_proxy=False
    ) as cluster:
        client = Client(cluster)
        big = delayed(np.arange)(5_000)
        total = delayed(np.dot)(big, delayed(np.ones)(5_000))
        assert total.compute(scheduler=client.get) == sum(range(5_000))
        assert client.last_report.kvs_bytes_written > 40_000


def test_a_final_over_the_value_limit_still_reaches_the_client(small_values_cluster):
    """Finals go to the MDS in parts when they exceed one Redis value (dask's finalize task concatenates
    every chunk of an array into one value, e.g. a 1.6 GB ``u`` of the seed SVD)."""
    import numpy as np

    client = Client(small_values_cluster)
    result = delayed(np.arange)(20_000).compute(scheduler=client.get)  # 160 kB, 17 parts of 10 kB
    assert np.array_equal(result, np.arange(20_000))


def returns_a_lock():
    return threading.Lock()


class StrRaises(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def raise_str_raises():
    raise StrRaises()


def test_an_unpicklable_result_names_its_task(client):
    from wukong import UnpicklableResultError

    with pytest.raises(UnpicklableResultError, match="the output of task 'lock-maker' cannot be serialized"):
        client.get({"lock-maker": (returns_a_lock,), "after": (lambda lock: 1, "lock-maker")}, "after")
    with pytest.raises(UnpicklableResultError, match="'lock-final'"):
        client.get({"lock-final": (returns_a_lock,)}, "lock-final")  # a final with no dependents


def test_an_exception_whose_str_raises_still_reaches_the_client(client):
    started = time.monotonic()
    with pytest.raises(RemoteTaskError, match="StrRaises: <the exception's message cannot be shown"):
        client.get({"x": (raise_str_raises,)}, "x")
    assert time.monotonic() - started < 15


def test_the_empty_graph_gives_what_dask_gives(client):
    import dask

    assert client.get({}, []) == dask.get({}, []) == ()
    assert dask.compute(scheduler=client.get) == ()


def test_a_missing_requested_key_names_it_and_the_fix(client):
    from wukong import MissingKeyError

    with pytest.raises(
        MissingKeyError, match=r"not in the graph: 'nope'\. Ask for keys the graph has"
    ) as caught:
        client.get({"x": 1}, ["x", "nope"])
    assert isinstance(caught.value, KeyError) and caught.value.missing == ["nope"]
