"""The console's templates: one Jinja2 environment over the package's `templates/`,
autoescaped, with the few filters the pages share (sizes, times, durations)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bay_mcp import __version__
from bay_mcp.services.console_sessions import ConsoleCaller
from bay_mcp.storage.models import utcnow

if TYPE_CHECKING:
    from bay_mcp.console.access import ConsoleRequest

# Where the console's own and vendored files are served; versioned so a new release's
# files are fetched afresh.
STATIC = f"/ui/static/{__version__}"
# A notice (the outcome of an action) is shown at most this long: it comes in the
# redirect's query, so a long one is cut rather than carried.
NOTICE_CHARS = 300


def size(value: int | None) -> str:
    if value is None:
        return "–"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago', 'in 2 h': a time relative to now, to the largest unit."""
    if value is None:
        return "–"
    seconds = ((now or utcnow()) - value).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            amount = f"{int(seconds // length)} {unit}"
            break
    else:
        amount = f"{int(seconds)} s"
    return f"in {amount}" if future else f"{amount} ago"


def when(value: datetime | None) -> str:
    return "–" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


_env = Environment(
    loader=PackageLoader("bay_mcp.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(size=size, ago=ago, when=when)
_env.globals.update(static=STATIC, version=__version__)


def render_page(
    request: Request,
    template: str,
    *,
    caller: ConsoleCaller | None = None,
    http_status: int = 200,
    **context: Any,
) -> HTMLResponse:
    notice = request.query_params.get("notice")
    context.setdefault("notice", notice[:NOTICE_CHARS] if notice else None)
    context.setdefault("error", None)
    context.setdefault("section", "")
    html = _env.get_template(template).render(caller=caller, request=request, **context)
    return HTMLResponse(html, status_code=http_status)


def render(call: ConsoleRequest, template: str, **context: Any) -> HTMLResponse:
    return render_page(call.request, template, caller=call.caller, **context)
