"""The kernel's memory guard: bounds what one execution costs in memory, whatever it prints.

Runs inside the user's IPython kernel at start (IPKernelApp.exec_files), before any
user code. It must stay importable with the standard library only.
"""


def _ship_install_output_guard() -> None:
    """Cut each execution's output in the kernel, before it is queued for Ship.

    stdout, stderr, results and displays share one budget: past
    SHIP_KERNEL_OUTPUT_LIMIT bytes, what comes is counted and dropped (an image or a
    document that does not fit whole is dropped whole; a smaller one after it may
    fit). Ship sets the limit one byte above what it keeps, so it always sees that
    output was cut; the count of what the kernel dropped reaches it as an
    execute_reply payload (sent on success and on error alike), so Ship can say
    exactly how much was lost.
    """
    import contextlib
    import json
    import os
    import sys

    shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    limit = int(os.environ.get("SHIP_KERNEL_OUTPUT_LIMIT", "4194305"))
    state = {"used": 0, "dropped": 0}

    # IPython keeps, in memory and for the kernel's whole life, a copy of every cell's
    # stdout and stderr (IPython 9: history_manager.outputs, through _tee) and the repr
    # of every result (output_hist_reprs): a loop printing a gigabyte would keep a
    # gigabyte and get the kernel killed by the memory limit. Nothing of ours reads
    # them (the history database is off too); Out[n] and _ still hold the results.
    class Forgetful(dict):  # type: ignore[type-arg]
        """A dict that keeps nothing: every key reads as a fresh, throwaway list."""

        def __missing__(self, key: object) -> list[object]:
            return []

        def setdefault(self, key: object, default: object = None) -> object:
            return [] if default is None else default

        def __setitem__(self, key: object, value: object) -> None:
            pass

    if hasattr(shell, "_tee"):
        shell._tee = lambda channel: contextlib.nullcontext()
    for kept_forever in ("outputs", "output_hist_reprs"):
        if isinstance(getattr(shell.history_manager, kept_forever, None), dict):
            setattr(shell.history_manager, kept_forever, Forgetful())

    def size(text: str) -> int:
        # isascii() is O(1): no copy of a huge string just to measure it.
        return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))

    def take(text: str, *, divisible: bool = True) -> str:
        """What of `text` fits this execution's budget; the rest is counted as dropped."""
        room = limit - state["used"]
        length = size(text)
        if length <= room:
            state["used"] += length
            return text
        if not divisible:  # dropped whole: what comes after may still fit
            state["dropped"] += length
            return ""
        state["used"] = limit
        kept = text[: max(room, 0)]
        state["dropped"] += length - size(kept)
        return kept

    def guard(stream: object) -> None:
        original = stream.write  # type: ignore[attr-defined]

        def write(text: str) -> int:
            if not isinstance(text, str):
                passed: int = original(text)
                return passed
            if kept := take(text):
                original(kept)
            return len(text)

        stream.write = write  # type: ignore[attr-defined]

    def reset(*_args: object) -> None:
        state["used"] = 0
        state["dropped"] = 0

    def report(*_args: object) -> None:
        if state["dropped"]:
            shell.payload_manager.write_payload(
                {"source": "ship.output_dropped", "bytes": state["dropped"]}
            )

    # What Ship reads of a display (ship/rich_output.py holds the same lists): the first
    # image, with its chart; else the first document, with the plain text. Anything else
    # would travel for nothing.
    images = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
    documents = ("text/markdown", "text/html", "text/latex", "application/json")
    chart = "application/vnd.bay.chart+json"

    def whole(value: object) -> bool:
        """Whether all of `value` fits (half an image is none), counted if it does."""
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        return bool(take(text, divisible=False))

    def fit(msg: dict) -> dict:  # type: ignore[type-arg]
        """Cap a display or a result (a 100 MB repr) the same way, before it is sent."""
        content = msg.get("content") or {}
        data = content.get("data")
        if not isinstance(data, dict):
            return msg
        kept = {}
        image = next((kind for kind in images if isinstance(data.get(kind), str)), None)
        if image is not None:
            if whole(data[image]):
                kept[image] = data[image]
                if isinstance(data.get(chart), dict) and whole(data[chart]):
                    kept[chart] = data[chart]
        else:
            document = next((kind for kind in documents if data.get(kind) is not None), None)
            if document is not None and whole(data[document]):
                kept[document] = data[document]
            plain = data.get("text/plain")
            if isinstance(plain, str) and (text := take(plain)):
                kept["text/plain"] = text
        content["data"] = kept
        return msg

    guard(sys.stdout)
    guard(sys.stderr)
    for publisher in (shell.displayhook, shell.display_pub):
        if hasattr(publisher, "register_hook"):  # ipykernel >= 7
            publisher.register_hook(fit)
    shell.events.register("pre_execute", reset)
    shell.events.register("post_execute", report)


def _ship_show_charts() -> None:
    """Give each matplotlib figure's display its chart as data (ship/charts.py), under
    application/vnd.bay.chart+json beside its picture. Registered by name: matplotlib
    is not imported until the user's code imports it."""
    import importlib.util
    import os

    from IPython.core.formatters import JSONFormatter
    from traitlets import ObjectName, Unicode

    path = os.path.join(os.path.dirname(__file__), "charts.py")
    spec = importlib.util.spec_from_file_location("_ship_charts", path)
    if spec is None or spec.loader is None:
        return
    charts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(charts)

    class ChartFormatter(JSONFormatter):
        format_type = Unicode("application/vnd.bay.chart+json")
        print_method = ObjectName("_repr_bay_chart_")

        def pop(self, typ: object, *default: object) -> object:
            # IPython clears every formatter's Figure printer when matplotlib's inline
            # backend picks its picture formats (pylabtools.select_figure_formats): the
            # chart is not a picture format, so it stays.
            if getattr(typ, "__qualname__", None) == "Figure":
                return default[0] if default else None
            return super().pop(typ, *default)  # type: ignore[no-untyped-call]

    display = get_ipython().display_formatter  # type: ignore[name-defined]  # noqa: F821
    formatter = ChartFormatter(parent=display)
    display.formatters[formatter.format_type] = formatter
    formatter.for_type_by_name("matplotlib.figure", "Figure", charts.figure_chart)  # type: ignore[no-untyped-call]


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
_ship_show_charts()
_ship_add_user_packages()
del _ship_install_output_guard, _ship_show_charts, _ship_add_user_packages
