"""Stage 4 (embedded): server-side SVG charts for the static report: horizontal bars
(optionally stacked by a breakdown), lines and areas over time (with reference lines), pies.
Pure functions from rows to an SVG string; no scripts, no external assets. Used by
siem_pack.report.html.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

PALETTE = ("#54B399", "#6092C0", "#D36086", "#9170B8", "#CA8EAE", "#D6BF57", "#B9A888", "#DA8B45", "#AA6556",
           "#E7664C")
Fmt = Callable[[Any], str]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _series(rows: Sequence[tuple[Any, ...]], split: bool) -> tuple[list[Any], list[Any], dict[tuple[Any, Any], float]]:
    """(categories in order, series in order, (category, series) → value)."""
    cats: list[Any] = []
    series: list[Any] = []
    values: dict[tuple[Any, Any], float] = {}
    for r in rows:
        cat, ser, val = (r[0], r[1], r[2]) if split else (r[0], "", r[1])
        if cat not in cats:
            cats.append(cat)
        if ser not in series:
            series.append(ser)
        values[(cat, ser)] = float(val or 0)
    return cats, series, values


def legend(series: Sequence[Any], fmt: Fmt) -> str:
    if len(series) <= 1 and not str(series[0] if series else ""):
        return ""
    items = "".join(f'<li><span class="swatch" style="background:{color(i)}"></span>{escape(fmt(s))}</li>'
                    for i, s in enumerate(series))
    return f'<ul class="legend">{items}</ul>'


def bar_chart(rows: Sequence[tuple[Any, ...]], split: bool, fmt_cat: Fmt, fmt_val: Fmt,
              reference_lines: Sequence[tuple[float, str]] = (), width: int = 700) -> str:
    cats, series, values = _series(rows, split)
    totals = [sum(values.get((c, s), 0.0) for s in series) for c in cats]
    top = max(totals + [v for v, _ in reference_lines] + [1e-9])
    label_w, row_h = min(190, int(width * 0.32)), 22
    bar_w = width - label_w - 70
    height = row_h * len(cats) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet">']
    for i, cat in enumerate(cats):
        y = 5 + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="lbl">'
                     f'{escape(_clip(fmt_cat(cat), label_w // 7))}</text>')
        x = float(label_w)
        for j, ser in enumerate(series):
            v = values.get((cat, ser), 0.0)
            w = bar_w * v / top
            if w > 0:
                title = f"{fmt_cat(cat)}{' / ' + fmt_cat(ser) if split else ''}: {fmt_val(v)}"
                parts.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" '
                             f'fill="{color(j)}"><title>{escape(title)}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 5:.1f}" y="{y + 15}" class="val">{escape(fmt_val(totals[i]))}</text>')
    for value, label in reference_lines:
        x = label_w + bar_w * value / top
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" class="ref"/>'
                     f'<text x="{x + 3:.1f}" y="{height - 2}" class="reflbl">{escape(label or f"{value:g}")}</text>')
    parts.append("</svg>")
    return "".join(parts) + (legend(series, fmt_cat) if split else "")


def nice_top(value: float) -> float:
    """The next 1, 2, 2.5 or 5 × 10^k at or above value (a readable axis maximum)."""
    if value <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * exp:
            return step * exp
    return 10.0 * exp


@dataclass(frozen=True)
class _TimePlot:
    """A time chart's frame: the plot area inside the margins, time [t0, t1] across, [0, top] up."""

    width: int
    t0: float
    t1: float
    top: float
    left: int = 60
    right: int = 40
    top_pad: int = 10
    bottom: int = 30
    height: int = 240

    @property
    def pw(self) -> int:
        return self.width - self.left - self.right

    @property
    def ph(self) -> int:
        return self.height - self.top_pad - self.bottom

    def px(self, t: Any) -> float:
        return self.left + self.pw * (_ts(t) - self.t0) / (self.t1 - self.t0)

    def py(self, v: float) -> float:
        return self.top_pad + self.ph * (1 - v / self.top)

    def axes(self, fmt_val: Fmt) -> list[str]:
        left, top_pad, pw, ph = self.left, self.top_pad, self.pw, self.ph
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {self.width} {self.height}" '
                 f'width="100%" preserveAspectRatio="xMinYMin meet">',
                 f'<line x1="{left}" y1="{top_pad + ph}" x2="{left + pw}" y2="{top_pad + ph}" class="axis"/>',
                 f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + ph}" class="axis"/>']
        for k in range(5):
            v = self.top * k / 4
            parts.append(f'<text x="{left - 4}" y="{self.py(v) + 4:.1f}" text-anchor="end" class="tick">'
                         f'{escape(fmt_val(v))}</text>')
        for k in range(5):
            t = self.t0 + (self.t1 - self.t0) * k / 4
            label = datetime.fromtimestamp(t).strftime("%m-%d %H:%M")
            parts.append(f'<text x="{left + pw * k / 4:.1f}" y="{self.height - 10}" text-anchor="middle" '
                         f'class="tick">{label}</text>')
        return parts

    def series(self, j: int, title: str, times: list[Any], upper: list[float], base: list[float],
               area: bool) -> list[str]:
        """One series: a filled band from `base` to `upper` (area), or a line with its points."""
        pts = " ".join(f"{self.px(t):.1f},{self.py(v):.1f}" for t, v in zip(times, upper, strict=True))
        if area:
            lower = " ".join(f"{self.px(t):.1f},{self.py(b):.1f}"
                             for t, b in reversed(list(zip(times, base, strict=True))))
            return [f'<polygon points="{pts} {lower}" fill="{color(j)}" fill-opacity="0.55" '
                    f'stroke="{color(j)}"><title>{title}</title></polygon>']
        parts = [f'<polyline points="{pts}" fill="none" stroke="{color(j)}" stroke-width="2">'
                 f'<title>{title}</title></polyline>']
        if len(times) <= 60:
            parts += [f'<circle cx="{self.px(t):.1f}" cy="{self.py(v):.1f}" r="2.5" fill="{color(j)}"/>'
                      for t, v in zip(times, upper, strict=True)]
        return parts

    def reference_line(self, value: float, label: str) -> str:
        y = self.py(value)
        return (f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.left + self.pw}" y2="{y:.1f}" class="ref"/>'
                f'<text x="{self.left + self.pw - 2}" y="{y - 3:.1f}" text-anchor="end" class="reflbl">'
                f'{escape(label or f"{value:g}")}</text>')


def time_chart(rows: Sequence[tuple[Any, ...]], split: bool, area: bool, fmt_cat: Fmt, fmt_val: Fmt,
               reference_lines: Sequence[tuple[float, str]] = (), width: int = 760) -> str:
    cats, series, values = _series(rows, split)
    times = sorted(cats)
    t0 = _ts(times[0])
    stacked = area and split
    tops = []
    for t in times:
        vals = [values.get((t, s), 0.0) for s in series]
        tops.append(sum(vals) if stacked else max(vals))
    plot = _TimePlot(width, t0, _ts(times[-1]) if len(times) > 1 else t0 + 1,
                     nice_top(max(tops + [v for v, _ in reference_lines] + [1e-9])))
    parts = plot.axes(fmt_val)
    base = [0.0] * len(times)
    for j, ser in enumerate(series):
        vals = [values.get((t, ser), 0.0) for t in times]
        upper = [b + v for b, v in zip(base, vals, strict=True)] if stacked else vals
        parts += plot.series(j, escape(fmt_cat(ser) or "value"), times, upper, base, area)
        if stacked:
            base = upper
    parts += [plot.reference_line(value, label) for value, label in reference_lines]
    parts.append("</svg>")
    return "".join(parts) + (legend(series, fmt_cat) if split else "")


def pie_chart(rows: Sequence[tuple[Any, ...]], fmt_cat: Fmt, fmt_val: Fmt) -> str:
    total = sum(float(r[1] or 0) for r in rows) or 1.0
    cx = cy = 110
    radius = 100
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 230 230" width="230" height="230">']
    angle = -math.pi / 2
    for i, (cat, val) in enumerate((r[0], float(r[1] or 0)) for r in rows):
        share = val / total
        title = escape(f"{fmt_cat(cat)}: {fmt_val(val)} ({share:.1%})")
        if share >= 0.9999:
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="{radius}" fill="{color(i)}"><title>{title}</title></circle>')
            break
        end = angle + 2 * math.pi * share
        x1, y1 = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        x2, y2 = cx + radius * math.cos(end), cy + radius * math.sin(end)
        large = 1 if share > 0.5 else 0
        parts.append(f'<path d="M{cx},{cy} L{x1:.2f},{y1:.2f} A{radius},{radius} 0 {large} 1 {x2:.2f},{y2:.2f} Z" '
                     f'fill="{color(i)}" stroke="#fff"><title>{title}</title></path>')
        angle = end
    parts.append("</svg>")
    items = "".join(f'<li><span class="swatch" style="background:{color(i)}"></span>{escape(fmt_cat(r[0]))}: '
                    f'{escape(fmt_val(r[1]))} ({float(r[1] or 0) / total:.1%})</li>' for i, r in enumerate(rows))
    return f'<div class="pie">{"".join(parts)}<ul class="legend">{items}</ul></div>'


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
