"""The console's template filters: sizes, times relative to now, and moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bay_mcp.console.render import NOTICE_CHARS, ago, size, when
from tests.unit.console.conftest import Browser

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "–"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (5 * 1024**2, "5.0 MB"),
        (3 * 1024**3, "3.0 GB"),
        (2048 * 1024**3, "2048.0 GB"),  # GB is the largest unit
    ],
)
def test_size_is_in_the_largest_unit_under_1024(value: int | None, shown: str) -> None:
    assert size(value) == shown


@pytest.mark.parametrize(
    ("then", "shown"),
    [
        (None, "–"),
        (NOW, "0 s ago"),
        (NOW - timedelta(seconds=59), "59 s ago"),
        (NOW - timedelta(minutes=3, seconds=30), "3 min ago"),
        (NOW - timedelta(hours=2, minutes=59), "2 h ago"),
        (NOW - timedelta(days=3, hours=23), "3 d ago"),
        (NOW + timedelta(hours=2), "in 2 h"),
        (NOW + timedelta(seconds=5), "in 5 s"),
    ],
)
def test_ago_says_how_long_from_now_to_the_largest_unit(then: datetime | None, shown: str) -> None:
    assert ago(then, NOW) == shown


def test_ago_without_now_is_relative_to_the_clock() -> None:
    assert ago(datetime.now(UTC) - timedelta(minutes=5)) in ("5 min ago", "4 min ago")


def test_when_is_a_utc_moment_to_the_second() -> None:
    assert when(None) == "–"
    assert when(datetime(2026, 1, 2, 3, 4, 5, 678)) == "2026-01-02 03:04:05Z"


async def test_a_long_notice_is_cut_and_escaped(alice: Browser) -> None:
    page = await alice.get("/ui/sandboxes", params={"notice": "<b>" + "x" * 1000})
    assert "&lt;b&gt;" in page.text
    assert "<b>x" not in page.text
    assert "x" * (NOTICE_CHARS - 3) in page.text
    assert "x" * (NOTICE_CHARS - 2) not in page.text
