"""Charts read from real matplotlib figures (drawn off screen), as the kernel reads them."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any, Literal

import matplotlib
import pytest
from pydantic import TypeAdapter

from ship.charts import MAX_POINTS, figure_chart
from ship.protocol import Chart

matplotlib.use("agg")
import matplotlib.pyplot as plt


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def chart_of(figure: Any) -> dict[str, Any]:
    chart = figure_chart(figure)
    assert chart is not None
    TypeAdapter(Chart).validate_python(chart)  # Ship's model takes it as it is
    return chart


def test_a_line_chart_has_its_title_axes_units_scales_and_series() -> None:
    figure, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 4, 9], label="squares")
    ax.plot([1, 2, 3], [2, 3, 4])
    ax.set(title="Growth", xlabel="time (s)", ylabel="size [m]", yscale="log")
    chart = chart_of(figure)
    assert chart["type"] == "line"
    assert (chart["title"], chart["x_label"], chart["y_label"]) == (
        "Growth",
        "time (s)",
        "size [m]",
    )
    assert (chart["x_unit"], chart["y_unit"]) == ("s", "m")
    assert (chart["x_scale"], chart["y_scale"]) == ("linear", "log")
    assert chart["elements"] == [
        {"label": "squares", "points": [[1, 1], [2, 4], [3, 9]], "point_count": 3},
        {"label": "Line 2", "points": [[1, 2], [2, 3], [3, 4]], "point_count": 3},
    ]
    assert chart["x_tick_labels"]
    assert "−" not in "".join(chart["x_tick_labels"] + chart["y_tick_labels"])


def test_a_long_series_is_sampled_evenly_with_both_ends() -> None:
    figure, ax = plt.subplots()
    ax.plot(range(10_000), [float(i) for i in range(10_000)])
    [series] = chart_of(figure)["elements"]
    assert series["point_count"] == 10_000
    assert len(series["points"]) == MAX_POINTS
    assert series["points"][0] == [0, 0]
    assert series["points"][-1] == [9999, 9999]
    assert chart_of(figure)["truncated"] is True


def test_bars_have_their_categories_groups_and_orientation() -> None:
    figure, ax = plt.subplots()
    ax.bar(["apples", "pears"], [3, 5], label="2024")
    ax.bar(["apples", "pears"], [1, 2], bottom=[3, 5], label="2025")
    chart = chart_of(figure)
    assert (chart["type"], chart["orientation"], chart["x_scale"]) == (
        "bar",
        "vertical",
        "categorical",
    )
    assert [(b["label"], b["group"], b["value"]) for b in chart["elements"]] == [
        ("apples", "2024", 3), ("pears", "2024", 5), ("apples", "2025", 1), ("pears", "2025", 2),
    ]  # fmt: skip
    figure, ax = plt.subplots()
    ax.barh(["x", "y"], [7, 8])
    horizontal = chart_of(figure)
    assert horizontal["orientation"] == "horizontal"
    assert [(b["label"], b["value"]) for b in horizontal["elements"]] == [("x", 7), ("y", 8)]


def test_equal_bars_stay_vertical() -> None:
    figure, ax = plt.subplots()
    ax.bar(["a", "b", "c"], [2, 2, 2])
    chart = chart_of(figure)
    assert chart["orientation"] == "vertical"
    assert [b["label"] for b in chart["elements"]] == ["a", "b", "c"]


def test_scatter_from_points_and_from_marker_only_lines() -> None:
    figure, ax = plt.subplots()
    ax.scatter(["mon", "tue"], [3, 4], label="visits")
    chart = chart_of(figure)
    assert chart["type"] == "scatter"
    assert chart["elements"] == [
        {"label": "visits", "points": [["mon", 3], ["tue", 4]], "point_count": 2}
    ]
    figure, ax = plt.subplots()
    ax.plot([1, 2], [3, 4], "o")
    assert chart_of(figure)["type"] == "scatter"


def test_a_pie_has_its_slices_and_shares() -> None:
    figure, ax = plt.subplots()
    ax.pie([1, 1, 2], labels=["a", "b", "c"])
    ax.set_title("Share")
    chart = chart_of(figure)
    assert (chart["type"], chart["title"]) == ("pie", "Share")
    assert [(s["label"], s["angle"], s["fraction"]) for s in chart["elements"]] == [
        ("a", 90, 0.25), ("b", 90, 0.25), ("c", 180, 0.5),
    ]  # fmt: skip


@pytest.mark.parametrize("patch_artist", [False, True])
@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_box_plots_have_their_quartiles_whiskers_and_outliers(
    patch_artist: bool, orientation: Literal["vertical", "horizontal"]
) -> None:
    figure, ax = plt.subplots()
    data = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 40], [10, 20, 30, 40, 50]]
    ax.boxplot(
        data, tick_labels=["low", "high"], patch_artist=patch_artist, orientation=orientation
    )
    chart = chart_of(figure)
    assert chart["type"] == "box_and_whisker"
    low, high = chart["elements"]
    assert low == {
        "label": "low", "min": 1, "first_quartile": 3.25, "median": 5.5,
        "third_quartile": 7.75, "max": 9, "outliers": [40],
    }  # fmt: skip
    assert (high["label"], high["median"], high["min"], high["max"]) == ("high", 30, 10, 50)


def test_a_histogram_is_bars_at_their_bins() -> None:
    figure, ax = plt.subplots()
    ax.hist([1, 1, 2, 3, 3, 3], bins=[0.5, 1.5, 2.5, 3.5])
    chart = chart_of(figure)
    # Labelled as the axis labels the bins' centres.
    assert [(b["label"], b["value"]) for b in chart["elements"]] == [
        ("1.0", 2), ("2.0", 1), ("3.0", 3),
    ]  # fmt: skip


def test_dates_are_iso_text_and_the_scale_says_datetime() -> None:
    figure, ax = plt.subplots()
    days: Any = [datetime.date(2024, 1, 1), datetime.date(2024, 2, 1)]  # matplotlib takes dates
    ax.plot(days, [1, 2])
    chart = chart_of(figure)
    assert chart["x_scale"] == "datetime"
    assert chart["elements"][0]["points"] == [["2024-01-01", 1], ["2024-02-01", 2]]
    assert chart["x_ticks"][0].startswith("2024-01")


def test_a_figure_of_several_axes_is_a_composite_chart() -> None:
    figure, (left, right) = plt.subplots(1, 2)
    left.plot([0, 1])
    right.pie([1, 2])
    image = right.inset_axes((0.1, 0.1, 0.2, 0.2))
    image.set_visible(False)
    figure.suptitle("Overview")
    chart = chart_of(figure)
    assert (chart["type"], chart["title"]) == ("composite_chart", "Overview")
    assert [element["type"] for element in chart["elements"]] == ["line", "pie"]


def test_a_colorbar_is_not_a_chart_and_an_image_is_unknown() -> None:
    figure, ax = plt.subplots()
    shown = ax.imshow([[0, 1], [1, 0]])
    figure.colorbar(shown)
    ax.set_title("Heat")
    assert chart_of(figure) == {
        "type": "unknown", "title": "Heat", "x_label": None, "y_label": None,
        "x_unit": None, "y_unit": None, "x_scale": "linear", "y_scale": "linear",
    }  # fmt: skip


def test_a_figure_without_axes_or_unreadable_has_no_chart() -> None:
    assert figure_chart(plt.figure()) is None
    assert figure_chart(object()) is None
