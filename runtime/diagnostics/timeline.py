"""A picture of one job: executors as rows, tasks as bars, the start of each invocation as a mark.

``client.last_report.timeline("job.html")`` writes a self-contained HTML page (inline SVG, no
scripts, no downloads); ``.svg`` writes the SVG alone; ``.png`` (or ``.pdf``) draws the same with
matplotlib, if it is installed.

Rows. Every timing record names its invocation (``owner``). A job with few invocations gets one row
per invocation. A big job would get thousands of rows, so invocations that never overlap in time
share a row, the way a warm Lambda container (or local worker) runs one invocation after another:
the number of rows is then the job's peak concurrency. Records that carry a ``worker`` are drawn on
that worker's row instead.
"""

from __future__ import annotations

import ast
import heapq
import html
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dask.utils import key_split

MAX_INVOCATION_ROWS = 48  # above this many invocations, non-overlapping ones share a row
SVG_WIDTH_PX = 1200
LABEL_WIDTH_PX = 110
MAX_ROW_HEIGHT_PX = 18
MIN_ROW_HEIGHT_PX = 3
MAX_PLOT_HEIGHT_PX = 720
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


@dataclass(frozen=True)
class Bar:
    row: int
    start_s: float  # from the job's first task start
    end_s: float
    key: str
    prefix: str  # the key's prefix (dask's key_split): what the colour says
    owner: str


@dataclass(frozen=True)
class Layout:
    rows: tuple[str, ...]  # row labels
    bars: tuple[Bar, ...]
    marks: tuple[tuple[int, float, str], ...]  # (row, time, owner): an invocation's first task starts
    spans: tuple[tuple[int, float, float], ...]  # (row, first task start, last task end) per invocation
    span_s: float
    prefixes: dict[str, float]  # key prefix -> busy seconds, busiest first
    packed: bool  # True when invocations share rows


def key_prefix(key: str) -> str:
    """The dask key's prefix ("matmul", "add"); a stringified tuple key is parsed back first."""
    if key.startswith("("):
        try:
            return key_split(ast.literal_eval(key))
        except (ValueError, SyntaxError):
            pass
    return key_split(key)


def layout(timings: list[dict], max_invocation_rows: int = MAX_INVOCATION_ROWS) -> Layout:
    if not timings:
        return Layout((), (), (), (), 0.0, {}, False)
    origin = min(r["start"] for r in timings)
    by_owner: dict[str, list[dict]] = defaultdict(list)
    for record in timings:
        by_owner[record["owner"]].append(record)
    extents = sorted(
        (min(r["start"] for r in records), max(r["end"] for r in records), owner)
        for owner, records in by_owner.items()
    )
    packed = False
    if all("worker" in r for r in timings):
        names = sorted({str(r["worker"]) for r in timings})
        row_of_worker = {name: i for i, name in enumerate(names)}
        row_of = {owner: row_of_worker[str(records[0]["worker"])] for owner, records in by_owner.items()}
        rows = tuple(names)
    elif len(extents) <= max_invocation_rows:
        row_of = {owner: i for i, (_, _, owner) in enumerate(extents)}
        rows = tuple(owner for _, _, owner in extents)
    else:
        row_of, count = pack(extents)
        rows = tuple(f"executor {i + 1}" for i in range(count))
        packed = True
    bars = []
    prefixes: dict[str, float] = defaultdict(float)
    for record in timings:
        prefix = key_prefix(str(record["key"]))
        prefixes[prefix] += record["end"] - record["start"]
        bars.append(
            Bar(
                row_of[record["owner"]],
                record["start"] - origin,
                record["end"] - origin,
                str(record["key"]),
                prefix,
                record["owner"],
            )
        )
    marks = tuple((row_of[owner], start - origin, owner) for start, _, owner in extents)
    spans = tuple((row_of[owner], start - origin, end - origin) for start, end, owner in extents)
    span = max(r["end"] for r in timings) - origin
    busiest = dict(sorted(prefixes.items(), key=lambda item: -item[1]))
    return Layout(rows, tuple(bars), marks, spans, span, busiest, packed)


def pack(extents: list[tuple[float, float, str]]) -> tuple[dict[str, int], int]:
    """Give each invocation (start, end, owner), sorted by start, the row that fell free first."""
    free: list[tuple[float, int]] = []  # (end of the row's last invocation, row)
    row_of = {}
    count = 0
    for start, end, owner in extents:
        if free and free[0][0] <= start:
            _, row = heapq.heappop(free)
        else:
            row, count = count, count + 1
        row_of[owner] = row
        heapq.heappush(free, (end, row))
    return row_of, count


def colours(prefixes) -> dict[str, str]:
    return {prefix: PALETTE[i % len(PALETTE)] for i, prefix in enumerate(prefixes)}


def write_timeline(report, path) -> Path:
    """Write the job's timeline to ``path``: .html/.htm, .svg, or (with matplotlib) .png/.pdf."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        path.write_text(render_html(report))
    elif suffix == ".svg":
        path.write_text(render_svg(report, layout(report.timings)))
    elif suffix in (".png", ".pdf"):
        render_matplotlib(report, path)
    else:
        raise ValueError(
            f"cannot write a timeline as {suffix or 'a file without suffix'}: use .html, .svg or .png"
        )
    return path


def title(report) -> str:
    text = (
        f"Wukong job {report.job_id}: {report.tasks} tasks, {report.invocations} invocations, "
        f"{report.wall_s:.3f} s"
    )
    cost = getattr(report, "cost", None)
    return text + (f", about ${cost.total_usd:.5f} on AWS" if cost is not None else "")


def render_html(report) -> str:
    plan = layout(report.timings)
    rows_note = (
        "Rows are executors: invocations that never overlap share a row, as a warm container runs one "
        "after another."
        if plan.packed
        else "One row per invocation (or per worker when the records name it)."
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title(report))}</title>"
        "<style>body{font:13px sans-serif;margin:16px} p{color:#444;max-width:1200px}</style>"
        f"</head><body><h3>{html.escape(title(report))}</h3>"
        f"<p>Bars are tasks, coloured by key prefix, on a grey band per invocation (its first task's start "
        f"to its last task's end); a black tick marks where an invocation starts. Hover for details. "
        f"{rows_note}</p>\n{render_svg(report, plan)}\n</body></html>\n"
    )


def render_svg(report, plan: Layout) -> str:
    palette = colours(plan.prefixes)
    rows = max(1, len(plan.rows))
    row_h = max(MIN_ROW_HEIGHT_PX, min(MAX_ROW_HEIGHT_PX, MAX_PLOT_HEIGHT_PX // rows))
    plot_w = SVG_WIDTH_PX - LABEL_WIDTH_PX - 20
    top, plot_h = 10, rows * row_h
    legend_y = top + plot_h + 54
    height = legend_y + 18 * ((len(plan.prefixes) + 3) // 4) + 10
    span = plan.span_s or 1e-3
    x = lambda t: LABEL_WIDTH_PX + plot_w * t / span  # noqa: E731
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{SVG_WIDTH_PX}' height='{height}' "
        f"font-family='sans-serif' font-size='11'>",
        f"<rect x='{LABEL_WIDTH_PX}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#fafafa' stroke='#ccc'/>",
    ]
    label_every = max(1, 12 // row_h)
    for i, label in enumerate(plan.rows):
        if i % label_every == 0:
            out.append(
                f"<text x='{LABEL_WIDTH_PX - 6}' y='{top + i * row_h + row_h * 0.8:.1f}' text-anchor='end'>"
                f"{html.escape(label)}</text>"
            )
    for row, start, end in plan.spans:
        out.append(
            f"<rect x='{x(start):.2f}' y='{top + row * row_h + 0.5:.1f}' width='{max(0.5, x(end) - x(start)):.2f}' "
            f"height='{max(1, row_h - 1)}' fill='#e3e3e3'/>"
        )
    for bar in plan.bars:
        width = max(0.5, x(bar.end_s) - x(bar.start_s))
        tip = f"{bar.key}\n{1000 * (bar.end_s - bar.start_s):.2f} ms, invocation {bar.owner}"
        out.append(
            f"<rect x='{x(bar.start_s):.2f}' y='{top + bar.row * row_h + 0.5:.1f}' width='{width:.2f}' "
            f"height='{max(1, row_h - 1)}' fill='{palette[bar.prefix]}'><title>{html.escape(tip)}</title></rect>"
        )
    for row, at, owner in plan.marks:
        y = top + row * row_h
        out.append(
            f"<line x1='{x(at):.2f}' x2='{x(at):.2f}' y1='{y}' y2='{y + row_h}' stroke='#000' stroke-width='1'>"
            f"<title>invocation {html.escape(owner)}</title></line>"
        )
    for tick in axis_ticks(span):
        out.append(
            f"<line x1='{x(tick):.2f}' x2='{x(tick):.2f}' y1='{top + plot_h}' y2='{top + plot_h + 5}' stroke='#000'/>"
            f"<text x='{x(tick):.2f}' y='{top + plot_h + 17}' text-anchor='middle'>{format_seconds(tick)}</text>"
        )
    out.append(
        f"<text x='{LABEL_WIDTH_PX + plot_w / 2}' y='{top + plot_h + 31}' text-anchor='middle'>"
        "time since the first task started</text>"
    )
    for i, (prefix, busy) in enumerate(plan.prefixes.items()):
        gx, gy = LABEL_WIDTH_PX + (i % 4) * 270, legend_y + (i // 4) * 18
        out.append(
            f"<rect x='{gx}' y='{gy - 10}' width='12' height='12' fill='{palette[prefix]}'/>"
            f"<text x='{gx + 16}' y='{gy}'>{html.escape(prefix)} ({format_seconds(busy)} busy)</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def axis_ticks(span_s: float, count: int = 8) -> list[float]:
    raw = span_s / count
    step = next(
        (m * 10**e for e in range(-4, 5) for m in (1, 2, 5) if m * 10**e >= raw),
        raw,
    )
    ticks, t = [], 0.0
    while t <= span_s * 1.0001:
        ticks.append(t)
        t += step
    return ticks


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    return f"{seconds * 1000:.3g} ms"


def render_matplotlib(report, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise ImportError(
            "a PNG timeline needs matplotlib (pip install matplotlib); or save the timeline as .html"
        ) from exc
    plan = layout(report.timings)
    palette = colours(plan.prefixes)
    rows = max(1, len(plan.rows))
    fig, ax = plt.subplots(figsize=(12, min(9, 1.5 + 0.25 * rows)))
    thinnest = plan.span_s / 2000
    invocations: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for row, start, end in plan.spans:
        invocations[row].append((start, max(end - start, thinnest)))
    for row, ranges in invocations.items():
        ax.broken_barh(ranges, (row + 0.05, 0.9), facecolors="#e3e3e3", linewidth=0)
    spans: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    for bar in plan.bars:
        spans[bar.row, bar.prefix].append((bar.start_s, max(bar.end_s - bar.start_s, thinnest)))
    for (row, prefix), ranges in spans.items():
        ax.broken_barh(ranges, (row + 0.05, 0.9), facecolors=palette[prefix], linewidth=0)
    if plan.marks:
        ax.vlines(
            [at for _, at, _ in plan.marks],
            [row for row, _, _ in plan.marks],
            [row + 1 for row, _, _ in plan.marks],
            colors="black",
            linewidth=0.6,
        )
    ax.set_ylim(rows, 0)
    ax.set_xlim(0, plan.span_s or 1e-3)
    step = max(1, rows // 30)
    ax.set_yticks([i + 0.5 for i in range(0, rows, step)], [plan.rows[i] for i in range(0, rows, step)])
    ax.set_xlabel("seconds since the first task started")
    ax.set_title(title(report), fontsize=10)
    ax.legend(
        handles=[Patch(color=palette[g], label=g) for g in list(plan.prefixes)[:12]],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=6,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
