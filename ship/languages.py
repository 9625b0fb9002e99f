"""The kernels Ship runs code in, by language: how each starts, and whether this image
has it.

Every kernel speaks the Jupyter protocol and is driven the same way (`ship/kernel.py`):
IPython for Python, Deno's kernel for TypeScript and JavaScript (one kernel: a
JavaScript run is a TypeScript kernel's run, their state shared), IRkernel for R. The
Python kernel starts with Ship; the others on their first run. An image without a
language's runtime does not offer it (`available`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Types only: this module is read before Ship imports its protocol (pydantic), to
    # start the Python kernel sooner (kernel_spawn.py).
    from ship.protocol import Language

_GUARD_FILE = Path(__file__).with_name("kernel_guard.py")
_R_KERNEL_FILE = Path(__file__).with_name("r_kernel.R")
# Where Debian's R finds IRkernel.
_R_LIBRARIES = (Path("/usr/lib/R/site-library"), Path("/usr/lib/R/library"))
CONNECTION_FILE = "{connection_file}"  # jupyter_client fills it in


@dataclass(frozen=True)
class KernelLaunch:
    """How one kernel starts."""

    name: str  # "python", "deno", "r": its key, in logs
    title: str  # what errors call it: "the Python kernel"
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # "signal" (SIGINT) or "message" (an interrupt_request on the control channel):
    # what stops the running code and keeps the kernel.
    interrupt_mode: str = "signal"
    # "ipc" (sockets in Ship's runtime directory) where the kernel supports it; "tcp"
    # on 127.0.0.1 for Deno's, which takes only TCP.
    transport: str = "ipc"
    # Whether the kernel itself drops output past the budget (Python's guard does).
    # Another kernel queues all it prints for Ship: a flood is stopped from Ship's side.
    guarded: bool = False
    # Whether a run's execute_result may come after its `idle` (Deno's kernel publishes
    # them from two tasks: 12 of 200 warm `1+1` runs, at most 0.7 ms apart, measured).
    late_results: bool = False
    # Whether what a run prints comes on the kernel's standard output, read by Ship as
    # it is written (R's: r_kernel.R), rather than in the kernel's stream messages.
    prints_to_stdout: bool = False


def python_launch(python: str) -> KernelLaunch:
    return KernelLaunch(
        name="python",
        title="Python",
        argv=[
            python,
            "-m",
            "ipykernel_launcher",
            "-f",
            CONNECTION_FILE,
            # The output guard (a budget in the kernel itself) and no history database.
            f"--IPKernelApp.exec_files={_GUARD_FILE}",
            "--HistoryManager.enabled=False",
        ],
        # Figures come back as PNG through the inline backend: no display server.
        env={"MPLBACKEND": "module://matplotlib_inline.backend_inline"},
        guarded=True,
    )


# Programs are started by their full paths, never found on the user's PATH: a `deno`
# or `R` the user installs under /workspace/.local cannot stand in for a kernel.
R_PROGRAM = "/usr/bin/R"


def deno_program(python: str) -> Path:
    """Deno's binary, installed from PyPI beside the kernels' Python (/opt/python/bin)."""
    return Path(python).parent / "deno"


def deno_launch(python: str) -> KernelLaunch:
    return KernelLaunch(
        name="deno",
        title="TypeScript",
        argv=[str(deno_program(python)), "jupyter", "--kernel", "--conn", CONNECTION_FILE],
        # No colour codes in values and errors: a model reads them as text.
        env={"NO_COLOR": "1"},
        # Deno stops a running evaluation on an interrupt_request (V8's terminate); a
        # SIGINT would end the kernel and its state.
        interrupt_mode="message",
        transport="tcp",
        late_results=True,
    )


R = KernelLaunch(
    name="r",
    title="R",
    argv=[R_PROGRAM, "--no-save", "--no-restore", "--slave", "-f", str(_R_KERNEL_FILE),
          "--args", CONNECTION_FILE],
    prints_to_stdout=True,
)  # fmt: skip


def kernel_environment(
    launch: KernelLaunch, user_env: Mapping[str, str], max_output_bytes: int
) -> dict[str, str]:
    """The environment a kernel starts with: the user's, the output budget, the
    launch's own."""
    return {
        **user_env,
        # One byte more than Ship keeps, so that a cut in the kernel is always seen
        # (the Python kernel's guard reads it).
        "SHIP_KERNEL_OUTPUT_LIMIT": str(max_output_bytes + 1),
        **launch.env,
    }


KERNEL_OF: dict[Language, str] = {
    "python": "python",
    "typescript": "deno",
    "javascript": "deno",
    "r": "r",
}


def launch_of(language: Language, python: str) -> KernelLaunch:
    """How `language`'s kernel starts, given the kernels' Python (SHIP_KERNEL_PYTHON)."""
    kernel = KERNEL_OF[language]
    if kernel == "python":
        return python_launch(python)
    return deno_launch(python) if kernel == "deno" else R


def available(python: str, r_program: str = R_PROGRAM) -> list[Language]:
    """The languages this image runs: Python always, the others when their programs
    are there (Deno beside the kernels' Python, R with IRkernel)."""
    from ship.protocol import LANGUAGES

    kernels = {
        "python": True,
        "deno": os.access(deno_program(python), os.X_OK),
        "r": os.access(r_program, os.X_OK) and _has_irkernel(),
    }
    return [language for language in LANGUAGES if kernels[KERNEL_OF[language]]]


def _has_irkernel() -> bool:
    return any((library / "IRkernel").is_dir() for library in _R_LIBRARIES)
