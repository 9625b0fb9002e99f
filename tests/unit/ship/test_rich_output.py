"""Rich outputs from MIME bundles: what is kept, the budget, SVG rasters, saved HTML."""

from __future__ import annotations

import ast
import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from ship import rich_output
from ship.output import CappedOutput
from ship.protocol import CHART_MIME
from ship.quota import WorkspaceQuota
from ship.rich_output import OutputFiles, RichOutputs, rasterise, shown, svg_size

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="30pt" height="15pt"><rect width="40" height="20" fill="#00ff00"/></svg>'  # noqa: E501
CHART = {"type": "bar", "elements": [{"label": "a", "group": "g", "value": 1}]}


def picture(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def test_a_bundle_gives_its_first_image_else_its_first_document() -> None:
    assert shown({"image/svg+xml": "<svg/>", "image/png": "iVB", "text/plain": "<Figure>"}) == (
        rich_output.Shown(image="image/png")
    )
    both = shown({"text/html": "<b>x</b>", "text/markdown": "**x**", "text/plain": "x"})
    assert (both.document, both.plain) == ("text/markdown", "x")
    assert shown({"text/plain": "42"}) == rich_output.Shown(plain="42")


def test_a_placeholder_repr_is_left_out_only_beside_a_document() -> None:
    placeholder = "<IPython.core.display.Markdown object>"
    assert shown({"text/markdown": "# x", "text/plain": placeholder}).plain is None
    assert shown({"text/plain": placeholder}).plain == placeholder


def test_the_kernel_guard_keeps_the_same_lists() -> None:
    guard = Path(rich_output.__file__).with_name("kernel_guard.py").read_text()
    assigned = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.walk(ast.parse(guard))
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("images", "documents", "chart")
    }
    assert assigned == {
        "images": rich_output.IMAGES,
        "documents": rich_output.DOCUMENTS,
        "chart": CHART_MIME,
    }


def test_outputs_stand_where_they_were_shown_and_replace_their_repr() -> None:
    budget = CappedOutput(10_000)
    outputs = RichOutputs(budget)
    budget.append("before\n")
    outputs.add({"text/html": "<table></table>", "text/plain": "   a\n0  1"})
    outputs.add({"image/png": "iV\nBO", "text/plain": "<Figure size 640x480>", CHART_MIME: CHART})
    budget.append("after\n")
    html, png = outputs.items
    assert (html.offset, html.replaces) == (7, len("   a\n0  1\n"))
    assert budget.text() == "before\n   a\n0  1\nafter\n"
    assert (png.data, png.offset, png.replaces) == ("iVBO", len("before\n   a\n0  1\n"), 0)
    assert png.chart is not None
    assert png.chart.type == "bar"


def test_an_output_over_the_budget_is_dropped_and_counted() -> None:
    budget = CappedOutput(100)
    outputs = RichOutputs(budget)
    outputs.add({"image/png": "x" * 200})
    outputs.add({"application/json": {"small": True}})
    assert [item.mime_type for item in outputs.items] == ["application/json"]
    assert budget.truncated
    assert budget.dropped_bytes == 200


def test_a_chart_that_does_not_validate_is_left_out_not_the_picture() -> None:
    outputs = RichOutputs(CappedOutput(10_000))
    outputs.add({"image/png": "iVBO", CHART_MIME: {"type": "sunburst"}})
    [png] = outputs.items
    assert png.chart is None


async def test_finish_rasterises_reads_html_saves_it_and_indents_json(tmp_path: Path) -> None:
    outputs = RichOutputs(CappedOutput(100_000))
    outputs.add({"image/svg+xml": SVG})
    outputs.add({"text/html": "<table><tr><th>k</th></tr><tr><td>v</td></tr></table>"})
    outputs.add({"application/json": {"k": [1]}})
    await outputs.finish(OutputFiles(tmp_path))
    svg, html, data = outputs.items
    assert svg.png is not None
    raster = picture(svg.png).convert("RGB")
    assert raster.size == (40, 20)  # 30 pt = 40 px
    assert raster.getpixel((20, 10)) == (0, 255, 0)
    assert html.text == "| k |\n|---|\n| v |"
    assert html.path is not None
    assert (tmp_path / html.path).read_text() == html.data
    assert data.text == '{\n  "k": [\n    1\n  ]\n}'


async def test_what_finish_derives_counts_in_the_budget_too(tmp_path: Path) -> None:
    html = "<p>" + "word " * 50 + "</p>"
    budget = CappedOutput(len(html) + 10)
    outputs = RichOutputs(budget)
    outputs.add({"text/html": html})
    await outputs.finish(None)
    [kept] = outputs.items
    assert kept.text is None  # the Markdown did not fit; the HTML itself did
    assert budget.truncated


def test_html_is_not_saved_past_the_workspace_limit(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 2048)
    files = OutputFiles(tmp_path, WorkspaceQuota(tmp_path, limit_bytes=1024))
    assert files.save("<p>hi</p>") is None
    assert not (tmp_path / ".bay").exists()


@pytest.mark.parametrize(
    ("root", "size"),
    [
        ('<svg width="460.8pt" height="345.6pt" viewBox="0 0 460.8 345.6">', (614.4, 460.8)),
        ('<svg viewBox="0 0 10 5">', (10.0, 5.0)),
        ('<svg width="100%" viewBox="0 0 8 2">', (8.0, 2.0)),
        ('<svg width="1in" viewBox="0 0 2 1">', (96.0, 48.0)),
        ("<svg>", None),
        ("<html>", None),
    ],
)
def test_the_size_of_an_svg_in_pixels(root: str, size: tuple[float, float] | None) -> None:
    found = svg_size('<?xml version="1.0"?>\n' + root + "</svg>")
    assert found == (pytest.approx(size) if size else None)


def test_a_huge_svg_is_drawn_within_the_pixel_bound() -> None:
    huge = '<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="50000"><rect width="100000" height="50000"/></svg>'  # noqa: E501
    png = rasterise(huge)
    assert png is not None
    assert picture(png).size == (rich_output.MAX_RASTER_SIDE, rich_output.MAX_RASTER_SIDE // 2)


def test_a_broken_svg_has_no_raster() -> None:
    assert rasterise('<svg xmlns="http://www.w3.org/2000/svg" width="5" height="5"><rect') is None
    assert rasterise("not svg at all") is None
