"""expose_port over stdio: a loopback port forward on this machine to the sandbox's server."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client

from tests.integration.mcp.conftest import call, new_sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")

START_SITE = (
    "mkdir -p site && echo 'served from the sandbox' > site/index.html && "
    "nohup python3 -m http.server 8000 --directory site >/tmp/http.log 2>&1 & "
    "for i in $(seq 100); do curl -sf localhost:8000/ >/dev/null && exit 0; sleep 0.1; done; "
    "exit 1"
)


async def test_expose_port_forwards_a_loopback_port_until_the_sandbox_stops(
    client: Client,
) -> None:
    sandbox_id = await new_sandbox(client)
    try:
        started = await call(client, "shell_exec", sandbox_id=sandbox_id, command=START_SITE)
        assert started.structured_content is not None
        assert started.structured_content["exit_code"] == 0
        exposed = await call(client, "expose_port", sandbox_id=sandbox_id, port=8000)
        assert exposed.structured_content is not None
        url: str = exposed.structured_content["url"]
        assert url.startswith("http://127.0.0.1:")
        assert exposed.structured_content["expires_at"] is None
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            page = await http.get(url)
            assert page.status_code == 200
            assert page.text.strip() == "served from the sandbox"
            again = await call(client, "expose_port", sandbox_id=sandbox_id, port=8000)
            assert again.structured_content is not None
            assert again.structured_content["url"] == url  # the same forward

            idle = await call(client, "expose_port", sandbox_id=sandbox_id, port=9999)
            assert idle.structured_content is not None
            refused = await http.get(idle.structured_content["url"])
            assert refused.status_code == 502
            assert "port 9999" in refused.json()["error"]["message"]

            await call(client, "stop_sandbox", sandbox_id=sandbox_id)
            # The next connection finds the session gone: told so, and the forward closes.
            gone = await http.get(url)
            assert gone.status_code == 404
            assert "stopped" in gone.json()["error"]["message"]
            with pytest.raises(httpx.TransportError):
                await http.get(url)
            listed = await call(client, "list_ports", sandbox_id=sandbox_id)
            assert listed.structured_content == {"ports": []}
    finally:
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
