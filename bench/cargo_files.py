"""What a cargo's file costs with no sandbox, against the same call through a sandbox.

    .venv/bin/python bench/cargo_files.py [--runs 5] [--calls 50]

Starts the real `bay-mcp serve --transport http` on a free loopback port (a throwaway
data directory, no key: the loopback's local owner) and measures, over REST:
  cold cargo write     the first PUT …/cargos/{id}/filesystem/files of a new cargo (its
                       helper starts), one per run
  cold sandbox write   the first PUT …/sandboxes/{id}/filesystem/files of a new idle
                       sandbox (its container starts), one per run
  warm cargo write/read   PUT then GET of a 1 KB file, the helper running
  warm sandbox write/read the same through a running sandbox
Warm calls are interleaved in blocks of 10 (cargo, then sandbox). Everything it makes
is removed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import httpx
from common import HEADER, http_server, summary

SMALL = "x" * 1024


def timed(call: Callable[..., httpx.Response], url: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    response = call(url, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {
        name: []
        for name in (
            "cold cargo write (a helper starts)",
            "cold sandbox write (its container starts)",
            "warm cargo write, 1 KB",
            "warm cargo read, 1 KB",
            "warm sandbox write, 1 KB",
            "warm sandbox read, 1 KB",
        )
    }
    names = list(figures)
    with (
        http_server([{"id": "python-default", "warm_pool_size": 0}]) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        for _ in range(args.runs):
            cargo = client.post("/v1/cargos", json={}).json()["id"]
            body = {"path": "a.txt", "content": SMALL}
            figures[names[0]].append(
                timed(client.put, f"/v1/cargos/{cargo}/filesystem/files", json=body)
            )
            sandbox = client.post("/v1/sandboxes", json={}).json()["id"]
            figures[names[1]].append(
                timed(client.put, f"/v1/sandboxes/{sandbox}/filesystem/files", json=body)
            )
        cargo_files = f"/v1/cargos/{cargo}/filesystem/files"
        sandbox_files = f"/v1/sandboxes/{sandbox}/filesystem/files"
        body = {"path": "warm.txt", "content": SMALL}
        for block in range(0, args.calls, 10):
            for base, write, read in (
                (cargo_files, names[2], names[3]),
                (sandbox_files, names[4], names[5]),
            ):
                for _ in range(min(10, args.calls - block)):
                    figures[write].append(timed(client.put, base, json=body))
                    figures[read].append(timed(client.get, base, params={"path": "warm.txt"}))
    print(HEADER)
    for name, values in figures.items():
        print(summary(name, values))


if __name__ == "__main__":
    main()
