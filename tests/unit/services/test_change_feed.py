"""What the replicas send each other (services/change_feed.py): every change read back
as it was made, a change naming many files in parts under NOTIFY's 8000 bytes."""

from __future__ import annotations

from bay_mcp.services.change_feed import decode, encode
from bay_mcp.services.changes import CargoChanged, ListChanged


def test_a_change_is_read_back_as_it_was_made_with_its_origin() -> None:
    for change in (
        ListChanged("alice", "prompts"),
        CargoChanged("alice", "sbx-1", ("cargo://sbx-1/a.txt", "cargo://sbx-1/")),
    ):
        [payload] = encode(change, "replica-a")
        assert decode(payload) == ("replica-a", change)


def test_a_change_naming_many_files_goes_in_parts_that_fit_a_notify() -> None:
    uris = tuple(f"cargo://sandbox-0123456789ab/{'d' * 120}/{i}.txt" for i in range(101))
    too_long = "cargo://sandbox-0123456789ab/" + "é" * 4000
    change = CargoChanged("alice", "sandbox-0123456789ab", (*uris[:50], too_long, *uris[50:]))
    payloads = encode(change, "replica-a")
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 for p in payloads)
    read = [decode(p)[1] for p in payloads]
    heard = [uri for part in read if isinstance(part, CargoChanged) for uri in part.uris]
    assert tuple(heard) == uris  # the one too long for a NOTIFY left to the root
