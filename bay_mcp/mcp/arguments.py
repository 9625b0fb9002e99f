"""The argument types tools share: a sandbox id, a run's time limit, a workspace path,
what a caller says of a run. Rules come from the limits table and the run requests;
the descriptions are written for a model."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bay_mcp.limits import DEFAULT_TIMEOUT_S, MAX_PATH_CHARS, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from bay_mcp.services import runs

SandboxId = Annotated[str, Field(description="The sandbox's id, as returned by create_sandbox")]
ExecutionId = Annotated[str, Field(description="An execution_id a run returned")]
Timeout = Annotated[
    runs.Timeout,
    Field(
        description=f"Time limit in seconds ({MIN_TIMEOUT_S}–{MAX_TIMEOUT_S}); "
        f"default {DEFAULT_TIMEOUT_S}"
    ),
]
WorkspacePath = Annotated[
    str,
    Field(
        max_length=MAX_PATH_CHARS,
        description="Path relative to /workspace, e.g. 'data/out.csv'. Absolute paths and "
        "'..' above the workspace are refused",
    ),
]
DESCRIBE_RUN = "What this run is for, kept in the execution history"
TAG_RUN = "Comma-separated tags for the history"
