"""Whole jobs on the Lambda platform: WukongStack's executor exactly as synthesized, invoked through the
Invoke API by the client and by itself, with a loopback MDS, two KVS nodes and the proxy
(``rehearsal.loopback.LoopbackDeployment``). A job survives what Lambda does to it: an executor process
killed mid-task (the platform retries the event), an executor over its timeout (killed and retried), every
event delivered twice; the results equal dask's, and the protocol's invariants hold for random DAGs with
killed executors and duplicated events (a small variant of tests/test_protocol_property.py)."""

from __future__ import annotations

import json
import operator
import os
import signal
import time

import dask
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_protocol_property import COMMON, THRESHOLD_BYTES, check_job, dags

from examples.workloads import WORKLOADS, same_result
from lambda_platform import PlatformSettings
from rehearsal.loopback import EXECUTOR, LoopbackDeployment
from wukong import Client, LocalCluster

pytestmark = pytest.mark.timeout(900)
EXECUTOR_TIMEOUT_S = 10  # the stack's is 900; a task sleeps past this once
DELAY_SCALE = 0.01  # Lambda's retries after 1 and 2 minutes come after 0.6 and 1.2 s


@pytest.fixture(scope="module", autouse=True)
def credentials():
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")


def deployment_of(synthesized, runtime_dir, tmp_path_factory, **options):
    settings = PlatformSettings(
        concurrency=6,
        delay_scale=DELAY_SCALE,
        duplicate_probability=options.pop("duplicate_probability", 0.0),
        seed=1,
        logs_dir=tmp_path_factory.mktemp("lambda-logs"),
    )
    return LoopbackDeployment(synthesized, settings, kvs_nodes=2, runtime_dir=runtime_dir, **options)


@pytest.fixture(scope="module")
def deployment(synthesized, runtime_dir, tmp_path_factory):
    changes = {EXECUTOR: {"timeout_s": EXECUTOR_TIMEOUT_S}}
    with deployment_of(synthesized, runtime_dir, tmp_path_factory, changes=changes) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def client(deployment):
    with LocalCluster(**deployment.cluster_settings(job_timeout_s=120)) as cluster:
        yield Client(cluster)


def fail_once(marker: str, how: str, x):
    """``x + 1``; the first time (no ``marker`` yet) its executor dies first: killed, or over its timeout."""
    if not os.path.exists(marker):
        open(marker, "w").close()  # noqa: SIM115 - a marker, written before the executor dies
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(3 * EXECUTOR_TIMEOUT_S)
    return x + 1


def tree_with(marker: str, how: str):
    r"""sum(0..7) with ``fail_once`` on the left half's sum::

        inc(0..3) -> sum -> fail_once --\
        inc(4..7) -> sum ----------------> add
    """
    leaves = [dask.delayed(operator.add)(i, 1, dask_key_name=f"inc-{i}") for i in range(8)]
    left = dask.delayed(fail_once)(marker, how, dask.delayed(sum)(leaves[:4]))
    return dask.delayed(operator.add)(left, dask.delayed(sum)(leaves[4:]))


@pytest.mark.parametrize("how, error_type", [("kill", "Runtime.ExitError"), ("timeout", "Sandbox.Timedout")])
def test_a_job_survives_an_executor_killed_or_timed_out_mid_task(
    client, deployment, tmp_path, how, error_type
):
    platform = deployment.platform
    before, retries = len(platform.reports()), platform.stats()["retries"]
    assert tree_with(str(tmp_path / "failed-once"), how).compute(scheduler=client.get) == sum(range(1, 9)) + 1
    platform.drain()
    failed = [r for r in platform.reports()[before:] if r.status != "success"]
    assert [r.error_type for r in failed] == [error_type]  # one death; its retry got through
    assert platform.stats()["retries"] == retries + 1 and platform.dropped_events() == []


@pytest.fixture(scope="module")
def duplicating(synthesized, runtime_dir, tmp_path_factory):
    with deployment_of(synthesized, runtime_dir, tmp_path_factory, duplicate_probability=1.0) as deployment:
        yield deployment


@pytest.mark.parametrize("name", ["tree_reduction", "gemm", "svd"])
def test_every_event_delivered_twice_gives_dask_s_result(duplicating, name):
    with LocalCluster(**duplicating.cluster_settings(job_timeout_s=120)) as cluster:
        client = Client(cluster)
        collection = WORKLOADS[name].build(True)
        (result,) = dask.compute(collection, scheduler=client.get)
        (expected,) = dask.compute(collection, scheduler="sync")
        report = client.last_report
    assert same_result(result, expected)
    assert report.counters.get("duplicates_dropped", 0) >= 1  # the lease turned second deliveries away
    stats = duplicating.platform.stats()
    assert stats["duplicates"] == sum(stats["accepted"].values())


# As the local property test: a delivery may die at several of its tasks, and three deaths use up
# Lambda's retries (the job would fail, rightly).
FAULTS = {"kill": {"at": ["before_task", "after_task", "before_register"], "probability": 0.01}}


@pytest.fixture(scope="module")
def faulty(synthesized, runtime_dir, tmp_path_factory):
    environment = {"WUKONG_TEST_FAULTS": json.dumps(FAULTS), "WUKONG_TEST_VALIDATE": "1"}
    with (
        deployment_of(
            synthesized, runtime_dir, tmp_path_factory, duplicate_probability=0.3, environment=environment
        ) as deployment,
        LocalCluster(**deployment.cluster_settings(job_timeout_s=120)) as cluster,
    ):
        yield deployment, cluster
        stats = deployment.platform.stats()
        print(
            f"platform: {stats['duplicates']} events delivered twice, {stats['retries']} retried after a death"
        )
        assert stats["duplicates"] > 0


@given(data=st.data())
@settings(max_examples=6, **COMMON)
def test_the_protocol_holds_on_the_platform(faulty, data):
    """Random DAGs; executors killed at random points (once per job, invocation and task), 30% of the
    events delivered twice: every requested key equals dask's, every registration happened once."""
    deployment, cluster = faulty
    dsk, requested = data.draw(dags(max_tasks=30))
    client = Client(
        cluster,
        big_task_threshold=THRESHOLD_BYTES,
        delayed_io_max_wait_s=2,
        max_task_fanout=data.draw(st.sampled_from([2, 1000])),
    )
    check_job(client, dsk, requested)
