"""python_exec and shell_exec through MCP: state, images, errors, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from mcp import Client
from mcp.shared.dispatcher import ProgressFnT
from PIL import Image

from tests.integration.conftest import docker
from tests.integration.mcp.conftest import BayServer, call, call_error, new_sandbox, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(client: Client) -> AsyncIterator[str]:
    sandbox_id = await new_sandbox(client)
    yield sandbox_id
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_kernel_state_persists(client: Client, sandbox: str) -> None:
    await call(client, "python_exec", sandbox_id=sandbox, code="import json\nanswer = 41")
    result = await call(client, "python_exec", sandbox_id=sandbox, code="json.dumps(answer + 1)")
    assert "42" in text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["success"] is True
    assert result.structured_content["execution_count"] >= 2


async def test_a_figure_comes_back_as_png_image_content(client: Client, sandbox: str) -> None:
    result = await call(
        client,
        "python_exec",
        sandbox_id=sandbox,
        code="import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
    )
    images = [block for block in result.content if block.type == "image"]
    assert len(images) == 1
    assert images[0].mime_type == "image/png"
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert picture.format == "PNG"


async def test_failing_code_is_a_result_with_the_traceback(client: Client, sandbox: str) -> None:
    result = await call(client, "python_exec", sandbox_id=sandbox, code="{}['missing']")
    assert "KeyError" in text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["success"] is False
    assert result.structured_content["error"]["ename"] == "KeyError"
    shell = await call(client, "shell_exec", sandbox_id=sandbox, command="echo oops >&2; exit 4")
    assert "oops" in text_of(shell)
    assert shell.structured_content is not None
    assert shell.structured_content["exit_code"] == 4


async def test_timeout_is_a_tool_error_and_the_kernel_survives(
    client: Client, sandbox: str
) -> None:
    await call(client, "python_exec", sandbox_id=sandbox, code="survivor = 'yes'")
    error = await call_error(
        client, "python_exec", sandbox_id=sandbox, code="while True: pass", timeout=2
    )
    assert "2 s time limit" in error
    after = await call(client, "python_exec", sandbox_id=sandbox, code="print(survivor)")
    assert "yes" in text_of(after)
    error = await call_error(
        client, "shell_exec", sandbox_id=sandbox, command="sleep 60", timeout=1
    )
    assert "killed" in error


async def test_long_output_is_capped_and_saved_in_full(client: Client, sandbox: str) -> None:
    result = await call(
        client,
        "python_exec",
        sandbox_id=sandbox,
        code="for i in range(5000):\n    print(f'line {i:05d} ' + 'x' * 20)",
    )
    text = text_of(result)
    assert "line 00000" in text
    assert "line 04999" in text
    assert "cut" in text
    assert len(text) < 25_000
    saved = text.split("saved at ", 1)[1].split(" ", 1)[0]
    assert saved.startswith(".bay/outputs/")
    full = await call(client, "shell_exec", sandbox_id=sandbox, command=f"wc -l < {saved}")
    assert text_of(full).split()[0] == "5000"


async def test_progress_is_reported_while_a_sandbox_starts(client: Client) -> None:
    # A profile without a warm pool: the default profile's sandbox would be running.
    sandbox_id = await new_sandbox(client, profile="python-only")
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    result = await client.call_tool(
        "python_exec",
        {"sandbox_id": sandbox_id, "code": "import time\ntime.sleep(6)\nprint('done')"},
        progress_callback=on_progress,
    )
    assert not result.is_error
    assert any("starting sandbox" in message for message in messages), messages
    assert any("elapsed" in message for message in messages), messages
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


def _collect(messages: list[str]) -> ProgressFnT:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    return on_progress


async def test_output_comes_live_as_progress_before_the_result(
    client: Client, sandbox: str
) -> None:
    for tool, arguments, lines in (
        ("python_exec", {"code": "import time\nfor i in range(5):\n    print(i)\n    "
                         "time.sleep(1)"}, ["0", "1", "2", "3", "4"]),
        ("shell_exec", {"command": "for i in a b c; do echo $i; sleep 1; done"},
         ["a", "b", "c"]),
        ("run_code", {"language": "typescript", "code": "for (const w of ['t1', 't2', "
                      "'t3']) { console.log(w); await new Promise((r) => setTimeout(r, 1000)); }"},
         ["t1", "t2", "t3"]),
        ("run_code", {"language": "r", "code": "for (w in c('r1', 'r2', 'r3')) "
                      "{ cat(w, '\\n'); Sys.sleep(1) }"}, ["r1", "r2", "r3"]),
    ):  # fmt: skip
        messages: list[str] = []
        result = await client.call_tool(
            tool, {"sandbox_id": sandbox, **arguments}, progress_callback=_collect(messages)
        )
        assert not result.is_error, text_of(result)
        # Notes of Bay's own (a start, the time so far) are not the run's output.
        live = "".join(
            message
            for message in messages
            if "elapsed" not in message and not message.startswith("starting sandbox")
        )
        # Every line came as progress, in several notifications, before the result.
        assert live.split() == lines, messages
        assert len([m for m in messages if m.strip()]) >= 2, messages


async def test_cancelling_python_exec_interrupts_the_kernel(client: Client, sandbox: str) -> None:
    code = "import pathlib, time\npathlib.Path('cancel.flag').write_text('1')\ntime.sleep(120)"
    await call(client, "shell_exec", sandbox_id=sandbox, command="rm -f cancel.flag")
    running = asyncio.create_task(
        client.call_tool("python_exec", {"sandbox_id": sandbox, "code": code, "timeout": 300})
    )
    await _wait_for_file(client, sandbox, "cancel.flag")
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    started = time.monotonic()
    # Had the kernel not been interrupted, this would wait behind the 120 s sleep.
    after = await call(client, "python_exec", sandbox_id=sandbox, code="print('free')", timeout=60)
    assert "free" in text_of(after)
    assert time.monotonic() - started < 30


async def test_cancelling_shell_exec_kills_the_command(
    client: Client, sandbox: str, bay_server: BayServer
) -> None:
    running = asyncio.create_task(
        client.call_tool(
            "shell_exec",
            {"sandbox_id": sandbox, "command": "touch shell.flag; sleep 107", "timeout": 300},
        )
    )
    await _wait_for_file(client, sandbox, "shell.flag")
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    [container] = bay_server.containers(sandbox_id=sandbox)
    deadline = time.monotonic() + 15
    while "sleep 107" in docker("exec", container, "ps", "-eo", "args"):
        assert time.monotonic() < deadline, "the cancelled command still runs"
        await asyncio.sleep(0.2)


async def _wait_for_file(client: Client, sandbox: str, path: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        listing = await call(client, "list_files", sandbox_id=sandbox)
        assert listing.structured_content is not None
        if path in [entry["name"] for entry in listing.structured_content["entries"]]:
            return
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.1)


async def test_run_code_keeps_each_languages_state_over_stdio(client: Client, sandbox: str) -> None:
    runs = [
        ("typescript", "const greeting: string = 'hi';", None),
        ("javascript", "greeting + ' there'", "hi there"),
        ("r", "v <- c(4, 5, 6)", None),
        ("r", "sum(v)", "15"),
        ("python", "6 * 7", "42"),
    ]
    for language, code, says in runs:
        result = await call(client, "run_code", sandbox_id=sandbox, language=language, code=code)
        assert result.structured_content is not None
        assert result.structured_content["success"] is True, text_of(result)
        assert result.structured_content["language"] == language
        if says is not None:
            assert says in text_of(result)
    failed = await call(client, "run_code", sandbox_id=sandbox, language="r", code="stop('no')")
    assert failed.structured_content is not None
    assert failed.structured_content["success"] is False
    assert "no" in text_of(failed)


async def test_run_code_reports_files_and_resources_in_every_language(
    client: Client, sandbox: str
) -> None:
    writes = {
        "typescript": "await Deno.writeTextFile('from-typescript.txt', 'ts'); 'written'",
        "r": "writeLines('r', 'from-r.txt'); sum(1:1e6)",
        "python": "open('from-python.txt', 'w').write('py')",
    }
    for language, code in writes.items():
        result = await call(client, "run_code", sandbox_id=sandbox, language=language, code=code)
        content = result.structured_content
        assert content is not None
        assert content["success"] is True, text_of(result)
        changed = [change["path"] for change in content["files_changed"]["files"]]
        assert f"from-{language}.txt" in changed, content["files_changed"]
        assert content["resources"]["cpu_time_ms"] is not None, content["resources"]
