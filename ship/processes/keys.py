"""Named keys as the bytes an xterm sends for them (what `input`'s `keys` become).

The cursor keys have two forms: an application that switched the terminal to
application cursor mode (DECCKM: vim, less, readline in some set-ups) gets `ESC O A`,
anything else `ESC [ A`. A process without a terminal reads lines: its Enter is `\n`
(a terminal turns the `\r` it gets into that itself).
"""

from __future__ import annotations

import string

from ship.protocol import KeyName

_CURSOR = {"Up": "A", "Down": "B", "Right": "C", "Left": "D", "Home": "H", "End": "F"}

KEY_BYTES: dict[str, bytes] = {
    "Enter": b"\r",
    "Tab": b"\t",
    "Shift+Tab": b"\x1b[Z",
    "Escape": b"\x1b",
    "Backspace": b"\x7f",
    "Delete": b"\x1b[3~",
    "Insert": b"\x1b[2~",
    "Space": b" ",
    "PageUp": b"\x1b[5~",
    "PageDown": b"\x1b[6~",
    "F1": b"\x1bOP",
    "F2": b"\x1bOQ",
    "F3": b"\x1bOR",
    "F4": b"\x1bOS",
    "F5": b"\x1b[15~",
    "F6": b"\x1b[17~",
    "F7": b"\x1b[18~",
    "F8": b"\x1b[19~",
    "F9": b"\x1b[20~",
    "F10": b"\x1b[21~",
    "F11": b"\x1b[23~",
    "F12": b"\x1b[24~",
    **{name: f"\x1b[{final}".encode() for name, final in _CURSOR.items()},
    # Ctrl+@ is NUL; Ctrl+A..Ctrl+Z are 1..26; then ESC, FS, GS, RS, US.
    **{f"Ctrl+{char}": bytes([code]) for code, char in enumerate("@" + string.ascii_uppercase)},
    **{f"Ctrl+{char}": bytes([27 + index]) for index, char in enumerate("[\\]^_")},
}


def key_bytes(name: KeyName, *, terminal: bool = True, application_cursor: bool = False) -> bytes:
    """The bytes of one named key, for a terminal or for a pipe."""
    if name == "Enter" and not terminal:
        return b"\n"
    if application_cursor and name in _CURSOR:
        return f"\x1bO{_CURSOR[name]}".encode()
    return KEY_BYTES[name]
