"""The parts of Ship's processes that need no process: keys, the output ring, UTF-8 cuts."""

from __future__ import annotations

from ship import protocol
from ship.processes.keys import KEY_BYTES, key_bytes
from ship.processes.output import OutputRing, complete_utf8


def test_every_named_key_has_the_bytes_an_xterm_sends() -> None:
    assert set(KEY_BYTES) == set(protocol.KEY_NAMES)
    assert (KEY_BYTES["Ctrl+C"], KEY_BYTES["Enter"], KEY_BYTES["F5"]) == (
        b"\x03",
        b"\r",
        b"\x1b[15~",
    )
    assert key_bytes("Up") == b"\x1b[A"
    assert key_bytes("Up", application_cursor=True) == b"\x1bOA"
    assert key_bytes("Enter", terminal=False) == b"\n"


def test_the_ring_keeps_the_newest_bytes_and_counts_offsets() -> None:
    ring = OutputRing(8)
    ring.append(b"abcdef")
    ring.append(b"ghijk")
    assert (ring.start, ring.end) == (3, 11)
    assert ring.read(0, 100) == (3, b"defghijk")
    assert ring.read(9, 100) == (9, b"jk")
    assert ring.read(50, 100) == (11, b"")
    ring.append(b"0123456789")
    assert ring.read(None, 3) == (13, b"234")


def test_a_read_never_ends_inside_a_character() -> None:
    text = "aé€😀".encode()
    assert [complete_utf8(text[:n]) for n in range(len(text) + 1)] == [
        0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10
    ]  # fmt: skip
