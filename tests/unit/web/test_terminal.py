"""The terminal WebSocket's frames: which are resizes, the painted screen, the paths."""

from __future__ import annotations

import pytest

from bay_mcp.errors import ValidationFailed
from bay_mcp.web.terminal import _repaint, _resize_of, _size_of, is_terminal
from ship import protocol


def test_a_resize_is_a_json_object_of_that_type_and_anything_else_is_typing() -> None:
    size = _resize_of('{"type": "resize", "rows": 30, "cols": 100}')
    assert size is not None
    assert (size.rows, size.cols) == (30, 100)
    for typing in ["ls\r", "{", '{"type": "input"}', "[1]", '{"rows": 3}', "\x1b[A"]:
        assert _resize_of(typing) is None
    with pytest.raises(ValidationFailed, match="rows"):
        _resize_of('{"type": "resize", "rows": 1, "cols": 100}')
    with pytest.raises(ValidationFailed):
        _resize_of('{"type": "resize"}')


def test_a_new_shells_size_comes_from_the_query() -> None:
    def scope(query: str) -> dict[str, object]:
        return {"query_string": query.encode()}

    assert (_size_of(scope("")).rows, _size_of(scope("")).cols) == (24, 80)
    assert _size_of(scope("bay_token=x&rows=40&cols=120")).rows == 40
    with pytest.raises(ValidationFailed, match="whole numbers"):
        _size_of(scope("rows=many"))
    with pytest.raises(ValidationFailed):
        _size_of(scope("rows=5000"))


def test_the_screen_is_painted_with_its_cursor() -> None:
    info = protocol.ProcessInfo.model_validate(
        {"id": "proc-0a1b2c3d", "command": "bash", "cwd": ".", "pty": True, "state": "running",
         "started_at": "2026-12-05T00:00:00Z", "log_path": ".bay/processes/proc-0a1b2c3d.log"}
    )  # fmt: skip
    screen = protocol.TerminalScreen(
        rows=3, cols=10, lines=[">>> x", "42", ""], cursor_row=2, cursor_col=4,
        cursor_visible=False, rendered="", offset=17, process=info,
    )  # fmt: skip
    assert _repaint(screen) == "\x1b[H\x1b[2J>>> x\r\n42\r\n\x1b[3;5H\x1b[?25l"


def test_the_terminal_paths() -> None:
    assert is_terminal("/v1/sandboxes/sb-1/terminal")
    assert is_terminal("/v1/sandboxes/sb-1/processes/proc-0a1b2c3d/terminal")
    assert not is_terminal("/v1/sandboxes/sb-1/processes/proc-0a1b2c3d/screen")
    assert not is_terminal("/v1/sandboxes/sb-1/ports/8000/terminal")
