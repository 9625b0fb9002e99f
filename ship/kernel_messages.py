"""What a kernel sends while it runs one execution (Jupyter's iopub messages: streams,
displays, results, errors), gathered into a result's parts within the output budget.
Displays are rich outputs (`rich_output.py`); `finish` completes them once the run is
over."""

from __future__ import annotations

import re
from typing import Any

from ship.output import CappedOutput, OutputListener
from ship.protocol import PythonError, RichOutput
from ship.rich_output import OutputFiles, RichOutputs

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class Collector:
    """Turns the iopub messages of one execution into a PythonExecResult's parts."""

    def __init__(self, limit: int, listener: OutputListener | None = None) -> None:
        self.output = CappedOutput(limit, listener)
        self.rich = RichOutputs(self.output)
        self.error: PythonError | None = None
        self.execution_count: int | None = None
        # Whether the run's value (its execute_result) has come.
        self.resulted = False

    @property
    def outputs(self) -> list[RichOutput]:
        return self.rich.items

    async def finish(self, files: OutputFiles | None) -> None:
        """Derive what the outputs need beyond what arrived (rich_output.py)."""
        await self.rich.finish(files)

    def add(self, msg: dict[str, Any]) -> None:
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "stream":
            self.output.append(content.get("text", ""))
        elif kind == "execute_input":
            self.execution_count = content.get("execution_count")
        elif kind in ("execute_result", "display_data"):
            data = content.get("data")
            if isinstance(data, dict):
                self.rich.add(data)
            if kind == "execute_result":
                self.resulted = True
                self.execution_count = content.get("execution_count", self.execution_count)
        elif kind == "error":
            self.error = PythonError(
                ename=content.get("ename", "Error"),
                evalue=content.get("evalue", ""),
                traceback=[strip_ansi(line) for line in content.get("traceback", [])],
            )
