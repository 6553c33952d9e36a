"""The dashboard's charts, drawn on the server as inline SVG: downloads over time as vertical bars, and
the top names of a dimension (episodes, apps, devices, countries) as horizontal bars.

Every label comes from outside (episode titles, app names read from User-Agents) and is escaped here. Each
chart is an image with a text alternative, and each bar carries its label and value as a <title>.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta

from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from markupsafe import Markup, escape

Point = tuple[str, int]

# The waveform's blue (admin.css); a day without downloads keeps a thin grey mark so that it still shows.
BAR = "#2f6db5"
EMPTY = "#c9d3de"
# Text in the badge grey of admin.css (WCAG AA on white), in the page's own font.
TEXT_ATTRS = 'fill="#37474f" font-family="system-ui, sans-serif" font-size="14"'
# Names listed before the rest are summed as "Other".
TOP = 10
# Past this many days one bar per day gets too thin to read: weeks, and past WEEKS_UP_TO days, months.
DAYS_UP_TO = 180
WEEKS_UP_TO = 730
LABEL_CHARS = 30


def bar_title(label: str, n: int) -> str:
    """A bar's name and figure ("Overcast: 1,234 downloads") in the interface's language; not escaped."""
    # `num` is ngettext's own argument: the formatted figure needs a name of its own.
    title = ngettext(
        "%(label)s: %(count)s download",
        "%(label)s: %(count)s downloads",
        n,
        label=label,
        count=format_number(n),
    )
    return str(title)


def top(items: Iterable[Point], limit: int = TOP) -> list[Point]:
    """The `limit` largest items, most first, and the rest summed as one "Other" item."""
    ranked = sorted(items, key=lambda item: -item[1])
    if len(ranked) <= limit:
        return ranked
    return [*ranked[:limit], (str(_("Other")), sum(n for _label, n in ranked[limit:]))]


def over_time(days: list[tuple[date, int]]) -> tuple[str, list[Point]]:
    """Daily downloads as bars of a readable width: ("day" | "week" | "month", points labelled by the bar's
    first day, or its month). Weeks start on Monday; the first and last bars may be partial."""
    if len(days) <= DAYS_UP_TO:
        return "day", [(day.isoformat(), n) for day, n in days]
    weekly = len(days) <= WEEKS_UP_TO
    sums: dict[str, int] = {}
    for day, n in days:
        if weekly:
            start = max(day - timedelta(days=day.weekday()), days[0][0])
            label = str(_("Week of %(day)s", day=start.isoformat()))
        else:
            label = f"{day:%Y-%m}"
        sums[label] = sums.get(label, 0) + n
    return ("week" if weekly else "month"), list(sums.items())


def bar_chart(points: list[Point], *, title: str, height: int = 180) -> Markup:
    """One vertical bar per point, left to right, with the first and last labels under the bars."""
    top_pad, bottom_pad = 20, 22
    plot = height - top_pad - bottom_pad
    peak = max((n for _, n in points), default=0)
    # Across as a share of the width, so the chart fills any screen while its text keeps its size.
    slot = 100 / max(len(points), 1)
    gap = slot * 0.2 if len(points) > 1 else 0.0
    peak_text = _("max %(downloads)s", downloads=format_number(peak))
    parts = [_open(title, height), f'<text x="0" y="14" {TEXT_ATTRS}>{escape(peak_text)}</text>']
    for i, (label, n) in enumerate(points):
        shown = max(plot * n / peak if peak else 0.0, 1.0)
        parts.append(
            f'<rect class="bar" x="{i * slot + gap / 2:.3f}%" y="{top_pad + plot - shown:.1f}" '
            f'width="{slot - gap:.3f}%" height="{shown:.1f}" fill="{BAR if n else EMPTY}">'
            f"<title>{escape(bar_title(label, n))}</title></rect>"
        )
    base = top_pad + plot
    parts.append(f'<line x1="0" y1="{base}" x2="100%" y2="{base}" stroke="{EMPTY}" stroke-width="1"/>')
    below = height - 4
    if points:
        parts.append(f'<text x="0" y="{below}" {TEXT_ATTRS}>{escape(points[0][0])}</text>')
    if len(points) > 1:
        last = escape(points[-1][0])
        parts.append(f'<text x="100%" y="{below}" text-anchor="end" {TEXT_ATTRS}>{last}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(items: list[Point], *, title: str, row: int = 40) -> Markup:
    """One row per item: its name and figure on a line, under them a bar as long as its share of the
    largest."""
    peak = max((n for _, n in items), default=0)
    parts = [_open(title, max(len(items), 1) * row)]
    for i, (label, n) in enumerate(items):
        line, bar_top = i * row + 15, i * row + 20
        share = max(100 * n / peak, 0.5) if peak else 0.5
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        # A right-to-left name ends at its left: anchored there, it still starts at the chart's left edge.
        direction = ' direction="rtl" text-anchor="end"' if _right_to_left(label) else ""
        parts.append(
            f'<text x="0" y="{line}"{direction} {TEXT_ATTRS}>{escape(short)}</text>'
            f'<text x="100%" y="{line}" text-anchor="end" {TEXT_ATTRS}>{escape(format_number(n))}</text>'
            f'<rect class="bar" x="0" y="{bar_top}" width="{share:.2f}%" height="{row - 26}" '
            f'fill="{BAR if n else EMPTY}"><title>{escape(bar_title(label, n))}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(title: str, height: int) -> str:
    """The SVG element, as wide as its container: its x coordinates are shares of that width."""
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="100%" height="{height}">'
    )


def _right_to_left(text: str) -> bool:
    """Whether the first strongly directed character is right-to-left, as dir="auto" decides."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False
