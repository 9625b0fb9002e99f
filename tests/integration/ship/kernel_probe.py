"""Start one language's Jupyter kernel in a Ship image and time it (run inside a container).

`python - LANGUAGE < kernel_probe.py` with Ship's venv (/opt/ship/bin/python, which
has jupyter_client): starts the kernel from the argv below as Ship would (a given
KernelSpec, no lookup on disk), runs the language's runs one after the other, then warm
`1+1` rounds, and prints one JSON object: what each run gave, the time from launch to
the first result, the warm round trips, and the kernel's threads and memory.

The test that runs it (test_kernels.py) imports `KERNELS` too: one table of argv,
transport and environment, the one another engineer's kernel code can copy.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager


@dataclass(frozen=True)
class Kernel:
    argv: list[str]
    # Deno's kernel takes only TCP (an `ipc` address is refused as an invalid host).
    transport: str
    env: dict[str, str] = field(default_factory=dict)
    # Run one after the other in one kernel: later runs see what earlier ones left.
    runs: tuple[str, ...] = ()
    # How a run's value comes back: IRkernel shows it as display_data, never as an
    # execute_result.
    result: str = "execute_result"
    # Deno's kernel sometimes publishes a run's `idle` just before its execute_result:
    # a run that has shown no result at idle then waits LATE_RESULT_GRACE_S more.
    late_results: bool = False
    # How a run is stopped: SIGINT, or an interrupt_request on the control channel.
    interrupt_mode: str = "signal"
    # A run that never ends (interrupted), then one that reads what the first run left.
    endless: str = ""
    after_interrupt: str = ""


KERNELS = {
    "python": Kernel(
        argv=[
            "/opt/python/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--HistoryManager.enabled=False",
        ],
        transport="ipc",
        env={"MPLBACKEND": "module://matplotlib_inline.backend_inline"},
        runs=("x = 21; x * 2",),
        endless="while True: pass",
        after_interrupt="x + 1",
    ),
    "typescript": Kernel(
        argv=["/opt/python/bin/deno", "jupyter", "--kernel", "--conn", "{connection_file}"],
        transport="tcp",
        # Without it every result's text/plain carries ANSI colours ("\x1b[33m42\x1b[39m").
        env={"NO_COLOR": "1"},
        late_results=True,
        # SIGINT ends Deno's kernel, and the state with it.
        interrupt_mode="message",
        endless="while (true) {}",
        after_interrupt="x + 1",
        runs=(
            "const x: number = 21; x * 2",
            "x + 1",
            "console.log('to stdout'); await Promise.resolve('awaited')",
        ),
    ),
    "r": Kernel(
        # Debian's kernelspec (/usr/share/jupyter/kernels/ir/kernel.json) says the same.
        argv=["/usr/bin/R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"],
        transport="ipc",
        runs=(
            "x <- c(1,2,3); mean(x)",
            "library(data.table); dt <- data.table(a = 1:3); dt[, sum(a)]",
            "library(dplyr); nrow(filter(mtcars, cyl == 4))",
            "cat(jsonlite::toJSON(list(n = x)))",
            "library(ggplot2); ggplot(mtcars, aes(wt, mpg)) + geom_point()",
        ),
        result="display_data",
        endless="while (TRUE) {}",
        after_interrupt="mean(x)",
    ),
}  # fmt: skip
WARM_ROUNDS = 50
READY_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 60.0
LATE_RESULT_GRACE_S = 0.25
# How long the endless run runs before it is interrupted.
ENDLESS_S = 0.5


class _KernelManager(AsyncKernelManager):
    """A kernel manager whose kernel spec is given, not looked up on disk."""

    def __init__(self, spec: KernelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._probe_spec = spec

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._probe_spec


async def _run(client: Any, kernel: Kernel, code: str) -> dict[str, Any]:
    """Execute `code`; what it showed, by MIME type, and whether a result came late."""
    started = time.monotonic()
    return await _collect(client, kernel, code, client.execute(code), started)


async def _collect(
    client: Any, kernel: Kernel, code: str, msg_id: str, started: float
) -> dict[str, Any]:
    """What the run `msg_id` showed until it was idle (and a late result, for Deno)."""
    outputs: list[dict[str, Any]] = []
    error: str | None = None
    idle_at: float | None = None
    while True:
        deadline = started + RUN_TIMEOUT_S if idle_at is None else idle_at + LATE_RESULT_GRACE_S
        try:
            msg = await client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.001))
        except Empty:
            if idle_at is None:
                raise TimeoutError(f"no idle within {RUN_TIMEOUT_S} s for {code!r}") from None
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("execute_result", "display_data"):
            outputs.append({"type": kind, "data": content["data"], "late": idle_at is not None})
        elif kind == "stream":
            outputs.append({"type": "stream", "data": {"text/plain": content["text"]}})
        elif kind == "error":
            error = f"{content['ename']}: {content['evalue']}"
        elif kind == "status" and content["execution_state"] == "idle":
            idle_at = time.monotonic()
        resulted = error is not None or any(o["type"] == kernel.result for o in outputs)
        if idle_at is not None and (resulted or not kernel.late_results):
            break
    reply = await client.get_shell_msg(timeout=RUN_TIMEOUT_S)
    return {
        "code": code,
        "outputs": [
            # Pictures are long: their size stands for them.
            {**o, "data": {k: v if k.startswith("text/") else len(v) for k, v in o["data"].items()}}
            for o in outputs
        ],
        "error": error,
        "status": reply["content"]["status"],
        "late_result": any(o.get("late") for o in outputs),
        "seconds": round(time.monotonic() - started, 4),
        "idle_seconds": round((idle_at or time.monotonic()) - started, 4),
    }


async def _interrupt(manager: AsyncKernelManager, client: Any, kernel: Kernel) -> dict[str, Any]:
    """Interrupt an endless run; then whether the kernel lives and keeps its state."""
    msg_id = client.execute(kernel.endless)
    await asyncio.sleep(ENDLESS_S)
    interrupted = time.monotonic()
    await manager.interrupt_kernel()
    try:
        stopped = await _collect(client, kernel, kernel.endless, msg_id, interrupted)
    except TimeoutError:
        return {"stopped": None, "alive": bool(await manager.is_alive()), "after": None}
    after = await _run(client, kernel, kernel.after_interrupt)
    return {"stopped": stopped, "alive": bool(await manager.is_alive()), "after": after}


def _process_stats(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    # RssFile is mostly the mapped executable and libraries, shared between processes.
    names = {"Threads": "threads", "VmRSS": "rss_kib", "RssAnon": "rss_anon_kib",
             "RssFile": "rss_file_kib"}  # fmt: skip
    return {key: int(fields[name].split()[0]) for name, key in names.items()}


def _listing(directory: str) -> list[str]:
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


async def probe(language: str) -> dict[str, Any]:
    kernel = KERNELS[language]
    runtime_dir = Path(tempfile.mkdtemp(prefix="probe-kernel-"))
    spec = KernelSpec(
        argv=kernel.argv,
        display_name=language,
        language=language,
        interrupt_mode=kernel.interrupt_mode,
    )
    manager = _KernelManager(
        spec, connection_file=str(runtime_dir / "kernel.json"), transport=kernel.transport
    )
    if kernel.transport == "ipc":
        manager.ip = str(runtime_dir / "kernel")
    started = time.monotonic()
    await manager.start_kernel(cwd="/workspace", env={**os.environ, **kernel.env})
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=READY_TIMEOUT_S)
        ready_s = time.monotonic() - started
        runs = [await _run(client, kernel, kernel.runs[0])]
        first_result_s = time.monotonic() - started
        runs += [await _run(client, kernel, code) for code in kernel.runs[1:]]
        warm: list[float] = []
        late = 0
        for _ in range(WARM_ROUNDS):
            run = await _run(client, kernel, "1+1")
            warm.append(run["seconds"] * 1000)
            late += run["late_result"]
        warm.sort()
        stats = _process_stats(manager.provisioner.process.pid)  # type: ignore[union-attr]
        interrupt = await _interrupt(manager, client, kernel)
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return {
        "language": language,
        "argv": kernel.argv,
        "transport": kernel.transport,
        "env": kernel.env,
        "ready_s": round(ready_s, 3),
        "first_result_s": round(first_result_s, 3),
        "runs": runs,
        "warm_ms": {
            "p50": round(warm[len(warm) // 2], 2),
            "p99": round(warm[int(len(warm) * 0.99) - 1], 2),
            "max": round(warm[-1], 2),
        },
        "warm_late_results": late,
        **stats,
        "interrupt": interrupt,
        # What the kernel left where it may write: the cargo (HOME) and the caches.
        "workspace": _listing("/workspace"),
        "cache": _listing(os.environ.get("XDG_CACHE_HOME", "/tmp/.cache")),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(sys.argv[1]))))
