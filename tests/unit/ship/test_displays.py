"""Displays of a real IPython kernel as rich outputs: through the kernel guard, the
collector and the derivations, with matplotlib's inline backend as in a container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.unit.ship.conftest import make_settings, ship_client
from tests.unit.ship.test_python import run

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def capped(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(Path(tmp_path_factory.mktemp("capped")), max_output_bytes=10_000)
    async for ship in ship_client(settings):
        yield ship


async def test_each_kind_keeps_its_mime_type_in_display_order(client: httpx.AsyncClient) -> None:
    code = (
        "from IPython.display import HTML, JSON, SVG, Latex, Markdown, display\n"
        "print('first')\n"
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="4"/>\'))\n'
        "display(HTML('<table><tr><th>k</th></tr><tr><td>v</td></tr></table>'))\n"
        "display(Markdown('*m*'))\n"
        "display(JSON({'j': 1}))\n"
        "display(Latex('$x$'))\n"
        "print('last')"
    )
    result = await run(client, code)
    assert result["output"] == "first\nlast\n"
    kinds = [(o["mime_type"], o["offset"]) for o in result["outputs"]]
    assert kinds == [
        ("image/svg+xml", 6), ("text/html", 6), ("text/markdown", 6),
        ("application/json", 6), ("text/latex", 6),
    ]  # fmt: skip
    svg, html, markdown, data, latex = result["outputs"]
    assert svg["png"]
    assert html["text"] == "| k |\n|---|\n| v |"
    assert (markdown["data"], data["data"], latex["data"]) == ("*m*", {"j": 1}, "$x$")


async def test_displayed_html_is_saved_in_the_workspace(
    client: httpx.AsyncClient, workspace: Path
) -> None:
    result = await run(client, "from IPython.display import HTML\nHTML('<p>saved</p>')")
    [html] = result["outputs"]
    assert (workspace / html["path"]).read_text() == "<p>saved</p>"
    assert html["text"] == "saved"


async def test_an_object_with_html_keeps_its_repr_in_the_text_output(
    client: httpx.AsyncClient,
) -> None:
    code = (
        "class Table:\n"
        "    def _repr_html_(self): return '<table><tr><td>1</td></tr></table>'\n"
        "    def __repr__(self): return 'Table(1)'\n"
        "print('x')\nTable()"
    )
    result = await run(client, code)
    [html] = result["outputs"]
    assert result["output"] == "x\nTable(1)\n"
    assert (html["offset"], html["replaces"]) == (2, len("Table(1)\n"))


async def test_a_matplotlib_figure_carries_its_chart(client: httpx.AsyncClient) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2], [5, 6], label='rise')\nplt.title('Up')\nplt.show()\n"
        "%config InlineBackend.figure_formats = ['svg']\n"
        "plt.bar(['a'], [3])\nplt.show()\n"
        "%config InlineBackend.figure_formats = ['png']"
    )
    result = await run(client, code)
    line, bar = result["outputs"]
    assert line["mime_type"] == "image/png"
    assert line["chart"]["title"] == "Up"
    assert line["chart"]["elements"] == [
        {"label": "rise", "points": [[1, 5], [2, 6]], "point_count": 2}
    ]
    # Another picture format does not lose the chart: the formats' reset leaves it.
    assert bar["mime_type"] == "image/svg+xml"
    assert bar["png"]
    assert bar["chart"]["elements"][0]["label"] == "a"


async def test_a_display_over_the_budget_is_cut_in_the_kernel_and_counted(
    capped: httpx.AsyncClient,
) -> None:
    code = (
        "from IPython.display import HTML, Markdown, display\n"
        "display(HTML('<p>' + 'x' * 20_000 + '</p>'))\n"
        "display(Markdown('small'))"
    )
    result = await run(capped, code)
    assert result["truncated"] is True
    assert [o["data"] for o in result["outputs"]] == ["small"]
    assert "more bytes were not kept" in result["output"]
