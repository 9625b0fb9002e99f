"""What Ship's handlers work with: kernels (one per language, the others than Python's
started on first use), browser, workspace, quota, running shells and background
processes.

Also the workspace's watch for changed files and the user's environment. Built once per
app; its lifetime is the app's lifespan.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from ship import changes, protocol
from ship.browser import Browser, browser_available
from ship.environment import user_environment
from ship.errors import CapabilityMissing
from ship.kernel import Kernel
from ship.kernel_spawn import SpawnedKernel
from ship.languages import available, launch_of
from ship.orphan_watch import OrphanWatch
from ship.processes import ProcessManager
from ship.protocol import CapabilityInfo, Language
from ship.quota import WorkspaceQuota
from ship.resources import Cgroup
from ship.rich_output import OutputFiles
from ship.settings import ShipSettings
from ship.skills import BUILTIN_SKILLS, install_skills

log = logging.getLogger(__name__)

BASE_CAPABILITIES: dict[str, CapabilityInfo] = {
    "python": CapabilityInfo(operations=["exec", "interrupt"]),
    "shell": CapabilityInfo(operations=["exec", "cancel", "processes", "terminal"]),
    "filesystem": CapabilityInfo(
        operations=["read", "write", "list", "delete", "move", "upload", "download"]
    ),
}
BROWSER_CAPABILITY = CapabilityInfo(operations=["exec"])

Result = TypeVar("Result", protocol.PythonExecResult, protocol.ShellExecResult)


def capabilities(with_browser: bool) -> dict[str, CapabilityInfo]:
    """What this Ship offers: the browser only where the image carries it (the languages
    it runs code in are Meta's `languages`)."""
    if not with_browser:
        return dict(BASE_CAPABILITIES)
    return {**BASE_CAPABILITIES, "browser": BROWSER_CAPABILITY}


class Runtime:
    """One Ship's working parts, shared by its handlers."""

    def __init__(
        self,
        settings: ShipSettings,
        env: Mapping[str, str] | None = None,
        spawned: SpawnedKernel | None = None,
    ) -> None:
        """`spawned`: the Python kernel's process, started ahead by `python -m ship`."""
        self.settings = settings
        self._spawned = spawned
        self.user_env = user_environment(os.environ if env is None else env)
        # Shell runs started with an exec_id, so that POST /shell/cancel can kill them.
        self.running_shells: dict[str, asyncio.Future[protocol.ShellExecResult]] = {}
        self.quota = WorkspaceQuota(settings.workspace, settings.workspace_limit_bytes)
        self.workspace = settings.workspace
        self.cgroup = Cgroup.detect()
        self.output_files = OutputFiles(self.workspace, self.quota)  # displayed HTML
        self.languages = available(settings.kernel_python)
        self.kernels: dict[str, Kernel] = {}  # by kernel: TypeScript and JavaScript share one
        self.kernel = self.kernel_for("python")
        self.offered = capabilities(browser_available())
        self.watch = _workspace_watch(self.workspace)
        self.orphan_watch = (
            OrphanWatch(settings.orphan_after_seconds)
            if settings.orphan_after_seconds is not None
            else None
        )
        self.browser = Browser(self.workspace, settings.browser_idle_seconds)
        self.processes = ProcessManager(
            self.workspace,
            self.user_env,
            ring_bytes=settings.process_ring_bytes,
            log_bytes=settings.process_log_bytes,
            max_processes=settings.max_processes,
            max_ended=settings.max_ended_processes,
            max_logs=settings.max_process_logs,
        )

    def kernel_for(self, language: Language) -> Kernel:
        """The kernel that runs `language` (made on first use, started by its first run).
        CapabilityMissing when the image has none."""
        if language not in self.languages:
            raise CapabilityMissing(
                f"this sandbox's image has no {language} kernel; it runs "
                f"{', '.join(self.languages)}: use a profile whose image has {language}",
                {"capability": language, "available": list(self.languages)},
            )
        launch = launch_of(language, self.settings.kernel_python)
        kernel = self.kernels.get(launch.name)
        if kernel is None:
            kernel = Kernel(
                launch,
                cwd=self.workspace,
                env=self.user_env,
                max_output_bytes=self.settings.max_output_bytes,
                cgroup=self.cgroup,
                files=self.output_files,
                spawned=self._spawned if launch.name == "python" else None,
            )
            self.kernels[launch.name] = kernel
        return kernel

    async def watched(self, run: Awaitable[Result]) -> Result:
        """`run`'s result with the files it created, changed or deleted."""
        if self.watch is None:
            return await run
        with self.watch.run() as seen:
            result = await run
        result.files_changed = changes.report(seen, self.workspace)
        return result

    async def _install_skills(self) -> None:
        """Skills into /workspace/skills before the first call (skills.py); a failure is
        logged, never a reason not to serve. A cargo helper copies none: it is not a
        sandbox's first run."""
        if self.settings.cargo_helper:
            return
        try:
            copied = await asyncio.to_thread(
                install_skills, self.workspace, _skill_sources(self.settings)
            )
        except OSError as exc:
            log.warning("skills were not copied into the workspace: %s", exc)
            return
        if copied:
            log.info("skills copied into the workspace: %s", ", ".join(copied))

    @property
    def kernel_state(self) -> protocol.KernelState:
        """The Python kernel's state, `idle` in a cargo helper until a run starts it."""
        state = self.kernel.state
        return "idle" if self.settings.cargo_helper and state == "starting" else state

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The kernel started in the background, and everything closed at the end."""
        # In the background: /health answers at once, and the first exec waits for the
        # kernel (under the kernel's lock) instead of failing.
        await self._install_skills()
        # A cargo helper serves files only: its kernel waits for a run that never comes.
        starting = None if self.settings.cargo_helper else asyncio.create_task(self.kernel.start())
        orphaned = (
            asyncio.create_task(self.orphan_watch.run(), name="orphan-watch")
            if self.orphan_watch is not None
            else None
        )
        try:
            yield
        finally:
            if orphaned is not None:
                orphaned.cancel()
            if starting is not None and not starting.done():
                starting.cancel()
            elif starting is not None and starting.exception() is not None:
                log.error("the kernel failed to start: %s", starting.exception())
            await self.processes.shutdown()
            for kernel in self.kernels.values():
                await kernel.shutdown()
            await self.browser.close()
            if self.watch is not None:
                self.watch.close()


def _skill_sources(settings: ShipSettings) -> list[Path]:
    return [BUILTIN_SKILLS, *settings.skill_dirs]


def _workspace_watch(workspace: Path) -> changes.WorkspaceWatch | None:
    try:
        return changes.WorkspaceWatch(workspace)
    except OSError as exc:  # no inotify (not Linux, or no instance left): no lists
        log.warning("files changed per run are not reported: %s", exc)
        return None
