"""A run's rich outputs as each reader takes them: a model's text with every output in
place, the pictures a host shows, the PNGs existing REST clients read."""

from __future__ import annotations

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.services.rich_outputs import chart_text, model_text, pictures, png_images
from bay_mcp.services.runs import PythonRun
from ship import protocol
from ship.protocol import Bar as BarElement
from ship.protocol import (
    BarChart,
    BoxAndWhiskerChart,
    BoxStats,
    CompositeChart,
    PieChart,
    PieSlice,
    PointChart,
    PointSeries,
    RichOutput,
)
from tests.fakes import FakeShip

LINE = PointChart(
    type="line",
    title="Growth",
    x_label="t (s)",
    x_scale="linear",
    y_scale="log",
    elements=[
        PointSeries(
            label="n", points=[(float(i), float(i * i)) for i in range(40)], point_count=900
        )
    ],
    truncated=True,
)


def test_outputs_stand_where_they_were_shown_in_place_of_their_repr() -> None:
    output = "start\n   a\n0  1\nend\n"
    table = RichOutput(
        mime_type="text/html", data="<table/>", text="| a |", path=".bay/outputs/d.html",
        offset=6, replaces=len("   a\n0  1\n"),
    )  # fmt: skip
    figure = RichOutput(mime_type="image/png", data="iVBO", offset=len(output) - 4)
    assert model_text(output, [table, figure]) == (
        "start\n| a |\n[HTML saved at .bay/outputs/d.html]\n"
        "[image 1 (image/png) is shown below]\nend\n"
    )


def test_each_kind_reads_as_text() -> None:
    outputs = [
        RichOutput(mime_type="image/svg+xml", data="<svg/>", png="iVBO"),
        RichOutput(mime_type="image/svg+xml", data="<svg/>"),
        RichOutput(mime_type="image/jpeg", data="/9j/"),
        RichOutput(mime_type="text/markdown", data="# M"),
        RichOutput(mime_type="text/latex", data="$x$"),
        RichOutput(mime_type="application/json", data={"a": 1}, text='{\n  "a": 1\n}'),
        RichOutput(mime_type="text/html", data="<p/>", text=None),
    ]
    assert model_text("", outputs).splitlines() == [
        "[image 1 (SVG, shown as PNG) is shown below]",
        "[an SVG image that could not be rasterised: it is not shown]",
        "[image 2 (image/jpeg) is shown below]",
        "# M",
        "$x$",
        "{",
        '  "a": 1',
        "}",
        "[an HTML output too large to read here]",
    ]


def test_a_host_is_shown_rasters_an_svg_as_its_png_and_rest_gets_the_pngs() -> None:
    outputs = [
        RichOutput(mime_type="image/svg+xml", data="<svg/>", png="SVGPNG"),
        RichOutput(mime_type="image/svg+xml", data="<svg/>"),
        RichOutput(mime_type="image/jpeg", data="JPEG"),
        RichOutput(mime_type="image/png", data="PNG"),
        RichOutput(mime_type="text/markdown", data="# M"),
    ]
    assert pictures(outputs) == [
        ("SVGPNG", "image/png"), ("JPEG", "image/jpeg"), ("PNG", "image/png"),
    ]  # fmt: skip
    assert png_images(outputs) == ["SVGPNG", "PNG"]


def test_a_chart_reads_as_its_kind_axes_and_a_spread_of_points() -> None:
    lines = chart_text(LINE).splitlines()
    assert lines[0] == '[chart: line "Growth"; x: "t (s)" linear; y: log; bounded]'
    assert lines[1].startswith('  "n": 900 points (12 shown, evenly spread): (0, 0), ')
    assert lines[1].endswith("(39, 1521)")
    bars = BarChart(
        type="bar", elements=[BarElement(label="a", group="g", value=1.5)], x_scale="categorical"
    )
    pie = PieChart(type="pie", elements=[PieSlice(label="p", angle=90, radius=1, fraction=0.25)])
    box = BoxAndWhiskerChart(
        type="box_and_whisker",
        elements=[
            BoxStats(label="b", min=1, first_quartile=2, median=3, third_quartile=4, max=5,
                     outliers=[9.0])
        ],
    )  # fmt: skip
    both = CompositeChart(type="composite_chart", title="All", elements=[bars, pie, box])
    assert chart_text(both).splitlines() == [
        '[chart: composite_chart "All", 3 axes]',
        "  [chart: bar; x: categorical; y: -]",
        '    "g": "a" 1.5',
        "  [chart: pie]",
        '    "p" 25.0%',
        "  [chart: box_and_whisker; x: -; y: -]",
        '    "b": min 1, Q1 2, median 3, Q3 4, max 5, 1 outliers',
    ]


async def test_a_run_for_a_model_reads_its_outputs_in_place_and_rest_keeps_its_text(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.python_answer = protocol.PythonExecResult(
        success=True,
        output="before\n",
        outputs=[
            RichOutput(mime_type="image/png", data="iVBO", chart=LINE, offset=7),
            RichOutput(mime_type="image/svg+xml", data="<svg/>", png="PNG2", offset=7),
        ],
    )
    for_rest = await bay.execution.run("alice", sandbox.id, PythonRun(code="plot()"), no_progress)
    assert for_rest.output == "before\n"
    assert for_rest.images == ["iVBO", "PNG2"]
    assert [item.mime_type for item in for_rest.outputs] == ["image/png", "image/svg+xml"]
    for_model = await bay.execution.run(
        "alice", sandbox.id, PythonRun(code="plot()"), no_progress, for_model=True
    )
    assert for_model.output.startswith("before\n[image 1 (image/png) is shown below]\n[chart: line")
    assert "[image 2 (SVG, shown as PNG) is shown below]" in for_model.output


async def test_an_older_ship_s_images_still_come_through(bay: Bay, ship: FakeShip) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.python_answer = protocol.PythonExecResult(
        success=True, images=[protocol.PngImage(png="OLD")]
    )
    result = await bay.execution.run("alice", sandbox.id, PythonRun(code="x"), no_progress)
    assert (result.images, result.outputs) == (["OLD"], [])
