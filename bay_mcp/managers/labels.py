"""The labels on every container and volume Bay creates: the reaper finds orphans by them."""

from __future__ import annotations

INSTANCE = "bay.instance_id"
OWNER = "bay.owner"
SANDBOX = "bay.sandbox_id"
SESSION = "bay.session_id"
CARGO = "bay.cargo_id"
PROFILE = "bay.profile_id"
MANAGED = "bay.managed"


def cargo_volume_name(cargo_id: str) -> str:
    return f"bay-cargo-{cargo_id}"


def container_name(session_id: str) -> str:
    return f"bay-{session_id}"
