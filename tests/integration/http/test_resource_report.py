"""The resource report on every run, from real containers: CPU time and peak memory
of normal runs, out-of-memory kills named with the limit, and timeouts with the CPU
they burnt; over REST, MCP and in the history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.http.conftest import HttpBay, error_of, mcp_http, running_server, text_of

MIB = 1 << 20
PROFILES = json.dumps([{"id": "small", "memory_mb": 256, "cpus": 1.0}])
# Touches every page: an allocation the kernel only promises would not be counted.
HOG = "hog = bytearray(1024**3)"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice",), BAY_PROFILES=PROFILES, BAY_GC_ENABLED="false") as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[tuple[httpx.Client, str]]:
    with server.client("alice") as client:
        sandbox_id = client.post("/v1/sandboxes", json={"profile": "small"}).json()["id"]
        yield client, sandbox_id
        client.delete(f"/v1/sandboxes/{sandbox_id}")


def run(
    alice: tuple[httpx.Client, str], kind: str, text: str, timeout: float = 60
) -> httpx.Response:
    client, sandbox_id = alice
    key = "code" if kind == "python" else "command"
    return client.post(
        f"/v1/sandboxes/{sandbox_id}/{kind}/exec", json={key: text, "timeout": timeout}
    )


def report_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()["resources"]
    return report


def test_normal_runs_report_plausible_figures(alice: tuple[httpx.Client, str]) -> None:
    python = report_of(run(alice, "python", "data = list(range(10**6))\nsum(data)"))
    # A million ints are ~40 MB on top of the kernel's own ~50 MB.
    assert 40 * MIB < python["peak_memory_bytes"] < 256 * MIB, python
    assert 0 < python["cpu_time_ms"] < 5000, python
    assert (python["killed"], python["memory_limit_bytes"]) == (None, 256 * MIB)

    shell = report_of(run(alice, "shell", "echo hi"))
    assert MIB < shell["peak_memory_bytes"] < 64 * MIB, shell
    assert 0 <= shell["cpu_time_ms"] < 2000, shell
    assert (shell["killed"], shell["memory_limit_bytes"]) == (None, 256 * MIB)


def test_a_python_memory_bomb_is_reported_out_of_memory_with_the_limit(
    alice: tuple[httpx.Client, str],
) -> None:
    blown = run(alice, "python", HOG)
    report = report_of(blown)
    assert report["killed"] == "out_of_memory", report
    assert report["memory_limit_bytes"] == 256 * MIB
    error = blown.json()["error"]
    assert error.startswith("KernelDied: the Python kernel was killed for using more than 256 MB")
    after = run(alice, "python", "print('recovered')")
    assert after.json()["output"] == "recovered\n"


def test_a_shell_memory_bomb_is_reported_out_of_memory(
    alice: tuple[httpx.Client, str],
) -> None:
    blown = run(alice, "shell", f'python3 -c "{HOG}"; echo "exit $?"')
    report = report_of(blown)
    # bash went on after its command was killed: the run was not, but it is told.
    assert (report["killed"], report["oom_kills"]) == (None, 1), report
    assert blown.json()["exit_code"] == 0
    assert "exit 137" in blown.json()["output"]
    alone = run(alice, "shell", f'python3 -c "{HOG}"')
    assert report_of(alone)["killed"] == "out_of_memory"
    assert alone.json()["error"] == (
        "the command was killed for using more than 256 MB, the sandbox's memory limit "
        f"(exit code {alone.json()['exit_code']})"
    )


def test_a_cpu_spin_past_its_timeout_reports_the_timeout_and_its_cpu(
    alice: tuple[httpx.Client, str],
) -> None:
    for kind, spin in (("python", "while True: pass"), ("shell", "while :; do :; done")):
        error = error_of(run(alice, kind, spin, timeout=2), 504, "timeout")
        details: dict[str, Any] = error["details"]  # type: ignore[assignment]
        report = details["resources"]
        assert report["killed"] == "timeout", (kind, report)
        # One CPU (the profile's) for two seconds, give or take scheduling.
        assert 1500 <= report["cpu_time_ms"] <= 2600, (kind, report)
        assert "It used CPU" in str(error["message"]), error


def test_the_history_keeps_the_report(alice: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = alice
    ran = run(alice, "shell", "echo kept")
    execution_id = ran.json()["execution_id"]
    entry = client.get(f"/v1/sandboxes/{sandbox_id}/history/{execution_id}").json()
    assert entry["resources"] == ran.json()["resources"]


async def test_mcp_says_what_a_run_cost_and_why_it_was_killed(
    server: HttpBay, alice: tuple[httpx.Client, str]
) -> None:
    _, sandbox_id = alice
    async with mcp_http(server, "alice") as mcp:
        ran = await mcp.call_tool("shell_exec", {"sandbox_id": sandbox_id, "command": "true"})
        assert text_of(ran).startswith("(no output)\n[exit code 0 · CPU "), text_of(ran)
        assert ran.structured_content is not None
        assert ran.structured_content["resources"]["peak_memory_bytes"] > 0
        blown = await mcp.call_tool("python_exec", {"sandbox_id": sandbox_id, "code": HOG})
        assert "killed for using more than 256 MB" in text_of(blown), text_of(blown)


def test_the_openapi_document_describes_the_report(server: HttpBay) -> None:
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    schemas = document["components"]["schemas"]
    report = schemas["ResourceReport"]["properties"]
    assert {"cpu_time_ms", "peak_memory_bytes", "killed", "signal", "oom_kills"} <= set(report)
    for response in ("PythonExecResponse", "ShellExecResponse"):
        assert "resources" in schemas[response]["properties"], response
