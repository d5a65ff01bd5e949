"""What the benchmarks run: the seed workloads at two sizes, built from ``examples/workloads.py``.

A case builds a fresh dask collection on every call (so no scheduler reuses another's graph), says
how many floating-point operations it does when that is well defined (GEMM), and which settings
Wukong's ``LocalCluster`` gets for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from examples import workloads

from . import real_graphs

SIZES = ("quick", "seed")
SLEEP_TREE_LEAVES = 64
SLEEP_TREE_DELAY_S = 0.1
# The sleep tree's widest level has 32 tasks: let the worker pool grow to run them all at once.
SLEEP_TREE_MAX_WORKERS = SLEEP_TREE_LEAVES // 2


@dataclass(frozen=True)
class Case:
    name: str
    about: str
    build: Callable[[], object]
    kind: str  # "overhead" (trivial tasks), "latency" (sleeping tasks) or "compute"
    flops: float = 0.0  # floating-point operations of the whole job, when well defined
    critical_path_s: float = 0.0  # the least wall time any scheduler could reach, when known
    wukong: dict = field(default_factory=dict)  # LocalCluster keyword arguments for this case


def gemm_case(n: int, chunk: int) -> Case:
    return Case(
        f"gemm_{n}",
        f"{n}x{n} @ {n}x{n}, {chunk}x{chunk} chunks",
        lambda: workloads.gemm(False, n=n, chunk=chunk),
        "compute",
        flops=2.0 * n**3,
    )


def tree_case(leaves: int) -> Case:
    return Case(
        f"tree_{leaves}",
        f"pairwise sum of {leaves} numbers ({leaves - 1} trivial tasks)",
        lambda: workloads.tree_reduction(False, leaves=leaves),
        "overhead",
    )


def sleep_tree_case() -> Case:
    levels = SLEEP_TREE_LEAVES.bit_length() - 1
    return Case(
        f"tree_{SLEEP_TREE_LEAVES}_sleep",
        f"pairwise sum of {SLEEP_TREE_LEAVES} numbers, {SLEEP_TREE_DELAY_S * 1000:g} ms sleep per task",
        lambda: workloads.tree_reduction(False, leaves=SLEEP_TREE_LEAVES, delay_s=SLEEP_TREE_DELAY_S),
        "latency",
        critical_path_s=levels * SLEEP_TREE_DELAY_S,
        wukong={"max_local_workers": SLEEP_TREE_MAX_WORKERS},
    )


def seed_case(name: str, small: bool) -> Case:
    workload = workloads.WORKLOADS[name]
    about = workload.about if not small else f"{workload.about} (small size)"
    return Case(name, about, lambda: workload.build(small), "compute")


def cases(size: str) -> list[Case]:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    small = size == "quick"
    found = [tree_case(1024), tree_case(16384), sleep_tree_case(), gemm_case(4000, 1000)]
    if not small:
        found.append(gemm_case(10_000, 1000))
    found += [
        seed_case(name, small) for name in ("svd", "svd_compressed", "tsqr", "qr", "cholesky", "svc_predict")
    ]
    found += [
        Case(
            "df_groupby_apply",
            real_graphs.df_groupby_apply.__doc__ or "",
            real_graphs.df_groupby_apply,
            "compute",
        ),
        Case("stencil_2d", "2-D map_overlap, 1200² of 60² chunks, summed", real_graphs.stencil_2d, "compute"),
    ]
    return found
