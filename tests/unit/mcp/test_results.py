"""What a model reads: capped output keeps head and tail and says where the rest is."""

from __future__ import annotations

from bay_mcp.mcp.results import python_content, shell_content
from bay_mcp.services.output import cap_output
from bay_mcp.services.runs import PythonRunResult, ShellRunResult
from ship.protocol import PythonError, ResourceReport


def test_short_output_is_untouched() -> None:
    assert cap_output("hello\n", 1000, "saved.txt", "sandbox-x") == "hello\n"


def test_long_output_keeps_head_and_tail_and_names_the_saved_file() -> None:
    output = "HEAD" + "x" * 50_000 + "TAIL"
    capped = cap_output(output, 20_000, ".bay/outputs/exec-1.txt", "sandbox-x")
    assert capped.startswith("HEAD")
    assert "TAIL" in capped
    assert len(capped) < 21_000
    assert "cargo://sandbox-x/.bay/outputs/exec-1.txt" in capped
    assert "characters cut" in capped


def test_long_output_without_a_saved_copy_says_how_to_get_it() -> None:
    capped = cap_output("y" * 5000, 1000, None, "sandbox-x")
    assert "Redirect the output to a file" in capped


def test_python_content_has_traceback_and_images() -> None:
    result = PythonRunResult(
        success=False,
        output="partial\n",
        error=PythonError(
            ename="ValueError", evalue="bad", traceback=["Traceback", "ValueError: bad"]
        ),
        images=["aW1n"],
        execution_id="exec-1",
        execution_time_ms=5,
    )
    text, image = python_content(result)
    assert text.type == "text"
    assert "partial" in text.text
    assert "ValueError: bad" in text.text
    assert image.type == "image"
    assert image.mime_type == "image/png"


def test_shell_content_ends_with_the_exit_code() -> None:
    result = ShellRunResult(
        success=False, exit_code=2, output="", execution_id="exec-2", execution_time_ms=1
    )
    [text] = shell_content(result)
    assert text.type == "text"
    assert text.text == "(no output)\n[exit code 2]"


def test_shell_content_says_what_the_run_cost_and_what_was_killed() -> None:
    limit = 256 << 20
    killed = ShellRunResult(
        success=False,
        exit_code=-9,
        output="",
        execution_id="exec-3",
        execution_time_ms=1,
        resources=ResourceReport(
            cpu_time_ms=120, killed="out_of_memory", oom_kills=1, memory_limit_bytes=limit
        ),
    )
    [text] = shell_content(killed)
    assert text.type == "text"
    assert text.text == (
        "(no output)\n[exit code -9 · the command was killed for using more than 256 MB, "
        "the sandbox's memory limit · CPU 0.12 s]"
    )
    went_on = killed.model_copy(
        update={
            "exit_code": 0,
            "output": "Killed\n",
            "resources": ResourceReport(oom_kills=2, memory_limit_bytes=limit),
        }
    )
    [text] = shell_content(went_on)
    assert text.type == "text"
    assert text.text == (
        "Killed\n[exit code 0 · 2 processes were killed for using more than 256 MB, "
        "the sandbox's memory limit]"
    )


def test_python_content_is_the_output_alone() -> None:
    # Models and programs parse what Python printed: the figures are in the structured
    # content, not in the text.
    result = PythonRunResult(
        success=True,
        output="2\n",
        execution_id="exec-4",
        execution_time_ms=1,
        resources=ResourceReport(cpu_time_ms=10, peak_memory_bytes=52 << 20),
    )
    [text] = python_content(result)
    assert text.type == "text"
    assert text.text == "2"
