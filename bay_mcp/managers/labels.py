"""The labels on every container and volume Bay creates: the reaper finds orphans by them."""

from __future__ import annotations

INSTANCE = "bay.instance_id"
OWNER = "bay.owner"
SANDBOX = "bay.sandbox_id"
SESSION = "bay.session_id"
CARGO = "bay.cargo_id"
PROFILE = "bay.profile_id"
MANAGED = "bay.managed"
SNAPSHOT = "bay.snapshot_id"
# What a container is for when it runs no session: a volume copy's helper, or a
# cargo's files helper (managers/cargo_helpers.py).
ROLE = "bay.role"
COPY_ROLE = "volume-copy"
CARGO_FILES_ROLE = "cargo-files"


def cargo_volume_name(cargo_id: str) -> str:
    return f"bay-cargo-{cargo_id}"


def snapshot_volume_name(snapshot_id: str) -> str:
    return f"bay-snapshot-{snapshot_id}"


def is_snapshot_volume(name: str) -> bool:
    return name.startswith("bay-snapshot-")


def container_name(session_id: str) -> str:
    return f"bay-{session_id}"
