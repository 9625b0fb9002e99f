"""Subscriptions over stdio with the SDK's own client, at 2026-07-28
(`subscriptions/listen`) and at the handshake versions (`resources/subscribe`): a
python_exec writes out.txt in a real sandbox, the subscriber hears of it once."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.shared.subscriptions import ResourceUpdated

from tests.integration.mcp.conftest import BayServer, call, new_sandbox
from tests.subscribers import Updates, next_of


async def write_with_python(c: Client, sandbox_id: str, path: str) -> None:
    await call(c, "python_exec", sandbox_id=sandbox_id, code=f"open({path!r}, 'w').write('w')")


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_legacy_subscriber_over_stdio_hears_once_that_a_run_wrote_its_file(
    bay_server: BayServer,
) -> None:
    updates = Updates()
    params = bay_server.params()
    async with Client(
        params, mode="legacy", message_handler=updates, read_timeout_seconds=180
    ) as c:
        sandbox_id = await new_sandbox(c)
        out, later = f"cargo://{sandbox_id}/out.txt", f"cargo://{sandbox_id}/later.txt"
        await c.session.subscribe_resource(out)
        await c.session.subscribe_resource(later)
        await write_with_python(c, sandbox_id, "out.txt")
        # A later change heard after it: a second update for out.txt would come first.
        await write_with_python(c, sandbox_id, "later.txt")
        assert await updates.until(2) == [out, later]
        await call(c, "delete_sandbox", sandbox_id=sandbox_id)


async def test_a_listen_stream_over_stdio_hears_once_that_a_run_wrote_its_file(
    bay_server: BayServer,
) -> None:
    async with Client(bay_server.params(), read_timeout_seconds=180) as c:
        assert c.protocol_version >= "2026-07-28"
        sandbox_id = await new_sandbox(c)
        out, later = f"cargo://{sandbox_id}/out.txt", f"cargo://{sandbox_id}/later.txt"
        async with c.listen(resource_subscriptions=[out, later]) as events:
            await write_with_python(c, sandbox_id, "out.txt")
            assert await next_of(events) == ResourceUpdated(uri=out)
            await write_with_python(c, sandbox_id, "later.txt")
            assert await next_of(events) == ResourceUpdated(uri=later)
        await call(c, "delete_sandbox", sandbox_id=sandbox_id)
