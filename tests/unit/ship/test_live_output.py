"""Live output: a python or shell exec asked for NDJSON answers its output as it comes,
then its result."""

from __future__ import annotations

import json

import httpx
import pytest

ON_SHIP_LOOP = pytest.mark.asyncio(loop_scope="module")


@ON_SHIP_LOOP
async def test_a_streamed_run_sends_its_output_then_its_result(
    client: httpx.AsyncClient,
) -> None:
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)"
    response = await client.post(
        "/python/exec", json={"code": code}, headers={"Accept": "application/x-ndjson"}
    )
    assert response.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in response.text.splitlines()]
    *outputs, result = events
    assert [event["kind"] for event in outputs] == ["output"] * len(outputs)
    assert "".join(event["text"] for event in outputs) == "0\n1\n2\n"
    assert result["success"] is True
    assert result["output"] == "0\n1\n2\n"
    shell = await client.post(
        "/shell/exec",
        json={"command": "echo one; exit 3"},
        headers={"Accept": "application/x-ndjson"},
    )
    *outputs, result = [json.loads(line) for line in shell.text.splitlines()]
    assert outputs == [{"kind": "output", "text": "one\n"}]
    assert result["exit_code"] == 3
