"""Ship: the HTTP runtime inside every sandbox container.

Ship knows nothing of Bay. It serves a persistent IPython kernel, shell commands
and the workspace filesystem over HTTP, behind a per-session bearer token.
"""

from ship.protocol import API_VERSION, RUNTIME_NAME

__all__ = ["API_VERSION", "RUNTIME_NAME", "__version__"]
__version__ = "0.1.0"
