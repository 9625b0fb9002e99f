"""How fast a Ship container is ready, and how fast a warm exec round trip is.

    .venv/bin/python bench/ship_start.py [--runs 5] [--warm-execs 20] [--image ship:latest]
                                         [--limits "--cpus 1 --memory 1g"]

Prints, in milliseconds (median, min, max):
  run->health      `docker run` until GET /health answers
  run->first exec  `docker run` until the first `print(1)` has returned (kernel start included)
and the phases of that start, from `docker run` (the container's own clock is the host's):
  run->started     until the engine has started the container (its State.StartedAt)
  run->serving     until Ship has imported its server and serves (its log line)
  run->kernel      until the Python kernel is ready (its log line); the kernel starts
                   before Ship imports its server (ship/kernel_spawn.py)
  warm exec        one `1+1` round trip on a warm kernel
  warm shell       one `true` round trip through `bash -lc`
Each run uses a fresh container and a fresh volume; both are removed at the end.
"""

from __future__ import annotations

import argparse
import datetime
import secrets
import statistics
import subprocess
import sys
import time

import httpx

LABEL = "bay.bench=ship_start"
READY_TIMEOUT_S = 60.0


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


def wait_until(check: httpx.Client, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if check.get(path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"Ship did not answer {path} within {READY_TIMEOUT_S} s")


def _instant(stamp: str) -> float:
    """Docker's RFC 3339 time (nanoseconds, Z) as a Unix time."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    return moment.timestamp() + float(f"0.{fraction or 0}")


def phases(container: str, run_at: float) -> dict[str, list[float]]:
    """When the container started, Ship served and the kernel was ready, in ms after
    `run_at` (a Unix time)."""
    found = {"run->started": [(_instant(docker("inspect", "-f", "{{.State.StartedAt}}",
                                                container)) - run_at) * 1000]}  # fmt: skip
    marks = {"ship serving on": "run->serving", "python kernel ready": "run->kernel"}
    logged = subprocess.run(  # Ship logs to stderr, which `docker logs` gives as its own
        ["docker", "logs", "-t", container], capture_output=True, text=True, check=True
    )
    for line in (logged.stdout + logged.stderr).splitlines():
        for mark, name in marks.items():
            if mark in line and name not in found:
                found[name] = [(_instant(line.split(" ", 1)[0]) - run_at) * 1000]
    return found


def one_run(image: str, warm_execs: int, limits: list[str]) -> dict[str, list[float]]:
    volume = f"bay-bench-{secrets.token_hex(6)}"
    token = secrets.token_urlsafe(24)
    docker("volume", "create", "--label", LABEL, volume)
    container = ""
    try:
        run_at = time.time()
        started = time.perf_counter()
        container = docker(
            "run", "-d", "--label", LABEL, "-e", f"SHIP_TOKEN={token}", *limits,
            "-v", f"{volume}:/workspace", "-p", "127.0.0.1::8123", image,
        )  # fmt: skip
        port = docker("port", container, "8123").splitlines()[0].rsplit(":", 1)[1]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            wait_until(http, "/health")
            health_ms = (time.perf_counter() - started) * 1000
            first = http.post("/python/exec", json={"code": "print(1)"}, timeout=60).json()
            first_ms = (time.perf_counter() - started) * 1000
            assert first["success"], first
            warm: list[float] = []
            for _ in range(warm_execs):
                t0 = time.perf_counter()
                http.post("/python/exec", json={"code": "1+1"}, timeout=60).raise_for_status()
                warm.append((time.perf_counter() - t0) * 1000)
            shell: list[float] = []
            for _ in range(warm_execs):
                t0 = time.perf_counter()
                http.post("/shell/exec", json={"command": "true"}, timeout=60).raise_for_status()
                shell.append((time.perf_counter() - t0) * 1000)
        return {
            "run->health": [health_ms],
            "run->first exec": [first_ms],
            **phases(container, run_at),
            "warm exec": warm,
            "warm shell": shell,
        }
    finally:
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm-execs", type=int, default=20)
    parser.add_argument("--image", default="ship:latest")
    parser.add_argument(
        "--limits",
        default="",
        help="docker run's resource options, e.g. '--cpus 1 --memory 1g' (a profile's)",
    )
    args = parser.parse_args()

    figures: dict[str, list[float]] = {}
    for run in range(args.runs):
        for name, values in one_run(args.image, args.warm_execs, args.limits.split()).items():
            figures.setdefault(name, []).extend(values)
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    print(f"{'measure':<18}{'n':>5}{'median ms':>12}{'min ms':>10}{'max ms':>10}")
    for name, values in figures.items():
        print(
            f"{name:<18}{len(values):>5}{statistics.median(values):>12.1f}"
            f"{min(values):>10.1f}{max(values):>10.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
