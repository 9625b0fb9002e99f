"""The REST browser command language, parsed into Ship's typed actions and back."""

from __future__ import annotations

import pytest

from bay_mcp.errors import ValidationFailed
from bay_mcp.services.browser_commands import USAGE, describe, parse_command
from ship import protocol


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("open http://localhost:8000/", protocol.Navigate(url="http://localhost:8000/")),
        ("snapshot", protocol.Snapshot()),
        ("snapshot -i", protocol.Snapshot(interactive=True)),
        ("click @e12", protocol.Click(target="@e12")),
        ("click 'button.primary'", protocol.Click(target="button.primary")),
        ("fill @e3 hello world", protocol.TypeText(target="@e3", text="hello world")),
        ('type @e3 "a  b"', protocol.TypeText(target="@e3", text="a  b", keystrokes=True)),
        ("press Enter", protocol.Press(key="Enter")),
        ("select @e4 red blue", protocol.Select(target="@e4", values=["red", "blue"])),
        ("screenshot", protocol.Screenshot()),
        ("screenshot shots/a.png", protocol.Screenshot(path="shots/a.png")),
        ("get title", protocol.Read(what="title")),
        ("get text @e9", protocol.Read(what="text", target="@e9")),
        ("wait 250", protocol.Wait(ms=250)),
        ("wait #done", protocol.Wait(selector="#done")),
        ("back", protocol.Go(kind="back")),
        ("reload", protocol.Go(kind="reload")),
        ("eval document.title + ' x'", protocol.Evaluate(expression="document.title + ' x'")),
        ("close", protocol.CloseBrowser()),
    ],
)
def test_each_command_becomes_its_action(line: str, action: protocol.BrowserAction) -> None:
    assert parse_command(line) == action
    # And the history shows it as a command line that parses back to the same action.
    assert parse_command(describe(action).splitlines()[0]) == action


def test_an_unknown_command_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_command("scroll down")
    assert "unknown browser command 'scroll'" in raised.value.message
    for usage in USAGE.values():
        assert usage in raised.value.message
    assert raised.value.details["supported"] == list(USAGE)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("open", "open takes one argument"),
        ("fill @e1", "fill needs a target and a text"),
        ("get colour", "get reads text, title or url"),
        ("snapshot -x", "unknown option -x"),
        ("back 2", "back takes no arguments"),
        ("eval", "eval needs an expression"),
        ("click 'unclosed", "cannot split the arguments"),
        ("", "the command is empty"),
    ],
)
def test_a_malformed_command_says_its_usage(line: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_command(line)
    assert says in raised.value.message
