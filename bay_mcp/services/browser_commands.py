"""The browser command language of upstream's `/v1 … /browser/exec` (agent-browser's
subset), parsed into Ship's typed actions. One line, one command:

    open <url>                 snapshot [-i]             click <@ref|selector>
    fill <@ref> <text>         type <@ref> <text>        press <key>
    select <@ref> <value>...   screenshot [path]         get text|title|url [@ref]
    wait <ms|selector>         back   forward   reload   eval <js>   close
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from bay_mcp.errors import ValidationFailed
from ship import protocol

USAGE: dict[str, str] = {
    "open": "open <url>",
    "snapshot": "snapshot [-i]",
    "click": "click <@ref|selector>",
    "fill": "fill <@ref|selector> <text>",
    "type": "type <@ref|selector> <text>",
    "press": "press <key>",
    "select": "select <@ref|selector> <value> [value ...]",
    "screenshot": "screenshot [path]",
    "get": "get text|title|url [@ref|selector]",
    "wait": "wait <ms|selector>",
    "back": "back",
    "forward": "forward",
    "reload": "reload",
    "eval": "eval <js>",
    "close": "close",
}


def _wrong(command: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"{why}; usage: {USAGE[command]}", {"field": "cmd", "command": command})


def _one(command: str, args: list[str]) -> str:
    if len(args) != 1:
        raise _wrong(command, f"{command} takes one argument, got {len(args)}")
    return args[0]


def _target_and_text(command: str, args: list[str]) -> tuple[str, str]:
    if len(args) < 2:
        raise _wrong(command, f"{command} needs a target and a text")
    return args[0], " ".join(args[1:])


def _snapshot(args: list[str]) -> protocol.BrowserAction:
    if args not in ([], ["-i"]):
        raise _wrong("snapshot", f"unknown option {' '.join(args)}")
    return protocol.Snapshot(interactive=args == ["-i"])


def _fill(args: list[str]) -> protocol.BrowserAction:
    target, text = _target_and_text("fill", args)
    return protocol.TypeText(target=target, text=text)


def _type(args: list[str]) -> protocol.BrowserAction:
    target, text = _target_and_text("type", args)
    return protocol.TypeText(target=target, text=text, keystrokes=True)


def _select(args: list[str]) -> protocol.BrowserAction:
    if len(args) < 2:
        raise _wrong("select", "select needs a target and at least one value")
    return protocol.Select(target=args[0], values=args[1:])


def _screenshot(args: list[str]) -> protocol.BrowserAction:
    if len(args) > 1:
        raise _wrong("screenshot", "screenshot takes at most a path")
    return protocol.Screenshot(path=args[0] if args else None)


def _get(args: list[str]) -> protocol.BrowserAction:
    if not args or args[0] not in ("text", "title", "url") or len(args) > 2:
        raise _wrong("get", "get reads text, title or url")
    what = args[0]
    return protocol.Read(what=what, target=args[1] if len(args) == 2 else None)


def _wait(args: list[str]) -> protocol.BrowserAction:
    given = _one("wait", args)
    if given.isdigit():
        return protocol.Wait(ms=int(given))
    return protocol.Wait(selector=given)


def _bare(kind: str) -> Callable[[list[str]], protocol.BrowserAction]:
    def parse(args: list[str]) -> protocol.BrowserAction:
        if args:
            raise _wrong(kind, f"{kind} takes no arguments")
        if kind == "close":
            return protocol.CloseBrowser()
        return protocol.Go(kind=kind)

    return parse


_PARSERS: dict[str, Callable[[list[str]], protocol.BrowserAction]] = {
    "open": lambda args: protocol.Navigate(url=_one("open", args)),
    "snapshot": _snapshot,
    "click": lambda args: protocol.Click(target=_one("click", args)),
    "fill": _fill,
    "type": _type,
    "press": lambda args: protocol.Press(key=_one("press", args)),
    "select": _select,
    "screenshot": _screenshot,
    "get": _get,
    "wait": _wait,
    "back": _bare("back"),
    "forward": _bare("forward"),
    "reload": _bare("reload"),
    "close": _bare("close"),
}


def parse_command(line: str) -> protocol.BrowserAction:
    """One command line as an action; a ValidationFailed naming the supported commands
    (or the command's usage) otherwise."""
    stripped = line.strip()
    name, _, rest = stripped.partition(" ")
    if name == "eval":  # the rest is JavaScript: not split into words
        if not rest.strip():
            raise _wrong("eval", "eval needs an expression")
        return protocol.Evaluate(expression=rest.strip())
    parser = _PARSERS.get(name)
    if parser is None:
        shown = f"unknown browser command {name!r}" if name else "the command is empty"
        raise ValidationFailed(
            f"{shown}; supported: {', '.join(USAGE.values())}",
            {"field": "cmd", "supported": list(USAGE)},
        )
    try:
        args = shlex.split(rest)
    except ValueError as exc:
        raise _wrong(name, f"cannot split the arguments ({exc})") from exc
    return parser(args)


def describe(action: protocol.BrowserAction) -> str:
    """An action as a command line, for the history (the inverse of parse_command)."""
    match action:
        case protocol.Navigate(url=url):
            return f"open {url}"
        case protocol.Snapshot(interactive=interactive):
            return "snapshot -i" if interactive else "snapshot"
        case protocol.Click(target=target):
            return f"click {target}"
        case protocol.TypeText(target=target, text=text, keystrokes=keys, submit=submit):
            line = f"{'type' if keys else 'fill'} {target} {shlex.quote(text)}"
            return line + ("\npress Enter" if submit else "")
        case protocol.Press(key=key):
            return f"press {key}"
        case protocol.Select(target=target, values=values):
            return f"select {target} {' '.join(shlex.quote(value) for value in values)}"
        case protocol.Screenshot(path=path, full_page=full):
            return "screenshot" + (f" {path}" if path else "") + (" (full page)" if full else "")
        case protocol.Read(what=what, target=target):
            return f"get {what}" + (f" {target}" if target else "")
        case protocol.Wait(ms=ms, selector=selector):
            return f"wait {selector if selector else ms or 0}"
        case protocol.Go(kind=kind):
            return kind
        case protocol.Evaluate(expression=expression):
            return f"eval {expression}"
        case protocol.Tabs(action=tab_action, index=index, url=url):
            return " ".join(
                str(part) for part in ("tabs", tab_action, index, url) if part is not None
            )
        case protocol.CloseBrowser():
            return "close"
    raise AssertionError(action)  # pragma: no cover
