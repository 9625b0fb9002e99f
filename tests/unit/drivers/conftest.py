"""The Kubernetes driver against a fake API server (tests/unit/drivers/fake_kubernetes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bay_mcp.drivers.kubernetes import KubernetesDriver
from bay_mcp.settings import KubernetesSettings
from tests.unit.drivers.fake_kubernetes import FakeKubernetes


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeKubernetes]:
    server = FakeKubernetes()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def kubeconfig(fake: FakeKubernetes, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(fake.kubeconfig())
    return path


@pytest_asyncio.fixture
async def driver(kubeconfig: Path) -> AsyncIterator[KubernetesDriver]:
    instance = KubernetesDriver(KubernetesSettings(kubeconfig=kubeconfig), poll_interval=0.02)
    try:
        yield instance
    finally:
        await instance.close()
