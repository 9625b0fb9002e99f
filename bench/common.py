"""What the benchmarks share: Docker, a real `bay-mcp serve` on a free port, figures."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BAY_MCP = str(Path(sys.executable).parent / "bay-mcp")


def docker(*args: str, input_text: str | None = None) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=300,
        input=input_text,
    ).stdout.strip()  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<44}{len(values):>5}{statistics.median(values):>10.1f}"
        f"{percentile(values, 0.99):>10.1f}{min(values):>10.1f}{max(values):>10.1f}"
    )


HEADER = f"{'measure (ms)':<44}{'n':>5}{'p50':>10}{'p99':>10}{'min':>10}{'max':>10}"


def bay_environment(data_dir: Path, profiles: list[dict[str, Any]]) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(data_dir),
        "BAY_DATA_DIR": str(data_dir),
        "BAY_INSTANCE_ID": f"bay-bench-{os.getpid()}-{data_dir.name[-6:]}",
        "BAY_AUTO_BUILD_IMAGE": "false",
        "BAY_GC_ENABLED": "false",
        "BAY_LOG_LEVEL": "WARNING",
        "BAY_PROFILES": json.dumps(profiles),
        "BAY_MAX_SANDBOXES_PER_OWNER": "100",
        "BAY_MAX_CONCURRENT_EXECS_PER_OWNER": "64",
        "BAY_POOL_CHECK_INTERVAL_SECONDS": "1",
    }
    # DOCKER_HOST: the engine to use; PYTHONPATH: the code to measure when it is a
    # worktree's, not the virtualenv's editable install.
    for name in ("DOCKER_HOST", "PYTHONPATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


@dataclass
class Server:
    url: str
    env: dict[str, str]
    pid: int = 0  # the server's process, for its CPU figures

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/health", timeout=10).json()
        return body

    def wait_for_pool(self, profile: str, ready: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.health()["pool"].get(profile, {}).get("ready", 0) < ready:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {profile} pool did not fill in {timeout:g} s")
            time.sleep(0.05)


@contextmanager
def http_server(
    profiles: list[dict[str, Any]], extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`bay-mcp serve --transport http` on a free loopback port, in a throwaway data
    directory, with `extra_env` over the benchmarks' settings; every container and
    volume of its instance is removed after."""
    data_dir = Path(tempfile.mkdtemp(prefix="bay-bench-"))
    env = {**bay_environment(data_dir, profiles), **(extra_env or {})}
    port = free_port()
    with (data_dir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [BAY_MCP, "serve", "--transport", "http", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", env, process.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the server did not start: see {data_dir}/server.log")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=60)
        remove_instance(env["BAY_INSTANCE_ID"])
        shutil.rmtree(data_dir, ignore_errors=True)


def remove_instance(instance_id: str) -> None:
    label = f"label=bay.instance_id={instance_id}"
    if containers := docker("ps", "-aq", "--filter", label).split():
        docker("rm", "-f", *containers)
    if volumes := docker("volume", "ls", "-q", "--filter", label).split():
        docker("volume", "rm", "-f", *volumes)


def ship_of(sandbox_id: str) -> tuple[str, str, str]:
    """The sandbox's Ship URL and token, and its container, read from Docker."""
    [container] = docker("ps", "-q", "--filter", f"label=bay.sandbox_id={sandbox_id}").split()
    port = docker("port", container, "8123").splitlines()[0].rsplit(":", 1)[1]
    env = docker("inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", container)
    token = next(
        line.split("=", 1)[1] for line in env.splitlines() if line.startswith("SHIP_TOKEN=")
    )
    return f"http://127.0.0.1:{port}", token, container


def memory_mib(container: str) -> float:
    """`docker stats`' memory figure for the container, in MiB."""
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container)
    amount = usage.split("/")[0].strip()
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 1024**2}
    for unit, factor in units.items():
        if amount.endswith(unit):
            return float(amount[: -len(unit)]) * factor
    raise ValueError(f"unexpected docker stats figure {usage!r}")
