"""Rich outputs over REST: `data.output.outputs` in order with their MIME types, and
`images` still the PNGs existing clients read."""

from __future__ import annotations

import base64

import httpx

from tests.integration.http.conftest import HttpBay
from tests.integration.http.test_rest_contract import create

CODE = """\
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import SVG, display
svg = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
display(SVG(svg + '<rect width="40" height="20"/></svg>'))
display(pd.DataFrame({"city": ["Paris"], "temp": [21.5]}))
plt.plot([1, 2], [3, 4], label="rise"); plt.show()
"""


def test_outputs_keep_their_mime_types_and_images_stay_pngs(
    alice: httpx.Client, bay_http: HttpBay
) -> None:
    sandbox_id = str(create(alice)["id"])
    answer = alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": CODE}).json()
    assert answer["success"], answer
    output = answer["data"]["output"]
    svg, table, figure = output["outputs"]
    assert (svg["mime_type"], table["mime_type"], figure["mime_type"]) == (
        "image/svg+xml", "text/html", "image/png",
    )  # fmt: skip
    assert svg["data"].startswith("<svg")
    assert "| 0 | Paris | 21.5 |" in table["text"]
    assert "<table" in table["data"]
    assert figure["chart"]["elements"][0] == {
        "label": "rise",
        "points": [[1, 3], [2, 4]],
        "point_count": 2,
    }
    # Existing clients: every PNG (the SVG's raster and the figure), as {"image/png": …}.
    images = [base64.b64decode(image["image/png"]) for image in output["images"]]
    assert len(images) == 2
    assert all(image.startswith(b"\x89PNG") for image in images)
    # The text output is as before: the DataFrame's repr, no rich output in it.
    assert "Paris" in answer["output"]
    assert "|" not in answer["output"]
    saved = alice.get(
        f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": table["path"]}
    )
    assert "<table" in saved.json()["content"]
    alice.delete(f"/v1/sandboxes/{sandbox_id}")
