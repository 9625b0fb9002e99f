"""The rule for environment variables a profile or a sandbox gives its sandboxes.

Names are shell identifiers; `PATH`, `HOME` and Ship's own `SHIP_*` are the image's and
Ship's, so refused. Values are secrets: they reach the container and nothing else
(never a log line, never an API response: views show the names only).
"""

from __future__ import annotations

import re

from bay_mcp.errors import ValidationFailed

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = frozenset({"PATH", "HOME"})
MAX_VARIABLES = 100
MAX_VALUE_CHARS = 32 * 1024
# Every tool's own variable for "trust the CAs in this file": Python's ssl, requests and
# pip, curl, git, npm, Deno, and Node.js (which adds NODE_EXTRA_CA_CERTS to its own).
# Pointed at a profile's ca_bundle (both drivers) and at a proxied sandbox's bundle.
CA_VARIABLES = (
    "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
    "npm_config_cafile", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE", "DENO_CERT",
)  # fmt: skip


def check_env(env: dict[str, str], field: str = "env") -> dict[str, str]:
    """`env` unchanged when every name and value is allowed; else ValidationFailed
    naming the first variable that is not (never its value)."""
    if len(env) > MAX_VARIABLES:
        raise ValidationFailed(
            f"{field} has {len(env)} variables, more than {MAX_VARIABLES}",
            {"fields": [field], "field": field},
        )
    for name, value in env.items():
        problem = None
        if not NAME.match(name):
            problem = "is not a valid name: use letters, digits and _, not starting with a digit"
        elif name in RESERVED:
            problem = "is set by the sandbox itself and cannot be overridden"
        elif name.startswith("SHIP_"):
            problem = "is reserved: SHIP_* variables belong to the runtime"
        elif not isinstance(value, str):
            problem = "must have a string value"
        elif len(value) > MAX_VALUE_CHARS or "\x00" in value:
            problem = f"has a value longer than {MAX_VALUE_CHARS} characters or with a NUL"
        if problem is not None:
            raise ValidationFailed(
                f"{field}: variable {name[:64]!r} {problem}",
                {"fields": [field], "field": field, "variable": name[:64]},
            )
    return env
