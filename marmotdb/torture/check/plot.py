"""The latency/throughput plot over time, as hand-written SVG (no plotting dependency).

One block per run (two when a marmotdb run is compared with a Galera run), sharing the time
axis: operations per second above (bars), p50 and p99 latency per second below (log scale), fault
windows shaded with their name, unavailability windows as a red band under the time axis.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

WIDTH_PX = 960
MARGIN_LEFT_PX = 64
MARGIN_RIGHT_PX = 16
PANEL_HEIGHT_PX = 120
BLOCK_GAP_PX = 64
FAULT_COLOURS = {"partition-halves": "#fde68a", "isolate": "#fcd34d", "bridge": "#fbbf24",
                 "flap": "#fef3c7", "kill": "#fecaca", "kill-all": "#fca5a5",
                 "pause": "#ddd6fe", "clock": "#bfdbfe", "disk-full": "#e5e7eb",
                 "loss": "#bbf7d0"}


def render(runs: list[dict[str, Any]]) -> str:
    """``runs``: per run {"title", "per_second", "faults", "unavailable"} (availability stats)."""
    duration_s = max((len(r["per_second"]) for r in runs), default=1) or 1
    block_px = 2 * PANEL_HEIGHT_PX + BLOCK_GAP_PX
    height_px = len(runs) * block_px + 32
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{height_px}" '
             f'viewBox="0 0 {WIDTH_PX} {height_px}" font-family="sans-serif" font-size="11">',
             '<rect width="100%" height="100%" fill="white"/>']
    for number, run in enumerate(runs):
        parts.extend(_block(run, number * block_px + 36, duration_s))
    parts.append("</svg>")
    return "\n".join(parts)


def _x(t_s: float, duration_s: float) -> float:
    span = WIDTH_PX - MARGIN_LEFT_PX - MARGIN_RIGHT_PX
    return MARGIN_LEFT_PX + span * min(max(t_s / duration_s, 0.0), 1.0)


def _block(run: dict[str, Any], top: float, duration_s: float) -> list[str]:
    rows = run["per_second"]
    parts = [f'<text x="{MARGIN_LEFT_PX}" y="{top - 18}" font-size="13" font-weight="bold">'
             f'{escape(run["title"])}</text>']
    bottom = top + 2 * PANEL_HEIGHT_PX + 16
    for fault in run["faults"]:
        x0, x1 = _x(fault["start_s"], duration_s), _x(fault["stop_s"], duration_s)
        colour = FAULT_COLOURS.get(fault["fault"], "#e5e7eb")
        parts.append(f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" '
                     f'height="{2 * PANEL_HEIGHT_PX + 16}" fill="{colour}" opacity="0.7">'
                     f'<title>{escape(fault["fault"])}</title></rect>')
    for begin, finish in run["unavailable"]:
        x0, x1 = _x(begin, duration_s), _x(finish, duration_s)
        parts.append(f'<rect x="{x0:.1f}" y="{bottom + 2}" width="{max(x1 - x0, 1):.1f}" '
                     f'height="5" fill="#dc2626"><title>unavailable {begin}–{finish} s'
                     f'</title></rect>')
    parts.extend(_bars(rows, top, duration_s))
    p50 = [(r["t_s"] + 0.5, r["p50_ms"]) for r in rows if r["p50_ms"] is not None]
    p99 = [(r["t_s"] + 0.5, r["p99_ms"]) for r in rows if r["p99_ms"] is not None]
    parts.extend(_panel(p99, p50, top + PANEL_HEIGHT_PX + 16, duration_s,
                        "latency ms (p99 red, p50 green)", "#dc2626", "#16a34a"))
    for fault in run["faults"]:  # labels last, so no bar hides them
        parts.append(f'<text x="{_x(fault["start_s"], duration_s) + 2:.1f}" '
                     f'y="{top + PANEL_HEIGHT_PX + 28}" font-size="9">'
                     f'{escape(fault["fault"])}</text>')
    parts.extend(_time_axis(bottom + 8, duration_s))
    return parts


def _bars(rows: list[dict[str, Any]], top: float, duration_s: float) -> list[str]:
    """Operations per second as bars: acknowledged in blue, failed or unknown stacked grey."""
    peak = max([r["ok"] + r["not_ok"] for r in rows] + [1])
    base = top + PANEL_HEIGHT_PX
    scale = (PANEL_HEIGHT_PX - 4) / peak
    parts = _axes(top, peak, "ops/s (acknowledged blue, failed or unknown grey)")
    for row in rows:
        x0, x1 = _x(row["t_s"], duration_s), _x(row["t_s"] + 1, duration_s)
        ok_px, other_px = row["ok"] * scale, row["not_ok"] * scale
        width = max(x1 - x0 - 1, 0.5)
        parts.append(f'<rect x="{x0:.1f}" y="{base - ok_px:.1f}" width="{width:.1f}" '
                     f'height="{ok_px:.1f}" fill="#2563eb" fill-opacity="0.75">'
                     f'<title>{row["t_s"]} s: '
                     f'{row["ok"]} ok, {row["not_ok"]} not ok</title></rect>')
        if other_px:
            parts.append(f'<rect x="{x0:.1f}" y="{base - ok_px - other_px:.1f}" '
                         f'width="{width:.1f}" height="{other_px:.1f}" fill="#6b7280" '
                         'fill-opacity="0.5"/>')
    return parts


def _axes(top: float, peak: float, label: str) -> list[str]:
    base = top + PANEL_HEIGHT_PX
    return [f'<line x1="{MARGIN_LEFT_PX}" y1="{base}" x2="{WIDTH_PX - MARGIN_RIGHT_PX}" '
            f'y2="{base}" stroke="#6b7280"/>',
            f'<line x1="{MARGIN_LEFT_PX}" y1="{top}" x2="{MARGIN_LEFT_PX}" y2="{base}" '
            'stroke="#6b7280"/>',
            f'<text x="{MARGIN_LEFT_PX - 4}" y="{top + 8}" text-anchor="end">{peak:.4g}</text>',
            f'<text x="{MARGIN_LEFT_PX - 4}" y="{base}" text-anchor="end">0</text>',
            f'<text x="{MARGIN_LEFT_PX + 4}" y="{top - 2}" fill="#374151">'
            f'{escape(label)}</text>']


def _panel(series: list[tuple[float, float]], second: list[tuple[float, float]], top: float,
           duration_s: float, label: str, colour: str, second_colour: str | None) -> list[str]:
    # Latency spans orders of magnitude (ms when healthy, seconds under a fault): log scale,
    # log10(1 + ms), so p50 stays readable next to a fault's p99.
    peak = max([v for _, v in series] + [v for _, v in second] + [1.0])
    base = top + PANEL_HEIGHT_PX
    span = math.log10(1 + peak)

    def y(value: float) -> float:
        return base - (PANEL_HEIGHT_PX - 4) * math.log10(1 + max(value, 0.0)) / span

    parts = _axes(top, peak, label + ", log scale")
    for tick in (1, 10, 100, 1000, 10000):
        if tick < peak and y(tick) - top > 12:  # not on top of the peak's label
            parts.append(f'<line x1="{MARGIN_LEFT_PX - 3}" y1="{y(tick):.1f}" '
                         f'x2="{WIDTH_PX - MARGIN_RIGHT_PX}" y2="{y(tick):.1f}" '
                         'stroke="#e5e7eb" stroke-dasharray="2,3"/>')
            parts.append(f'<text x="{MARGIN_LEFT_PX - 4}" y="{y(tick) + 3:.1f}" '
                         f'text-anchor="end">{tick}</text>')
    for points, stroke in ((series, colour), (second, second_colour)):
        for run in _contiguous(points) if stroke else []:
            path = " ".join(f"{_x(t, duration_s):.1f},{y(v):.1f}" for t, v in run)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{stroke}" '
                         'stroke-width="1.5"/>' if len(run) > 1 else
                         f'<circle cx="{_x(run[0][0], duration_s):.1f}" '
                         f'cy="{y(run[0][1]):.1f}" r="1.5" fill="{stroke}"/>')
    return parts


def _contiguous(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive seconds: a second with no acknowledged operation has no latency,
    and a line drawn across it would invent one."""
    runs: list[list[tuple[float, float]]] = []
    for point in points:
        if runs and point[0] - runs[-1][-1][0] <= 1.0:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def _time_axis(y: float, duration_s: float) -> list[str]:
    step = max(1, round(duration_s / 10))
    parts = []
    for t in range(0, int(duration_s) + 1, step):
        parts.append(f'<text x="{_x(t, duration_s):.1f}" y="{y + 10}" text-anchor="middle">'
                     f'{t}s</text>')
    return parts
