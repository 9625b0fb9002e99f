"""Which kernels an image has, found from its programs, and how each starts."""

from __future__ import annotations

import os
from pathlib import Path

from ship.languages import DENO, R, available, launch_of


def test_python_always_and_deno_when_its_program_is_on_the_path(tmp_path: Path) -> None:
    assert available(str(tmp_path)) == ["python"]
    deno = tmp_path / "deno"
    deno.write_text("#!/bin/sh\n")
    deno.chmod(0o755)
    found = available(str(tmp_path))
    assert found == ["python", "typescript", "javascript"]


def test_typescript_and_javascript_share_denos_kernel() -> None:
    assert launch_of("typescript", "/p") is launch_of("javascript", "/p") is DENO
    assert launch_of("r", "/p") is R
    python = launch_of("python", "/opt/python/bin/python")
    assert python.argv[0] == "/opt/python/bin/python"
    assert "{connection_file}" in python.argv
    # Deno stops running code on an interrupt message; a SIGINT would end its kernel.
    assert DENO.interrupt_mode == "message"
    assert os.path.basename(DENO.argv[0]) == "deno"
