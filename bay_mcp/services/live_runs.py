"""Runs in progress, in this Bay process: what the console shows while a run runs.

Every run is on the board from the moment its runtime is ready until it ends (one dict
entry: no database write on the warm path). A run whose caller asked for live output
(MCP progress, REST event streams) also leaves its output here as it comes, the last
`KEPT_CHARS` of it, so a person can watch an agent's run; a run that did not ask gets
its output at the end, in the history. Another replica's runs are on its own board.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from bay_mcp.adapters.ship_client import OutputSink
from bay_mcp.storage.models import utcnow

# The tail of a run's output the board keeps (a console shows a screenful or so).
KEPT_CHARS = 64 * 1024


@dataclass
class LiveRun:
    execution_id: str
    owner: str
    sandbox_id: str
    exec_type: str
    source: str
    streamed: bool
    started_at: datetime = field(default_factory=utcnow)
    output: str = ""
    # Set at each new piece of output: a watcher waits on it.
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, text: str) -> None:
        self.output = (self.output + text)[-KEPT_CHARS:]
        self.changed.set()
        self.changed = asyncio.Event()


class LiveRuns:
    def __init__(self) -> None:
        self._runs: dict[str, LiveRun] = {}

    @contextmanager
    def running(
        self,
        owner: str,
        sandbox_id: str,
        execution_id: str,
        exec_type: str,
        source: str,
        on_output: OutputSink | None,
    ) -> Iterator[OutputSink | None]:
        """The run on the board while the block runs; yields the sink to give Ship (the
        caller's, also feeding the board), None when the caller asked for none."""
        run = LiveRun(execution_id, owner, sandbox_id, exec_type, source, on_output is not None)
        self._runs[execution_id] = run
        sink: OutputSink | None = None
        if on_output is not None:
            caller = on_output

            def sink(text: str) -> None:
                run.add(text)
                caller(text)

        try:
            yield sink
        finally:
            del self._runs[execution_id]
            run.changed.set()  # a watcher learns the run ended

    def in_sandbox(self, sandbox_id: str) -> list[LiveRun]:
        return [run for run in self._runs.values() if run.sandbox_id == sandbox_id]

    def get(self, execution_id: str) -> LiveRun | None:
        return self._runs.get(execution_id)
