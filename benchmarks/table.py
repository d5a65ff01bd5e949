"""The printed summary: medians, ratios, Wukong's traffic, and the notes that make them readable."""

from __future__ import annotations

import statistics

from .runner import CaseResult

NOISY_SPREAD = 0.25  # a median whose runs spread more than this (fraction of it) is marked "~"
HEADER = (
    "case",
    "tasks",
    "wukong s",
    "threaded s",
    "distrib. s",
    "W/T",
    "W/D",
    "W first s",
    "W us/task",
    "invocations",
    "KVS written",
    "KVS read",
    "AWS $/job",
)


def format_table(results: list[CaseResult], machine: dict, size: str, reps: int) -> str:
    rows = [HEADER] + [row(result) for result in results]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [
        "| "
        + " | ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        + " |"
        for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    title = (
        f"Wukong vs dask, size {size}, median of {reps} runs after one warm-up run; "
        f"{machine['cpus']} CPUs, BLAS {machine['blas_gflops_all_cores']} GFLOP/s on all cores"
    )
    return "\n".join([title, "", *lines, "", *notes(results, machine)])


def row(result: CaseResult) -> tuple[str, ...]:
    out = result.outcomes
    wukong = out.get("wukong")
    report = wukong.report if wukong else {}
    medians = {name: o.median_s for name, o in out.items()}
    tasks = report.get("tasks")
    return (
        result.case.name,
        str(tasks) if tasks else "",
        cell(out.get("wukong")),
        cell(out.get("threaded")),
        cell(out.get("distributed")),
        ratio(medians.get("wukong"), medians.get("threaded")),
        ratio(medians.get("wukong"), medians.get("distributed")),
        f"{wukong.first_s:.3f}" if wukong and wukong.first_s else "",
        f"{1e6 * medians['wukong'] / tasks:.0f}" if tasks and medians.get("wukong") else "",
        str(report.get("invocations", "")),
        size(report.get("kvs_bytes_written")),
        size(report.get("kvs_bytes_read")),
        f"{report['cost']['total_usd']:.6f}" if report.get("cost") else "",
    )


def cell(outcome) -> str:
    if outcome is None:
        return ""
    if outcome.error:
        return "error"
    text = f"{outcome.median_s:.3f}" if outcome.median_s is not None else "-"
    if noisy(outcome):
        text = "~" + text
    return text + (" (wrong)" if outcome.check == "differs" else "")


def noisy(outcome) -> bool:
    times = outcome.times_s
    return len(times) >= 2 and (max(times) - min(times)) > NOISY_SPREAD * statistics.median(times)


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else ""


def size(n) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def notes(results: list[CaseResult], machine: dict) -> list[str]:
    lines = []
    starts = {}
    for result in results:
        for name, outcome in result.outcomes.items():
            if not outcome.error:
                starts.setdefault(name, []).append(outcome.start_s)
    if starts:
        lines.append(
            "Start-up (not in the times above), median over cases: "
            + ", ".join(f"{name} {statistics.median(v):.2f} s" for name, v in starts.items())
        )
    for result in results:
        case = result.case
        if case.flops:
            limit = machine["blas_gflops_all_cores"]
            achieved = [
                f"{name} {case.flops / o.median_s / 1e9:.0f} GFLOP/s ({limit * o.median_s * 1e9 / case.flops:.2f}x the limit)"
                for name, o in result.outcomes.items()
                if o.median_s
            ]
            lines.append(f"{case.name}: BLAS limit {limit} GFLOP/s; " + ", ".join(achieved))
        if case.critical_path_s:
            achieved = [
                f"{name} {o.median_s / case.critical_path_s:.2f}x"
                for name, o in result.outcomes.items()
                if o.median_s
            ]
            lines.append(f"{case.name}: critical path {case.critical_path_s:.1f} s; " + ", ".join(achieved))
    for result in results:
        for name, outcome in result.outcomes.items():
            if outcome.error:
                lines.append(f"{result.case.name} on {name} failed: {outcome.error.splitlines()[-1]}")
            elif outcome.check == "differs":
                lines.append(
                    f"{result.case.name} on {name}: the answer differs from the threaded scheduler's"
                )
    described = {}
    for result in results:
        for name, outcome in result.outcomes.items():
            if outcome.describe:
                described.setdefault(name, set()).add(outcome.describe)
    lines.append(
        "Peers: threaded = dask's threaded scheduler, BLAS limited to 1 thread per worker thread "
        "(threadpoolctl); distributed = distributed.LocalCluster(n_workers=2, threads_per_worker=1), "
        "1 BLAS thread per worker (nanny environment); wukong = LocalCluster() local mode, 1 BLAS thread "
        "per worker process."
    )
    if "wukong" in described:
        lines.append("Wukong pool size after the runs: " + ", ".join(sorted(described["wukong"])))
    load = machine.get("load_average"), machine.get("load_average_after")
    if all(load):
        lines.append(
            f"~: that system's runs spread by more than {NOISY_SPREAD:.0%} of the median. Load average "
            f"(1 min) before the run {load[0][0]:.1f}, after {load[1][0]:.1f}."
        )
    lines.append(
        "W/T, W/D: Wukong's median over the peer's (below 1 = Wukong faster). W first: the warm-up run. "
        "AWS $/job: what Wukong's job would have cost on AWS (JobReport.cost)."
    )
    return lines
