"""The tables. Times are UTC; ids are opaque strings with a readable prefix."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    LargeBinary,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


class UTCDateTime(TypeDecorator[datetime]):
    """SQLite keeps no time zone: store naive UTC, hand back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database: use UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Sandbox(SQLModel, table=True):
    __tablename__ = "sandboxes"

    id: str = Field(default_factory=lambda: new_id("sandbox"), primary_key=True)
    owner: str = Field(index=True)
    profile: str
    cargo_id: str = Field(index=True)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # Time of the last call that used the sandbox: the idle timer counts from here.
    last_active_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The sandbox's own environment variables (secrets: never logged nor returned).
    env: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    # The sandbox's own egress policy (ship.egress.rules.EgressPolicy), narrowing its
    # profile's; None: the profile's.
    egress: dict[str, Any] | None = Field(default=None, sa_type=JSON, nullable=True)
    # Secrets bound to hosts (services/egress.py): secret, env, hosts, placeholder. The
    # values are never here, only the names of the owner's secrets.
    secret_bindings: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    # Why Bay last stopped its session on its own (idle, paused memory over the limit),
    # and when: shown in the views until a session starts again.
    last_stop: str | None = None
    # Optimistic locking: every state change bumps it, conditioned on the old value.
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Cargo(SQLModel, table=True):
    __tablename__ = "cargos"

    id: str = Field(default_factory=lambda: new_id("ws"), primary_key=True)
    owner: str = Field(index=True)
    backend: str = "docker_volume"
    # The driver's name for it: the Docker volume `bay-cargo-<id>`.
    driver_ref: str
    managed: bool = True
    managed_by_sandbox_id: str | None = Field(default=None, index=True)
    size_limit_mb: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_accessed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Session(SQLModel, table=True):
    __tablename__ = "sessions"

    id: str = Field(default_factory=lambda: new_id("sess"), primary_key=True)
    sandbox_id: str = Field(index=True)
    runtime_type: str = "ship"
    container_id: str | None = None
    endpoint: str | None = None
    # Secret Bay passes to Ship; kept so a restarted Bay can reach running containers.
    ship_token: str
    # starting | ready | paused (frozen by Bay when idle; since updated_at) | unhealthy
    # (its runtime stopped answering) | failed
    observed_state: str = "starting"
    last_error: str | None = None
    # The runtime's version, from its /meta at the handshake.
    runtime_version: str | None = None
    # The Bay process that started it (`Leases.holder`): while that process lives, its
    # start is in progress; once it is gone, the start was abandoned.
    starter: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Snapshot(SQLModel, table=True):
    """A point-in-time copy of a sandbox's cargo, in a volume of its own. It belongs
    to its sandbox and is deleted with it."""

    __tablename__ = "snapshots"

    id: str = Field(default_factory=lambda: new_id("snap"), primary_key=True)
    sandbox_id: str = Field(index=True)
    owner: str = Field(index=True)
    name: str | None = None
    # The driver's name for its volume: the Docker volume `bay-snapshot-<id>`.
    driver_ref: str
    # BIGINT: PostgreSQL's INTEGER stops at 2 GiB.
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Execution(SQLModel, table=True):
    """One recorded run (python, shell) of a sandbox: what ran, what came of it, and
    the caller's annotations. Its id is the `execution_id` the call returned."""

    __tablename__ = "executions"

    id: str = Field(primary_key=True)
    sandbox_id: str = Field(index=True)
    owner: str
    session_id: str | None = None
    exec_type: str  # python | shell
    code: str
    success: bool
    exit_code: int | None = None
    timed_out: bool = False
    execution_time_ms: int = 0
    # Head and tail of the output, at most the configured size.
    output: str = ""
    error: str | None = None
    description: str | None = None
    tags: str = ""  # comma-separated, as the upstream contract has them
    notes: str | None = None
    # What the run cost (ship.protocol.ResourceReport), as Ship reported it.
    resources: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    # The pictures the run displayed ({"mime_type", "data": base64}), a few and not the
    # largest (history.KEPT_PICTURES): the console shows a run as it was.
    images: list[dict[str, str]] | None = Field(default=None, sa_type=JSON)
    # The files the run changed (`ship.protocol.FilesChanged`), as its result said.
    files_changed: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    owner: str
    key: str
    fingerprint: str
    status: str = "pending"  # pending | done
    response_status: int | None = None
    response_body: str | None = None
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(default_factory=lambda: new_id("key"), primary_key=True)
    owner: str = Field(index=True)
    # SHA-256 of the key: keys are 256-bit random secrets, so a fast hash is enough
    # and lookup by hash is direct. The key itself is shown once and never stored.
    key_hash: str = Field(unique=True)
    # The first characters, to recognise a key in `keys list` without revealing it.
    prefix: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # Written at most once a minute per key (see KeyService), not on every request.
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class Lease(SQLModel, table=True):
    """A named job only one Bay process sharing the database may run at a time (the
    reaper, the warm pool's refill), held until released or until it expires (its
    holder died)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = Field(sa_type=UTCDateTime)


class StoredSecret(SQLModel, table=True):
    """A secret of the installation, made once, shared by every Bay process on the
    database (the preview URLs' signing key)."""

    __tablename__ = "secrets"

    name: str = Field(primary_key=True)
    value: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OwnerSecret(SQLModel, table=True):
    """A named secret of an owner, sealed by `bay_mcp.secret_box` (its key is not in the
    database); sandboxes never see it, the egress proxy puts it in requests."""

    __tablename__ = "owner_secrets"

    owner: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    ciphertext: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Exposure(SQLModel, table=True):
    """A port served through Bay's HTTP proxy: every Bay process sharing the database
    serves it. It belongs to the session it was made in."""

    __tablename__ = "exposures"

    sandbox_id: str = Field(primary_key=True)
    port: int = Field(primary_key=True)
    owner: str
    session_id: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SkillPayload(SQLModel, table=True):
    """A JSON blob a skill candidate refers to as `blob:<id>` (upstream's artifact blob)."""

    __tablename__ = "skill_payloads"

    id: str = Field(default_factory=lambda: new_id("blob"), primary_key=True)
    owner: str = Field(index=True)
    kind: str = "generic"
    payload: Any = Field(sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SkillCandidate(SQLModel, table=True):
    """A skill proposed from runs of the history, evaluated before it is released.
    Deleted rows are kept (marked), as upstream does, so releases still name them."""

    __tablename__ = "skill_candidates"

    id: str = Field(default_factory=lambda: new_id("sc"), primary_key=True)
    owner: str = Field(index=True)
    skill_key: str = Field(index=True)
    scenario_key: str | None = None
    payload_ref: str | None = None
    summary: str | None = None
    usage_notes: str | None = None
    preconditions: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    postconditions: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    source_execution_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    status: str = "draft"  # draft | evaluating | rejected | promoted | rolled_back
    latest_score: float | None = None
    latest_pass: bool | None = None
    last_evaluated_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    promotion_release_id: str | None = None
    created_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    is_deleted: bool = False
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    deleted_by: str | None = None
    delete_reason: str | None = None


class SkillEvaluation(SQLModel, table=True):
    __tablename__ = "skill_evaluations"

    id: str = Field(default_factory=lambda: new_id("se"), primary_key=True)
    owner: str
    candidate_id: str = Field(index=True)
    benchmark_id: str | None = None
    score: float | None = None
    passed: bool
    report: str | None = None
    evaluated_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SkillRelease(SQLModel, table=True):
    """A numbered release of a skill; one per skill key is active (the latest made)."""

    __tablename__ = "skill_releases"
    # Two Bays releasing a skill at once cannot give one version twice.
    __table_args__ = (UniqueConstraint("owner", "skill_key", "version"),)

    id: str = Field(default_factory=lambda: new_id("sr"), primary_key=True)
    owner: str = Field(index=True)
    skill_key: str = Field(index=True)
    candidate_id: str
    version: int
    stage: str = "canary"  # canary | stable
    is_active: bool = True
    release_mode: str = "manual"
    promoted_by: str | None = None
    promoted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    rollback_of: str | None = None
    auto_promoted_from: str | None = None
    health_window_end_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    upgrade_of_release_id: str | None = None
    upgrade_reason: str | None = None
    change_summary: str | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    deleted_by: str | None = None
    delete_reason: str | None = None


class EgressLogEntry(SQLModel, table=True):
    """One request of a proxied sandbox, as its egress proxy decided it."""

    __tablename__ = "egress_log"

    id: int | None = Field(default=None, primary_key=True)
    sandbox_id: str = Field(index=True)
    time: datetime = Field(sa_type=UTCDateTime)
    host: str
    port: int
    method: str
    bytes: int = Field(default=0, sa_type=BigInteger)
    allowed: bool
    # The rule that allowed it, or why it was refused.
    reason: str


class ConsoleSession(SQLModel, table=True):
    """A person signed in to the console: the browser holds only a random token in an
    HttpOnly cookie; the row holds its hash, never the token or the API key."""

    __tablename__ = "console_sessions"

    # SHA-256 of the cookie's token.
    id: str = Field(primary_key=True)
    owner: str
    # SHA-256 of the API key signed in with (checked again on every request, so a
    # revoked or expired key ends its sessions); None for anonymous local access.
    key_hash: str | None = Field(default=None, nullable=True)
    # The token every form and htmx request must carry (synchronizer token pattern).
    csrf_token: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
