"""Draw a checked chart with matplotlib: SVG (text as paths, deterministic) and PNG.

Only imported when a chart is drawn: matplotlib takes about a second to import. Figures are plain
`Figure` objects, never pyplot's, so no global figure registry can leak them; a lock
serialises drawing because matplotlib's rcParams and font caches are process-wide.
"""

from __future__ import annotations

import io
import re
import subprocess
import threading
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Any

import matplotlib
from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from documents.charts import ChartData

CJK_FAMILY = "Noto Sans CJK SC"
LATIN_FALLBACK = "DejaVu Sans"
PNG_DPI = 200
TICK_CHARS = 24
PALETTE = ("#3b6ea8", "#e08a3c", "#4f9a5b", "#c9504c", "#7d68b0", "#8c6d4f")
PIE_PALETTE = (*PALETTE, "#4aa3b5", "#c8a43a", "#9b9b9b", "#d47fb0", "#6f8f3a", "#5a5a8c")
_LOCK = threading.Lock()
matplotlib.use("Agg")  # no screen: never let matplotlib look for a GUI backend


def draw(chart: ChartData, families: Sequence[str] | None = None) -> tuple[bytes, bytes]:
    """(SVG, PNG) of ``chart``; ``families`` overrides the fonts (tests draw without CJK)."""
    with _LOCK:
        fonts = font_families() if families is None else list(families)
        with rc_context(_style(fonts)):
            return _draw(chart)


def _draw(chart: ChartData) -> tuple[bytes, bytes]:
    spec = chart.spec
    figure = Figure(figsize=(spec.width_cm / 2.54, spec.height_cm / 2.54), layout="constrained")
    try:
        axes = figure.add_subplot()
        {"bar": _bar, "line": _line, "pie": _pie}[spec.type](axes, chart)
        if spec.title:
            axes.set_title(_wrapped(spec.title, spec.width_cm * 4), fontsize="large", pad=8)
        svg, png = io.BytesIO(), io.BytesIO()
        figure.savefig(svg, format="svg", metadata={"Date": None})
        figure.set_layout_engine("none")  # keep the layout just computed: the PNG matches it
        figure.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
    finally:
        figure.clear()
    return svg.getvalue(), png.getvalue()


def _style(fonts: list[str]) -> dict[Any, Any]:
    return {
        "font.family": fonts,
        "font.size": 9,
        "axes.unicode_minus": False,  # U+2212 is not in every font; "-" is
        "axes.edgecolor": "#8c959f",
        "axes.labelcolor": "#24292f",
        "xtick.color": "#57606a",
        "ytick.color": "#57606a",
        "svg.fonttype": "path",  # glyphs as outlines: no font needed where the SVG is shown
        "svg.hashsalt": "open-autoglm",  # stable element ids, so equal charts are equal bytes
        "figure.facecolor": "white",
    }


@cache
def font_families() -> list[str]:
    """Noto Sans CJK SC (registered from fontconfig if matplotlib's cache predates it), with
    DejaVu Sans for what it lacks; DejaVu alone where the CJK font is not installed."""

    def known() -> bool:
        return any(font.name == CJK_FAMILY for font in font_manager.fontManager.ttflist)

    if not known() and (path := _fontconfig_file(CJK_FAMILY)):
        font_manager.fontManager.addfont(path)
    return [CJK_FAMILY, LATIN_FALLBACK] if known() else [LATIN_FALLBACK]


def _fontconfig_file(family: str) -> str | None:
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{family}\n%{file}", family],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    if len(found) == 2 and family in found[0].split(","):
        return found[1]
    return None


def _bar(axes: Axes, chart: ChartData) -> None:
    count = len(chart.series)
    width = 0.8 / count
    positions = range(len(chart.labels))
    for index, (key, values) in enumerate(chart.series):
        offset = (index - (count - 1) / 2) * width
        axes.bar(
            [p + offset for p in positions],
            values,
            width * 0.92,
            label=key,
            color=PALETTE[index % len(PALETTE)],
            zorder=2,
        )
    _axes_frame(axes, chart)
    if count == 1 and len(chart.labels) <= 12:  # few bars: the value on top of each
        axes.bar_label(axes.containers[0], fmt="%g", padding=2, fontsize="small")  # type: ignore[arg-type]
        axes.margins(y=0.12)


def _line(axes: Axes, chart: ChartData) -> None:
    marker = "o" if len(chart.labels) <= 30 else ""
    for index, (key, values) in enumerate(chart.series):
        axes.plot(
            range(len(chart.labels)),
            values,
            marker=marker,
            markersize=3.5,
            linewidth=1.8,
            label=key,
            color=PALETTE[index % len(PALETTE)],
            zorder=2,
        )
    _axes_frame(axes, chart)


def _axes_frame(axes: Axes, chart: ChartData) -> None:
    """Category ticks (thinned and slanted when crowded), grid, labels and legend."""
    labels = [_short(label) for label in chart.labels]
    step = 1
    if _crowded(labels, chart.spec.width_cm):  # slanted, and every step-th if still too many
        step = max(1, -(-len(labels) // int(chart.spec.width_cm)))  # about one label a cm
    axes.set_xticks(range(0, len(labels), step), labels[::step])
    if step > 1 or _crowded(labels, chart.spec.width_cm):
        for tick in axes.get_xticklabels():
            tick.set(rotation=35, horizontalalignment="right", rotation_mode="anchor")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#d0d7de", linewidth=0.6, zorder=0)
    axes.set_axisbelow(True)
    if chart.spec.x_label:
        axes.set_xlabel(chart.spec.x_label)
    if chart.spec.y_label:
        axes.set_ylabel(chart.spec.y_label)
    if len(chart.series) > 1:
        # beside the plot, not over it: "best" can still cover a bar or a line
        axes.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))


def _pie(axes: Axes, chart: ChartData) -> None:
    values = chart.series[0][1]
    colors = [PIE_PALETTE[i % len(PIE_PALETTE)] for i in range(len(values))]
    many = len(values) > 8  # labels round the pie would collide: a legend instead
    wedges, *texts = axes.pie(
        values,
        labels=None if many else [_short(label) for label in chart.labels],
        colors=colors,
        autopct=(lambda pct: f"{pct:.0f}%" if pct >= 4 else "") if not many else None,
        startangle=90,
        counterclock=False,
        wedgeprops={"linewidth": 1, "edgecolor": "white"},
        textprops={"fontsize": "small"},
        pctdistance=0.75,
    )
    for percent in texts[1] if len(texts) > 1 else []:
        percent.set_color("white")  # on the wedge's colour; black was hard to read on blue
    axes.set_aspect("equal")
    if many:
        total = sum(values)
        axes.legend(
            wedges,
            [
                f"{_short(label)} ({v / total:.0%})"
                for label, v in zip(chart.labels, values, strict=True)
            ],
            loc="center left",
            bbox_to_anchor=(1, 0.5),
            frameon=False,
            fontsize="small",
        )


def _short(label: str) -> str:
    return label if _width(label) <= TICK_CHARS else label[: TICK_CHARS // 2] + "…"


def _wrapped(text: str, width: float) -> str:
    """Lines of at most ``width`` Latin-character widths, broken at spaces or between CJK."""
    lines, line = [], ""
    for piece in re.findall(r"\S+\s*|\s+", text) if " " in text else list(text):
        if line and _width(line + piece.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += piece
    return "\n".join([*lines, line.rstrip()])


def _width(text: str) -> int:
    """Width in Latin characters: a CJK character is about two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _crowded(labels: list[str], width_cm: float) -> bool:
    return sum(_width(label) + 2 for label in labels) > width_cm * 5
