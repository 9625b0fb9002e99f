"""The composition root: builds Bay's parts from settings and owns their lifetime.

One `Bay` per server process, entered once by the process's lifespan (never by a
per-connection MCP lifespan): the database, the Docker client and background tasks.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bay_mcp.adapters.ship_client import ShipClient
from bay_mcp.drivers import Driver
from bay_mcp.drivers.docker import DockerDriver
from bay_mcp.drivers.docker_egress import ProxySpec
from bay_mcp.errors import BayError
from bay_mcp.limits import DEFAULT_IMAGE
from bay_mcp.managers import labels
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.cargo_helpers import CargoHelpers
from bay_mcp.managers.cargos import CargoManager
from bay_mcp.managers.egress_ca import certificate_of, make_ca
from bay_mcp.managers.egress_proxy import EgressProxy
from bay_mcp.managers.gate import SandboxGate
from bay_mcp.managers.images import ImageProvider
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.managers.setup import MachineSetup
from bay_mcp.metrics import Metrics
from bay_mcp.secret_box import KEY_FILE, SecretBox, load_key
from bay_mcp.services.admin import AdminService
from bay_mcp.services.browser_learning import BrowserLearning
from bay_mcp.services.cargo_files import CargoFileService
from bay_mcp.services.cargos import CargoService
from bay_mcp.services.change_feed import ChangeFeed
from bay_mcp.services.changes import Changes
from bay_mcp.services.completions import CompletionService
from bay_mcp.services.confirmations import ConfirmationService
from bay_mcp.services.console_sessions import ConsoleSessions
from bay_mcp.services.egress import EgressService
from bay_mcp.services.execution import ExecService, ExecSlots
from bay_mcp.services.files import FileService
from bay_mcp.services.health import HealthService
from bay_mcp.services.history import HistoryService
from bay_mcp.services.idempotency import IdempotencyService
from bay_mcp.services.idle_pause import IdlePauser
from bay_mcp.services.keys import AccessPolicy, KeyService
from bay_mcp.services.owner_secrets import SecretStore
from bay_mcp.services.pool import WarmPool
from bay_mcp.services.ports import PortService
from bay_mcp.services.preview_tokens import PreviewTokens
from bay_mcp.services.processes import ProcessService
from bay_mcp.services.reaper import GcRunning, Reaper
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.skills import SkillService
from bay_mcp.services.snapshots import SnapshotService
from bay_mcp.services.terminals import TerminalService
from bay_mcp.services.usage import UsageService
from bay_mcp.settings import BaySettings, resolve_instance_id
from bay_mcp.storage.database import Database, display_url
from bay_mcp.storage.egress_log import EgressLogRepository
from bay_mcp.storage.leases import Leases
from bay_mcp.storage.sandboxes import SandboxRepository
from bay_mcp.storage.secrets import stored_secret, stored_value
from bay_mcp.storage.sessions import SessionRepository

log = logging.getLogger(__name__)


# The name of the preview URLs' signing secret in the database.
PREVIEW_SECRET = "preview-signing"
# The key that seals MCP 2026-07-28 `requestState` (bay_mcp/mcp/request_state.py).
REQUEST_STATE_SECRET = "mcp-request-state"
# The egress proxy's CA (key and certificate) and its control API's token.
EGRESS_CA_SECRET = "egress-ca"
EGRESS_TOKEN_SECRET = "egress-control"


def _driver(settings: BaySettings) -> Driver:
    if settings.driver == "kubernetes":
        # Imported only when chosen: kubernetes-asyncio's models weigh on every start.
        from bay_mcp.drivers.kubernetes import KubernetesDriver

        return KubernetesDriver(settings.kubernetes)
    return DockerDriver(settings.docker_host, settings.docker_network)


class Bay:
    """Bay's parts, by layer. Surfaces use the services only; the managers and
    adapters below them are here to be wired, started and closed."""

    def __init__(
        self,
        settings: BaySettings,
        *,
        driver: Driver | None = None,
        ship: ShipClient | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self.instance_id = resolve_instance_id(settings)
        # Shared by every replica on the database; read by start().
        self.request_state_key: bytes | None = None
        # -- adapters and storage
        self.db = database or Database(url=settings.database)
        self.driver: Driver = driver or _driver(settings)
        self.ship = ship or ShipClient()
        self.metrics = Metrics()
        self.activity = ActivityClock(self.db)
        self.leases = Leases(self.db)
        # -- managers: containers, volumes and images, no owner rules
        self.image_manager = ImageProvider(
            self.driver, auto_build=settings.auto_build_image, docker_host=settings.docker_host
        )
        self.session_manager = SessionManager(
            self.db,
            self.driver,
            self.ship,
            self.image_manager,
            MachineSetup(
                settings.setup_pid,
                settings.setup_log,
                settings.start_timeout_seconds,
                settings.setup_status,
            ),
            self.metrics,
            self.activity,
            self.leases,
            instance_id=self.instance_id,
            start_timeout=settings.start_timeout_seconds,
            max_concurrent_starts=settings.max_concurrent_starts,
        )
        self.activity.busy = self.session_manager.busy
        self.cargo_helpers = CargoHelpers(
            self.driver,
            self.ship,
            self.image_manager,
            settings.profiles[0],
            instance_id=self.instance_id,
            start_timeout=settings.start_timeout_seconds,
        )
        self.cargo_manager = CargoManager(self.driver, self.instance_id, self.cargo_helpers)
        # Calls share each sandbox's gate; snapshots, restores and forks hold it alone;
        # a change to a cargo's files with no sandbox holds those of its sandboxes alone.
        self.gate = SandboxGate()
        # -- services: the rules every surface goes through
        self.secrets = SecretStore(self.db)  # its key: start()
        # Its proxy: start(), when the driver runs one.
        self.egress = EgressService(
            self.secrets,
            SandboxRepository(self.db),
            SessionRepository(self.db),
            EgressLogRepository(self.db),
            settings.profiles,
        )
        self.session_manager.egress = self.egress
        # What changed (cargo files, sandboxes, skills), for the MCP subscriptions.
        self.changes = Changes()
        # On PostgreSQL, replicas hear each other's changes.
        self.change_feed = None if self.db.is_sqlite else ChangeFeed(self.db.url, self.changes)
        self.sandboxes = SandboxService(
            self.db,
            settings,
            self.session_manager,
            self.cargo_manager,
            self.activity,
            self.metrics,
            self.gate,
            self.egress,
            self.changes,
        )
        self.snapshots = SnapshotService(
            self.db, settings, self.sandboxes, self.session_manager, self.cargo_manager, self.gate
        )
        self.cargo_files = CargoFileService(
            self.db, self.driver, self.cargo_helpers, self.gate, self.ship, self.changes
        )
        self.files = FileService(
            self.sandboxes, self.ship, settings.output_limit_chars, self.cargo_files
        )
        self.confirmations = ConfirmationService(self.sandboxes, self.files, self.snapshots)
        self.completions = CompletionService(self.sandboxes, self.files)
        self.history = HistoryService(
            self.db,
            self.sandboxes,
            self.metrics,
            max_entries=settings.history_max_entries,
            output_limit=settings.history_output_chars,
        )
        self.skills = SkillService(self.db, self.history, self.changes)
        self.execution = ExecService(
            self.sandboxes,
            self.ship,
            self.files,
            ExecSlots(settings.max_concurrent_execs_per_owner),
            settings.output_limit_chars,
            self.history,
            self.metrics,
        )
        self.browser_learning = BrowserLearning(self.execution, self.skills)
        self.cargos = CargoService(self.db, self.cargo_manager)
        self.keys = KeyService(
            self.db,
            settings.api_key.get_secret_value() if settings.api_key else None,
            settings.api_key_owner,
        )
        self.access = AccessPolicy(
            self.keys,
            admin_owners=settings.admin_owners,
            allow_anonymous=settings.allow_anonymous,
            anonymous_owner=settings.local_owner,
        )
        self.reaper = Reaper(
            self.db,
            self.driver,
            self.session_manager,
            self.sandboxes,
            settings,
            self.instance_id,
            self.metrics,
            self.leases,
        )
        self.admin = AdminService(self.access, self.reaper)
        self.console_sessions = ConsoleSessions(self.db, self.keys, self.access)
        self.usage = UsageService(self.db, self.driver)
        self.pool = WarmPool(
            settings, self.sandboxes, self.driver, self.ship, self.metrics, self.leases
        )
        self.health = HealthService(self.db, self.driver, settings.driver, self.pool)
        self.idempotency = IdempotencyService(
            self.db, timedelta(seconds=settings.idempotency_ttl_seconds)
        )
        self.ports = PortService(
            self.sandboxes,
            self.session_manager,
            self.driver,
            self.activity,
            PreviewTokens(None, settings.preview_token_ttl_seconds),  # its secret: start()
            self.db,
        )
        self.processes = ProcessService(self.sandboxes, self.session_manager, self.ship, self.ports)
        self.terminals = TerminalService(
            self.sandboxes,
            self.processes,
            self.ship,
            self.activity,
            self.ports,
            self.session_manager,
        )
        self.reaper.printing = self.processes.printed_since
        self.pauser = IdlePauser(self.db, self.driver, self.session_manager, settings)
        self.pauser.printing = self.processes.printed_since
        self.ports.listening = self.processes.await_listener

    async def start(self) -> None:
        await self.db.migrate()
        await self.leases.start()
        if self.change_feed is not None:
            await self.change_feed.start()
        self.ports.tokens.use_secret(await stored_secret(self.db, PREVIEW_SECRET))
        self.request_state_key = await stored_secret(self.db, REQUEST_STATE_SECRET)
        self.load_secrets_key()
        if isinstance(self.driver, DockerDriver):
            await self._attach_egress_proxy(self.driver)
        log.info(
            "Bay %s ready: database %s, %d profile(s)",
            self.instance_id,
            display_url(self.db.url),
            len(self.settings.profiles),
        )
        try:
            if not await self.driver.image_id(self.settings.profiles[0].image) is not None:
                self.image_manager.start_build_if_missing()
            # Bay may have been killed: keep the sessions whose container still runs,
            # drop the rest, and remove what was orphaned.
            adopted, dropped = await self.session_manager.reconcile()
            log.info("reconciled: %d session(s) adopted, %d dropped", adopted, dropped)
            await self.egress.resume()
            report = await self.reaper.run(["orphan_containers", "orphan_cargos"])
            log.info("removed %d orphan(s)", report.total_cleaned)
        except GcRunning:
            log.info("another Bay process is reaping orphans; this one leaves them to it")
        except BayError as exc:
            # Not fatal: sandboxes can be listed; starting one will say what is wrong.
            log.error("Docker is not reachable: %s", exc.message)
        self.reaper.start()
        self.pauser.start()
        self.activity.start()
        self.pool.start()

    def load_secrets_key(self) -> None:
        """Give the secret store its key: BAY_SECRETS_KEY, else the data directory's key
        file (made when missing). SecretKeyError when the file is unsafe or holds no
        key; a shared database with a key file each is warned about."""
        if self.secrets.has_box:
            return
        configured = self.settings.secrets_key
        if configured is None and self.settings.database_url is not None:
            log.warning(
                "BAY_SECRETS_KEY is unset: owner secrets are sealed with %s, a key of this "
                "Bay's data directory; every Bay process on this database needs the same "
                "key, so set one BAY_SECRETS_KEY on all of them",
                self.settings.data_dir / KEY_FILE,
            )
        key = load_key(
            configured.get_secret_value() if configured else None, self.settings.data_dir
        )
        self.secrets.use_box(SecretBox(key))

    async def _attach_egress_proxy(self, driver: DockerDriver) -> None:
        """The egress proxy of this instance (started by the first proxied sandbox),
        with the installation's CA and control token."""
        ca = await stored_value(self.db, EGRESS_CA_SECRET, make_ca)
        token = (await stored_secret(self.db, EGRESS_TOKEN_SECRET)).hex()
        settings = self.settings.egress
        env = {
            "BAY_EGRESS_TOKEN": token,
            "BAY_EGRESS_CA": ca.decode(),
            "BAY_EGRESS_DENY": settings.subnet_pool,
        }
        if settings.upstream_ca is not None:
            env["BAY_EGRESS_UPSTREAM_CA"] = settings.upstream_ca.read_text()
        spec = ProxySpec(
            name=f"bay-egress-{self.instance_id}",
            image=DEFAULT_IMAGE,
            env=env,
            labels={labels.MANAGED: "true", "bay.egress_instance": self.instance_id},
            hosts=settings.hosts,
            memory_mb=settings.proxy_memory_mb,
        )
        proxy = EgressProxy(driver, settings, spec, EgressLogRepository(self.db), self.metrics)
        self.egress.attach_proxy(proxy, certificate_of(ca))

    async def close(self) -> None:
        await self.egress.close()
        await self.ports.close()
        await self.pool.stop()
        await self.sandboxes.settle()
        await self.reaper.stop()
        await self.pauser.stop()
        await self.history.flush()
        await self.activity.stop()
        await self.leases.stop()
        if self.change_feed is not None:
            await self.change_feed.close()
        await self.cargo_helpers.close()
        await self.image_manager.close()
        await self.ship.close()
        await self.driver.close()
        await self.db.close()
