"""Run the cases on every system, in the same run, and keep what happened.

For each case and system: start the system (timed on its own), run the case once to warm up
(``first_s``: a cold pool, first imports, pool growth), let the system settle, then ``reps`` timed
runs, each on a freshly built collection. Every system's answer is checked against the threaded
scheduler's. A system that fails a case is recorded and the run goes on.
"""

from __future__ import annotations

import statistics
import time
import traceback
from dataclasses import dataclass, field, fields

from examples.workloads import same_result

from . import systems
from .cases import Case

# What the JSON keeps of a Wukong job report (its per-task timings stay out).
REPORT_FIELDS = (
    "wall_s",
    "tasks",
    "invocations",
    "leaf_invocations",
    "tasks_local_input",
    "kvs_bytes_written",
    "kvs_bytes_read",
    "mds_bytes_written",
    "mds_bytes_read",
    "cost",
)
REPORT_COUNTERS = ("executor_ms", "invoked", "delayed_io", "proxy_fanouts", "kvs_writes")


@dataclass
class Outcome:
    """One system on one case."""

    system: str
    describe: str = ""
    start_s: float = 0.0
    first_s: float = 0.0
    times_s: list[float] = field(default_factory=list)
    check: str = ""  # "ok", "differs" or "reference"
    report: dict = field(default_factory=dict)
    error: str = ""
    job: object = field(default=None, repr=False)  # Wukong's last JobReport (for its timeline)

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.times_s) if self.times_s else None

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "job"}
        return {**data, "median_s": self.median_s}


@dataclass
class CaseResult:
    case: Case
    outcomes: dict[str, Outcome]

    def to_dict(self) -> dict:
        case = self.case
        return {
            "name": case.name,
            "about": case.about,
            "kind": case.kind,
            "flops": case.flops,
            "critical_path_s": case.critical_path_s,
            "wukong_settings": case.wukong,
            "systems": {name: outcome.to_dict() for name, outcome in self.outcomes.items()},
        }


def run_case(case: Case, names: list[str], reps: int, log=print) -> CaseResult:
    """Run ``case`` on each system in ``names`` (threaded first: its answer is the reference)."""
    ordered = sorted(names, key=lambda n: n != "threaded")
    reference: list = []
    outcomes = {}
    for name in ordered:
        outcomes[name] = run_on(case, systems.make(name, case.wukong), reps, reference)
        outcome = outcomes[name]
        median = f"{outcome.median_s:.3f} s" if outcome.median_s is not None else "-"
        log(
            f"  {case.name:<16} {name:<12} start {outcome.start_s:6.2f} s  first {outcome.first_s:7.3f} s  "
            f"median {median:>9}  {outcome.check or outcome.error.splitlines()[-1][:60]}"
        )
    return CaseResult(case, {name: outcomes[name] for name in names})


def run_on(case: Case, system, reps: int, reference: list) -> Outcome:
    outcome = Outcome(system.name)
    try:
        started = time.perf_counter()
        system.start()
        outcome.start_s = time.perf_counter() - started
        collection = case.build()
        started = time.perf_counter()
        result = system.compute(collection)
        outcome.first_s = time.perf_counter() - started
        if reference:
            outcome.check = "ok" if same_result(result, reference[0]) else "differs"
        else:
            reference.append(result)
            outcome.check = "reference"
        del result, collection
        system.settle()
        for _ in range(reps):
            collection = case.build()
            started = time.perf_counter()
            system.compute(collection)
            outcome.times_s.append(time.perf_counter() - started)
        outcome.job = system.job_report()
        outcome.report = summarize_report(outcome.job)
        outcome.describe = system.describe()
    except Exception as exc:
        outcome.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        traceback.print_exc()
    finally:
        try:
            system.close()
        except Exception:
            traceback.print_exc()
    return outcome


def summarize_report(job) -> dict:
    if job is None:
        return {}
    report = job.to_dict()
    kept = {name: report[name] for name in REPORT_FIELDS if name in report}
    counters = report.get("counters", {})
    kept.update({name: counters.get(name, 0) for name in REPORT_COUNTERS})
    return kept
