"""A small server-rendered SVG of recent runs: bar height is duration, colour is outcome."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "canceled": "#8c959f"}
WIDTH, HEIGHT, GAP = 600, 80, 2


def duration_seconds(run):
    if run.started_at and run.finished_at:
        return (run.finished_at - run.started_at).total_seconds()
    return None


def durations_svg(runs) -> str:
    """`runs` newest first; drawn oldest to newest, left to right."""
    points = [(r, duration_seconds(r)) for r in reversed(list(runs))]
    points = [(r, d) for r, d in points if d is not None]
    if not points:
        return ""
    longest = max(d for _, d in points) or 1
    bar = max(4, (WIDTH - GAP * len(points)) // max(len(points), 1))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 14}" role="img" '
        f'aria-label="Durations and outcomes of the last {len(points)} ended runs">'
    ]
    for i, (run, dur) in enumerate(points):
        h = max(2, round(dur / longest * HEIGHT))
        x = i * (bar + GAP)
        colour = COLOURS.get(run.status, "#8c959f")
        title = escape(f"{run.id}: {run.status}, {dur:.1f}s")
        parts.append(
            f'<a href="/runs/{escape(run.id)}"><rect x="{x}" y="{HEIGHT - h}" width="{bar}" '
            f'height="{h}" fill="{colour}"><title>{title}</title></rect></a>'
        )
    parts.append(
        f'<text x="0" y="{HEIGHT + 12}" font-size="10" fill="#57606a">'
        f"longest {longest:.1f}s · {len(points)} ended runs</text></svg>"
    )
    return mark_safe("".join(parts))
