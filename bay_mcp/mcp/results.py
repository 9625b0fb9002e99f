"""Turning service results into what a model reads: text, images, capped output."""

from __future__ import annotations

from mcp_types import ContentBlock, ImageContent, TextContent

from bay_mcp.services.views import PythonExecResult, ShellExecResult

OUTPUT_DIR = ".bay/outputs"


def cargo_uri(sandbox_id: str, path: str) -> str:
    return f"cargo://{sandbox_id}/{path}"


def needs_cap(output: str, limit: int) -> bool:
    return len(output) > limit


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


def python_content(result: PythonExecResult, text_output: str) -> list[ContentBlock]:
    parts: list[str] = []
    if result.notice:
        parts.append(f"[{result.notice}]")
    if text_output:
        parts.append(text_output.rstrip("\n"))
    if result.error is not None:
        traceback = "\n".join(result.error.traceback).strip()
        parts.append(traceback or f"{result.error.ename}: {result.error.evalue}")
    if result.truncated:
        parts.append("[The runtime cut this output at its capture limit.]")
    if not parts:
        parts.append("(no output)" if result.success else "(failed with no output)")
    blocks: list[ContentBlock] = [TextContent(text="\n".join(parts))]
    blocks.extend(ImageContent(data=image, mime_type="image/png") for image in result.images)
    return blocks


def shell_content(result: ShellExecResult, text_output: str) -> list[ContentBlock]:
    body = text_output.rstrip("\n") or "(no output)"
    status = f"[exit code {result.exit_code}]"
    if result.truncated:
        status += " [the runtime cut this output at its capture limit]"
    return [TextContent(text=f"{body}\n{status}")]
