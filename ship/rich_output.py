"""What a run displayed beyond plain text, from any kernel's Jupyter MIME bundles:
images (PNG, JPEG, GIF, WebP, SVG), documents (Markdown, HTML, LaTeX, JSON) and a
matplotlib figure's chart, as `RichOutput`s within the run's output budget.

A bundle gives at most one output: its first image (with its chart), else its first
document; its plain text goes to the run's text output as before, unless the bundle
has an image or the plain text is only a placeholder (`<IPython.core.display.HTML
object>`). Nothing here is Python's: Deno's and IRkernel's displays are the same
bundles. The kernel guard (`kernel_guard.py`) keeps the same lists, so that nothing
else travels.

Two steps: `RichOutputs.add` keeps what arrives (cheap, in the event loop, counted in
the budget); `finish` derives what costs time (an SVG rasterised to PNG, HTML read as
Markdown and saved in the workspace, JSON indented), in a worker thread, counting
what it adds in the same budget: what does not fit is left out and counted as cut.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ship import filesystem
from ship.errors import ShipError
from ship.html_text import html_to_text
from ship.output import CappedOutput
from ship.protocol import CHART_MIME, Chart, RichOutput
from ship.quota import WorkspaceQuota

log = logging.getLogger(__name__)

IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
DOCUMENTS = ("text/markdown", "text/html", "text/latex", "application/json")
SVG = "image/svg+xml"
HTML = "text/html"
JSON = "application/json"
# Where a displayed HTML document is saved, relative to /workspace (Bay's saved outputs
# are there too; the directory is left out of a run's changed files).
OUTPUT_DIR = ".bay/outputs"
# The raster of an SVG: at most this many pixels on its longer side, and in all.
MAX_RASTER_SIDE = 2048
MAX_RASTER_PIXELS = 4_000_000
# A repr that says nothing but the type: `<IPython.core.display.Markdown object>`.
_PLACEHOLDER = re.compile(r"^<[\w.]+ object( at 0x[0-9a-fA-F]+)?>$")


class OutputFiles:
    """Saves displayed HTML in the workspace, within its size limit."""

    def __init__(self, workspace: Path, quota: WorkspaceQuota | None = None) -> None:
        self.workspace = workspace
        self.quota = quota

    def save(self, html: str) -> str | None:
        """The path (relative to /workspace) `html` is saved at; None if it cannot be.
        Named by its content: the same table shown twice is one file."""
        digest = hashlib.sha256(html.encode("utf-8", "replace")).hexdigest()[:16]
        path = f"{OUTPUT_DIR}/display-{digest}.html"
        try:
            filesystem.write_text(self.workspace, path, html, self.quota)
        except (ShipError, OSError) as exc:
            log.warning("a displayed HTML document was not saved at %s: %s", path, exc)
            return None
        return path


@dataclass
class Shown:
    """What Ship keeps of one bundle."""

    image: str | None = None
    document: str | None = None
    plain: str | None = None


def shown(data: dict[str, Any]) -> Shown:
    """What of a MIME bundle a run's result keeps (see the module's docstring)."""
    image = next((kind for kind in IMAGES if isinstance(data.get(kind), str)), None)
    if image is not None:
        return Shown(image=image)
    document = next((kind for kind in DOCUMENTS if data.get(kind) is not None), None)
    plain = data.get("text/plain")
    if not isinstance(plain, str) or (document is not None and _PLACEHOLDER.match(plain.strip())):
        plain = None
    return Shown(document=document, plain=plain)


class RichOutputs:
    """The rich outputs of one run, counted in its output budget."""

    def __init__(self, budget: CappedOutput) -> None:
        self.budget = budget
        self.items: list[RichOutput] = []

    def add(self, data: dict[str, Any]) -> None:
        """Keep what `data` (a display's MIME bundle) shows; its plain text goes to the
        text output."""
        keep = shown(data)
        offset = self.budget.length
        kept: RichOutput | None = None
        if keep.image is not None:
            raw = data[keep.image]
            value = raw if keep.image == SVG else raw.replace("\n", "")
            chart = _chart(data.get(CHART_MIME))
            size = len(value) + (_size(data[CHART_MIME]) if chart is not None else 0)
            kept = self._keep(keep.image, value, size, offset)
            if kept is not None:
                kept.chart = chart
        elif keep.document is not None:
            value = data[keep.document]
            kept = self._keep(keep.document, value, _size(value), offset)
        if keep.plain is not None:
            plain = keep.plain if keep.plain.endswith("\n") else keep.plain + "\n"
            self.budget.append(plain)
            if kept is not None:
                kept.replaces = self.budget.length - offset

    def _keep(self, mime_type: str, value: Any, size: int, offset: int) -> RichOutput | None:
        if not self.budget.has_room(size):
            self.budget.drop(size)
            return None
        self.budget.consume(size)
        kept = RichOutput(mime_type=mime_type, data=value, offset=offset)
        self.items.append(kept)
        return kept

    async def finish(self, files: OutputFiles | None) -> None:
        """Derive each output's raster, text and file, in a worker thread."""
        if any(item.mime_type in (SVG, HTML, JSON) for item in self.items):
            await asyncio.to_thread(self._derive, files)

    def _derive(self, files: OutputFiles | None) -> None:
        for item in self.items:
            if item.mime_type == SVG and isinstance(item.data, str):
                png = rasterise(item.data)
                if png is not None:
                    item.png = self._fits(png)
            elif item.mime_type == HTML and isinstance(item.data, str):
                item.text = self._fits(html_to_text(item.data))
                if files is not None:
                    item.path = files.save(item.data)
            elif item.mime_type == JSON:
                item.text = self._fits(json.dumps(item.data, indent=2, ensure_ascii=False))

    def _fits(self, derived: str) -> str | None:
        size = _size(derived)
        if not self.budget.has_room(size):
            self.budget.drop(size)
            return None
        self.budget.consume(size)
        return derived


def _size(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return len(text.encode("utf-8", "replace"))


@cache
def _chart_adapter() -> TypeAdapter[Chart]:
    return TypeAdapter(Chart)


def _chart(value: Any) -> Chart | None:
    if not isinstance(value, dict):
        return None
    try:
        return _chart_adapter().validate_python(value)
    except ValidationError as exc:
        log.warning("a figure's chart did not validate and is left out: %s", exc)
        return None


# -- SVG to PNG ------------------------------------------------------------------------------

_SVG_TAG = re.compile(r"<svg\b[^>]*>", re.IGNORECASE | re.DOTALL)
_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z%]*)\s*$")
_PX_PER_UNIT = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54,
                "mm": 96 / 25.4, "q": 96 / 101.6, "em": 16.0, "ex": 8.0}  # fmt: skip


def svg_size(svg: str) -> tuple[float, float] | None:
    """The SVG's size in CSS pixels (96 dpi), from its root element's width and height,
    else its viewBox; None when neither says."""
    tag = _SVG_TAG.search(svg)
    if tag is None:
        return None
    attributes = dict(re.findall(r'([\w:-]+)\s*=\s*["\']([^"\']*)["\']', tag.group(0)))
    box = [float(n) for n in re.findall(r"[-+]?[0-9]*\.?[0-9]+", attributes.get("viewBox", ""))]
    width, height = _length(attributes.get("width")), _length(attributes.get("height"))
    if len(box) == 4 and box[2] > 0 and box[3] > 0:
        if width is None and height is None:
            width, height = box[2], box[3]
        elif width is None and height is not None:
            width = height * box[2] / box[3]
        elif height is None and width is not None:
            height = width * box[3] / box[2]
    if width is None or height is None or width <= 0 or height <= 0:
        return None
    return width, height


def _length(value: str | None) -> float | None:
    match = _LENGTH.match(value or "")
    if match is None or match.group(2).lower() not in _PX_PER_UNIT:
        return None
    return float(match.group(1)) * _PX_PER_UNIT[match.group(2).lower()]


def rasterise(svg: str) -> str | None:
    """The SVG as a base64 PNG, at most MAX_RASTER_SIDE pixels a side; None when it
    cannot be drawn (not an SVG, no size, or a renderer error)."""
    size = svg_size(svg)
    if size is None:
        return None
    width, height = size
    zoom = min(1.0, MAX_RASTER_SIDE / max(width, height))
    zoom = min(zoom, (MAX_RASTER_PIXELS / (width * height)) ** 0.5)
    try:
        import resvg_py  # Ship's server venv only: Bay never rasterises

        png = resvg_py.svg_to_bytes(
            svg_string=svg,
            zoom=zoom,
            dpi=96.0,
            font_dirs=_font_dirs(),
            font_family="DejaVu Sans",
            sans_serif_family="DejaVu Sans",
        )
    except Exception as exc:  # resvg raises ValueError and others for a broken SVG
        log.info("an SVG could not be rasterised: %s", exc)
        return None
    return base64.b64encode(png).decode("ascii")


@cache
def _font_dirs() -> list[str]:
    """Fonts for an SVG's text: the system's, and the DejaVu fonts matplotlib ships in
    the user's Python (the Ship image has no font package of its own)."""
    found = Path("/opt/python/lib").glob("python3*/site-packages/matplotlib/mpl-data/fonts/ttf")
    return [str(path) for path in found]
