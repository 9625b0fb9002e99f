"""The docs held to the code: the generated tables of docs/ (tools from a live
`tools/list`, REST routes from `/openapi.json`, Ship's endpoints from its route table,
settings from the settings model) are what the code gives now, and every relative link
in the README and docs/ leads to a file (and heading) that exists.

When a table differs because the code changed, rerun with BAY_UPDATE_DOCS=1 and
review the diff of docs/."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import httpx
import pytest
from mcp import Client

from bay_mcp.bay import Bay
from bay_mcp.mcp.server import create_mcp_server
from bay_mcp.web.app import create_http_app
from tests.docs_reference import (
    ROOT,
    block_names,
    replace_block,
    rest_reference,
    server_reference,
    settings_reference,
    ship_reference,
    tools_reference,
    unused_descriptions,
    unused_ship_notes,
)

README = ROOT / "README.md"
PAGES = sorted([README, ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 250


async def generated_blocks(bay: Bay) -> dict[str, str]:
    async def ready() -> Bay:
        return bay

    async with Client(create_mcp_server(ready, lambda ctx: "alice")) as client:
        tools = (await client.list_tools()).tools
        templates = (await client.list_resource_templates()).resource_templates
        instructions = client.instructions
    app = create_http_app(bay, loopback_bind=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
        document = (await api.get("/openapi.json")).json()
    return {
        "tools": tools_reference(tools),
        "mcp-server": server_reference(instructions, templates),
        "rest-routes": rest_reference(document),
        "ship-routes": ship_reference(),
        **settings_reference(),
    }


async def test_generated_tables_are_what_the_code_gives(bay: Bay) -> None:
    blocks: dict[str, Path] = {}
    rendered = await generated_blocks(bay)
    stale = []
    for page in PAGES:
        text = page.read_text()
        names = block_names(text)
        updated = text
        for name in names:
            assert name in rendered, f"{page.name} has a block {name!r} nobody generates"
            assert name not in blocks, f"block {name!r} is in {blocks[name].name} and {page.name}"
            blocks[name] = page
            updated = replace_block(updated, name, rendered[name])
        if updated != text:
            if os.environ.get("BAY_UPDATE_DOCS") == "1":
                page.write_text(updated)
            else:
                name = str(page.relative_to(ROOT))
                diff = difflib.unified_diff(
                    text.splitlines(), updated.splitlines(), name, "from the code", lineterm=""
                )
                stale.append("\n".join([*list(diff)[:40], ""]))
    assert set(blocks) == set(rendered), f"blocks missing from docs/: {set(rendered) - set(blocks)}"
    assert not stale, (
        "docs differ from the code: rerun with BAY_UPDATE_DOCS=1 and review the diff\n"
        + "\n".join(stale)
    )


def test_every_described_setting_and_route_exists() -> None:
    assert unused_descriptions() == [], "SETTING_DESCRIPTIONS names settings that are gone"
    assert unused_ship_notes() == [], "SHIP_NOTES names Ship routes that are gone"


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for a page's headings (lower case, punctuation dropped,
    spaces as hyphens; a repeated heading gets -1, -2, …)."""
    anchors: set[str] = set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip()
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def links_of(text: str) -> list[str]:
    without_code = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return LINK.findall(without_code)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_lead_somewhere(page: Path) -> None:
    broken = []
    for target in links_of(page.read_text()):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif (
            anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked.read_text())
        ):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)} links nowhere: {broken}"


def test_readme_stays_a_front_door() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES, "move the detail to docs/"
    # CI runs the README's test command (.ci/run → scripts/test): the README says it.
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert "\nscripts/test\n" in text
    assert "\nscripts/run\n" in text
