"""The job report: counts, the AWS cost estimate, the printed summary, and the timeline picture."""

from __future__ import annotations

import html
import json

import dask
import pytest

from examples.workloads import tree_reduction
from wukong import WukongConfig
from wukong.diagnostics.report import build_report, estimate_cost
from wukong.diagnostics.timeline import key_prefix, layout


@pytest.fixture(scope="module")
def tree_report(client):
    assert tree_reduction(True, leaves=64).compute(scheduler=client.get) == sum(range(64))
    return client.last_report


def test_report_counts_the_job(tree_report):
    assert tree_report.tasks == 63
    assert tree_report.leaf_invocations == 32
    assert tree_report.invocations >= tree_report.leaf_invocations
    assert len(tree_report.timings) == 63
    assert {record["owner"] for record in tree_report.timings} <= {f"L{i}" for i in range(64)} | {
        f"I{i}" for i in range(64)
    }
    assert tree_report.kvs_bytes_written > 0
    assert tree_report.concurrency_limit > 0 and tree_report.peak_executors >= 1  # the job hook's figures


def test_cost_is_lambda_time_and_requests_plus_the_always_on_share(tree_report):
    cost = tree_report.cost
    defaults = WukongConfig()
    billed_s = (tree_report.counters["executor_ms"] + tree_report.invocations) / 1000
    assert cost.lambda_memory_mb == defaults.lambda_memory_mb
    assert cost.lambda_gb_s == pytest.approx(billed_s * defaults.lambda_memory_mb / 1024)
    assert cost.lambda_requests == tree_report.invocations
    assert cost.lambda_requests_usd == pytest.approx(tree_report.invocations * defaults.price_lambda_request)
    assert cost.ec2_usd == pytest.approx(defaults.price_ec2_h * tree_report.wall_s / 3600)
    parts = cost.lambda_compute_usd + cost.lambda_requests_usd + cost.fargate_usd + cost.ec2_usd
    assert cost.total_usd == pytest.approx(parts) and cost.total_usd > 0


def test_printed_report_is_short_and_says_the_cost(tree_report):
    text = str(tree_report)
    assert text.startswith(f"Wukong job {tree_report.job_id}: 63 tasks in ")
    assert f"AWS cost about ${tree_report.cost.total_usd:.6f}" in text
    assert "GB-s at 3008 MB" in text
    assert "slowest tasks: " in text
    assert len(text.splitlines()) <= 8


def test_to_dict_is_plain_json(tree_report):
    data = json.loads(json.dumps(tree_report.to_dict()))
    assert data["tasks"] == 63
    assert data["cost"]["total_usd"] == pytest.approx(tree_report.cost.total_usd)
    assert len(data["timings"]) == 63


def test_estimate_uses_the_configured_prices():
    config = WukongConfig(
        lambda_memory_mb=2048,
        price_lambda_gb_s=1.0,
        price_lambda_request=0.5,
        price_fargate_vcpu_h=3600.0,
        price_fargate_gb_h=0.0,
        price_ec2_h=7200.0,
    )
    cost = estimate_cost(config, wall_s=2.0, invocations=4, executor_ms=996, kvs_nodes=3)
    assert cost.lambda_gb_s == pytest.approx(2.0)  # (996 + 4) ms at 2 GB
    assert cost.lambda_compute_usd == pytest.approx(2.0)
    assert cost.lambda_requests_usd == pytest.approx(2.0)
    assert cost.fargate_usd == pytest.approx(3 * 1.0 * 2.0)  # 3 nodes x 1 vCPU x $1/s x 2 s
    assert cost.ec2_usd == pytest.approx(4.0)
    assert cost.total_usd == pytest.approx(14.0)
    no_fargate = estimate_cost(
        config.replace(use_fargate=False), wall_s=2.0, invocations=4, executor_ms=996, kvs_nodes=3
    )
    assert no_fargate.fargate_nodes == 0 and no_fargate.fargate_usd == 0


def test_build_report_prices_with_the_given_config():
    counters = {"tasks": 1, "invocations": 2, "executor_ms": 1998}
    cheap = build_report("j", 1.0, 2, counters, [], {}, {"n1": 0}, config=WukongConfig(price_lambda_gb_s=0.0))
    dear = build_report("j", 1.0, 2, counters, [], {}, {"n1": 0})
    assert cheap.cost.lambda_compute_usd == 0
    assert dear.cost.lambda_compute_usd == pytest.approx(2.0 * 3008 / 1024 * WukongConfig().price_lambda_gb_s)


def test_html_timeline_shows_every_task_and_invocation(tree_report, tmp_path):
    path = tree_report.timeline(tmp_path / "job.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and text.rstrip().endswith("</html>")
    for record in tree_report.timings:
        assert html.escape(record["key"]) in text
    for owner in {record["owner"] for record in tree_report.timings}:
        assert f"invocation {owner}" in text
    assert "http" not in text.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_png_timeline(tree_report, tmp_path):
    pytest.importorskip("matplotlib")
    path = tree_report.timeline(tmp_path / "job.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_of_an_array_job_names_its_key_prefixes(client, tmp_path):
    import dask.array as da

    x = da.ones((40, 40), chunks=(10, 10))
    (total,) = dask.compute((x @ x.T).sum(), scheduler=client.get)
    assert total == 40 * 40 * 40
    plan = layout(client.last_report.timings)
    assert {"ones_like", "chunk_sum", "sum"} <= set(plan.prefixes)  # dask's key prefixes, tuple keys parsed
    path = client.last_report.timeline(tmp_path / "array.svg")
    assert path.read_text().startswith("<svg")


def test_unknown_timeline_format_is_refused(tree_report, tmp_path):
    with pytest.raises(ValueError, match=r"\.html, \.svg or \.png"):
        tree_report.timeline(tmp_path / "job.txt")


def test_layout_packs_invocations_that_never_overlap():
    def record(owner, start, end, key="x"):
        return {"task": 0, "key": key, "owner": owner, "start": start, "end": end}

    timings = [
        record("L0", 10.0, 11.0),
        record("L0", 11.0, 12.0),  # one invocation, two tasks: 10..12
        record("L1", 10.5, 11.5),  # overlaps L0
        record("I2", 12.5, 13.0),  # after all: takes the row that fell free first (L0 ended at 12.0)
        record("I3", 11.8, 12.2),  # overlaps L0 (until 12) but starts after L1 ended
    ]
    unpacked = layout(timings)
    assert unpacked.rows == ("L0", "L1", "I3", "I2") and not unpacked.packed
    packed = layout(timings, max_invocation_rows=2)
    assert packed.packed and len(packed.rows) == 2  # peak concurrency
    row = {bar.owner: bar.row for bar in packed.bars}
    assert row["L0"] != row["L1"] and row["I3"] == row["L1"] and row["I2"] == row["L0"]
    assert packed.span_s == pytest.approx(3.0)
    assert [(r, round(t, 3)) for r, t, _ in packed.marks] == [
        (row["L0"], 0.0),
        (row["L1"], 0.5),
        (row["I3"], 1.8),
        (row["I2"], 2.5),
    ]


def test_key_prefix_reads_tuple_keys_back():
    assert key_prefix("('matmul-1f2e3d4c5b6a79880123456789abcdef', 0, 1)") == "matmul"
    assert key_prefix("add-3e9b5fdb-8196-440d-9f08-ac0055da7d79") == "add"


def test_cost_uses_the_clusters_prices_and_memory():
    from wukong import Client, LocalCluster

    with LocalCluster(
        local_workers=1, max_local_workers=1, lambda_memory_mb=1024, price_lambda_request=1.0
    ) as cluster:
        client = Client(cluster)
        assert dask.delayed(sum)([1, 2, 3]).compute(scheduler=client.get) == 6
        cost = client.last_report.cost
    assert cost.lambda_memory_mb == 1024
    assert cost.lambda_requests_usd == pytest.approx(client.last_report.invocations * 1.0)


def test_the_cost_models_prices_are_the_ones_docs_deploy_md_shows():
    """docs/deploy.md "What it costs" and the report's estimate use the same list prices."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text()
    prices = WukongConfig()
    assert f"${prices.price_lambda_gb_s:.10f} per GB-second" in doc
    assert f"${prices.price_lambda_request * 1e6:.2f} per million invocations" in doc
    assert f"${prices.price_fargate_vcpu_h} per vCPU-h + ${prices.price_fargate_gb_h} per GB-h" in doc
    assert f"2 EC2 m6i.large (MDS, scheduler) | ${prices.price_ec2_h / 2:.3f}/h each" in doc
