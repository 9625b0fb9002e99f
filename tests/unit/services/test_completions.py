"""Completions over the fakes: the owner's sandbox ids newest first, never another
owner's; profiles; paths by prefix from one listing, read at rest for a stopped
sandbox (which stays stopped); at most 100 values with the protocol's hints."""

from __future__ import annotations

import pytest

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.services.completions import MAX_VALUES, Choices, bounded
from bay_mcp.settings import BaySettings
from tests.fakes import FakeDriver


@pytest.fixture
def settings(settings: BaySettings) -> BaySettings:
    """Room for more sandboxes than one answer holds."""
    return settings.model_copy(update={"max_sandboxes_per_owner": 2 * MAX_VALUES})


async def write(bay: Bay, sandbox_id: str, *paths: str) -> None:
    for path in paths:
        await bay.files.write_text("alice", sandbox_id, path, "x", no_progress)


async def test_sandbox_ids_are_the_owners_newest_first_by_prefix(bay: Bay) -> None:
    first = await bay.sandboxes.create("alice")
    second = await bay.sandboxes.create("alice")
    others = await bay.sandboxes.create("bob")
    gone = await bay.sandboxes.create("alice")
    await bay.sandboxes.delete("alice", gone.id)

    assert await bay.completions.sandbox_ids("alice", "") == Choices(
        values=[second.id, first.id], total=2
    )
    assert await bay.completions.sandbox_ids("alice", first.id[:-2]) == Choices(
        values=[first.id], total=1
    )
    assert (await bay.completions.sandbox_ids("alice", others.id)).values == []
    assert (await bay.completions.sandbox_ids("bob", "")).values == [others.id]
    # The id's own characters, not LIKE's wildcards.
    assert (await bay.completions.sandbox_ids("alice", "%")).values == []
    assert (await bay.completions.sandbox_ids("alice", "sandbox_")).values == []


async def test_profiles_by_prefix(bay: Bay) -> None:
    assert bay.completions.profile_ids("") == Choices(
        values=["python-default", "python-only"], total=2
    )
    assert bay.completions.profile_ids("python-o").values == ["python-only"]


async def test_paths_continue_the_prefix_directories_first(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await write(bay, sandbox.id, "data/sales.csv", "data/sub/x.txt", "data/.hidden", "top.py")

    assert (await bay.completions.paths("alice", sandbox.id, "")).values == ["data/", "top.py"]
    assert (await bay.completions.paths("alice", sandbox.id, "data/")).values == [
        "data/sub/",
        "data/sales.csv",
    ]
    assert await bay.completions.paths("alice", sandbox.id, "data/sa") == Choices(
        values=["data/sales.csv"], total=1
    )
    assert (await bay.completions.paths("alice", sandbox.id, "data/.")).values == ["data/.hidden"]
    assert (await bay.completions.paths("alice", sandbox.id, "data/sub/")).values == [
        "data/sub/x.txt"
    ]


@pytest.mark.parametrize("prefix", ["nowhere/", "top.py/", "../", "/etc/", "data/../../"], ids=repr)
async def test_a_path_that_cannot_be_listed_completes_nothing(bay: Bay, prefix: str) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await write(bay, sandbox.id, "data/a.csv", "top.py")
    assert (await bay.completions.paths("alice", sandbox.id, prefix)).values == []


async def test_paths_of_another_owners_or_no_sandbox_complete_nothing(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await write(bay, sandbox.id, "secret.txt")
    assert (await bay.completions.paths("bob", sandbox.id, "")).values == []
    assert (await bay.completions.paths("alice", None, "")).values == []
    assert (await bay.completions.paths("alice", "sandbox-nope", "")).values == []


async def test_a_stopped_sandboxs_paths_are_read_at_rest_without_starting_it(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await write(bay, sandbox.id, "data/sales.csv")
    await bay.sandboxes.stop("alice", sandbox.id)
    running = [c for c in driver.containers.values() if c.spec.labels.get("bay.sandbox_id")]

    assert (await bay.completions.paths("alice", sandbox.id, "data/s")).values == ["data/sales.csv"]
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "idle"
    assert [c for c in driver.containers.values() if c.spec.labels.get("bay.sandbox_id")] == running


def test_answers_hold_at_most_100_values_and_say_there_are_more() -> None:
    names = [f"f{i:03}" for i in range(150)]
    assert bounded(names) == Choices(values=names[:MAX_VALUES], total=150, has_more=True)
    assert bounded(names, "f14") == Choices(values=names[140:150], total=10)


async def test_more_than_100_sandboxes_answer_100_newest_with_more(bay: Bay) -> None:
    made = [(await bay.sandboxes.create("alice")).id for _ in range(MAX_VALUES + 2)]
    answer = await bay.completions.sandbox_ids("alice", "")
    assert answer.values == made[::-1][:MAX_VALUES]
    assert (answer.total, answer.has_more) == (None, True)
