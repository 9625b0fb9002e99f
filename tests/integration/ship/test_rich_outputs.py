"""Rich outputs in the real container: SVG (and its PNG), JPEG, a DataFrame's HTML,
Markdown, JSON, LaTeX, and matplotlib charts as data, within the output budget."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
from PIL import Image

from tests.integration.ship.conftest import ShipContainer
from tests.integration.ship.test_exec import exec_python

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">'
    '<rect width="120" height="80" fill="#ff0000"/>'
    '<text x="10" y="50" font-size="30" fill="#0000ff">Hi</text></svg>'
)


def picture(data: str, kind: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.format == kind
    image.load()
    return image


def only(result: dict[str, Any]) -> dict[str, Any]:
    assert result["success"], result
    [output] = result["outputs"]
    assert isinstance(output, dict)
    return output


def test_an_svg_comes_back_as_itself_and_as_a_png(client: httpx.Client) -> None:
    result = exec_python(client, f"from IPython.display import SVG\nSVG({SVG!r})")
    svg = only(result)
    assert svg["mime_type"] == "image/svg+xml"
    assert svg["data"].startswith("<svg")
    raster = picture(svg["png"], "PNG").convert("RGB")
    assert raster.size == (120, 80)
    assert raster.getpixel((100, 10)) == (255, 0, 0)
    # The text is drawn (a font was found): some pixel of "Hi" is blue.
    blue = [raster.getpixel((x, y)) for x in range(10, 50) for y in range(25, 50)]
    assert any(isinstance(pixel, tuple) and pixel[2] > 200 for pixel in blue)
    assert result["output"] == ""  # not `<IPython.core.display.SVG object>`


def test_a_jpeg_made_with_pil_stays_a_jpeg(client: httpx.Client) -> None:
    code = (
        "import io\nfrom PIL import Image as Picture\nfrom IPython.display import Image\n"
        "buffer = io.BytesIO()\nPicture.new('RGB', (64, 32), 'blue').save(buffer, 'JPEG')\n"
        "Image(data=buffer.getvalue(), format='jpeg')"
    )
    jpeg = only(exec_python(client, code))
    assert jpeg["mime_type"] == "image/jpeg"
    assert picture(jpeg["data"], "JPEG").size == (64, 32)


def test_a_dataframe_reads_as_a_markdown_table_and_its_html_is_saved(
    client: httpx.Client, ship: ShipContainer
) -> None:
    code = (
        "import pandas as pd\n"
        "frame = pd.DataFrame({'city': ['Paris', 'Oslo'], 'temp': [21.5, 9.0]})\n"
        "display(frame)\nframe"
    )
    result = exec_python(client, code)
    first, second = result["outputs"]
    assert first["mime_type"] == "text/html"
    assert first["text"].splitlines() == [
        "|  | city | temp |",
        "|---|---|---|",
        "| 0 | Paris | 21.5 |",
        "| 1 | Oslo | 9.0 |",
    ]
    # The same table twice is one file, named by its content.
    assert first["path"] == second["path"]
    assert first["path"].startswith(".bay/outputs/display-")
    saved = ship.exec_outside("cat", f"/workspace/{first['path']}")
    assert "<table" in saved
    assert "Paris" in saved
    # The text output keeps the DataFrame's repr for existing clients, and says where.
    assert "Paris" in result["output"]
    repr_span = result["output"][first["offset"] : first["offset"] + first["replaces"]]
    assert "city" in repr_span
    assert "Oslo" in repr_span


def test_markdown_json_and_latex_come_back_as_text(client: httpx.Client) -> None:
    code = (
        "from IPython.display import JSON, Markdown, Math\n"
        "display(Markdown('# Results\\n\\n*two* rows'))\n"
        "display(JSON({'rows': [1, 2], 'ok': True}))\n"
        "display(Math(r'\\frac{a}{b}'))"
    )
    result = exec_python(client, code)
    markdown, data, latex = result["outputs"]
    assert markdown["mime_type"] == "text/markdown"
    assert markdown["data"] == "# Results\n\n*two* rows"
    assert data["mime_type"] == "application/json"
    assert data["data"] == {"rows": [1, 2], "ok": True}
    assert json.loads(data["text"]) == {"rows": [1, 2], "ok": True}
    assert latex["mime_type"] == "text/latex"
    assert "\\frac{a}{b}" in latex["data"]
    assert result["output"] == ""  # no `<IPython.core.display.Markdown object>` lines


def test_a_line_and_a_bar_chart_come_back_as_data(client: httpx.Client) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3, 4], [1, 4, 9, 16], label='squares')\n"
        "plt.plot([1, 2, 3, 4], [1, 8, 27, 64], label='cubes')\n"
        "plt.title('Powers'); plt.xlabel('n'); plt.ylabel('value (units)'); plt.yscale('log')\n"
        "plt.legend(); plt.show()\n"
        "plt.bar(['apples', 'pears', 'plums'], [3, 5, 2], label='2024')\n"
        "plt.title('Fruit'); plt.show()"
    )
    result = exec_python(client, code)
    line, bar = result["outputs"]
    assert line["mime_type"] == bar["mime_type"] == "image/png"
    picture(line["data"], "PNG")
    chart = line["chart"]
    assert chart["type"] == "line"
    assert (chart["title"], chart["x_label"], chart["y_label"]) == ("Powers", "n", "value (units)")
    assert (chart["x_scale"], chart["y_scale"], chart["y_unit"]) == ("linear", "log", "units")
    assert [(s["label"], s["points"]) for s in chart["elements"]] == [
        ("squares", [[1, 1], [2, 4], [3, 9], [4, 16]]),
        ("cubes", [[1, 1], [2, 8], [3, 27], [4, 64]]),
    ]
    bars = bar["chart"]
    assert (bars["type"], bars["title"], bars["x_scale"]) == ("bar", "Fruit", "categorical")
    assert [(b["label"], b["group"], b["value"]) for b in bars["elements"]] == [
        ("apples", "2024", 3),
        ("pears", "2024", 5),
        ("plums", "2024", 2),
    ]


def test_scatter_pie_box_and_composite_charts(client: httpx.Client) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.scatter([1, 2, 3], [3, 1, 2], label='dots'); plt.show()\n"
        "plt.pie([1, 3], labels=['cats', 'dogs']); plt.show()\n"
        "plt.boxplot([[1, 2, 3, 4, 5, 6, 7, 8, 9, 40]], tick_labels=['sample']); plt.show()\n"
        "fig, (left, right) = plt.subplots(1, 2); left.plot([0, 1]); right.bar(['x'], [2])\n"
        "fig.suptitle('Both'); plt.show()"
    )
    scatter, pie, box, both = (o["chart"] for o in exec_python(client, code)["outputs"])
    assert scatter["type"] == "scatter"
    assert scatter["elements"][0]["points"] == [[1, 3], [2, 1], [3, 2]]
    assert pie["type"] == "pie"
    assert [(s["label"], s["fraction"]) for s in pie["elements"]] == [
        ("cats", 0.25),
        ("dogs", 0.75),
    ]
    assert box["type"] == "box_and_whisker"
    [stats] = box["elements"]
    assert (stats["label"], stats["median"], stats["outliers"]) == ("sample", 5.5, [40])
    assert (stats["min"], stats["max"]) == (1, 9)
    assert both["type"] == "composite_chart"
    assert both["title"] == "Both"
    assert [chart["type"] for chart in both["elements"]] == ["line", "bar"]


def test_a_display_over_the_budget_is_dropped_and_counted(client: httpx.Client) -> None:
    code = (
        "from IPython.display import SVG, Markdown, display\n"
        'head = \'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">\'\n'
        "display(SVG(head + '<!--' + 'x' * 5_000_000 + '--></svg>'))\n"
        "display(Markdown('still here'))"
    )
    result = exec_python(client, code)
    assert result["truncated"] is True
    assert "more bytes were not kept" in result["output"]
    [kept] = result["outputs"]
    assert kept["data"] == "still here"
