"""The path rule on Bay's side: checked before any call reaches Ship (which checks
again, symlinks included). The rule itself lives once, in `ship.paths`."""

from __future__ import annotations

from bay_mcp.errors import InvalidPath
from ship import errors as ship_errors
from ship.paths import normalize


def workspace_path(raw: object, *, allow_root: bool = False, field: str = "path") -> str:
    """The normalised path relative to /workspace; InvalidPath saying what is wrong,
    its `details.field` naming the argument that held it (`path`, `cwd`)."""
    try:
        relative = normalize(raw)
    except ship_errors.InvalidPath as exc:
        raise InvalidPath(f"{field}: {exc.message}", {"field": field}) from exc
    if relative == "." and not allow_root:
        raise InvalidPath(
            f"{field} names the workspace root itself; name a file or directory in it",
            {"field": field},
        )
    return relative
