"""Code in every language against real containers, over REST and MCP (HTTP): TypeScript
and JavaScript in one Deno kernel that keeps its state, survives an infinite loop's
timeout and refuses network use cleanly offline; R with its plots; one history for all;
a gigabyte printed in each language held to the output budget."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.integration.http.conftest import HttpBay, mcp_http, running_server, text_of

PROFILES = [
    {"id": "python-default", "warm_pool_size": 0},
    {"id": "offline", "network": "none"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice",), BAY_PROFILES=json.dumps(PROFILES)) as bay:
        yield bay


@pytest.fixture(scope="module")
def sandbox(server: HttpBay) -> Iterator[str]:
    with server.client("alice") as alice:
        sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
        yield sandbox_id
        alice.delete(f"/v1/sandboxes/{sandbox_id}")


def run(client: httpx.Client, sandbox_id: str, language: str, code: str, **more: Any) -> Any:
    response = client.post(
        f"/v1/sandboxes/{sandbox_id}/code/exec",
        json={"language": language, "code": code, **more},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_typescript_keeps_its_state_and_javascript_shares_it(server: HttpBay, sandbox: str) -> None:
    with server.client("alice") as alice:
        first = run(alice, sandbox, "typescript", "const x: number = 21;")
        assert first["success"] is True, first
        second = run(alice, sandbox, "typescript", "x * 2")
        assert (second["success"], second["output"].strip()) == (True, "42"), second
        assert second["language"] == "typescript"
        shared = run(alice, sandbox, "javascript", "await Promise.resolve(x + 1)")
        assert shared["output"].strip() == "22", shared
        failed = run(alice, sandbox, "typescript", "throw new Error('on purpose')")
        assert failed["success"] is False
        assert "on purpose" in failed["error"]


def test_an_endless_loop_is_stopped_by_its_timeout_and_the_state_stays(
    server: HttpBay, sandbox: str
) -> None:
    with server.client("alice") as alice:
        run(alice, sandbox, "typescript", "let kept = 'still here';")
        looped = alice.post(
            f"/v1/sandboxes/{sandbox}/code/exec",
            json={"language": "typescript", "code": "while (true) {}", "timeout": 3},
            timeout=60,
        )
        assert looped.status_code == 504, looped.text
        error = looped.json()["error"]
        assert (error["code"], "TypeScript" in error["message"]) == ("timeout", True), error
        assert "variables are kept" in error["message"]
        after = run(alice, sandbox, "typescript", "kept")
        assert "still here" in after["output"], after


def test_network_use_offline_is_a_clean_error(server: HttpBay) -> None:
    with server.client("alice") as alice:
        sandbox_id = alice.post("/v1/sandboxes", json={"profile": "offline"}).json()["id"]
        try:
            fetched = run(
                alice, sandbox_id, "typescript", "await fetch('http://example.com/')", timeout=60
            )
            assert fetched["success"] is False, fetched
            assert fetched["error"], fetched
            assert run(alice, sandbox_id, "typescript", "1 + 1")["output"].strip() == "2"
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_r_computes_and_plots(server: HttpBay, sandbox: str) -> None:
    with server.client("alice") as alice:
        mean = run(alice, sandbox, "r", "x <- c(1,2,3); mean(x)")
        assert (mean["success"], mean["output"].strip()) == (True, "[1] 2"), mean
        plot = run(
            alice,
            sandbox,
            "r",
            "library(ggplot2)\n"
            "print(ggplot(data.frame(a = 1:3, b = c(2, 4, 3)), aes(a, b)) + geom_line())",
        )
        [image] = plot["data"]["output"]["images"]
        picture = Image.open(io.BytesIO(base64.b64decode(image["image/png"])))
        assert picture.format == "PNG"
        assert run(alice, sandbox, "r", "x")["output"].strip() == "[1] 1 2 3"
        table = run(alice, sandbox, "r", "data.frame(city = c('Paris', 'Oslo'), temp = c(21.5, 9))")
        [shown] = table["data"]["output"]["outputs"]
        assert shown["mime_type"] == "text/markdown", shown
        assert "Paris" in shown["data"], shown
        assert "|" in shown["data"], shown
        html = run(alice, sandbox, "r", "IRdisplay::display_html('<b>bold</b>')")
        assert [o["mime_type"] for o in html["data"]["output"]["outputs"]] == ["text/html"]


def test_r_text_printed_comes_back_with_programs_it_runs(server: HttpBay, sandbox: str) -> None:
    # R's printed text reaches Ship through the kernel's stdout (ship/r_kernel.R): cat,
    # print in a loop, a program run by system() and a message all come back.
    with server.client("alice") as alice:
        code = (
            "cat('one\\n'); for (i in 1:2) print(i * 10)\n"
            "invisible(system('echo from-a-program'))\nmessage('to stderr')"
        )
        printed = run(alice, sandbox, "r", code)
        assert printed["success"] is True, printed
        output = printed["output"]
        for part in ("one", "[1] 10", "[1] 20", "from-a-program", "to stderr"):
            assert part in output, output
        assert output.index("one") < output.index("[1] 10") < output.index("[1] 20")
        failed = run(alice, sandbox, "r", "cat('before\\n'); stop('on purpose')")
        assert failed["success"] is False, failed
        assert "on purpose" in failed["error"], failed
        assert "before" in failed["output"], failed


def test_one_history_names_every_language(server: HttpBay, sandbox: str) -> None:
    with server.client("alice") as alice:
        run(alice, sandbox, "python", "1")
        run(alice, sandbox, "javascript", "1")
        history = alice.get(f"/v1/sandboxes/{sandbox}/history", params={"limit": 100}).json()
        kinds = {entry["exec_type"] for entry in history["entries"]}
        assert {"python", "typescript", "javascript", "r"} <= kinds, kinds
        only_r = alice.get(f"/v1/sandboxes/{sandbox}/history", params={"exec_type": "r"})
        assert {entry["exec_type"] for entry in only_r.json()["entries"]} == {"r"}


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("python", "for _ in range(1000):\n    print('x' * 10**6)"),
        ("typescript", "for (let i = 0; i < 1000; i++) console.log('x'.repeat(1e6));"),
        ("r", "for (i in 1:1000) cat(strrep('x', 1e6), '\\n')"),
    ],
)
def test_a_gigabyte_printed_is_held_to_the_output_budget(
    server: HttpBay, sandbox: str, language: str, code: str
) -> None:
    """Python's kernel drops what is past the budget itself and runs to the end; the
    others queue all they print for Ship, which stops the run once it is far past the
    budget (before the queue costs the kernel its memory). Either way the state stays."""
    with server.client("alice") as alice:
        assign = {"python": "{} = 7", "typescript": "var {} = 7", "r": "{} <- 7"}[language]
        run(alice, sandbox, language, assign.format("flood_kept"))
        printed = run(alice, sandbox, language, code, timeout=300)
        output = printed["output"]
        # Ship keeps a run's first 4 MiB (SHIP_MAX_OUTPUT_BYTES), counts the rest, says so.
        assert len(output.encode()) <= 4 * 2**20 + 200
        assert output.startswith("x" * 1000)
        assert "[output truncated: " in output
        if language == "python":
            assert printed["success"] is True, printed["error"]
        else:
            assert printed["success"] is False
            assert "OutputLimitExceeded" in printed["error"], printed["error"]
            assert "its state is kept" in printed["error"]
        after = run(alice, sandbox, language, "flood_kept")
        assert "7" in after["output"], after


async def test_run_code_over_mcp(server: HttpBay, sandbox: str) -> None:
    async with mcp_http(server, "alice") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        language = tools["run_code"].input_schema["properties"]["language"]
        assert set(language["enum"]) == {"python", "typescript", "javascript", "r"}
        result = await client.call_tool(
            "run_code", {"sandbox_id": sandbox, "language": "typescript", "code": "[1, 2].length"}
        )
        assert not result.is_error, text_of(result)
        assert "2" in text_of(result)
        assert result.structured_content is not None
        assert result.structured_content["language"] == "typescript"
