"""Task grouping: subtrees of leaves folded into one task when the DAG outgrows the platform, and
reductions folded with the products they sum.

The folding itself is pure logic on ASCII-drawn DAGs; then real jobs on the local cluster: results,
per-member counts and timings, fewer invocations and bytes, and a member's exception named by its own
key."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask import delayed

from examples.workloads import tree_reduction
from wukong import Client
from wukong.errors import RemoteTraceback
from wukong.protocol.task_group import TaskGroup
from wukong.scheduler.dag import build_dag
from wukong.scheduler.grouping import MAX_REDUCTION_INPUTS, cluster_reductions, group_leaves


def f(*args):
    return sum(args)


def describe(dag):
    """Each task of the grouped DAG: its key, its dependencies' keys, and its members if a group."""
    out = {}
    for task, key in enumerate(dag.keys):
        spec = dag.specs[task]
        out[key] = {
            "deps": [dag.keys[d] for d in dag.dependencies[task]],
            "members": [step[0] for step in spec.steps] if isinstance(spec, TaskGroup) else None,
        }
    return out


TREE = {"a": 1, "b": 2, "c": 3, "d": 4, "e": (f, "a", "b"), "f": (f, "c", "d"), "g": (f, "e", "f")}


def test_two_subtrees_become_two_groups():
    """
    a   b   c   d        concurrency 2, 7 tasks: groups of at most 3
     \\ /     \\ /
      e       f          e = {a, b, e}, f = {c, d, f}; g stays, fed by both groups
        \\   /
          g
    """
    dag = group_leaves(build_dag(TREE, ["g"]), concurrency=2)
    assert describe(dag) == {
        "e": {"deps": [], "members": ["a", "b", "e"]},
        "f": {"deps": [], "members": ["c", "d", "f"]},
        "g": {"deps": ["e", "f"], "members": None},
    }
    assert dag.leaves == (0, 1) and dag.finals == {2} and dag.dependents == ((2,), (2,), ())


def test_one_group_when_the_platform_runs_one_executor():
    dag = group_leaves(build_dag(TREE, ["g"]), concurrency=1)
    assert describe(dag) == {"g": {"deps": [], "members": ["a", "b", "e", "c", "d", "f", "g"]}}


def test_nothing_is_grouped_when_the_platform_is_wide_enough():
    dag = build_dag(TREE, ["g"])
    assert group_leaves(dag, concurrency=4) is dag  # 7 // 4 = 1 task per group: nothing to fold


def test_a_requested_task_and_a_shared_task_stay_visible():
    """
    a   b   c   d        e is requested too, so it cannot disappear into g's group;
     \\ /     \\ / \\       d feeds f and h, so neither f nor h can own it.
      e       f   h
        \\   /
          g
    """
    dsk = dict(TREE, h=(f, "d"))
    dag = group_leaves(build_dag(dsk, ["g", "e", "h"]), concurrency=1)
    assert describe(dag) == {
        "c": {"deps": [], "members": None},
        "d": {"deps": [], "members": None},
        "e": {"deps": [], "members": ["a", "b", "e"]},
        "f": {"deps": ["c", "d"], "members": None},
        "h": {"deps": ["d"], "members": None},
        "g": {"deps": ["e", "f"], "members": None},
    }


def test_group_runs_members_in_post_order_and_reports_each():
    dag = group_leaves(build_dag(TREE, ["g"]), concurrency=1)
    seen = []
    value = dag.specs[0].run(lambda: 0.0, lambda key, start, end: seen.append(key))
    assert value == 10 and seen == ["a", "b", "e", "c", "d", "f", "g"]


def test_tree_reduction_runs_as_groups(cluster):
    """1024 numbers: 511 adds at the leaves fold into at most ``concurrency`` groups."""
    client = Client(cluster)
    assert tree_reduction(False, leaves=1024).compute(scheduler=client.get) == sum(range(1024))
    report = client.last_report
    assert report.tasks == 1023  # every member counted, not one per group
    assert len(report.timings) == 1023 and len({t["key"] for t in report.timings}) == 1023
    assert report.leaf_invocations <= cluster.concurrency

    ungrouped = Client(cluster, task_grouping=False)
    assert tree_reduction(False, leaves=1024).compute(scheduler=ungrouped.get) == sum(range(1024))
    assert ungrouped.last_report.leaf_invocations == 512


def explode(x, at):
    if x == at:
        raise ZeroDivisionError(f"leaf {x} divides by zero")
    return x


def test_a_members_exception_names_that_member(client):
    leaves = [delayed(explode)(i, 5, dask_key_name=f"leaf-{i}") for i in range(128)]
    while len(leaves) > 1:
        leaves = [delayed(f)(a, b) for a, b in zip(leaves[0::2], leaves[1::2], strict=True)]
    with pytest.raises(ZeroDivisionError, match="leaf 5 divides by zero") as caught:
        leaves[0].compute(scheduler=client.get)
    assert isinstance(caught.value.__cause__, RemoteTraceback)
    assert "in explode" in caught.value.__cause__.text
    assert any("leaf-5" in note for note in caught.value.__notes__)
    assert client.get({"x": (f, 1, 2)}, "x") == 3  # and the next job runs


# Two 2x2 block matrices' product, one output row: C_j = A_0 B_0j + A_1 B_1j; every block feeds two
# products, every product feeds one sum.
GEMM_ROW = {
    "A0": 1, "A1": 2, "B00": 3, "B01": 4, "B10": 5, "B11": 6,
    "p00": (f, "A0", "B00"), "p10": (f, "A1", "B10"), "p01": (f, "A0", "B01"), "p11": (f, "A1", "B11"),
    "C0": (f, "p00", "p10"), "C1": (f, "p01", "p11"),
}  # fmt: skip
BLOCK = 8_000_000  # an 8 MB block: 1000² float64


def sizes_of(dsk, **overrides):
    return {key: overrides.get(key, BLOCK) for key in dsk}


def test_a_reduction_over_products_runs_with_them():
    """
    A0 B00  A1 B10   A0 B01  A1 B11      each block feeds two products; each product feeds one sum:
      \\ /     \\ /      \\ /     \\ /       C0 = {p00, p10, C0} and C1 = {p01, p11, C1}, fed by the blocks
      p00     p10      p01     p11
         \\   /            \\   /
          C0               C1
    """
    dag = cluster_reductions(build_dag(GEMM_ROW, ["C0", "C1"]), sizes_of(GEMM_ROW))
    described = describe(dag)
    assert described["C0"] == {"deps": ["A0", "A1", "B00", "B10"], "members": ["p00", "p10", "C0"]}
    assert described["C1"] == {"deps": ["A0", "A1", "B01", "B11"], "members": ["p01", "p11", "C1"]}
    assert set(described) == {"A0", "A1", "B00", "B01", "B10", "B11", "C0", "C1"}
    index = dag.index()
    assert dag.dependents[index["A0"]] == (index["C0"], index["C1"])
    assert dag.finals == {index["C0"], index["C1"]}
    inputs = {"A0": 1, "A1": 2, "B00": 3, "B10": 5}
    assert dag.specs[index["C0"]].run(lambda: 0.0, lambda *_: None, inputs) == 1 + 3 + 2 + 5


def test_thin_products_of_big_inputs_stay_apart():
    """x @ omega: 8 MB blocks of x times thin omega blocks make 80 KB products. Together would move
    three blocks of x to save two products' round trips and one invocation; apart moves the thin ones."""
    thin = dict.fromkeys(["B00", "B01", "B10", "B11", "p00", "p10", "p01", "p11", "C0", "C1"], 80_000)
    dag = build_dag(GEMM_ROW, ["C0", "C1"])
    assert cluster_reductions(dag, sizes_of(GEMM_ROW, **thin)) is dag
    tiny = dict.fromkeys(thin, 8)  # so small that only the saved invocations count
    assert len(cluster_reductions(dag, sizes_of(GEMM_ROW, **tiny, A0=8, A1=8))) == 8


def test_partial_sums_count_at_most_their_sums_size():
    """x.sum(): each partial sum reads one 8 MB block of its own. dask states the partials at their
    blocks' size; bounded by the (tiny) sum's size, together would only move three blocks."""
    dsk = {f"x{i}": i for i in range(4)} | {f"p{i}": (f, f"x{i}") for i in range(4)}
    dsk["total"] = (f, "p0", "p1", "p2", "p3")
    dag = build_dag(dsk, ["total"])
    assert cluster_reductions(dag, sizes_of(dsk, total=8)) is dag
    assert len(cluster_reductions(dag, sizes_of(dsk))) == 5  # partials as big as blocks: together


def test_products_that_are_requested_shared_or_of_unknown_size_stay_tasks():
    sizes = sizes_of(GEMM_ROW)
    assert cluster_reductions(build_dag(GEMM_ROW, ["C0", "C1", "p00"]), sizes).keys.count("p10") == 1
    shared = dict(GEMM_ROW, D=(f, "p11"))  # p11 feeds C1 and D
    described = describe(cluster_reductions(build_dag(shared, ["C0", "C1", "D"]), sizes_of(shared)))
    assert described["C0"]["members"] == ["p00", "p10", "C0"] and described["C1"]["members"] is None
    del sizes["p10"]  # a delayed function's output: no size, no clustering
    described = describe(cluster_reductions(build_dag(GEMM_ROW, ["C0", "C1"]), sizes))
    assert described["C0"]["members"] is None and described["C1"]["members"] == ["p01", "p11", "C1"]


def test_a_reduction_wider_than_the_limit_stays_parallel():
    width = MAX_REDUCTION_INPUTS + 1
    dsk = {"x": 1, "y": 2, **{f"p{i}": (f, "x", "y") for i in range(width)}}
    dsk["total"] = (f, *[f"p{i}" for i in range(width)])
    dag = build_dag(dsk, ["total"])
    assert cluster_reductions(dag, sizes_of(dsk)) is dag
    del dsk[f"p{width - 1}"]
    dsk["total"] = (f, *[f"p{i}" for i in range(width - 1)])
    assert describe(cluster_reductions(build_dag(dsk, ["total"]), sizes_of(dsk)))["total"]["deps"] == [
        "x",
        "y",
    ]


def block_product(a, b, bad=None):
    """One block product of a blocked matmul, kept along the contraction axis (as dask's matmul)."""
    if bad is not None and a[0, 0] == bad:
        raise ZeroDivisionError(f"block starting with {bad} divides by zero")
    return (a @ b)[:, None, :]


def blocked_matmul(a, b, bad=None):
    left, right = da.from_array(a, chunks=100), da.from_array(b, chunks=100)
    products = da.blockwise(
        block_product, "ikj", left, "ik", right, "kj", adjust_chunks={"k": 1}, dtype=float, bad=bad
    )
    return products.sum(axis=1)


def test_gemm_tiles_run_with_their_products(cluster):
    """A blocked matmul: each output tile's products never reach the KV store; results, task counts
    and per-member timings are as without clustering."""
    rng = np.random.default_rng(0)
    a, b = rng.random((400, 400)), rng.random((400, 400))

    def run(client, product):
        assert np.allclose(product.compute(scheduler=client.get), a @ b)
        return client.last_report

    for product in (da.from_array(a, chunks=100) @ da.from_array(b, chunks=100), blocked_matmul(a, b)):
        clustered = run(Client(cluster), product)
        apart = run(Client(cluster, cluster_reductions=False), product)
        assert clustered.tasks == apart.tasks  # every product still counted (and timed) as a task
        assert sorted(t["key"] for t in clustered.timings) == sorted(t["key"] for t in apart.timings)
        assert clustered.invocations < apart.invocations
        # 64 products of 80 KB each are no longer written: only the 32 input blocks are
        assert clustered.kvs_bytes_written < apart.kvs_bytes_written - 64 * 80_000
        assert clustered.kvs_bytes_written < 32 * 80_000 + 64 * 1024


def test_a_products_exception_names_that_product(client):
    a = np.ones((400, 400))
    a[200, 100] = -1.0  # the first element of block (2, 1)
    with pytest.raises(ZeroDivisionError, match="block starting with -1.0 divides by zero") as caught:
        blocked_matmul(a, np.ones((400, 400)), bad=-1.0).compute(scheduler=client.get)
    assert "in block_product" in caught.value.__cause__.text
    # the failing product ran inside its tile's cluster (the shape test_gemm_tiles_run_with_their_products
    # shows clustered), and is still the one named
    assert any(", 2, 1, " in note for note in caught.value.__notes__)


def test_a_wide_fan_in_of_leaves_takes_no_more_leaf_invocations_than_the_platform_runs(client):
    """3000 delayed leaves summed by one task: the leaves start in at most ``concurrency`` invocations
    (was one each: 3000 invocations)."""
    leaves = [dask.delayed(lambda i: i)(i, dask_key_name=f"leaf-{i}") for i in range(3000)]
    total = dask.delayed(sum)(leaves)
    assert total.compute(scheduler=client.get) == sum(range(3000))
    report = client.last_report
    assert report.tasks == 3001 and report.leaf_invocations <= client.cluster.concurrency
