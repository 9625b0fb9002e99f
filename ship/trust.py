"""The CA bundle of a proxied sandbox, written by Ship at its start (as root, before it
drops to the sandbox user): the system's CAs, a profile's extra CA file if mounted, and
the installation's egress CA (SHIP_EGRESS_CA), so that every tool pointed at the bundle
trusts the proxy where it intercepts TLS to add a secret, and every other server as
before."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Where Bay mounts a profile's ca_bundle (bay_mcp/drivers/docker.py's CA_PATH).
PROFILE_CA = Path("/etc/ssl/certs/bay-extra-ca.pem")
VARIABLE = "SHIP_EGRESS_CA"


def write_ca_bundle(env: Mapping[str, str], target: Path | None = None) -> Path | None:
    """Write the bundle when the sandbox is proxied (SHIP_EGRESS_CA set); its path
    (default: the egress protocol's CA_BUNDLE_PATH)."""
    egress_ca = env.get(VARIABLE, "").strip()
    if not egress_ca:
        return None
    if target is None:
        # Imported here: the egress protocol brings pydantic, which a sandbox without
        # a proxy does not pay for before its kernel starts (kernel_spawn.py).
        from ship.egress.protocol import CA_BUNDLE_PATH

        target = Path(CA_BUNDLE_PATH)
    parts = [path.read_text() for path in (SYSTEM_BUNDLE, PROFILE_CA) if path.is_file()]
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text("\n".join([*parts, egress_ca, ""]))
    temporary.chmod(0o644)  # certificates only: every process of the sandbox reads it
    os.replace(temporary, target)
    return target
