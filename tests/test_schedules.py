"""Static schedules on small DAGs drawn in ASCII: whole-partition assertions, keys renamed to catch
any dependence on key names. Pure logic: no Redis, no workers."""

from __future__ import annotations

import pytest

from wukong.config import WukongConfig
from wukong.protocol.payload import JobSettings, decode, encode, invocation
from wukong.protocol.schedule import decode_schedule
from wukong.scheduler.dag import build_dag
from wukong.scheduler.job import leaf_payload
from wukong.scheduler.schedules import build_schedules, encode_schedules, partition


def f(*args):
    return sum(args)


def describe(dsk, keys):
    """The partition in key names: paths, become, invoke and every schedule's chain and tasks."""
    dag = build_dag(dsk, keys)
    part = partition(dag)
    name = dag.keys.__getitem__
    paths = {}
    for task, path in enumerate(part.path_of):
        paths.setdefault(path, []).append(name(task))
    schedules = build_schedules(dag, part)
    return {
        "paths": [paths[p] for p in sorted(paths)],
        "become": {name(t): name(b) for t, b in enumerate(part.become) if b is not None},
        "invoke": {name(t): [name(i) for i in inv] for t, inv in enumerate(part.invoke) if inv},
        "chains": [[name(t) for t in s.chain] for s in schedules],
        "holds": [sorted(name(i.id) for i in s.tasks) for s in schedules],
        "leaves": [name(t) for t in dag.leaves],
    }


def renamed(dsk, mapping):
    def rename(value):
        if isinstance(value, tuple):
            return tuple(rename(v) for v in value)
        return mapping.get(value, value) if isinstance(value, str) else value

    return {mapping[k]: rename(v) for k, v in dsk.items()}


def rename_description(description, mapping):
    def rename(value):
        if isinstance(value, str):
            return mapping[value]
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, dict):
            return {rename(k): rename(v) for k, v in value.items()}
        return value

    out = {field: rename(value) for field, value in description.items()}
    out["holds"] = [sorted(h) for h in out["holds"]]
    return out


def check_renaming(dsk, keys, description):
    """The same graph under other (reverse-sorted) names must be partitioned the same way."""
    mapping = {k: f"zz{len(dsk) - i:03d}" for i, k in enumerate(dsk)}
    other = describe(renamed(dsk, mapping), [mapping[k] for k in keys])
    assert other == rename_description(description, mapping)


def test_chain():
    """
    a -> b -> c
    """
    dsk = {"a": 1, "b": (f, "a"), "c": (f, "b")}
    d = describe(dsk, ["c"])
    assert d == {
        "paths": [["a", "b", "c"]],
        "become": {"a": "b", "b": "c"},
        "invoke": {},
        "chains": [["a", "b", "c"]],
        "holds": [["a", "b", "c"]],
        "leaves": ["a"],
    }
    check_renaming(dsk, ["c"], d)


def test_fan_in():
    """
    a   b
     \\ /
      c
    """
    dsk = {"a": 1, "b": 2, "c": (f, "a", "b")}
    d = describe(dsk, ["c"])
    assert d == {
        "paths": [["a", "c"], ["b"]],
        "become": {"a": "c", "b": "c"},
        "invoke": {},
        "chains": [["a", "c"], ["b", "c"]],
        "holds": [["a", "c"], ["b", "c"]],
        "leaves": ["a", "b"],
    }
    check_renaming(dsk, ["c"], d)


def test_fan_out():
    """
        a
      / | \\
     b  c  d
    """
    dsk = {"a": 1, "b": (f, "a"), "c": (f, "a"), "d": (f, "a")}
    d = describe(dsk, ["b", "c", "d"])
    assert d == {
        "paths": [["a", "b"], ["c"], ["d"]],
        "become": {"a": "b"},
        "invoke": {"a": ["c", "d"]},
        "chains": [["a", "b"], ["c"], ["d"]],
        "holds": [["a", "b", "c", "d"], ["c"], ["d"]],
        "leaves": ["a"],
    }
    check_renaming(dsk, ["b", "c", "d"], d)


def test_diamond():
    """
        a
       / \\
      b   c
       \\ /
        d
    """
    dsk = {"a": 1, "b": (f, "a"), "c": (f, "a"), "d": (f, "b", "c")}
    d = describe(dsk, ["d"])
    assert d == {
        "paths": [["a", "b", "d"], ["c"]],
        "become": {"a": "b", "b": "d", "c": "d"},
        "invoke": {"a": ["c"]},
        "chains": [["a", "b", "d"], ["c", "d"]],
        "holds": [["a", "b", "c", "d"], ["c", "d"]],
        "leaves": ["a"],
    }
    check_renaming(dsk, ["d"], d)


def test_shared_suffix():
    """
    a1   b1
    |    |
    a2   b2
     \\  /
      s
      |
      t
    """
    dsk = {"a1": 1, "b1": 2, "a2": (f, "a1"), "b2": (f, "b1"), "s": (f, "a2", "b2"), "t": (f, "s")}
    d = describe(dsk, ["t"])
    assert d == {
        "paths": [["a1", "a2", "s", "t"], ["b1", "b2"]],
        "become": {"a1": "a2", "a2": "s", "s": "t", "b1": "b2", "b2": "s"},
        "invoke": {},
        "chains": [["a1", "a2", "s", "t"], ["b1", "b2", "s", "t"]],
        "holds": [["a1", "a2", "s", "t"], ["b1", "b2", "s", "t"]],
        "leaves": ["a1", "b1"],
    }
    check_renaming(dsk, ["t"], d)


def test_fan_out_then_fan_in_absorbs_visited_path():
    """
      a           a's DFS: a, b, d (b's become), then c starts a new path,
     / \\          and c's only dependent d is visited: c absorbs d's path.
    b   c
     \\ /
      d -> e
    """
    dsk = {"a": 1, "b": (f, "a"), "c": (f, "a"), "d": (f, "b", "c"), "e": (f, "d")}
    d = describe(dsk, ["e"])
    assert d["chains"] == [["a", "b", "d", "e"], ["c", "d", "e"]]
    assert d["invoke"] == {"a": ["c"]}
    check_renaming(dsk, ["e"], d)


def test_cull_to_requested_keys():
    dsk = {"a": 1, "b": (f, "a"), "unused": (f, "a"), "c": (f, "b")}
    d = describe(dsk, ["c"])
    assert d["paths"] == [["a", "b", "c"]]


def test_every_task_in_exactly_one_path_and_every_dependent_known_to_its_schedule():
    import dask.array as da

    x = da.ones((40, 40), chunks=10)
    collection = (x @ x.T).sum()
    dsk, keys = collection.__dask_graph__(), collection.__dask_keys__()
    dag = build_dag(dsk, keys)
    part = partition(dag)
    assert len(part.path_of) == len(dag) and None not in part.path_of
    assert len(part.leaf_paths) == len(dag.leaves)
    for schedule in build_schedules(dag, part):
        held = {i.id for i in schedule.tasks}
        for task in schedule.chain:
            assert set(dag.dependents[task]) <= held


def test_schedule_goes_to_mds_when_payload_would_be_too_big():
    dsk = {f"x{i}": (f, f"x{i - 1}") for i in range(1, 2000)}
    dsk["x0"] = 0
    dag = build_dag(dsk, ["x1999"])
    part = partition(dag)
    encoded = encode_schedules(build_schedules(dag, part))
    (schedule,) = encoded.values()
    assert decode_schedule(schedule).chain == tuple(range(2000))
    small = leaf_payload("job", [(0, 0)], schedule, job_settings(max_payload_bytes=4096))
    assert "sched_b64" not in small and small["sched"] == 0
    big = leaf_payload("job", [(0, 0)], schedule, job_settings(max_payload_bytes=len(schedule) * 2))
    assert "sched_b64" in big


def job_settings(**config) -> JobSettings:
    return JobSettings.from_config(WukongConfig(**config), use_proxy=False)


def test_the_job_kvs_nodes_travel_with_the_settings_and_take_their_room_from_the_payload():
    nodes = ("10.0.1.7:6379", "10.0.2.9:6379")
    settings = JobSettings.from_config(WukongConfig(max_payload_bytes=100_000), False, nodes)
    assert settings.kvs_nodes == nodes
    assert settings.max_payload_bytes == 100_000 - len('{"kvs_nodes":["10.0.1.7:6379","10.0.2.9:6379"]}')
    payload = decode(encode(invocation("job", "L0", 0, 0, settings)))
    assert JobSettings.from_payload(payload["settings"]) == settings


def test_bad_key_is_a_key_error():
    with pytest.raises(KeyError):
        build_dag({"a": 1}, ["nope"])


def test_dask_collection_finalizers_run_in_the_client():
    """An array's ``finalize`` (concatenate every chunk) is run by the client, on finals."""
    import dask.array as da
    from dask import delayed

    from wukong.scheduler.dag import as_task_graph, client_finalizers

    seen = {}

    def capture(dsk, keys, **kwargs):
        graph = as_task_graph(dsk)
        seen["finalizers"] = client_finalizers(graph, list(keys))
        seen["keys"] = list(keys)
        return dask.get(dsk, keys)

    import dask

    x = da.ones((40, 10), chunks=(10, 10))
    assert (x + 1).compute(scheduler=capture).sum() == 800
    assert list(seen["finalizers"]) == seen["keys"]
    assert len(next(iter(seen["finalizers"].values())).dependencies) == 4
    delayed(f)(1, 2).compute(scheduler=capture)
    assert seen["finalizers"] == {}
