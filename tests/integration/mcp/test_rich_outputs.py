"""Rich outputs through MCP over stdio: each in place in the text a model reads, images
as image blocks of the right type (an SVG as its PNG), charts as data."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from mcp import Client
from PIL import Image

from tests.integration.mcp.conftest import call, new_sandbox, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

CODE = """\
import io
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import JSON, SVG, Image, Markdown, display
from PIL import Image as Picture

print("start")
svg = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
display(SVG(svg + '<rect width="40" height="20" fill="red"/></svg>'))
buffer = io.BytesIO()
Picture.new("RGB", (30, 10), "green").save(buffer, "JPEG")
display(Image(data=buffer.getvalue(), format="jpeg"))
display(pd.DataFrame({"city": ["Paris", "Oslo"], "temp": [21.5, 9.0]}))
display(Markdown("## Notes\\n\\nall *fine*"))
display(JSON({"rows": 2}))
plt.plot([0, 1, 2], [0, 1, 4], label="growth"); plt.title("Growth"); plt.show()
plt.bar(["a", "b"], [5, 7]); plt.show()
print("end")
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(client: Client) -> AsyncIterator[str]:
    sandbox_id = await new_sandbox(client)
    yield sandbox_id
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_every_output_in_place_images_as_blocks_charts_as_data(
    client: Client, sandbox: str
) -> None:
    result = await call(client, "python_exec", sandbox_id=sandbox, code=CODE)
    text = text_of(result)
    # In display order, between what was printed before and after.
    order = [
        "start",
        "[image 1 (SVG, shown as PNG) is shown below]",
        "[image 2 (image/jpeg) is shown below]",
        "| 0 | Paris | 21.5 |",
        "[HTML saved at .bay/outputs/display-",
        "## Notes",
        '"rows": 2',
        "[image 3 (image/png) is shown below]",
        '[chart: line "Growth"',
        '"growth": 3 points: (0, 0), (1, 1), (2, 4)',
        "[image 4 (image/png) is shown below]",
        "[chart: bar",
        '"a" 5, "b" 7',
        "end",
    ]
    positions = [text.find(part) for part in order]
    assert -1 not in positions, (order, text)
    assert positions == sorted(positions), text
    # The DataFrame is read once, as its table: its repr is not there too.
    assert text.count("Paris") == 1, text
    assert "<IPython.core.display" not in text

    images = [block for block in result.content if block.type == "image"]
    assert [image.mime_type for image in images] == [
        "image/png", "image/jpeg", "image/png", "image/png",
    ]  # fmt: skip
    svg = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert (svg.format, svg.size) == ("PNG", (40, 20))
    jpeg = Image.open(io.BytesIO(base64.b64decode(images[1].data)))
    assert (jpeg.format, jpeg.size) == ("JPEG", (30, 10))

    assert result.structured_content is not None
    outputs = result.structured_content["outputs"]
    assert [output["mime_type"] for output in outputs] == [
        "image/svg+xml", "image/jpeg", "text/html", "text/markdown", "application/json",
        "image/png", "image/png",
    ]  # fmt: skip
    assert outputs[2]["path"].startswith(".bay/outputs/display-")
    line, bar = outputs[5]["chart"], outputs[6]["chart"]
    assert (line["type"], line["title"]) == ("line", "Growth")
    assert line["elements"][0]["points"] == [[0, 0], [1, 1], [2, 4]]
    assert [(b["label"], b["value"]) for b in bar["elements"]] == [("a", 5), ("b", 7)]
