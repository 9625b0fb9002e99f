"""The warm pool follows demand, with real containers: a stream of creates raises the
pool's target above its floor and the pool fills to it; once the stream has left the
demand window, the target is back at the floor and the extra members are removed.
(tests/unit/services/test_pool_demand.py holds the rule itself.)"""

from __future__ import annotations

import json

from tests.integration.http.conftest import running_server
from tests.integration.http.test_pool import health, pool_containers, wait_for

WINDOW_S = 8
CREATES = 8


def test_a_stream_of_creates_grows_the_pool_and_it_shrinks_back() -> None:
    profiles = [{"id": "python-default", "warm_pool_size": 1, "warm_pool_max_size": 3}]
    with running_server(
        ("alice",),
        BAY_PROFILES=json.dumps(profiles),
        BAY_GC_ENABLED="false",
        BAY_POOL_CHECK_INTERVAL_SECONDS="1",
        BAY_POOL_DEMAND_WINDOW_SECONDS=str(WINDOW_S),
    ) as server:

        def pool() -> dict[str, int]:
            state: dict[str, int] = health(server)["pool"]["python-default"]
            return state

        wait_for("the pool to fill", lambda: pool()["ready"] >= 1)
        assert pool()["target"] == 1
        with server.client("alice") as alice:
            made = []
            for _ in range(CREATES):  # one create per refill or more: faster than it fills
                response = alice.post("/v1/sandboxes", json={})
                assert response.status_code == 201, response.text
                made.append(response.json()["id"])
            wait_for("the target to grow", lambda: pool()["target"] > 1)
            grown = pool()["target"]
            assert grown <= 3  # warm_pool_max_size
            wait_for("the pool to fill to its target", lambda: pool()["ready"] >= grown)
            assert len(pool_containers(server)) >= grown
            for sandbox_id in made:
                assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204
        # No create for a window: back to the floor, its extra members removed.
        wait_for("the target to fall back", lambda: pool()["target"] == 1)
        wait_for("the extra members to go", lambda: len(pool_containers(server)) == 1)
        assert pool()["ready"] == 1
