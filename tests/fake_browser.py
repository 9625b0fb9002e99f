"""A fake Ship with a browser, for the unit tests of browser calls."""

from __future__ import annotations

from pathlib import Path

from bay_mcp.adapters.ship_client import ShipEndpoint
from bay_mcp.services.browser_commands import describe
from bay_mcp.settings import BaySettings, Profile
from ship import protocol
from tests.fakes import FakeDriver, FakeShip


class BrowsingShip(FakeShip):
    """A fake Ship whose browser answers every action, failing a click on `#missing`."""

    def __init__(self, driver: FakeDriver) -> None:
        super().__init__(driver)
        self.meta_answer.capabilities["browser"] = protocol.CapabilityInfo()
        self.browsed: list[list[str]] = []

    async def browser(
        self, endpoint: ShipEndpoint, request: protocol.BrowserRequest
    ) -> protocol.BrowserResult:
        self.browsed.append([describe(action) for action in request.actions])
        steps = []
        for action in request.actions:
            failed = isinstance(action, protocol.Click) and action.target == "#missing"
            steps.append(
                protocol.BrowserStep(
                    kind=action.kind,
                    success=not failed,
                    output="" if failed else f"did {describe(action)}",
                    error="no such element" if failed else None,
                )
            )
            if failed and request.stop_on_error:
                break
        return protocol.BrowserResult(steps=steps, url="http://site/done", title="Done")


def browser_settings(tmp_path: Path) -> BaySettings:
    """Unit settings whose default profile has the browser."""
    return BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        profiles=[
            Profile(
                id="python-default",
                warm_pool_size=0,
                capabilities=["python", "shell", "filesystem", "browser"],
            )
        ],
    )
