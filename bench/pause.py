"""What thawing a paused sandbox costs its next call.

    .venv/bin/python bench/pause.py [--rounds 20]

Starts the real `bay-mcp serve --transport http` (a throwaway data directory, the
loopback's local owner) with a profile that pauses after 1 s idle, checked every 0.2 s.
Each round: wait until the engine shows the sandbox's container paused, then time
`python_exec("x")` (the thaw inside the call), then the same call warm. The kernel holds
a list of 10**6 items throughout. Everything it makes is removed.
"""

from __future__ import annotations

import argparse
import time

import httpx
from common import HEADER, docker, http_server, summary


def timed_exec(client: httpx.Client, sandbox: str) -> float:
    started = time.perf_counter()
    answer = client.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "len(x)"})
    elapsed = (time.perf_counter() - started) * 1000
    answer.raise_for_status()
    assert answer.json()["output"].strip() == "1000000", answer.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    profile = {"id": "python-default", "warm_pool_size": 0, "pause_after_idle_seconds": 1}
    thawed: list[float] = []
    warm: list[float] = []
    with (
        http_server([profile], {"BAY_PAUSE_CHECK_INTERVAL_SECONDS": "0.2"}) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        sandbox = client.post("/v1/sandboxes", json={}).json()["id"]
        client.post(
            f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "x = [1] * 10**6"}
        ).raise_for_status()
        label = f"label=bay.sandbox_id={sandbox}"
        container = docker("ps", "-q", "--filter", label)
        for _ in range(args.rounds):
            deadline = time.monotonic() + 30
            while docker("inspect", "-f", "{{.State.Paused}}", container) != "true":
                assert time.monotonic() < deadline, "the sandbox was never paused"
                time.sleep(0.05)
            thawed.append(timed_exec(client, sandbox))
            warm.append(timed_exec(client, sandbox))
    print(HEADER)
    print(summary("first call after a pause (thawed inside)", thawed))
    print(summary("the next call, warm", warm))
    extra = sorted(t - w for t, w in zip(thawed, warm, strict=True))
    print(summary("extra latency of the thaw", extra))


if __name__ == "__main__":
    main()
