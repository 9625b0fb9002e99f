"""What a file transfer through Bay costs, against `docker cp` of the same file.

    .venv/bin/python bench/transfer.py [--size-mb 1024] [--runs 3]

Starts the real `bay-mcp serve --transport http` on a free loopback port (a throwaway
data directory, one API key), creates a sandbox, and for each run:
  upload    POST …/filesystem/upload (multipart, streamed) of a SIZE file
  download  GET …/filesystem/download of it, streamed to disk
  cp in     `docker cp` of the same file into the same sandbox's /workspace
  cp out    `docker cp` of it back out
It prints MB/s (median of the runs), the ratios upload / cp in and download / cp
out, and Bay's peak resident memory growth during each transfer (VmHWM reset with
/proc/PID/clear_refs before each; needs root). Everything it makes is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

MIB = 1024 * 1024
BAY_MCP = str(Path(sys.executable).parent / "bay-mcp")


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=600
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def timed_with_peak(pid: int, work: Callable[[], None]) -> tuple[float, float]:
    """Seconds `work` took, and Bay's peak RSS growth (MiB) meanwhile."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = kib(pid, "VmRSS")
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    return elapsed, (kib(pid, "VmHWM") - before) / 1024


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MIB)
    with path.open("wb") as handle:
        for index in range(size // MIB):
            handle.write(index.to_bytes(8, "big") + block[8:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mb * MIB

    work = Path(tempfile.mkdtemp(prefix="bay-bench-transfer-"))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "BAY_DATA_DIR": str(work / "data"),
        "BAY_INSTANCE_ID": f"bay-bench-{os.getpid()}",
        "BAY_AUTO_BUILD_IMAGE": "false",
    }
    key = subprocess.run(
        [BAY_MCP, "keys", "create", "--owner", "bench"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    with (work / "server.log").open("wb") as log:  # the child keeps its own copy
        server = subprocess.Popen(
            [BAY_MCP, "serve", "--transport", "http", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600)
    sandbox = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start: see " + str(work / "server.log"))
            time.sleep(0.05)
        sandbox = client.post("/v1/sandboxes", json={}).json()["id"]
        base = f"/v1/sandboxes/{sandbox}/filesystem"
        client.put(f"{base}/files", json={"path": "warm.txt", "content": "x"}).raise_for_status()
        [container] = docker("ps", "-q", "--filter", f"label=bay.sandbox_id={sandbox}").split()
        source = work / "source.bin"
        make_file(source, size)
        figures: dict[str, list[float]] = {k: [] for k in
                                           ("upload", "download", "cp in", "cp out")}  # fmt: skip
        peaks: dict[str, list[float]] = {"upload": [], "download": []}

        def upload() -> None:
            with source.open("rb") as handle:
                client.post(
                    f"{base}/upload",
                    data={"path": "bench.bin"},
                    files={"file": ("bench.bin", handle)},
                ).raise_for_status()

        def download() -> None:
            with (
                client.stream("GET", f"{base}/download", params={"path": "bench.bin"}) as r,
                (work / "down.bin").open("wb") as out,
            ):
                r.raise_for_status()
                for chunk in r.iter_bytes(MIB):
                    out.write(chunk)

        for _ in range(args.runs):
            seconds, peak = timed_with_peak(server.pid, upload)
            figures["upload"].append(size / MIB / seconds)
            peaks["upload"].append(peak)
            seconds, peak = timed_with_peak(server.pid, download)
            figures["download"].append(size / MIB / seconds)
            peaks["download"].append(peak)
            (work / "down.bin").unlink()
            seconds = timed(lambda: docker("cp", str(source), f"{container}:/workspace/cp.bin"))
            figures["cp in"].append(size / MIB / seconds)
            out_dir = work / "cp-out"
            out_dir.mkdir(exist_ok=True)
            target = str(out_dir)
            seconds = timed(lambda: docker("cp", f"{container}:/workspace/cp.bin", target))  # noqa: B023
            figures["cp out"].append(size / MIB / seconds)
            shutil.rmtree(out_dir)

        median = {name: statistics.median(values) for name, values in figures.items()}
        print(f"{args.size_mb} MB file, {args.runs} runs (median MB/s):")
        for name, value in median.items():
            print(f"  {name:<9} {value:8.0f} MB/s")
        print(f"  upload / cp in    {median['upload'] / median['cp in']:.2f}")
        print(f"  download / cp out {median['download'] / median['cp out']:.2f}")
        for name, values in peaks.items():
            print(f"  Bay peak RSS growth, {name}: {max(values):.1f} MiB (worst run)")
        print(json.dumps({"mb_per_s": median, "peak_rss_growth_mib": peaks}))
    finally:
        if sandbox is not None:
            client.delete(f"/v1/sandboxes/{sandbox}")
        client.close()
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
