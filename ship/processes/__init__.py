"""Background processes and terminals: `ProcessManager` is what the runtime owns."""

from ship.processes.manager import ProcessManager

__all__ = ["ProcessManager"]
