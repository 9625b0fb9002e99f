"""Bay's icons, drawn here: one per tool family (the capability modules), the server's,
the prompts' and the cargo resources'.

Each is a small line drawing on a 24×24 grid, shipped as an SVG data URI (no file, no
request to any host), percent-encoded rather than base64 (a third shorter: every tool
carries one in `tools/list`, and the server's rides in each response's server info).
One mid-grey stroke reads on light and dark hosts alike (an `<img>` does not inherit
the page's colour, so `currentColor` would draw black on a dark host), which halves
what two themed copies would weigh. Drawings are plain paths: no script, no external
reference, which is what hosts are told to check an SVG for.
"""

from __future__ import annotations

from urllib.parse import quote

from mcp_types import Icon

STROKE = "#6b7280"

# The drawings: the inside of an <svg> whose paths are stroked, not filled.
_DRAWINGS = {
    "bay": '<path d="M3 15h18l-3 5H6z"/><path d="M12 3v12"/><path d="M12 4l6 8h-6"/>',
    "sandboxes": '<path d="M12 3l8 4.5v9L12 21l-8-4.5v-9z"/><path d="M4 7.5l8 4.5 8-4.5M12 12v9"/>',
    "runs": '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 9l3 3-3 3M13 15h4"/>',
    "files": '<path d="M6 3h8l4 4v14H6z"/><path d="M14 3v4h4M9 13h6M9 17h6"/>',
    "history": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "browser": (
        '<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3c3 3 3 15 0 18-3-3-3-15 0-18z"/>'
    ),
    "snapshots": '<path d="M4 8h3l2-3h6l2 3h3v11H4z"/><circle cx="12" cy="13" r="3.5"/>',
    "ports": '<path d="M9 3v5M15 3v5M12 17v4"/><path d="M6 8h12v3a6 6 0 0 1-12 0z"/>',
    "processes": '<path d="M3 12h4l3-7 4 14 3-7h4"/>',
    "skills": (
        '<path d="M12 3l2.8 5.7 6.2.9-4.5 4.4 1.1 6.2L12 17.3l-5.6 2.9 1.1-6.2L3 9.6l6.2-.9z"/>'
    ),
    "secrets": '<circle cx="8" cy="15" r="4"/><path d="M11 12l9-9M17 6l3 3"/>',
    "egress": '<path d="M14 4h6v6M20 4l-9 9M18 14v6H4V6h6"/>',
    "sandbox_view": (
        '<path d="M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z"/><circle cx="12" cy="12" r="3"/>'
    ),
    "cargo": '<path d="M3 6h6l2 2h10v11H3z"/>',
    "analyse": '<path d="M5 20V11M11 20V5M17 20v-7M3 20h18"/>',
    "web_app": (
        '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M3 9h18M10 12.5v5l4-2.5z"/>'
    ),
    "bug": (
        '<rect x="8" y="7" width="8" height="12" rx="4"/>'
        '<path d="M12 11v8M8 11H4M16 11h4M8 15H4M16 15h4M9 4l1.5 3M15 4l-1.5 3"/>'
    ),
}


def svg(drawing: str) -> str:
    return (
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' "
        f"stroke='{STROKE}' stroke-width='2' stroke-linecap='round' stroke-linejoin='round'>"
        + drawing.replace('"', "'")
        + "</svg>"
    )


def data_uri(drawing: str) -> str:
    # Quotes and the rest of a path's syntax are safe in a URI as they are; "<", ">",
    # "#" and spaces are not.
    return "data:image/svg+xml," + quote(svg(drawing), safe="'=/:.,-")


def _icons(drawing: str) -> list[Icon]:
    return [Icon(src=data_uri(drawing), mime_type="image/svg+xml", sizes=["any"])]


ICONS: dict[str, list[Icon]] = {name: _icons(drawing) for name, drawing in _DRAWINGS.items()}
SERVER = ICONS["bay"]
CARGO = ICONS["cargo"]


def family(module: str) -> list[Icon]:
    """The icons of the tools a capability module (`bay_mcp.mcp.<family>`) defines;
    KeyError for a module without a drawing (a test lists every tool's)."""
    return ICONS[module.rsplit(".", 1)[-1]]
