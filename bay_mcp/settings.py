"""Bay's settings: one typed object. Defaults work on a laptop.

Sources, strongest first: arguments, `BAY_*` environment variables, the config file
named by `BAY_CONFIG_FILE` (TOML or YAML), the defaults below. Nested values in the
environment use `__` (`BAY_PROFILES` takes JSON).

Strict: a key no setting has, in the config file or in a profile (from the file or
`BAY_PROFILES`), stops the start with a `ConfigError` naming it, where it was and the
keys accepted there; a `BAY_*` environment variable that names no setting is only
warned about (`unknown_environment`), as the environment holds other programs' too.
The strictness itself (finding and saying unknown keys) is `bay_mcp/config_keys.py`.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import platformdirs
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from bay_mcp.config_keys import ConfigError, KnownKeysOnly, SettingsKeys, unknown_variables
from bay_mcp.environment import check_env
from bay_mcp.errors import ValidationFailed
from bay_mcp.limits import (
    BROWSER_IMAGE,
    DEFAULT_MAX_PROCESSES,
    DEFAULT_PROFILE,
    MAX_CARGO_SIZE_MB,
    MB,
)
from bay_mcp.secret_box import parse_key
from ship.egress.rules import NONE, OPEN, EgressPolicy
from ship.protocol import Language

Capability = Literal["python", "shell", "filesystem", "browser"]
GcTask = Literal["idle_sessions", "expired_sandboxes", "orphan_containers", "orphan_cargos"]
GC_TASKS: tuple[GcTask, ...] = get_args(GcTask)
# Upstream clients name the tasks in the singular; both spellings are accepted.
GcTaskName = GcTask | Literal["idle_session", "expired_sandbox", "orphan_container", "orphan_cargo"]
SINGULAR_GC_TASKS: dict[str, GcTask] = {task.removesuffix("s"): task for task in GC_TASKS}


def _every_gc_task() -> list[GcTaskName]:
    return list(GC_TASKS)


# What a profile offers when it does not say: the browser is only in the browser image.
ALL_CAPABILITIES: tuple[Capability, ...] = ("python", "shell", "filesystem")
BROWSER_PROFILE = "browser-python"
# The warm pool's ceiling under demand when a profile does not name one.
DEFAULT_POOL_MAX = 8
# The languages run_code runs when a profile does not say: the kernels of the default
# image (and of the browser image, built on it).
DEFAULT_LANGUAGES: tuple[Language, ...] = ("python", "typescript", "javascript", "r")


class Profile(BaseModel):
    """A named recipe for sandboxes: image, limits, capabilities, idle timeout."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    image: str = "ship:latest"
    cpus: float = Field(1.0, gt=0, le=64)
    memory_mb: int = Field(1024, ge=64)
    pids_limit: int = Field(512, ge=16)
    network: Literal["bridge", "none"] = "bridge"
    egress: EgressPolicy | None = Field(
        None,
        description="where the profile's sandboxes may connect: mode open, none or "
        "allowlist, with allow and deny rules (docs/egress.md); unset: open for the "
        "network bridge, none for none. A sandbox may narrow it, never widen it",
    )
    capabilities: list[Capability] = Field(default_factory=lambda: list(ALL_CAPABILITIES))
    idle_timeout_seconds: int = Field(600, ge=1)
    pause_after_idle_seconds: int | None = Field(
        60,
        ge=1,
        description="a sandbox unused this long, with nothing running, is frozen with its "
        "memory kept (no CPU) and thawed by its next call; null: never. The idle stop "
        "(idle_timeout_seconds) still comes, counted from the last use. Docker driver only",
    )
    description: str = ""
    languages: list[Language] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES),
        description="the languages run_code runs in the profile's sandboxes (with the python "
        "capability): those whose kernels the image has; a run in another is refused, "
        "naming a profile that has it",
    )
    # Hardening a profile may relax only with a reason: a writable root filesystem
    # (e.g. for apt-get), or another OCI runtime such as gVisor's "runsc".
    read_only_root: bool = True
    runtime: str | None = None
    # A CA bundle on the host for sandboxes to trust (behind a TLS-inspecting proxy):
    # mounted read-only, and named by SSL_CERT_FILE, PIP_CERT and REQUESTS_CA_BUNDLE.
    ca_bundle: str | None = None
    # Size limit of the cargo made with each sandbox (MB); None: only the disk's.
    cargo_size_limit_mb: int | None = Field(None, ge=1, le=MAX_CARGO_SIZE_MB)
    # Largest upload accepted (MB); None: the cargo's size limit, if it has one.
    max_upload_mb: int | None = Field(None, ge=1, le=MAX_CARGO_SIZE_MB)
    # Environment variables of every sandbox of the profile (a sandbox's own win).
    env: dict[str, str] = Field(default_factory=dict)
    # Ready sandboxes kept waiting to be claimed by create_sandbox; None: 1 for the
    # default profile, 0 (no pool) for the others.
    warm_pool_size: int | None = Field(None, ge=0, le=64)
    # The most it grows to while creates come faster than refills (services/pool.py).
    warm_pool_max_size: int | None = Field(None, ge=0, le=64)
    pool_orphan_after_seconds: int = Field(
        900,
        ge=5,
        le=86400,
        description="a warm-pool member that no Bay claims or checks for this long stops "
        "itself (a host that crashed leaves no container running); keep it well above "
        "the pool check interval, at which a running Bay checks each member",
    )
    # The sandbox's browser (browser capability) closes after this long unused.
    browser_idle_seconds: int = Field(300, ge=5)
    skill_dirs: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="host folders of skills (each a folder with a SKILL.md) copied into "
        "every sandbox's /workspace/skills beside the built-in ones; Docker driver only",
    )
    max_processes: int = Field(
        DEFAULT_MAX_PROCESSES,
        ge=1,
        le=1024,
        description="background processes (process_start) a sandbox may have running at "
        "once; Ship refuses a start over it (the pids limit holds as well)",
    )

    @property
    def pool_size(self) -> int:
        """The pool's floor: what it holds with no demand."""
        if self.warm_pool_size is not None:
            return self.warm_pool_size
        return 1 if self.id == DEFAULT_PROFILE else 0

    @property
    def pool_max_size(self) -> int:
        """The pool's ceiling under demand; a profile without a pool has none."""
        if not self.pool_size:
            return 0
        ceiling = DEFAULT_POOL_MAX if self.warm_pool_max_size is None else self.warm_pool_max_size
        return max(self.pool_size, ceiling)

    @model_validator(mode="after")
    def _one_network_story(self) -> Profile:
        if self.network == "none" and self.egress is not None and self.egress.mode != "none":
            raise ValueError(
                f"network 'none' and egress mode {self.egress.mode!r} contradict each "
                "other: leave network out and say it with egress alone"
            )
        return self

    @property
    def egress_policy(self) -> EgressPolicy:
        """The profile's policy, from `egress` or the older `network`."""
        if self.egress is not None:
            return self.egress
        return NONE if self.network == "none" else OPEN

    @field_validator("skill_dirs")
    @classmethod
    def _skill_folders(cls, folders: list[str]) -> list[str]:
        for folder in folders:
            if not Path(folder).is_absolute() or not Path(folder).is_dir():
                raise ValueError(f"skill_dirs: {folder!r} is not an absolute path of a folder")
        return folders

    @field_validator("env")
    @classmethod
    def _allowed_env(cls, env: dict[str, str]) -> dict[str, str]:
        try:
            return check_env(env, "profile env")
        except ValidationFailed as exc:
            raise ValueError(exc.message) from exc


def default_profiles() -> list[Profile]:
    return [
        Profile(
            id=DEFAULT_PROFILE,
            description="Python 3 with numpy, pandas and matplotlib; shell; files.",
        ),
        Profile(
            id=BROWSER_PROFILE,
            image=BROWSER_IMAGE,
            memory_mb=2048,
            capabilities=[*ALL_CAPABILITIES, "browser"],
            description="The default sandbox plus a Chromium browser (browser_* tools).",
        ),
    ]


def _config_file() -> Path | None:
    raw = os.environ.get("BAY_CONFIG_FILE")
    return Path(raw).expanduser() if raw else None


def _read_config(settings_cls: type[BaseSettings], config: Path) -> PydanticBaseSettingsSource:
    """The config file's source (YAML by its suffix, else TOML); ConfigError when it
    cannot be read as such."""
    if config.suffix not in (".yaml", ".yml"):
        try:
            return TomlConfigSettingsSource(settings_cls, toml_file=config)
        except (ValueError, OSError) as exc:
            raise _unreadable(config, "TOML", exc) from exc
    # Imported here: only a YAML config file needs PyYAML; it stays off the start path.
    import yaml  # type: ignore[import-untyped]  # (no stubs; pydantic-settings reads YAML with it)

    try:
        return YamlConfigSettingsSource(settings_cls, yaml_file=config)
    except (ValueError, OSError, yaml.YAMLError) as exc:
        raise _unreadable(config, "YAML", exc) from exc


def _unreadable(config: Path, kind: str, exc: BaseException) -> ConfigError:
    message = " ".join(str(exc).split())
    return ConfigError(f"{config} (BAY_CONFIG_FILE) is not readable {kind}: {message}")


class KubernetesSettings(BaseModel):
    """Where and how the Kubernetes driver (BAY_DRIVER=kubernetes) runs sessions:
    nested, so BAY_KUBERNETES__NAMESPACE and so on."""

    # Unknown keys are not refused here but where they come from: a file's stops the
    # start (KnownKeysOnly); a BAY_KUBERNETES__* variable naming none is only warned
    # about (unknown_environment), as every unknown BAY_* variable is.
    model_config = ConfigDict(extra="ignore")

    # The namespace of the sandboxes' Pods, PVCs and NetworkPolicies (Bay's own Role
    # is limited to it).
    namespace: str = "bay"
    # None: in-cluster configuration when Bay runs in a Pod, else ~/.kube/config.
    kubeconfig: Path | None = None
    # PVCs of cargos: the storage class (None: the cluster's default) and the size asked
    # for when the cargo has no size limit of its own.
    storage_class: str | None = None
    default_cargo_size_mb: int = Field(10240, ge=1)
    # The kubeconfig's context to use (None: its current context).
    context: str | None = None
    # IfNotPresent: images loaded onto the nodes (kind load, an air-gapped mirror) are
    # used as they are, even when tagged :latest (Kubernetes would pull those always).
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    # Labels of Bay's own Pods: a sandbox's NetworkPolicy admits ingress from them only.
    bay_pod_labels: dict[str, str] = Field(default_factory=lambda: {"app": "bay"}, min_length=1)
    # The namespace of Bay's Pods (None: the sandboxes' namespace).
    bay_namespace: str | None = None
    # Addresses a sandbox with network "bridge" never reaches: the cloud metadata
    # service by default; add the cluster's Pod and Service ranges to keep sandboxes off
    # in-cluster services (they then need a rule of their own for DNS).
    blocked_egress_cidrs: list[str] = Field(default_factory=lambda: ["169.254.169.254/32"])
    # A session's resource requests as a fraction of its limits: 1.0 reserves the whole
    # limit (Guaranteed QoS); less packs more idle sandboxes on a node.
    requests_fraction: float = Field(1.0, gt=0, le=1)


class EgressSettings(BaseModel):
    """The egress proxy of proxied sandboxes (docs/egress.md): BAY_EGRESS__*."""

    model_config = ConfigDict(extra="ignore")

    subnet_pool: str = Field(
        "10.213.0.0/16",
        description="each proxied sandbox gets a network of its own, a /28 of this range, "
        "which the proxy joins: sandboxes never share one; the proxy never connects into it",
    )
    hosts: dict[str, str] = Field(
        default_factory=dict,
        description="names the proxy resolves to these addresses before DNS, e.g. "
        '`{"api.internal": "10.1.2.3"}` (a private service, a test\'s servers)',
    )
    upstream_ca: Path | None = Field(
        None,
        description="a PEM file of more CAs the proxy trusts for the servers of hosts whose "
        "TLS it intercepts to add a secret (the system's are always trusted)",
    )
    proxy_memory_mb: int = Field(512, ge=128, description="the proxy container's memory limit")
    log_entries_per_sandbox: int = Field(
        1000, ge=10, description="egress log entries kept per sandbox (the newest)"
    )

    @field_validator("subnet_pool")
    @classmethod
    def _pool(cls, text: str) -> str:
        try:
            network = ipaddress.ip_network(text)
        except ValueError as exc:
            raise ValueError(f"egress.subnet_pool: {exc}") from exc
        if network.version != 4 or network.prefixlen > 24:
            raise ValueError("egress.subnet_pool must be an IPv4 range of /24 or wider")
        return text


class BaySettings(BaseSettings):
    # Unknown keys: refused from arguments, and from the file before this (ConfigError);
    # an unknown environment variable is never read (see unknown_environment).
    model_config = SettingsConfigDict(env_prefix="BAY_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("bay-mcp"))
    instance_id: str | None = None
    # One API key from the environment (BAY_API_KEY), for the owner api_key_owner.
    api_key: SecretStr | None = None
    api_key_owner: str = "default"
    # The owner secrets' key (base64 of 32 bytes); unset: <data_dir>/secrets.key, made
    # once. Every Bay process sharing a database needs the same one.
    secrets_key: SecretStr | None = None
    # HTTP callers without a key act as local_owner when this is true; when unset,
    # only on a loopback bind while no API key exists at all (local development).
    allow_anonymous: bool | None = None
    # GET /metrics: open on a loopback bind or to admin keys; true opens it to all.
    metrics_public: bool = False
    # JSON request bodies over this are refused (413) before they are read.
    max_body_bytes: int = Field(64 * MB, ge=1024)
    # Executions (python, shell) one owner may have running at once; more are 429.
    max_concurrent_execs_per_owner: int = Field(16, ge=1)
    # Extra Host header values MCP over HTTP accepts (behind a proxy), e.g. "bay.example.com".
    allowed_hosts: list[str] = Field(default_factory=list)
    idempotency_ttl_seconds: int = Field(3600, ge=60)
    # Where people reach this server (behind a proxy: its public address), used in the
    # preview URLs expose_port returns; unset: http://<bind host>:<port>.
    public_url: str | None = None
    # How long a signed preview URL (expose_port over HTTP) opens the port without a key.
    preview_token_ttl_seconds: int = Field(3600, ge=1)
    # The reaper: which tasks run, how often; owners allowed to use /v1/admin.
    gc_enabled: bool = True
    gc_interval_seconds: float = Field(60.0, gt=0)
    gc_tasks: list[GcTaskName] = Field(default_factory=lambda: _every_gc_task())
    # Orphans younger than this are left alone: they may be half-way through creation.
    gc_orphan_grace_seconds: float = Field(60.0, ge=0)
    admin_owners: list[str] = Field(default_factory=lambda: ["admin"])
    # Live (not deleted) sandboxes allowed per owner, and in all.
    max_sandboxes_per_owner: int = Field(50, ge=1)
    max_sandboxes_total: int = Field(500, ge=1)
    # Snapshots one owner may keep (all sandboxes together), and their total size (MB).
    max_snapshots_per_owner: int = Field(20, ge=0)
    max_snapshot_mb_per_owner: int = Field(10240, ge=0)
    # The engine: DOCKER_HOST as every Docker tool reads it (BAY_DOCKER_HOST wins).
    docker_host: str | None = Field(
        None, validation_alias=AliasChoices("BAY_DOCKER_HOST", "DOCKER_HOST")
    )
    # Unset: Ship is reached on a port published on 127.0.0.1 (Bay on the host). Set:
    # containers join this network and are reached by IP (Bay itself in a container).
    docker_network: str | None = None
    # What runs sessions: Docker containers (the default) or Kubernetes Pods.
    driver: Literal["docker", "kubernetes"] = "docker"
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    egress: EgressSettings = Field(
        default_factory=EgressSettings,
        description="the egress proxy's settings (table below; docs/egress.md)",
    )
    # Unset: SQLite in the data directory. postgresql+asyncpg://user:pass@host/db lets
    # several Bay processes (replicas) share one database.
    database_url: str | None = None
    # MCP over streamable HTTP without server-side sessions for clients before
    # 2026-07-28 (that version has none): every request stands on its own, so replicas
    # behind a load balancer need no sticky sessions.
    stateless_http: bool = False
    # Ask the person (MCP elicitation, when the client offers it) before a step that
    # loses files: false for unattended agents, whose client might answer for them.
    confirm_destructive: bool = True
    # Owner of everything done over stdio (a local, single-user transport).
    local_owner: str = "default"
    profiles: list[Profile] = Field(default_factory=default_profiles)
    start_timeout_seconds: float = Field(60.0, gt=0)
    # Sandboxes starting at once in this process; more wait their turn (with progress).
    max_concurrent_starts: int = Field(default_factory=lambda: max(2, os.cpu_count() or 2), ge=1)
    # Warm pool members are replaced after this age, and checked (age, image, health)
    # this often; a claim wakes the refill at once.
    pool_max_age_seconds: float = Field(3600.0, gt=0)
    pool_check_interval_seconds: float = Field(30.0, gt=0)
    # The pool sizes itself by the creates of this last stretch (services/pool.py).
    pool_demand_window_seconds: float = Field(120.0, gt=0)
    pause_check_interval_seconds: float = Field(
        5.0, gt=0, description="how often idle sandboxes are looked for, to pause them"
    )
    max_paused_memory_mb: int = Field(
        8192,
        ge=0,
        description="memory that paused sandboxes may hold in all (each counted at its "
        "profile's memory_mb); past it, the longest paused are stopped (files kept)",
    )
    # Execution history: entries kept per sandbox, and output kept per entry (chars).
    history_max_entries: int = Field(1000, ge=1)
    history_output_chars: int = Field(64 * 1024, ge=1024)
    # MCP text results are capped here; the full output is saved in the workspace.
    output_limit_chars: int = Field(20_000, ge=1000)
    # Build the Ship image at start when it is missing (progress on stderr).
    auto_build_image: bool = True
    # A machine set-up running beside the server (scripts/run sets both): sandbox
    # starts wait for it; its log's end is reported if it fails.
    setup_pid: int | None = None
    setup_log: Path | None = None
    setup_status: Path | None = None
    log_level: str = "INFO"
    log_file: Path | None = None
    # text (the default) or json: one JSON object a line.
    log_format: Literal["text", "json"] = "text"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment's profiles (BAY_PROFILES) are checked; its other keys are
        # settings by construction.
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            KnownKeysOnly(env_settings, "BAY_PROFILES", KEYS, profiles_only=True),
        ]
        config = _config_file()
        if config is not None:
            if not config.is_file():
                raise ValueError(f"BAY_CONFIG_FILE names {config}, which is not a file")
            sources.append(
                KnownKeysOnly(
                    _read_config(settings_cls, config), f"{config} (BAY_CONFIG_FILE)", KEYS
                )
            )
        return tuple(sources)

    @field_validator("secrets_key")
    @classmethod
    def _well_formed_secrets_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            parse_key(key.get_secret_value())  # its message names the setting, never the key
        return key

    @field_validator("profiles")
    @classmethod
    def _unique_profiles(cls, profiles: list[Profile]) -> list[Profile]:
        ids = [profile.id for profile in profiles]
        if len(set(ids)) != len(ids):
            raise ValueError(f"profile ids must be unique: {ids}")
        if not profiles:
            raise ValueError("at least one profile is needed")
        return profiles

    @property
    def database_path(self) -> Path:
        return self.data_dir / "bay.db"

    @property
    def database(self) -> str:
        """The database's URL: BAY_DATABASE_URL, or SQLite in the data directory."""
        return self.database_url or f"sqlite+aiosqlite:///{self.database_path}"

    def profile(self, profile_id: str) -> Profile | None:
        return next((p for p in self.profiles if p.id == profile_id), None)


# Where each key of the settings is accepted, for the strict sources and the
# environment's warnings.
KEYS = SettingsKeys(top=BaySettings, tables={"kubernetes": KubernetesSettings}, profile=Profile)


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """One warning per `BAY_*` variable in `environ` that names no setting (any case,
    as settings are read), with the likely intended one when a name is close."""
    return unknown_variables(environ, KEYS)


def resolve_instance_id(settings: BaySettings) -> str:
    """BAY_INSTANCE_ID, or the id stored in the data directory (made once)."""
    if settings.instance_id:
        return settings.instance_id
    stored = settings.data_dir / "instance_id"
    if stored.is_file():
        return stored.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    instance_id = f"bay-{secrets.token_hex(6)}"
    stored.write_text(instance_id + "\n")
    return instance_id
