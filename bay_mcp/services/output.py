"""Output for a model: long output keeps its head and tail, and the whole text is saved
in the workspace where the model can read it in parts."""

from __future__ import annotations

# Where the full text of a cut output is saved, relative to /workspace.
OUTPUT_DIR = ".bay/outputs"


def cargo_uri(sandbox_id: str, path: str) -> str:
    """The MCP resource that holds a workspace file."""
    return f"cargo://{sandbox_id}/{path}"


def cap_output(output: str, limit: int, saved_path: str | None, sandbox_id: str) -> str:
    """Head and tail of `output`, with a note on what was cut and where the rest is."""
    if len(output) <= limit:
        return output
    head = output[: limit * 2 // 5]
    tail = output[-(limit * 3 // 5) :]
    omitted = len(output) - len(head) - len(tail)
    where = (
        f"The full output ({len(output)} characters) is saved at {saved_path} in the "
        f"workspace (resource {cargo_uri(sandbox_id, saved_path)}): read it in parts with "
        "read_file and offset/limit, or search it with shell_exec (grep, tail)."
        if saved_path
        else "Redirect the output to a file and read it in parts to see the rest."
    )
    return f"{head}\n\n[… {omitted} characters cut …]\n\n{tail}\n\n[Output cut. {where}]"
