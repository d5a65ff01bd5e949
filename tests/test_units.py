"""Pure pieces: executor decisions, configuration, serialization, payloads. No servers."""

from __future__ import annotations

import numpy as np
import pytest

from wukong import ConfigError, load_config
from wukong.config import config_to_env, with_job_settings
from wukong.executor.decisions import Backoff, Fanout, plan_fanout, writes_before_registering
from wukong.protocol.registration import Status
from wukong.storage import serialization

NOT_READY, READY, TAKEN, WITHHELD, WRITE_NOW, OURS, DELEGATED = (
    Status.NOT_READY,
    Status.READY,
    Status.TAKEN,
    Status.WITHHELD,
    Status.WRITE_NOW,
    Status.OURS,
    Status.DELEGATED,
)


class TestDecisions:
    def test_small_output_continues_with_become_and_invokes_the_rest(self):
        plan = plan_fanout([4, 5, 6], [READY, READY, READY], become=5, big=False)
        assert plan == Fanout(run_locally=(5,), invoke=(4, 6))

    def test_become_not_ready_continues_with_another_ready_one(self):
        plan = plan_fanout([4, 5, 6], [READY, NOT_READY, READY], become=5, big=False)
        assert plan == Fanout(run_locally=(4,), invoke=(6,))

    def test_nothing_ready_stops(self):
        assert plan_fanout([4, 5], [NOT_READY, TAKEN], become=4, big=False) == Fanout()

    def test_big_output_clusters_every_ready_dependent_and_withholds_the_rest(self):
        plan = plan_fanout([4, 5, 6, 7], [READY, WITHHELD, READY, TAKEN], become=6, big=True)
        assert plan == Fanout(run_locally=(6, 4), withheld=(5,))

    def test_stalemate_tells_the_designated_holder_to_write(self):
        plan = plan_fanout([4, 5], [WRITE_NOW, WITHHELD], become=None, big=True)
        assert plan == Fanout(withheld=(4, 5), write_now=True)

    def test_a_retry_runs_what_it_claimed_before_and_invokes_what_it_delegated(self):
        plan = plan_fanout([4, 5, 6, 7], [OURS, DELEGATED, READY, READY], become=6, big=False)
        assert plan == Fanout(run_locally=(6, 4), invoke=(7,), reinvoke=(5,))

    def test_small_outputs_are_written_first_only_when_someone_else_may_read_them(self):
        assert writes_before_registering([1, 1, 1], big=False) is False
        assert writes_before_registering([1, 2], big=False) is True
        assert writes_before_registering([3], big=True) is False

    def test_backoff_doubles_up_to_a_bound_and_expires(self):
        backoff = Backoff(started=0.0, max_wait_s=1.0)
        steps = []
        now = 0.0
        while not backoff.expired(now):
            now = backoff.next_check
            steps.append(backoff.interval_s)
            backoff.step(now)
        assert steps[:3] == [0.005, 0.01, 0.02] and max(steps) <= 0.25 and now >= 1.0


class TestConfig:
    def test_precedence_kwargs_then_env_then_dask_config(self, monkeypatch):
        import dask

        with dask.config.set({"wukong.max-task-fanout": 7, "wukong.big-task-threshold": 5}):
            monkeypatch.setenv("WUKONG_BIG_TASK_THRESHOLD", "9")
            config = load_config(num_lambda_invokers=3)
        assert (config.max_task_fanout, config.big_task_threshold, config.num_lambda_invokers) == (7, 9, 3)

    def test_text_values_are_coerced_and_endpoints_parsed(self, monkeypatch):
        monkeypatch.setenv("WUKONG_TASK_CLUSTERING", "off")
        monkeypatch.setenv("WUKONG_REDIS_ENDPOINTS", "10.0.0.1:6379, 10.0.0.2:6380")
        config = load_config()
        assert config.task_clustering is False
        assert config.redis_endpoints == (("10.0.0.1", 6379), ("10.0.0.2", 6380))

    def test_round_trip_through_environment(self, monkeypatch):
        config = load_config(host="127.0.0.1:7000", redis_endpoints=[("a", 1)], task_clustering=False)
        for name, value in config_to_env(config).items():
            monkeypatch.setenv(name, value)
        assert load_config() == config

    def test_seed_arguments_are_accepted(self):
        config = load_config(
            proxy_address="10.0.0.5",
            proxy_port=8989,
            num_lambda_invokers=16,
            max_task_fanout=10,
            chunk_large_tasks=True,
            big_task_threshold=1000,
            use_fargate=False,
            use_local_proxy=False,
            n_workers=4,
        )
        assert config.chunk_large_tasks and config.proxy_address == "10.0.0.5"

    def test_bad_values(self):
        with pytest.raises(ConfigError, match="mode must be"):
            load_config(mode="cloud")
        with pytest.raises(ConfigError, match="host must look like"):
            load_config(host="localhost:abc")
        with pytest.raises(ConfigError, match="task_clustering"):
            load_config(task_clustering="maybe")

    def test_job_settings_override_only_job_settings(self):
        config = with_job_settings(load_config(), job_timeout_s="5", task_clustering=False)
        assert config.job_timeout_s == 5.0 and config.task_clustering is False
        with pytest.raises(ConfigError, match="belongs to the cluster"):
            with_job_settings(load_config(), redis_endpoints=[])

    def test_the_settings_that_travel_with_a_job_are_the_config_names(self):
        from dataclasses import fields

        from wukong.config import EXECUTOR_JOB_SETTINGS
        from wukong.protocol.payload import JobSettings

        assert [f.name for f in fields(JobSettings)] == [*EXECUTOR_JOB_SETTINGS, "use_proxy", "kvs_nodes"]
        config = load_config(big_task_threshold=123, max_task_fanout=7)
        settings = JobSettings.from_config(config, use_proxy=True)
        assert (settings.big_task_threshold, settings.max_task_fanout, settings.use_proxy) == (123, 7, True)


class TestSerialization:
    def test_arrays_round_trip_writable_and_size_is_measured_without_copying(self):
        value = {"a": np.arange(100_000, dtype="f8"), "b": [1, "x"]}
        data = serialization.dumps(value)
        back = serialization.loads(data)
        assert np.array_equal(back["a"], value["a"]) and back["b"] == [1, "x"]
        back["a"][0] = 5  # tasks may write into their inputs
        assert serialization.serialized_size(value) == len(data)
        assert len(data) > 800_000

    def test_a_bytearray_is_used_in_place_writable_and_every_buffer_is_aligned(self):
        # odd sizes, so that without padding the second and third buffers would start misaligned
        value = [np.arange(1001, dtype="f8"), np.arange(7, dtype="i1"), np.ones((33, 3), dtype="f8")]
        data = bytearray(serialization.dumps(value))
        back = serialization.loads(data)
        assert all(np.array_equal(a, b) for a, b in zip(back, value, strict=True))
        assert all(a.flags.aligned and a.flags.writeable for a in back)
        assert all(a.ctypes.data % serialization.ALIGN_BYTES == back[0].ctypes.data % 64 for a in back)
        back[0][0] = 42.0  # no copy: the array is the bytearray's memory
        assert 42.0 in np.frombuffer(data[: len(data) // 8 * 8], dtype="f8")

    def test_bytes_give_writable_copies(self):
        data = serialization.dumps(np.zeros(10))
        back = serialization.loads(data)
        back[0] = 1.0
        assert serialization.loads(data)[0] == 0.0 and back.flags.aligned

    def test_closures_travel(self):
        offset = 3
        assert serialization.loads(serialization.dumps(lambda x: x + offset))(1) == 4
