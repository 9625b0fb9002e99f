"""A matplotlib figure's chart as data: its kind, title, axes and series, bounded.

Runs inside the user's IPython kernel: the kernel guard loads this file and registers
`figure_chart` as the display formatter of matplotlib figures for the MIME type
`application/vnd.bay.chart+json`, so a figure's display carries its chart beside its
picture. It reads the figure's artists (never its pixels) and must stay importable
with the standard library only: it is handed matplotlib's objects, never imports them.
The dict it makes has the shape of `ship.protocol.Chart`; Ship validates it there.

Kinds as E2B and Daytona name them (line, scatter, bar, pie, box_and_whisker, and a
composite_chart for a figure of several axes), read from the artists: marker-only
lines are a scatter, bars come from their containers (with their orientation and
categories), box plots from their boxes and whiskers whether drawn as lines or patches.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

MAX_AXES = 16
MAX_SERIES = 20
MAX_POINTS = 200
MAX_ELEMENTS = 200
MAX_TICKS = 50
MAX_TEXT = 200

_UNIT = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
_MATHTEXT = re.compile(r"\$\\mathdefault\{(.*)\}\$")


def figure_chart(figure: Any) -> dict[str, Any] | None:
    """The chart of a matplotlib Figure; None when it has no axes or cannot be read."""
    try:
        axes = [ax for ax in figure.get_axes() if _is_plot(ax)]
        if not axes:
            return None
        if len(axes) == 1:
            return axes_chart(axes[0])
        charts = [axes_chart(ax) for ax in axes[:MAX_AXES]]
        title = _suptitle(figure)
        return {
            "type": "composite_chart",
            "title": title,
            "truncated": len(axes) > MAX_AXES,
            "elements": charts,
        }
    except Exception:  # a chart is a bonus: a figure we cannot read still shows
        return None


def axes_chart(ax: Any) -> dict[str, Any]:
    """One Axes as a chart: line, scatter, bar, pie, box_and_whisker or unknown."""
    lines = [line for line in ax.get_lines() if line.get_visible()]
    patches = [patch for patch in ax.patches if patch.get_visible()]
    wedges = [patch for patch in patches if type(patch).__name__ == "Wedge"]
    bars = [c for c in ax.containers if type(c).__name__ == "BarContainer"]
    dots = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    if wedges and not lines and not dots and len(wedges) == len(patches):
        return _pie(ax, wedges)
    if bars:
        return _bars(ax, bars)
    boxes = _boxes(lines, patches)
    segments = [line for line in lines if len(line.get_xdata()) == 2]
    if boxes and len(segments) >= 2 * len(boxes):  # each box has its two whiskers
        return _box_and_whisker(ax, lines, boxes)
    if lines or dots:
        return _points(ax, lines, dots)
    return {**_axes2d(ax), "type": "unknown"}


# -- what each kind carries ---------------------------------------------------------------


def _points(ax: Any, lines: list[Any], dots: list[Any]) -> dict[str, Any]:
    x_kind, y_kind = _scale(ax, "x"), _scale(ax, "y")
    series = []
    for index, line in enumerate(lines):
        label = _label(line.get_label(), f"Line {index + 1}")
        xs, ys = line.get_xdata(orig=True), line.get_ydata(orig=True)
        series.append(_series(label, xs, ys, ax, x_kind, y_kind))
    for index, dot in enumerate(dots):
        label = _label(dot.get_label(), f"Points {index + 1}")
        offsets = dot.get_offsets()
        xs, ys = offsets[:, 0], offsets[:, 1]
        series.append(_series(label, xs, ys, ax, x_kind, y_kind, converted=True))
    marker_only = all(str(line.get_linestyle()) in ("None", "none", "", " ") for line in lines)
    chart: dict[str, Any] = {
        **_axes2d(ax),
        "type": "scatter" if marker_only else "line",
        "x_ticks": _ticks(ax.get_xticks(), ax, "x", x_kind),
        "x_tick_labels": _tick_labels(ax.get_xticklabels()),
        "y_ticks": _ticks(ax.get_yticks(), ax, "y", y_kind),
        "y_tick_labels": _tick_labels(ax.get_yticklabels()),
        "elements": series[:MAX_SERIES],
    }
    sampled = any(len(s["points"]) < s["point_count"] for s in series)
    chart["truncated"] = len(series) > MAX_SERIES or sampled
    return chart


def _series(
    label: str,
    xs: Any,
    ys: Any,
    ax: Any,
    x_kind: str,
    y_kind: str,
    *,
    converted: bool = False,
) -> dict[str, Any]:
    count = min(len(xs), len(ys))
    picked = _sample(count, MAX_POINTS)
    points = [
        [_value(xs[i], ax, "x", x_kind, converted), _value(ys[i], ax, "y", y_kind, converted)]
        for i in picked
    ]
    return {"label": label, "points": points, "point_count": count}


def _bars(ax: Any, containers: list[Any]) -> dict[str, Any]:
    horizontal = getattr(containers[0], "orientation", None) == "horizontal"
    axis = "y" if horizontal else "x"
    names = _category_names(ax, axis)
    elements: list[dict[str, Any]] = []
    total = 0
    for index, container in enumerate(containers):
        group = _label(container.get_label(), f"Group {index + 1}")
        for rect in container.patches:
            total += 1
            if len(elements) >= MAX_ELEMENTS:
                continue
            if horizontal:
                where, value = rect.get_y() + rect.get_height() / 2, rect.get_width()
            else:
                where, value = rect.get_x() + rect.get_width() / 2, rect.get_height()
            elements.append(
                {"label": _position_name(where, names), "group": group, "value": _number(value)}
            )
    return {
        **_axes2d(ax),
        "type": "bar",
        "orientation": "horizontal" if horizontal else "vertical",
        "elements": elements,
        "truncated": total > len(elements),
    }


def _pie(ax: Any, wedges: list[Any]) -> dict[str, Any]:
    elements = []
    for index, wedge in enumerate(wedges[:MAX_ELEMENTS]):
        angle = abs(float(wedge.theta2) - float(wedge.theta1))
        elements.append(
            {
                "label": _label(wedge.get_label(), f"Slice {index + 1}"),
                "angle": round(angle, 6),
                "radius": float(wedge.r),
                "fraction": round(angle / 360.0, 6),
            }
        )
    return {
        "type": "pie",
        "title": _title(ax),
        "elements": elements,
        "truncated": len(wedges) > MAX_ELEMENTS,
    }


def _boxes(lines: list[Any], patches: list[Any]) -> list[tuple[float, float, float, float]]:
    """The rectangles of a box plot's boxes (x0, x1, y0, y1): closed 5-point lines (the
    default) or rectangular path patches (patch_artist=True); empty if there are none."""
    found = []
    for line in lines:
        if len(line.get_xdata()) != 5:
            continue
        xs, ys = list(line.get_xdata()), list(line.get_ydata())
        if len(xs) == 5 and xs[0] == xs[-1] and ys[0] == ys[-1] and len(set(xs)) == 2:
            found.append((min(xs), max(xs), min(ys), max(ys)))
    for patch in patches:
        if type(patch).__name__ != "PathPatch":
            continue
        vertices = patch.get_path().vertices
        corners_x = {float(v) for v in vertices[:, 0]}
        corners_y = {float(v) for v in vertices[:, 1]}
        if len(corners_x) == 2 and len(corners_y) == 2:
            found.append((min(corners_x), max(corners_x), min(corners_y), max(corners_y)))
    return found


def _box_and_whisker(
    ax: Any, lines: list[Any], boxes: list[tuple[float, float, float, float]]
) -> dict[str, Any]:
    vertical = _vertical_boxes(lines, boxes)
    axis = "x" if vertical else "y"
    names = _category_names(ax, axis)
    elements = []
    for x0, x1, y0, y1 in boxes[:MAX_ELEMENTS]:
        lo, hi, q1, q3 = (x0, x1, y0, y1) if vertical else (y0, y1, x0, x1)
        center = (lo + hi) / 2
        stats: dict[str, Any] = {
            "label": _position_name(center, names),
            "min": _number(q1),
            "first_quartile": _number(q1),
            "median": None,
            "third_quartile": _number(q3),
            "max": _number(q3),
            "outliers": [],
        }
        for line in lines:
            across, along = (
                (line.get_xdata(), line.get_ydata())
                if vertical
                else (line.get_ydata(), line.get_xdata())
            )
            if len(across) == 0 or not all(lo <= float(a) <= hi for a in across):
                continue
            values = [float(v) for v in along]
            if str(line.get_linestyle()) in ("None", "none", "", " "):  # fliers
                stats["outliers"].extend(_number(v) for v in values[:MAX_POINTS])
            elif len(values) == 2 and values[0] == values[1] and q1 <= values[0] <= q3:
                if float(across[0]) != float(across[-1]):  # the median crosses the box
                    stats["median"] = _number(values[0])
            elif len(values) == 2 and float(across[0]) == float(across[-1]):  # a whisker
                if max(values) <= q1:
                    stats["min"] = _number(min(values))
                elif min(values) >= q3:
                    stats["max"] = _number(max(values))
        elements.append(stats)
    return {
        **_axes2d(ax),
        "type": "box_and_whisker",
        "elements": elements,
        "truncated": len(boxes) > MAX_ELEMENTS,
    }


def _vertical_boxes(lines: list[Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    """Whether the boxes stand upright: their medians span a box's width, not its height."""
    for line in lines:
        xs, ys = [float(v) for v in line.get_xdata()], [float(v) for v in line.get_ydata()]
        if len(xs) != 2:
            continue
        for x0, x1, y0, y1 in boxes:
            if sorted(xs) == [x0, x1] and ys[0] == ys[1]:
                return True
            if sorted(ys) == [y0, y1] and xs[0] == xs[1]:
                return False
    return True


# -- axes, labels and values --------------------------------------------------------------


def _axes2d(ax: Any) -> dict[str, Any]:
    x_label, y_label = _text(ax.get_xlabel()), _text(ax.get_ylabel())
    return {
        "title": _title(ax),
        "x_label": x_label,
        "y_label": y_label,
        "x_unit": _unit(x_label),
        "y_unit": _unit(y_label),
        "x_scale": _scale(ax, "x"),
        "y_scale": _scale(ax, "y"),
    }


def _is_plot(ax: Any) -> bool:
    """A visible Axes that is not a colorbar."""
    return bool(ax.get_visible()) and getattr(ax, "_colorbar", None) is None


def _title(ax: Any) -> str | None:
    for where in ("center", "left", "right"):
        if title := _text(ax.get_title(where)):
            return title
    return None


def _suptitle(figure: Any) -> str | None:
    suptitle = getattr(figure, "_suptitle", None)
    return _text(suptitle.get_text()) if suptitle is not None else None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:MAX_TEXT] or None


def _label(label: Any, fallback: str) -> str:
    """An artist's label; matplotlib names unlabelled artists `_child0`, `_container1`…"""
    text = _text(label)
    return fallback if text is None or text.startswith("_") else text


def _unit(label: str | None) -> str | None:
    if not label:
        return None
    found = _UNIT.findall(label)
    if not found:
        return None
    round_unit, square_unit = found[-1]
    return (round_unit or square_unit).strip() or None


def _converter_kind(ax: Any, axis: str) -> str:
    owner = ax.xaxis if axis == "x" else ax.yaxis
    getter = getattr(owner, "get_converter", None)
    converter = getter() if callable(getter) else getattr(owner, "converter", None)
    name = type(converter).__name__ if converter is not None else ""
    if "Date" in name:
        return "datetime"
    if "StrCategory" in name:
        return "categorical"
    return ""


def _scale(ax: Any, axis: str) -> str:
    kind = _converter_kind(ax, axis)
    if kind:
        return kind
    scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
    return str(scale)


def _category_names(ax: Any, axis: str) -> dict[float, str]:
    """Where each category or tick label sits on the axis: position → name."""
    owner = ax.xaxis if axis == "x" else ax.yaxis
    mapping = getattr(getattr(owner, "units", None), "_mapping", None)
    if isinstance(mapping, dict) and mapping:
        return {float(position): str(name) for name, position in mapping.items()}
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return {float(tick): label.get_text() for tick, label in zip(ticks, labels, strict=False)}


def _position_name(where: float, names: dict[float, str]) -> str:
    for position, name in names.items():
        if name and math.isclose(position, where, rel_tol=1e-9, abs_tol=1e-9):
            return name
    return f"{where:g}"


def _ticks(ticks: Any, ax: Any, axis: str, kind: str) -> list[Any]:
    return [_value(tick, ax, axis, kind, True) for tick in list(ticks)[:MAX_TICKS]]


def _tick_labels(labels: Any) -> list[str]:
    return [_plain(label.get_text()) for label in list(labels)[:MAX_TICKS]]


def _plain(text: str) -> str:
    """A tick label as a reader types it: `-2`, not `\u22122`; `10^{3}`, not mathtext."""
    return _MATHTEXT.sub(r"\1", text.replace("\u2212", "-"))


def _sample(count: int, keep: int) -> list[int]:
    """Indices of at most `keep` points spread evenly, the first and last included."""
    if count <= keep:
        return list(range(count))
    step = (count - 1) / (keep - 1)
    return sorted({round(i * step) for i in range(keep)})


def _value(value: Any, ax: Any, axis: str, kind: str, converted: bool) -> float | str | None:
    """A data value as JSON: a finite number, a date as ISO text, a category's name."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, datetime.date):
        return value.isoformat()
    if type(value).__name__ == "datetime64":
        return str(value)
    number = _number(value)
    if number is None or not converted:
        return number
    if kind == "datetime":
        from matplotlib.dates import num2date  # inside the kernel, with the figure's matplotlib

        return str(num2date(number).isoformat())  # type: ignore[no-untyped-call]
    if kind == "categorical":
        names = _category_names(ax, axis)
        name = names.get(float(number))
        return name if name else number
    return number


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    # Ten significant digits: the data as plotted, without float noise (1.2000000000000002).
    return float(f"{number:.10g}") if math.isfinite(number) else None
