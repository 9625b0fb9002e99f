"""The environment a session's container starts with: the sandbox's own variables and
what Ship reads (SHIP_*); egress adds its own (services/egress.py)."""

from __future__ import annotations

from bay_mcp.limits import MB, POOL_OWNER
from bay_mcp.settings import Profile
from bay_mcp.storage.models import Sandbox, Session


def ship_env(
    session: Session, profile: Profile, sandbox: Sandbox, size_limit_mb: int | None
) -> dict[str, str]:
    # The sandbox's variables over the profile's; Ship hands them to user code and
    # writes them to /workspace/.bay_env.sh for login shells.
    user_env = {**profile.env, **sandbox.env}
    env = {**user_env, "SHIP_TOKEN": session.ship_token, "SHIP_USER_ENV": ",".join(user_env)}
    if size_limit_mb is not None:
        env["SHIP_WORKSPACE_LIMIT_BYTES"] = str(size_limit_mb * MB)
    if "browser" in profile.capabilities:
        env["SHIP_BROWSER_IDLE_SECONDS"] = str(profile.browser_idle_seconds)
    env["SHIP_MAX_PROCESSES"] = str(profile.max_processes)
    if sandbox.owner == POOL_OWNER:
        # Stops itself when no Bay is left to claim or check it (orphan_watch.py).
        env["SHIP_ORPHAN_AFTER_SECONDS"] = str(profile.pool_orphan_after_seconds)
    return env
