"""Task grouping: subtrees of leaves folded into one task when the DAG outgrows the platform.

The folding itself is pure logic on ASCII-drawn DAGs; then real jobs on the local cluster: results,
per-member counts and timings, fewer invocations, and a member's exception named by its own key."""

from __future__ import annotations

import pytest
from dask import delayed

from examples.workloads import tree_reduction
from wukong import Client
from wukong.errors import RemoteTraceback
from wukong.protocol.task_group import TaskGroup
from wukong.scheduler.dag import build_dag
from wukong.scheduler.grouping import group_leaves


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
