"""A run's rich outputs (`ship.protocol.RichOutput`) as each reader takes them: the
pictures a host shows, the PNG list existing REST clients read, and the text a model
reads, where every output stands where the run displayed it.

In a model's text an image is a marker (`[image 1 …]`, the picture itself follows as an
image block, its chart as data beside the marker), HTML is its Markdown and the path
of the saved file, JSON is indented, Markdown and LaTeX are their source. An output's
plain-text form (a DataFrame's repr) is skipped where the output stands in its place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ship.protocol import (
    Axes2D,
    BarChart,
    BoxAndWhiskerChart,
    Chart,
    ChartValue,
    CompositeChart,
    PieChart,
    PointChart,
    RichOutput,
)

PNG = "image/png"
SVG = "image/svg+xml"
# The raster types an MCP host shows (the Claude API takes these four): an SVG is shown
# as its PNG, since a host that passes image/svg+xml on may break its conversation.
SHOWN_TYPES = {PNG, "image/jpeg", "image/gif", "image/webp"}
# Points of one series a model reads in the text; the structured result has them all.
POINTS_IN_TEXT = 12


def pictures(outputs: Iterable[RichOutput]) -> list[tuple[str, str]]:
    """(base64 data, MIME type) of each image a host can show, in display order."""
    shown = []
    for output in outputs:
        if output.mime_type in SHOWN_TYPES and isinstance(output.data, str):
            shown.append((output.data, output.mime_type))
        elif output.mime_type == SVG and output.png is not None:
            shown.append((output.png, PNG))
    return shown


def png_images(outputs: Iterable[RichOutput]) -> list[str]:
    """The PNGs among the pictures (an SVG's raster included), as REST's `images` has
    always listed them."""
    return [data for data, mime_type in pictures(outputs) if mime_type == PNG]


def model_text(output: str, outputs: list[RichOutput]) -> str:
    """The run's text output with each rich output in place, as a model reads it."""
    if not outputs:
        return output
    parts: list[str] = []
    at = 0
    picture = 0
    for item in outputs:
        start = min(max(item.offset, at), len(output))
        parts.append(output[at:start])
        if item.mime_type in SHOWN_TYPES or (item.mime_type == SVG and item.png is not None):
            picture += 1
        parts.append(_output_text(item, picture) + "\n")
        at = min(start + item.replaces, len(output))
    parts.append(output[at:])
    return "".join(parts)


def _output_text(item: RichOutput, picture: int) -> str:
    kind = item.mime_type
    if item.is_image:
        if kind == SVG and item.png is None:
            shown = "[an SVG image that could not be rasterised: it is not shown]"
        else:
            what = "SVG, shown as PNG" if kind == SVG else kind
            shown = f"[image {picture} ({what}) is shown below]"
        return shown if item.chart is None else f"{shown}\n{chart_text(item.chart)}"
    if kind == "text/html":
        saved = f"[HTML saved at {item.path}]" if item.path else ""
        body = item.text if item.text is not None else "[an HTML output too large to read here]"
        return "\n".join(part for part in (body, saved) if part)
    readable = item.readable
    if readable is None:
        return f"[{kind}: {json.dumps(item.data, ensure_ascii=False)}]"
    return readable


# -- charts ---------------------------------------------------------------------------------


def chart_text(chart: Chart, indent: str = "") -> str:
    """A chart as a few lines: its kind, title and axes, then each series, bar or slice."""
    head = f"{indent}[chart: {chart.type}{_titled(chart.title)}"
    if isinstance(chart, CompositeChart):
        lines = [f"{head}, {len(chart.elements)} axes]"]
        lines.extend(chart_text(element, indent + "  ") for element in chart.elements)
        return "\n".join(lines)
    if isinstance(chart, Axes2D):
        head += (
            f"; x: {_axis(chart.x_label, chart.x_scale)}; y: {_axis(chart.y_label, chart.y_scale)}"
        )
    lines = [head + ("; bounded" if chart.truncated else "") + "]"]
    lines.extend(f"{indent}  {line}" for line in _elements(chart))
    return "\n".join(lines)


def _elements(chart: Chart) -> list[str]:
    if isinstance(chart, PointChart):
        return [
            f"{json.dumps(series.label)}: {series.point_count} points"
            f"{_shown_points(len(series.points), series.point_count)}: "
            + ", ".join(f"({_num(x)}, {_num(y)})" for x, y in _spread(series.points))
            for series in chart.elements
        ]
    if isinstance(chart, BarChart):
        groups: dict[str, list[str]] = {}
        for bar in chart.elements:
            groups.setdefault(bar.group, []).append(f"{json.dumps(bar.label)} {_num(bar.value)}")
        return [f"{json.dumps(group)}: " + ", ".join(bars) for group, bars in groups.items()]
    if isinstance(chart, PieChart):
        return [", ".join(f"{json.dumps(s.label)} {s.fraction * 100:.1f}%" for s in chart.elements)]
    if isinstance(chart, BoxAndWhiskerChart):
        return [
            f"{json.dumps(box.label)}: min {_num(box.min)}, Q1 {_num(box.first_quartile)}, "
            f"median {_num(box.median)}, Q3 {_num(box.third_quartile)}, max {_num(box.max)}"
            + (f", {len(box.outliers)} outliers" if box.outliers else "")
            for box in chart.elements
        ]
    return []


def _spread(points: list[tuple[ChartValue, ChartValue]]) -> list[tuple[ChartValue, ChartValue]]:
    if len(points) <= POINTS_IN_TEXT:
        return points
    step = (len(points) - 1) / (POINTS_IN_TEXT - 1)
    return [points[round(i * step)] for i in range(POINTS_IN_TEXT)]


def _shown_points(kept: int, total: int) -> str:
    shown = min(kept, POINTS_IN_TEXT)
    return "" if shown >= total else f" ({shown} shown, evenly spread)"


def _titled(title: str | None) -> str:
    return f" {json.dumps(title, ensure_ascii=False)}" if title else ""


def _axis(label: str | None, scale: str | None) -> str:
    parts = [json.dumps(label, ensure_ascii=False) if label else "", scale or ""]
    return " ".join(part for part in parts if part) or "-"


def _num(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else json.dumps(value, ensure_ascii=False)
