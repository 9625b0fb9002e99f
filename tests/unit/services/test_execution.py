"""Exec rules: limits, timeouts as errors, cancellation reaching the sandbox, paths."""

from __future__ import annotations

import asyncio

import pytest

from bay_mcp.bay import Bay
from bay_mcp.errors import (
    CapabilityNotSupported,
    FileNotFound,
    InvalidPath,
    Timeout,
    TooManyRequests,
    ValidationFailed,
)
from bay_mcp.limits import MAX_CODE_CHARS
from bay_mcp.managers import no_progress
from bay_mcp.services.execution import ExecSlots
from bay_mcp.services.runs import CodeRun, PythonRun, PythonRunResult, ShellRun
from bay_mcp.settings import BaySettings, Profile
from ship import protocol
from tests.fakes import BytesUpload, FakeDriver, FakeShip

ESCAPES = ["", "/etc/passwd", "../x", "a/../../b", "a\x00b"]


async def test_timeout_limits(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    for timeout in (0, 301):
        with pytest.raises(ValidationFailed, match="between 1 and 300"):
            await bay.execution.run(
                "alice", sandbox.id, PythonRun(code="1", timeout=timeout), no_progress
            )


async def test_a_timed_out_run_is_a_timeout_error_with_its_output(bay: Bay, ship: FakeShip) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.python_answer = protocol.PythonExecResult(
        success=False, output="step 1\nstep 2\n", timed_out=True, execution_time_ms=2000
    )
    with pytest.raises(Timeout) as timed_out:
        await bay.execution.run(
            "alice", sandbox.id, PythonRun(code="slow()", timeout=2), no_progress
        )
    assert "2 s time limit" in timed_out.value.message
    assert "step 2" in timed_out.value.message
    assert "variables are kept" in timed_out.value.message


async def test_cancelling_python_interrupts_the_kernel(bay: Bay, ship: FakeShip) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.block_python = asyncio.Event()
    running = asyncio.create_task(
        bay.execution.run("alice", sandbox.id, PythonRun(code="forever()", timeout=30), no_progress)
    )
    await asyncio.wait_for(ship.python_started.wait(), timeout=5)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert ship.interrupts == 1


async def test_path_escapes_are_refused_before_anything_starts(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    for bad in ESCAPES:
        attempts = [
            bay.files.read_text("alice", sandbox.id, bad, no_progress),
            bay.files.write_text("alice", sandbox.id, bad, "x", no_progress),
            bay.files.delete("alice", sandbox.id, bad, no_progress),
            bay.files.read_bytes("alice", sandbox.id, bad, no_progress, max_bytes=10),
            bay.files.upload("alice", sandbox.id, BytesUpload(bad, b"x"), no_progress),
            bay.files.edit_text("alice", sandbox.id, bad, "a", "b", no_progress),
        ]
        if bad:  # "" lists the root: allowed for directories and cwd
            attempts.append(bay.files.list_directory("alice", sandbox.id, bad, no_progress))
            with pytest.raises(InvalidPath):  # the run's request refuses the cwd
                await bay.execution.run(
                    "alice", sandbox.id, ShellRun(command="pwd", timeout=30, cwd=bad), no_progress
                )
        for attempt in attempts:
            with pytest.raises(InvalidPath):
                await attempt
    assert driver.started == 0


async def test_edit_replaces_exactly_what_was_asked(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.files.write_text("alice", sandbox.id, "f.txt", "a a b", no_progress)
    with pytest.raises(ValidationFailed, match="occurs 2 times"):
        await bay.files.edit_text("alice", sandbox.id, "f.txt", "a", "c", no_progress)
    with pytest.raises(ValidationFailed, match="not found"):
        await bay.files.edit_text("alice", sandbox.id, "f.txt", "zzz", "c", no_progress)
    edited = await bay.files.edit_text("alice", sandbox.id, "f.txt", "b", "B", no_progress)
    assert edited.replacements == 1
    every = await bay.files.edit_text(
        "alice", sandbox.id, "f.txt", "a", "c", no_progress, replace_all=True
    )
    assert every.replacements == 2
    text = await bay.files.read_text("alice", sandbox.id, "f.txt", no_progress)
    assert text.content == "c c B"
    with pytest.raises(FileNotFound):
        await bay.files.read_text("alice", sandbox.id, "missing.txt", no_progress)


async def test_an_owner_over_its_exec_slots_is_told_when_to_retry() -> None:
    slots = ExecSlots(per_owner=1)
    with slots.hold("alice"):
        with pytest.raises(TooManyRequests) as refused, slots.hold("alice"):
            pass
        assert refused.value.details["retry_after_ms"] == 1000
        with slots.hold("bob"):  # other owners are not affected
            pass
    with slots.hold("alice"):  # the slot is free again
        pass


async def test_a_command_with_a_nul_byte_is_refused_before_anything_runs(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    with pytest.raises(ValidationFailed, match="NUL"):
        await bay.execution.run(
            "alice", sandbox.id, ShellRun(command="echo a\x00b", timeout=30), no_progress
        )
    assert driver.started == 0


async def test_one_run_path_takes_either_kind_and_records_it(bay: Bay, ship: FakeShip) -> None:
    sandbox = await bay.sandboxes.create("alice")
    python = await bay.execution.run(
        "alice", sandbox.id, PythonRun(code="1+1", tags="setup"), no_progress
    )
    shell = await bay.execution.run(
        "alice", sandbox.id, ShellRun(command="ls", cwd="sub/./dir"), no_progress
    )
    assert (python.success, shell.exit_code) == (True, 0)
    assert shell.output.startswith("sub/dir$ ls")  # the cwd as the request normalised it
    page = await bay.history.list("alice", sandbox.id)
    assert [(e.exec_type, e.code, e.tags) for e in page.entries] == [
        ("shell", "ls", ""),
        ("python", "1+1", "setup"),
    ]


async def test_a_run_for_a_model_is_cut_and_saved_whole_and_the_history_keeps_it_all(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    long = "line\n" * 10_000
    ship.python_answer = protocol.PythonExecResult(success=True, output=long)
    plain = await bay.execution.run("alice", sandbox.id, PythonRun(code="flood()"), no_progress)
    assert (plain.output, plain.shortened) == (long, False)
    cut = await bay.execution.run(
        "alice", sandbox.id, PythonRun(code="flood()"), no_progress, for_model=True
    )
    assert cut.shortened
    assert not cut.truncated  # Bay cut it, not the runtime
    assert len(cut.output) < bay.settings.output_limit_chars + 1000
    saved = f".bay/outputs/{cut.execution_id}.txt"
    assert saved in cut.output
    whole = await bay.files.read_text("alice", sandbox.id, saved, no_progress)
    assert whole.content == long


def test_a_run_request_holds_the_rules() -> None:
    with pytest.raises(ValidationFailed, match=f"at most {MAX_CODE_CHARS} characters"):
        PythonRun(code="x" * (MAX_CODE_CHARS + 1))
    with pytest.raises(ValidationFailed, match="command is empty"):
        ShellRun(command="  ")
    with pytest.raises(InvalidPath):
        ShellRun(command="ls", cwd="../out")
    with pytest.raises(ValidationFailed, match="between 1 and 300"):
        ShellRun(command="ls", timeout=301)
    assert ShellRun(command="ls", cwd="a/../b").cwd == "b"


def test_the_python_error_text_is_its_traceback_or_its_name_and_value() -> None:
    error = protocol.PythonError(ename="ValueError", evalue="bad", traceback=["T", "ValueError"])
    result = PythonRunResult(
        success=False, output="", error=error, execution_id="exec-1", execution_time_ms=1
    )
    assert result.error_text == "T\nValueError"
    bare = result.model_copy(update={"error": error.model_copy(update={"traceback": []})})
    assert (bare.error_text, bare.error_line) == ("ValueError: bad", "ValueError: bad")


async def test_code_runs_in_its_languages_kernel_and_the_history_names_the_language(
    bay: Bay, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    typescript = await bay.execution.run(
        "alice", sandbox.id, CodeRun(language="typescript", code="const x = 1"), no_progress
    )
    javascript = await bay.execution.run(
        "alice", sandbox.id, CodeRun(language="javascript", code="x + 1"), no_progress
    )
    python = await bay.execution.run("alice", sandbox.id, CodeRun(code="1 + 1"), no_progress)
    assert (typescript.language, javascript.language, python.language) == (
        "typescript", "javascript", "python"
    )  # fmt: skip
    assert ship.languages == ["typescript", "javascript", "python"]
    page = await bay.history.list("alice", sandbox.id)
    assert [entry.exec_type for entry in page.entries] == ["python", "javascript", "typescript"]
    with pytest.raises(ValidationFailed, match="language"):
        CodeRun(language="cobol", code="1")


async def test_a_language_the_profile_lacks_is_refused_naming_one_that_has_it(
    tmp_path: object, driver: FakeDriver
) -> None:
    settings = BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        profiles=[
            Profile(id="python-default", warm_pool_size=0, languages=["python", "typescript"]),
            Profile(id="data", languages=["python", "r"]),
        ],
    )
    ship = FakeShip(driver)
    bay = Bay(settings, driver=driver, ship=ship)
    await bay.start()
    try:
        sandbox = await bay.sandboxes.create("alice")
        with pytest.raises(CapabilityNotSupported, match="profile data") as refused:
            await bay.execution.run(
                "alice", sandbox.id, CodeRun(language="r", code="1"), no_progress
            )
        assert refused.value.details["profiles"] == ["data"]
        assert "its image runs python, typescript;" in refused.value.message
        assert ship.calls == []  # refused before anything ran, or started
        assert driver.containers == {}
    finally:
        await bay.close()
