"""The `bay-mcp` command.

Each command imports what it needs when it runs: an MCP host waits for the stdio
server's first answer, which must not pay for the HTTP server, image building or key
management (see bench/startup.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

from bay_mcp import __version__

if TYPE_CHECKING:
    from bay_mcp.settings import BaySettings
from bay_mcp.limits import BAY_IMAGE, BROWSER_IMAGE, DEFAULT_IMAGE, DEFAULT_MIRROR

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `45s`, `2w`: a positive whole number and one unit."""
    number, unit = text[:-1], text[-1:].lower()
    if not number.isdigit() or unit not in _DURATION_UNITS or int(number) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give a positive whole number and a unit, "
            "e.g. 90m, 12h, 30d, 4w"
        )
    return timedelta(seconds=int(number) * _DURATION_UNITS[unit])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bay-mcp",
        description="Bay MCP: persistent, isolated sandboxes for LLM agents. With no "
        "command, serves MCP over stdio (what Claude Desktop and other MCP hosts start).",
        epilog="Settings: BAY_* environment variables or the file named by BAY_CONFIG_FILE "
        "(see README). Logs go to stderr.",
    )
    parser.add_argument("--version", action="version", version=f"bay-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve MCP (stdio is the default command)")
    serve.add_argument(
        "--transport",
        choices=["stdio", "http", "sse"],
        default="stdio",
        help="stdio: MCP over stdin/stdout for a local host; http (alias sse): one server "
        "with MCP at /mcp (streamable HTTP) and /sse, and REST at /v1",
    )
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (8000)")

    keys = commands.add_parser("keys", help="manage API keys for the HTTP server")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = key_commands.add_parser("create", help="make a key for an owner; printed once")
    create.add_argument("--owner", required=True, help="the owner the key acts as")
    create.add_argument(
        "--expires-in",
        type=_duration,
        metavar="DURATION",
        help="the key stops working after this long: 90m, 12h, 30d, 4w (default: never)",
    )
    key_commands.add_parser(
        "list", help="list keys (ids, owners, prefixes, expiry, last use; never the keys)"
    )
    revoke = key_commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", help="the key's id, from `bay-mcp keys list`")

    image = commands.add_parser("image", help="build or inspect the Ship image (or Bay's)")
    image_commands = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    for name, text in (
        ("build", "build the Ship image, or Bay's with --bay (skipped when nothing changed)"),
        ("status", "say whether the Ship image (or Bay's with --bay) exists and is current"),
    ):
        action = image_commands.add_parser(name, help=text, description=text)
        action.add_argument(
            "--offline",
            action="store_true",
            help="build from Debian packages with debootstrap; no container registry "
            "needed (needs root)",
        )
        flavor = action.add_mutually_exclusive_group()
        flavor.add_argument(
            "--browser",
            action="store_true",
            help=f"the browser image {BROWSER_IMAGE}: the Ship image plus Chromium and Playwright",
        )
        flavor.add_argument(
            "--bay",
            action="store_true",
            help=f"the Bay image {BAY_IMAGE}: Bay itself, to run as a service (deploy/Dockerfile; "
            "from a source checkout)",
        )
        action.add_argument(
            "--tag",
            help=f"image tag (default {DEFAULT_IMAGE}; {BROWSER_IMAGE} with --browser, "
            f"{BAY_IMAGE} with --bay)",
        )
        action.add_argument(
            "--mirror",
            default=DEFAULT_MIRROR,
            help=f"Debian mirror for --offline (default {DEFAULT_MIRROR})",
        )
        if name == "build":
            action.add_argument("--force", action="store_true", help="rebuild even if current")
    return parser


async def _image(args: argparse.Namespace) -> int:
    from bay_mcp.managers.image_build import ImageBuildError, build_image, image_is_current, plan

    try:
        build = plan(
            tag=args.tag,
            offline=args.offline,
            mirror=args.mirror,
            browser=args.browser,
            bay=args.bay,
        )
        if args.image_command == "status":
            current = await image_is_current(build)
            state = "current" if current else "missing or outdated"
            print(f"{build.tag}: {state} (expected hash {build.image_hash[:12]})", file=sys.stderr)
            return 0 if current else 1
        await build_image(build, force=args.force)
    except ImageBuildError as exc:
        print(f"bay-mcp: {exc}", file=sys.stderr)
        return 1
    return 0


def _load_settings() -> BaySettings:
    """The settings, or exit 2 with one paragraph on stderr saying what is wrong."""
    from pydantic import ValidationError

    from bay_mcp.settings import BaySettings

    try:
        return BaySettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False)  # never the input: it may be a key
        )
        print(
            f"bay-mcp: invalid settings: {problems}. Settings come from BAY_* environment "
            "variables and the file BAY_CONFIG_FILE names.",
            file=sys.stderr,
        )
        raise SystemExit(2) from exc
    except ValueError as exc:  # ConfigError: an unknown key, an unreadable file
        print(f"bay-mcp: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _warn_about_environment() -> None:
    """Log a warning for each BAY_* environment variable that names no setting."""
    import logging
    import os

    from bay_mcp.settings import unknown_environment

    for warning in unknown_environment(os.environ):
        logging.getLogger("bay_mcp.settings").warning("%s", warning)


def _serve(args: argparse.Namespace) -> int:
    from bay_mcp.logs import configure_logging

    settings = _load_settings()
    configure_logging(settings.log_level, settings.log_file, settings.log_format)
    _warn_about_environment()
    transport = getattr(args, "transport", "stdio")
    if transport == "stdio":
        from bay_mcp.stdio import serve_stdio

        asyncio.run(serve_stdio(settings))
        return 0
    from bay_mcp.web.serve import RefusedToStart, serve_http

    try:
        asyncio.run(serve_http(settings, args.host, args.port))
    except RefusedToStart as exc:
        print(f"bay-mcp: {exc}", file=sys.stderr)
        return 2
    return 0


async def _keys(args: argparse.Namespace) -> int:
    from bay_mcp.errors import BayError
    from bay_mcp.services.keys import KeyService
    from bay_mcp.storage.database import Database
    from bay_mcp.storage.models import utcnow

    settings = _load_settings()
    _warn_about_environment()
    database = Database(url=settings.database)
    await database.migrate()
    keys = KeyService(database, None, settings.api_key_owner)
    try:
        if args.keys_command == "create":
            record, key = await keys.create(args.owner, args.expires_in)
            print(key)  # the one place the key is ever shown: stdout, for scripts
            until = f", expires {record.expires_at:%Y-%m-%d %H:%M}Z" if record.expires_at else ""
            print(f"key {record.id} for owner {record.owner}{until}; store it now", file=sys.stderr)
        elif args.keys_command == "list":
            now = utcnow()
            for record in await keys.list():
                used = f"{record.last_used_at:%Y-%m-%d %H:%M}Z" if record.last_used_at else "never"
                print(
                    f"{record.id}  {record.owner}  {record.prefix}…  {record.state(now)}  "
                    f"last used {used}"
                )
        else:
            record = await keys.revoke(args.key_id)
            print(f"revoked {record.id} ({record.owner})", file=sys.stderr)
    except BayError as exc:
        print(f"bay-mcp: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await database.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        if args.command in (None, "serve"):
            code = _serve(args)
        elif args.command == "keys":
            code = asyncio.run(_keys(args))
        else:
            code = asyncio.run(_image(args))
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)
