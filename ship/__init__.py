"""Ship: the HTTP runtime inside every sandbox container.

Ship knows nothing of Bay. It serves a persistent IPython kernel, shell commands
and the workspace filesystem over HTTP, behind a per-session bearer token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ship.protocol import API_VERSION, RUNTIME_NAME

__all__ = ["API_VERSION", "RUNTIME_NAME", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> str:
    # Looked up on use: importing the protocol (pydantic) costs ~90 ms, and `python -m
    # ship` starts the kernel before it imports anything that heavy (kernel_spawn.py).
    if name in ("API_VERSION", "RUNTIME_NAME"):
        from ship import protocol

        value: str = getattr(protocol, name)
        return value
    raise AttributeError(f"module 'ship' has no attribute {name!r}")
