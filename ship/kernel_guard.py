# Runs inside the user's IPython kernel at start (IPKernelApp.exec_files), before any
# user code. It caps what one execution may write to stdout/stderr, so that
# `print('x' * 10**9)` is cut in the kernel instead of being shipped to Ship as one
# giant message. It must stay importable with the standard library only.


def _ship_install_output_guard() -> None:
    import os
    import sys

    limit = int(os.environ.get("SHIP_KERNEL_OUTPUT_LIMIT", "4194304"))
    state = {"used": 0, "cut": False}

    def guard(stream: object) -> None:
        original = stream.write  # type: ignore[attr-defined]

        def write(text: str) -> int:
            if state["cut"]:
                return len(text)
            room = limit - int(state["used"])
            if len(text) > room:
                state["cut"] = True
                state["used"] = limit
                original(text[: max(room, 0)])
                original(
                    "\n[output limit reached: the rest of this execution's output is dropped]\n"
                )
                return len(text)
            state["used"] = int(state["used"]) + len(text)
            result: int = original(text)
            return result

        stream.write = write  # type: ignore[attr-defined]

    def reset(*_args: object) -> None:
        state["used"] = 0
        state["cut"] = False

    guard(sys.stdout)
    guard(sys.stderr)
    get_ipython().events.register("pre_execute", reset)  # type: ignore[name-defined]  # noqa: F821


def _ship_add_user_packages() -> None:
    """Make packages that `pip install` puts in the workspace importable right away.

    The image's root filesystem is read-only, so pip installs into PYTHONUSERBASE
    (under /workspace, where they also survive restarts). The directory must exist
    before the first import looks at it, or Python caches its absence.
    """
    import os
    import site

    if os.environ.get("PYTHONUSERBASE"):
        packages = site.getusersitepackages()
        try:
            os.makedirs(packages, exist_ok=True)
        except OSError:
            return  # a read-only or full workspace: nothing to add
        site.addsitedir(packages)


_ship_install_output_guard()
_ship_add_user_packages()
del _ship_install_output_guard, _ship_add_user_packages
