"""Fold several tasks into one :class:`TaskGroup` task, run by one executor in memory.

Two rules, both decided before the job runs and both switchable per job:

**Leaf groups** (``task_grouping``). An executor costs an invocation, a schedule load, a lease and a
registration, a few hundred microseconds even when warm; a trivial task costs a microsecond. A tree
reduction of 16384 numbers has 8192 leaves: one executor per leaf spends nearly all its time on the
protocol, and only ``concurrency`` of them run at once anyway. So, bottom-up, a task is folded together
with its dependencies when each of them is itself a closed subtree (its only consumer is this task, it
is not a requested final) and the whole stays within ``len(dag) // concurrency`` tasks::

      a   b   c   d          concurrency 2, 7 tasks: groups of at most 3.
       \\ /     \\ /           e = {a, b, e} and f = {c, d, f} become two leaves;
        e       f            g stays a task of its own, fed by the two groups.
          \\   /
            g

Such a group has no dependencies, so it starts as soon as the job does, and there are never fewer
groups than the platform's concurrency: grouping only takes away executors that would have queued.

**Reduction clusters** (``cluster_reductions``). A reduction whose every input is a *product*, a
task made only for it (its one consumer, not requested) out of other tasks' outputs, may run with
those products in one executor::

      A0  B0  A1  B1         C = sum(p0, p1), p_k = A_k @ B_k: each block A_k, B_k feeds other tiles.
       \\ /     \\ /           C = {p0, p1, C} depends on A0, B0, A1, B1; p0 and p1 never leave
        p0      p1           the executor's memory.
          \\   /
            C

Whether that pays depends on sizes, which dask arrays state before anything runs (``sizes.py``). Apart,
each product runs where one of its inputs is, reads the others, writes its output, and the reduction
reads it back; together, one executor reads every input but one, and the products' invocations are
saved. A GEMM tile's block products are as big as its blocks (8 MB at 1000² chunks): together moves
7 blocks instead of 11 and saves three invocations. ``x @ omega`` in a randomized SVD makes thin
products out of big blocks of ``x``: together would move every block of ``x`` to save a few kilobytes,
so it stays apart. Keys without a size (delayed functions, tuples) never cluster. The price is
parallelism within one reduction (its products run one after another), so only reductions of at most
``MAX_REDUCTION_INPUTS`` inputs fold; dask's tree reductions (``split_every``, 4 by default) keep every
level that narrow.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from ..protocol.task_group import TaskGroup
from .dag import Dag

MIN_GROUP_TASKS = 2
MAX_REDUCTION_INPUTS = 16
# What one invocation costs, as bytes moved through the KV store: ~1 ms of protocol against ~1 GB/s.
INVOCATION_BYTES = 1 << 20


def group_leaves(dag: Dag, concurrency: int) -> Dag:
    """``dag`` with closed subtrees folded into :class:`TaskGroup` tasks (unchanged if none fits)."""
    limit = len(dag) // max(1, concurrency)  # tasks per group
    if limit < MIN_GROUP_TASKS:
        return dag
    n = len(dag)
    size = [0] * n  # tasks in the closed subtree rooted here; 0 = not a closed subtree
    folded = [False] * n  # folded into its dependent's group
    for task in range(n):  # ids are topological: dependencies first
        deps = dag.dependencies[task]
        total = 1 + sum(size[d] for d in deps)
        closed = all(size[d] and len(dag.dependents[d]) == 1 and d not in dag.finals for d in deps)
        if closed and total <= limit:
            size[task] = total
            for dep in deps:
                folded[dep] = True
    roots = [t for t in range(n) if not folded[t] and size[t] >= MIN_GROUP_TASKS]
    return fold(dag, {root: subtree_in_post_order(dag, root) for root in roots})


def cluster_reductions(dag: Dag, sizes: Mapping[Hashable, int]) -> Dag:
    """``dag`` with each reduction over products folded with them where that moves fewer bytes;
    ``sizes``: estimated output bytes by key (``sizes.chunk_bytes``)."""
    groups = {}
    for task in range(len(dag)):
        deps = dag.dependencies[task]
        if (
            2 <= len(deps) <= MAX_REDUCTION_INPUTS
            and dag.keys[task] in sizes
            and all(d not in groups and is_product(dag, d, task, sizes) for d in deps)  # no nesting
            and together_moves_less(dag, task, sizes)
        ):
            groups[task] = [*deps, task]  # ids are topological: products first, the reduction last
    return fold(dag, groups)


def is_product(dag: Dag, task: int, consumer: int, sizes: Mapping[Hashable, int]) -> bool:
    """``task`` exists only for ``consumer``, is made from other tasks' outputs, and every size is known."""
    return (
        dag.dependents[task] == (consumer,)
        and task not in dag.finals
        and not isinstance(dag.specs[task], TaskGroup)
        and bool(dag.dependencies[task])
        and all(dag.keys[t] in sizes for t in (task, *dag.dependencies[task]))
    )


def together_moves_less(dag: Dag, reduction: int, sizes: Mapping[Hashable, int]) -> bool:
    """Bytes through the KV store (and invocations, at ``INVOCATION_BYTES`` each) with the reduction's
    products apart against together with it. A product counts at most the reduction's own size: dask
    states a reduction's chunk step at its input's chunks (``sizes.py``), and a sum's partials are no
    bigger than the sum."""

    def size(task: int) -> int:
        return sizes[dag.keys[task]]

    products = dag.dependencies[reduction]
    made = [min(size(p), size(reduction)) for p in products]
    apart = 2 * sum(made) - max(made)  # each written, read back where the reduction runs
    inputs: dict[int, int] = {}
    for product in products:
        own = [size(d) for d in dag.dependencies[product]]
        apart += sum(own) - max(own)  # a product runs where one input is and reads the others
        inputs.update((d, size(d)) for d in dag.dependencies[product])
    together = sum(inputs.values()) - max(inputs.values())
    return together < apart + (len(products) - 1) * INVOCATION_BYTES


def subtree_in_post_order(dag: Dag, root: int) -> list[int]:
    """The subtree under ``root``, each subtree finished before its sibling starts (fewer values held)."""
    order: list[int] = []
    stack = [(root, False)]
    while stack:
        task, expanded = stack.pop()
        if expanded:
            order.append(task)
            continue
        stack.append((task, True))
        stack.extend((d, False) for d in reversed(dag.dependencies[task]))
    return order


def fold(dag: Dag, groups: Mapping[int, Sequence[int]]) -> Dag:
    """Replace each group (root -> its members in run order, the root last) by one :class:`TaskGroup`
    task in the root's place: the root's key and dependents, the members' outside inputs as its
    dependencies. Every member but the root must have consumers only inside its group."""
    if not groups:
        return dag
    group_of = {member: root for root, members in groups.items() for member in members}
    kept = [t for t in range(len(dag)) if group_of.get(t, t) == t]
    renumber = {old: new for new, old in enumerate(kept)}  # topological still: a root follows its inputs

    def new_id(task: int) -> int:
        return renumber[group_of.get(task, task)]

    keys = dag.keys
    specs, dependencies = [], []
    for task in kept:
        members = groups.get(task)
        if members is None:
            specs.append(dag.specs[task])
            dependencies.append(tuple(new_id(d) for d in dag.dependencies[task]))
            continue
        inside = set(members)
        outside = sorted({d for m in members for d in dag.dependencies[m] if d not in inside})
        steps = tuple((keys[m], dag.specs[m], tuple(keys[d] for d in dag.dependencies[m])) for m in members)
        specs.append(TaskGroup(keys[task], steps))
        dependencies.append(tuple(new_id(d) for d in outside))
    # A group runs again as a whole when a member raises: as often as its members may, together.
    retries: dict[int, int] = {}
    for task, count in dag.retries.items():
        retries[new_id(task)] = retries.get(new_id(task), 0) + count
    return Dag(
        keys=tuple(dag.keys[t] for t in kept),
        specs=tuple(specs),
        dependencies=tuple(dependencies),
        dependents=tuple(tuple(dict.fromkeys(new_id(d) for d in dag.dependents[t])) for t in kept),
        finals=frozenset(renumber[t] for t in dag.finals),
        retries=retries,
    )
