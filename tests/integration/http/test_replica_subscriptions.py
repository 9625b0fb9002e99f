"""Subscriptions across two Bays on one PostgreSQL (LISTEN/NOTIFY): a subscriber on one
replica hears what a call through the other changed."""

from __future__ import annotations

import asyncio

from mcp.shared.subscriptions import ResourcesListChanged, ResourceUpdated

from tests.integration.http.test_replicas import Replicas, replicas  # noqa: F401 (fixture)
from tests.integration.http.test_subscriptions import over_http
from tests.subscribers import next_of


async def test_a_listener_on_one_replica_hears_a_run_through_the_other(
    replicas: Replicas,  # noqa: F811
) -> None:
    with replicas.first.client("alice") as one:
        sandbox_id = one.post("/v1/sandboxes", json={}).json()["id"]
        out = f"cargo://{sandbox_id}/out.txt"
        async with (
            over_http(replicas.second, "alice") as c,
            c.listen(resource_subscriptions=[out], resources_list_changed=True) as events,
        ):
            code = "open('out.txt', 'w').write('through the first')"
            ran = await asyncio.to_thread(
                one.post, f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": code}
            )
            assert ran.status_code == 200, ran.text
            assert await next_of(events) == ResourceUpdated(uri=out)
            deleted = await asyncio.to_thread(one.delete, f"/v1/sandboxes/{sandbox_id}")
            assert deleted.status_code == 204
            assert await next_of(events) == ResourcesListChanged()
