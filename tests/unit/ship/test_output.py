from ship.output import CappedOutput


def test_keeps_everything_under_the_limit() -> None:
    out = CappedOutput(10)
    out.append("abc")
    out.append("def")
    assert out.text() == "abcdef"
    assert not out.truncated


def test_cuts_at_the_limit_and_counts_what_it_dropped() -> None:
    out = CappedOutput(5)
    out.append("abcdefgh")
    out.append("ij")
    assert out.truncated
    assert out.dropped_bytes == 5
    assert out.text().startswith("abcde\n[output truncated: 5 more bytes")


def test_never_splits_a_multibyte_character() -> None:
    out = CappedOutput(3)
    out.append("éé")
    assert out.text().startswith("é\n")
