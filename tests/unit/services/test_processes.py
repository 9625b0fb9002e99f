"""Process rules over the fakes: starts, reads, long polls and follows, limits refused
naming them before anything starts, processes that are not there, other owners'
sandboxes, the profile's process limit, kills, terminals, exposed ports' URLs and the
idle rule."""

from __future__ import annotations

import asyncio
import time
import typing
from collections.abc import Callable
from datetime import timedelta

import pytest

from bay_mcp.adapters.ship_client import ShipEndpoint
from bay_mcp.bay import Bay
from bay_mcp.errors import (
    InvalidPath,
    NotFound,
    QuotaExceeded,
    SessionNotReady,
    ValidationFailed,
)
from bay_mcp.limits import (
    MAX_COMMAND_CHARS,
    MAX_INPUT_CHARS,
    MAX_KEYS,
    MAX_PROCESS_NAME_CHARS,
    MAX_PROCESS_WAIT_S,
    MAX_TERMINAL_COLS,
    MAX_TERMINAL_ROWS,
    MIN_TERMINAL_COLS,
    MIN_TERMINAL_ROWS,
)
from bay_mcp.managers import no_progress
from bay_mcp.services import processes
from bay_mcp.services.process_inputs import (
    OutputRead,
    ProcessInput,
    ProcessStart,
    ProcessWait,
    SignalName,
    SignalSend,
    TerminalSize,
)
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.models import Sandbox, utcnow
from ship import protocol
from tests.fakes import FakeDriver, FakeShip


async def endpoint_of(bay: Bay, sandbox_id: str) -> ShipEndpoint:
    async with bay.sandboxes.runtime("alice", sandbox_id, "shell", no_progress) as endpoint:
        return endpoint


async def started(bay: Bay, command: str = "npm run dev", **fields: object) -> tuple[str, str]:
    sandbox = await bay.sandboxes.create("alice")
    process = await bay.processes.start(
        "alice",
        sandbox.id,
        ProcessStart(command=command, **fields),
    )
    return sandbox.id, process.id


async def test_a_started_process_is_listed_and_its_output_read_from_an_offset(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox_id, process_id = await started(bay, name="dev server", cwd="app/")
    [listed] = (await bay.processes.list("alice", sandbox_id)).processes
    assert (listed.id, listed.name, listed.state, listed.cwd) == (
        process_id, "dev server", "running", "app"
    )  # fmt: skip
    first = await bay.processes.output("alice", sandbox_id, process_id, OutputRead(), 1000)
    assert first.text == "$ npm run dev\n"
    ship.print(await endpoint_of(bay, sandbox_id), process_id, "ready on :3000\n")
    since = OutputRead(since=first.next_offset)
    new = await bay.processes.output("alice", sandbox_id, process_id, since, 1000)
    assert (new.text, new.offset) == ("ready on :3000\n", first.next_offset)


async def test_a_read_that_waits_answers_as_soon_as_output_comes(bay: Bay, ship: FakeShip) -> None:
    sandbox_id, process_id = await started(bay)
    endpoint = await endpoint_of(bay, sandbox_id)
    asyncio.get_running_loop().call_later(0.05, ship.print, endpoint, process_id, "1\n")
    began = time.monotonic()
    read = await bay.processes.output(
        "alice", sandbox_id, process_id, OutputRead(since=14, wait_seconds=10), 1000
    )
    assert read.text == "1\n"
    assert time.monotonic() - began < 5


async def test_following_tells_each_piece_until_the_end(bay: Bay, ship: FakeShip) -> None:
    sandbox_id, process_id = await started(bay, "for i in 1 2 3; do echo $i; sleep 1; done")
    endpoint = await endpoint_of(bay, sandbox_id)

    async def run() -> None:
        for line in ("1\n", "2\n", "3\n"):
            await asyncio.sleep(0.02)
            ship.print(endpoint, process_id, line)
        ship.finish(endpoint, process_id, exit_code=0)

    told: list[str] = []
    task = asyncio.create_task(run())
    followed = await bay.processes.follow(
        "alice", sandbox_id, process_id, OutputRead(wait_seconds=10), told.append, 10_000
    )
    await task
    assert "".join(told) == followed.text
    assert followed.text.endswith("1\n2\n3\n")
    assert (followed.process.state, followed.process.exit_code) == ("exited", 0)
    assert followed.offset == 0


async def test_following_stops_at_its_size_and_says_where_to_go_on(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox_id, process_id = await started(bay, "yes")
    ship.print(await endpoint_of(bay, sandbox_id), process_id, "y\n" * 100)
    followed = await bay.processes.follow(
        "alice", sandbox_id, process_id, OutputRead(since=6, wait_seconds=5), lambda _: None, 50
    )
    assert len(followed.text) == 50
    assert followed.more
    assert followed.next_offset == 56


Attempt = Callable[[], object]
REFUSED: list[tuple[str, str, Attempt]] = [
    ("command", f"at most {MAX_COMMAND_CHARS} characters",
     lambda: ProcessStart(command="a" * (MAX_COMMAND_CHARS + 1))),
    ("command", "empty", lambda: ProcessStart(command="  ")),
    ("command", "NUL", lambda: ProcessStart(command="a\x00b")),
    ("name", f"at most {MAX_PROCESS_NAME_CHARS} characters",
     lambda: ProcessStart(command="ls", name="n" * (MAX_PROCESS_NAME_CHARS + 1))),
    ("env", "PATH", lambda: ProcessStart(command="ls", env={"PATH": "/x"})),
    ("text", f"at most {MAX_INPUT_CHARS} characters",
     lambda: ProcessInput(text="a" * (MAX_INPUT_CHARS + 1))),
    ("keys", f"at most {MAX_KEYS} items", lambda: ProcessInput(keys=["Enter"] * (MAX_KEYS + 1))),
    ("keys.0", "Enter", lambda: ProcessInput(keys=["Return"])),
    ("text", "nothing to send", lambda: ProcessInput()),
    ("wait_seconds", f"less than or equal to {MAX_PROCESS_WAIT_S}",
     lambda: OutputRead(wait_seconds=MAX_PROCESS_WAIT_S + 1)),
    ("since", "greater than or equal to 0", lambda: OutputRead(since=-1)),
    ("timeout", f"between 1 and {MAX_PROCESS_WAIT_S} seconds",
     lambda: ProcessWait(timeout=MAX_PROCESS_WAIT_S + 1)),
    ("signal", "SIGTERM", lambda: SignalSend(signal="SIGFOO")),
    ("rows", f"less than or equal to {MAX_TERMINAL_ROWS}",
     lambda: TerminalSize(rows=MAX_TERMINAL_ROWS + 1, cols=80)),
    ("cols", f"greater than or equal to {MIN_TERMINAL_COLS}",
     lambda: TerminalSize(rows=24, cols=MIN_TERMINAL_COLS - 1)),
]  # fmt: skip


@pytest.mark.parametrize(("field", "says", "attempt"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_request_over_a_rule_is_refused_naming_the_field_and_limit(
    field: str, says: str, attempt: Attempt
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        attempt()
    assert field in refused.value.details["fields"]
    assert says in refused.value.message


def test_a_working_directory_outside_the_workspace_is_an_invalid_path() -> None:
    for cwd in ("/etc", "../x", "a/../../b"):
        with pytest.raises(InvalidPath):
            ProcessStart(command="ls", cwd=cwd)


def test_signals_are_named_as_a_person_writes_them() -> None:
    assert SignalSend(signal="TERM").bare == "TERM"
    assert SignalSend(signal="sigint").bare == "INT"
    assert SignalSend().signal == "SIGTERM"
    names = typing.get_args(SignalName)
    assert sorted(name.removeprefix("SIG") for name in names) == sorted(protocol.SIGNAL_NAMES)


def test_bays_limits_fit_within_ships() -> None:
    fields = protocol.ProcessStartRequest.model_fields
    assert next(m.max_length for m in fields["name"].metadata) >= MAX_PROCESS_NAME_CHARS
    assert MAX_INPUT_CHARS <= protocol.MAX_PROCESS_INPUT_CHARS
    assert MAX_KEYS <= 256
    assert MAX_PROCESS_WAIT_S <= protocol.MAX_OUTPUT_WAIT_S
    protocol.TerminalResize(rows=MIN_TERMINAL_ROWS, cols=MIN_TERMINAL_COLS)
    protocol.TerminalResize(rows=MAX_TERMINAL_ROWS, cols=MAX_TERMINAL_COLS)


async def test_a_process_that_is_not_there_is_not_found_naming_it(bay: Bay) -> None:
    sandbox_id, _ = await started(bay)
    for process_id in ("proc-nope", "../meta", "x" * 100):
        with pytest.raises(NotFound) as missing:
            await bay.processes.get("alice", sandbox_id, process_id)
        assert f"process {process_id} not found in sandbox {sandbox_id}" in missing.value.message
        assert "process_list" in missing.value.message
    with pytest.raises(NotFound, match="proc-nope"):
        await bay.processes.output("alice", sandbox_id, "proc-nope", OutputRead(), 100)


async def test_a_sandbox_without_a_session_has_no_process_and_none_is_started(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    empty = await bay.processes.list("alice", sandbox.id)
    assert empty.processes == []
    assert empty.note is not None
    assert "ended when its session stopped" in empty.note
    with pytest.raises(NotFound, match="ended with the sandbox's session"):
        await bay.processes.wait("alice", sandbox.id, "proc-1", ProcessWait())
    assert driver.started == 0


async def test_a_stop_ends_the_processes_with_their_session(bay: Bay) -> None:
    sandbox_id, process_id = await started(bay)
    await bay.sandboxes.stop("alice", sandbox_id)
    assert (await bay.processes.list("alice", sandbox_id)).processes == []
    with pytest.raises(NotFound, match=process_id):
        await bay.processes.get("alice", sandbox_id, process_id)


async def test_another_owners_sandbox_is_not_found(bay: Bay, driver: FakeDriver) -> None:
    sandbox_id, process_id = await started(bay)
    attempts = [
        bay.processes.list("bob", sandbox_id),
        bay.processes.start("bob", sandbox_id, ProcessStart(command="ls")),
        bay.processes.get("bob", sandbox_id, process_id),
        bay.processes.signal("bob", sandbox_id, process_id, SignalSend()),
        bay.processes.kill("bob", sandbox_id, process_id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound) as missing:
            await attempt
        assert f"sandbox {sandbox_id}" in missing.value.message
        assert "process" not in missing.value.message.split(sandbox_id)[0]


async def test_a_start_over_the_profiles_limit_is_refused_naming_it(
    bay: Bay, ship: FakeShip
) -> None:
    ship.max_processes = 2
    sandbox_id, _ = await started(bay)
    await bay.processes.start("alice", sandbox_id, ProcessStart(command="sleep 1"))
    with pytest.raises(QuotaExceeded) as refused:
        await bay.processes.start("alice", sandbox_id, ProcessStart(command="sleep 2"))
    assert "max_processes" in refused.value.message
    assert refused.value.details["limit"] == protocol.RUNNING_PROCESSES_LIMIT


async def test_the_profiles_limit_reaches_ship(tmp_path: object, driver: FakeDriver) -> None:
    settings = BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        profiles=[Profile(id="python-default", warm_pool_size=0, max_processes=5)],
    )
    bay = Bay(settings, driver=driver, ship=FakeShip(driver))
    await bay.start()
    try:
        sandbox = await bay.sandboxes.create("alice")
        await bay.processes.start("alice", sandbox.id, ProcessStart(command="ls"))
        [container] = driver.containers.values()
        assert container.spec.env["SHIP_MAX_PROCESSES"] == "5"
    finally:
        await bay.close()
    assert Profile(id="p").max_processes == 32


async def test_a_kill_ends_the_process_with_sigterm(bay: Bay) -> None:
    sandbox_id, process_id = await started(bay, "python3 -m http.server")
    killed = await bay.processes.kill("alice", sandbox_id, process_id)
    assert (killed.state, killed.signal) == ("killed", "SIGTERM")
    again = await bay.processes.signal("alice", sandbox_id, process_id, SignalSend(signal="KILL"))
    assert not again.sent
    [listed] = (await bay.processes.list("alice", sandbox_id)).processes
    assert listed.state == "killed"


async def test_input_and_a_terminals_screen(bay: Bay) -> None:
    sandbox_id, process_id = await started(bay, "python3 -i", pty=True)
    typed = ProcessInput(text="x = 6*7", keys=["Enter"])
    written = await bay.processes.input("alice", sandbox_id, process_id, typed)
    assert written.written == len("x = 6*7\n")
    screen = await bay.processes.screen("alice", sandbox_id, process_id)
    assert "x = 6*7" in screen.rendered
    assert "█" in screen.rendered
    size = TerminalSize(rows=30, cols=100)
    resized = await bay.processes.resize("alice", sandbox_id, process_id, size)
    assert (resized.rows, resized.cols) == (30, 100)
    plain_sandbox, plain = await started(bay, "sleep 100")
    with pytest.raises(ValidationFailed, match="no terminal"):
        await bay.processes.screen("alice", plain_sandbox, plain)


async def test_a_wait_answers_at_the_end_or_as_it_is(bay: Bay, ship: FakeShip) -> None:
    sandbox_id, process_id = await started(bay, "sleep 100")
    still = await bay.processes.wait("alice", sandbox_id, process_id, ProcessWait(timeout=1))
    assert still.state == "running"
    endpoint = await endpoint_of(bay, sandbox_id)
    asyncio.get_running_loop().call_later(0.05, ship.finish, endpoint, process_id, 3)
    ended = await bay.processes.wait("alice", sandbox_id, process_id, ProcessWait(timeout=10))
    assert (ended.state, ended.exit_code) == ("exited", 3)


async def test_the_list_gives_the_urls_of_exposed_ports(bay: Bay, ship: FakeShip) -> None:
    bay.ports.serve_through("http://bay.test")
    sandbox_id, process_id = await started(bay, "python3 -m http.server 8000")
    endpoint = await endpoint_of(bay, sandbox_id)
    ship.processes[endpoint.url][process_id].info.ports = [8000, 9000]
    exposed = await bay.ports.expose("alice", sandbox_id, 8000)
    [listed] = (await bay.processes.list("alice", sandbox_id)).processes
    assert listed.ports == [8000, 9000]
    assert [(u.port, u.url.split("?")[0]) for u in listed.urls] == [
        (8000, exposed.url.split("?")[0])
    ]
    got = await bay.processes.get("alice", sandbox_id, process_id)
    assert [u.port for u in got.urls] == [8000]


async def test_a_process_keeps_its_sandbox_from_idling_only_while_it_prints(
    bay: Bay, ship: FakeShip, driver: FakeDriver
) -> None:
    printing_id, printer = await started(bay, "tail -f app.log")
    silent_id, _ = await started(bay, "sleep infinity")
    endpoint = await endpoint_of(bay, printing_id)
    hour_ago = utcnow() - timedelta(hours=1)
    for sandbox_id in (printing_id, silent_id):
        await bay.activity.flush()  # the times still in memory first, or they would win
        async with bay.db.session() as db:
            row = await db.get(Sandbox, sandbox_id)
            assert row is not None
            row.last_active_at = hour_ago
            db.add(row)
            await db.commit()
    ship.processes[endpoint.url][printer].info.last_output_at = utcnow()
    report = await bay.reaper.run(["idle_sessions"])
    assert report.results[0].cleaned_count == 1
    assert (await bay.sandboxes.get("alice", printing_id)).status == "ready"
    assert (await bay.sandboxes.get("alice", silent_id)).status == "idle"
    # It went quiet: the next pass stops it too.
    ship.processes[endpoint.url][printer].info.last_output_at = hour_ago
    await bay.reaper.run(["idle_sessions"])
    assert (await bay.sandboxes.get("alice", printing_id)).status == "idle"
    assert len(driver.containers) == 0


async def test_expose_port_right_after_a_start_waits_for_the_server_to_listen(
    bay: Bay, ship: FakeShip
) -> None:
    bay.ports.serve_through("http://bay.test")
    sandbox_id, process_id = await started(bay, "python3 -m http.server 8000")
    endpoint = await endpoint_of(bay, sandbox_id)
    info = ship.processes[endpoint.url][process_id].info
    asyncio.get_running_loop().call_later(0.3, setattr, info, "ports", [8000])
    began = time.monotonic()
    await bay.ports.expose("alice", sandbox_id, 8000)
    assert 0.25 <= time.monotonic() - began < 5
    # Listening already, or nothing just started: no wait.
    began = time.monotonic()
    await bay.ports.expose("alice", sandbox_id, 8000)
    info.started_at = utcnow() - timedelta(minutes=5)
    await bay.ports.expose("alice", sandbox_id, 9000)
    assert time.monotonic() - began < 0.25


async def test_a_ship_that_cannot_list_is_taken_as_silence(bay: Bay, ship: FakeShip) -> None:
    bay.ports.serve_through("http://bay.test")
    sandbox_id, _ = await started(bay)

    async def unreachable(endpoint: ShipEndpoint) -> protocol.ProcessList:
        raise SessionNotReady("the runtime is not reachable (ConnectError); retry shortly")

    ship.process_list = unreachable  # type: ignore[method-assign]
    assert not await bay.processes.printed_since(sandbox_id, utcnow() - timedelta(hours=1))
    exposed = await bay.ports.expose("alice", sandbox_id, 8000)  # not refused for it
    assert exposed.port == 8000


async def test_a_snapshot_gets_in_while_a_read_waits(
    bay: Bay, ship: FakeShip, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "SLICE_S", 0.05)
    sandbox_id, process_id = await started(bay, "tail -f app.log")
    endpoint = await endpoint_of(bay, sandbox_id)
    waiting = asyncio.create_task(
        bay.processes.output(
            "alice", sandbox_id, process_id, OutputRead(since=18, wait_seconds=30), 1000
        )
    )
    await asyncio.sleep(0.1)
    taken = await asyncio.wait_for(bay.snapshots.create("alice", sandbox_id, "mid-read"), 5)
    assert taken.id.startswith("snap-")
    assert not waiting.done()  # the read goes on waiting after it
    ship.print(endpoint, process_id, "after\n")
    assert (await asyncio.wait_for(waiting, 5)).text == "after\n"
