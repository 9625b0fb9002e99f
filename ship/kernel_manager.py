"""How a kernel's process comes to be managed: launched by jupyter_client, or started
ahead (kernel_spawn.py) and adopted; and when a started kernel is ready for a run."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from ship.kernel_spawn import SpawnedKernel
from ship.languages import KernelLaunch

KERNEL_READY_TIMEOUT_S = 60.0
# How long a start waits on IOPub for the status of its kernel_info before asking again.
_IOPUB_CHECK_S = 0.02
LOOPBACK = "127.0.0.1"


class ShipKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel spec is given, not looked up on disk."""

    def __init__(self, spec: KernelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ship_spec = spec

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._ship_spec


class _AdoptingProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, handed a process started ahead
    (kernel_spawn.py) instead of launching one; stopping and signalling it are the
    local provisioner's own."""

    def __init__(self, spawned: SpawnedKernel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._spawned = spawned

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        process = self._spawned.process
        self.process = process
        self.pid = process.pid
        try:
            self.pgid = os.getpgid(process.pid)
        except OSError:  # already gone: is_alive says so, and the start fails
            self.pgid = None
        self.cwd = kwargs.get("cwd")
        return self.connection_info


def kernel_manager(
    launch: KernelLaunch, runtime_dir: Path, spawned: SpawnedKernel | None
) -> ShipKernelManager:
    """A manager for `launch`'s kernel with its files in `runtime_dir`; its start adopts
    `spawned` when given, else launches a process."""
    spec = KernelSpec(
        argv=launch.argv,
        display_name=launch.title,
        language=launch.name,
        interrupt_mode=launch.interrupt_mode,
    )
    km = ShipKernelManager(
        spec, connection_file=str(runtime_dir / "kernel.json"), transport=launch.transport
    )
    km.ip = str(runtime_dir / "kernel") if launch.transport == "ipc" else LOOPBACK
    if spawned is not None:
        # The kernel's ports and key, from the file it reads; the manager writes its own
        # copy (kernel.json may be being read by the kernel at this moment).
        km.load_connection_file(str(spawned.connection_file))
        km.connection_file = str(runtime_dir / "manager.json")
        km.kernel_id = str(uuid.uuid4())
        km.provisioner = _AdoptingProvisioner(
            spawned, kernel_id=km.kernel_id, kernel_spec=spec, parent=km
        )
    return km


async def until_ready(kc: Any, is_alive: Callable[[], Awaitable[bool]], title: str) -> None:
    """Wait until the kernel answers kernel_info and its IOPub status reaches us.

    jupyter_client's wait_for_ready waits 0.2 s on IOPub after the first reply, and the
    first reply's status is usually missed (a subscription connects a little after the
    socket), so every start paid 0.2 s. Here kernel_info is asked again every 20 ms
    until a status comes. All our kernels speak protocol 5: no adapting of message
    versions is needed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KERNEL_READY_TIMEOUT_S
    while True:
        kc.kernel_info()
        try:
            reply = await kc.get_shell_msg(timeout=1.0)
        except Empty:
            reply = None
        if reply is not None and reply["msg_type"] == "kernel_info_reply":
            try:
                await kc.get_iopub_msg(timeout=_IOPUB_CHECK_S)
                return
            except Empty:
                pass
        if not await is_alive():
            raise RuntimeError(f"the {title} kernel died while starting")
        if loop.time() > deadline:
            raise RuntimeError(
                f"the {title} kernel did not answer within {KERNEL_READY_TIMEOUT_S:g} s "
                "of its start"
            )
