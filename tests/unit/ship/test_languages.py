"""Which kernels an image has, found from its programs, and how each starts."""

from __future__ import annotations

from pathlib import Path

from ship.languages import R, available, launch_of


def test_python_always_and_deno_when_its_binary_is_beside_the_kernels_python(
    tmp_path: Path,
) -> None:
    python = str(tmp_path / "python")
    assert available(python, r_program=str(tmp_path / "R")) == ["python"]
    deno = tmp_path / "deno"
    deno.write_text("#!/bin/sh\n")
    deno.chmod(0o755)
    assert available(python, r_program=str(tmp_path / "R")) == [
        "python", "typescript", "javascript"
    ]  # fmt: skip


def test_typescript_and_javascript_share_denos_kernel_started_by_its_full_path() -> None:
    typescript = launch_of("typescript", "/opt/python/bin/python")
    assert launch_of("javascript", "/opt/python/bin/python") == typescript
    assert typescript.argv[:3] == ["/opt/python/bin/deno", "jupyter", "--kernel"]
    # Deno stops running code on an interrupt message; a SIGINT would end its kernel.
    assert typescript.interrupt_mode == "message"
    assert launch_of("r", "/p") is R
    assert R.argv[0] == "/usr/bin/R"
    python = launch_of("python", "/opt/python/bin/python")
    assert python.argv[0] == "/opt/python/bin/python"
    assert "{connection_file}" in python.argv
