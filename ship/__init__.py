"""Ship: the HTTP runtime inside every sandbox container.

Ship knows nothing of Bay. It serves a persistent IPython kernel, shell commands
and the workspace filesystem over HTTP, behind a per-session bearer token.
"""

__version__ = "0.1.0"
API_VERSION = "2"
RUNTIME_NAME = "ship"
