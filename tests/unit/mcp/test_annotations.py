"""Every tool's hints, as a host reads them to decide what to ask a person before a call,
checked against one table with the reason for each.

R: read-only. Otherwise D: destructive (it may lose or overwrite something), I:
idempotent (calling it again with the same arguments changes nothing more). O: open
world (it may reach beyond Bay: code, commands and the browser reach the network as
far as the sandbox's egress policy allows; a hint is per tool, not per sandbox, so a
sandbox with egress "none" does not change it). The spec gives destructive and
idempotent meaning only for tools that are not read-only.
"""

from __future__ import annotations

from mcp import Client

from bay_mcp.bay import Bay
from bay_mcp.mcp.server import create_mcp_server

# tool: (hints, why)
HINTS = {
    "create_sandbox": ("", "each call makes another sandbox"),
    "list_sandboxes": ("R", "lists"),
    "get_sandbox": ("R", "reads"),
    "stop_sandbox": ("DI", "the kernel's variables and running processes are lost"),
    "delete_sandbox": ("DI", "its files are gone; a deleted sandbox stays deleted"),
    "extend_sandbox_ttl": ("", "each call adds its seconds to the expiry again"),
    "list_profiles": ("R", "lists"),
    "python_exec": ("DO", "code may change or delete files and reach the network"),
    "run_code": ("DO", "as python_exec, in any language"),
    "shell_exec": ("DO", "as python_exec, in bash"),
    "read_file": ("R", "reads"),
    "write_file": ("DI", "overwrites the file; the same content again changes nothing"),
    "edit_file": ("D", "a replacement applied again finds different text"),
    "list_files": ("R", "lists"),
    "delete_file": ("DI", "the file is gone; gone twice is gone once"),
    "get_execution_history": ("R", "reads"),
    "get_execution": ("R", "reads"),
    "annotate_execution": ("I", "sets the run's notes; nothing is lost"),
    "browser_navigate": ("O", "loads a page from the web"),
    "browser_snapshot": ("R", "reads the loaded page"),
    "browser_click": ("O", "the page may send requests to its site"),
    "browser_type": ("O", "as a click"),
    "browser_press": ("O", "as a click"),
    "browser_select": ("O", "as a click"),
    "browser_screenshot": ("R", "reads the loaded page"),
    "browser_evaluate": ("O", "page script may fetch"),
    "browser_tabs": ("O", "a new tab may open a URL"),
    "run_browser_skill": ("O", "replays browser commands on the web"),
    "expose_port": ("I", "publishes a URL of Bay's; exposing it again gives the same port"),
    "list_ports": ("R", "lists"),
    "unexpose_port": ("DI", "its URL stops working"),
    "snapshot_sandbox": ("", "each call takes another snapshot"),
    "list_snapshots": ("R", "lists"),
    "restore_snapshot": ("DI", "replaces the files with the snapshot's; again: the same"),
    "delete_snapshot": ("DI", "the snapshot is gone; gone twice is gone once"),
    "fork_sandbox": ("", "each call makes another sandbox"),
    "process_start": ("DO", "runs a command, as shell_exec"),
    "process_list": ("R", "lists"),
    "process_output": ("R", "reads"),
    "process_input": ("DO", "what is typed is run by the program"),
    "process_signal": ("D", "may end the process"),
    "process_wait": ("R", "waits and reads"),
    "terminal_screen": ("R", "reads"),
    "terminal_resize": ("I", "sets a size"),
    "terminal_link": ("R", "a signed link; nothing changes"),
    "create_skill_payload": ("", "each call stores another payload"),
    "get_skill_payload": ("R", "reads"),
    "create_skill_candidate": ("", "each call makes another candidate"),
    "evaluate_skill_candidate": ("", "each call records another evaluation"),
    "promote_skill_candidate": ("", "each call makes another release"),
    "list_skill_candidates": ("R", "lists"),
    "list_skill_releases": ("R", "lists"),
    "rollback_skill_release": ("", "each call makes another release"),
    "delete_skill_release": ("DI", "the release is gone; the skill has none active"),
    "delete_skill_candidate": ("DI", "the candidate is gone"),
    "set_secret": ("DI", "replaces the secret's value; the same value again changes nothing"),
    "list_secrets": ("R", "names only"),
    "delete_secret": ("DI", "the secret is gone; requests go out without it"),
    "get_egress_log": ("R", "reads"),
    "show_sandbox": ("R", "shows"),
    "show_run_pictures": ("R", "shows"),
}


async def test_every_tools_hints_are_the_tables(bay: Bay) -> None:
    async def ready() -> Bay:
        return bay

    async with Client(create_mcp_server(ready, lambda ctx: "alice")) as client:
        tools = (await client.list_tools()).tools
    assert sorted(tool.name for tool in tools) == sorted(HINTS)
    wrong = []
    for tool in tools:
        hints = tool.annotations
        assert hints is not None, tool.name
        expected, _ = HINTS[tool.name]
        read_only = "R" in expected
        seen = hints.read_only_hint is True
        if not read_only:
            seen = (
                hints.read_only_hint is False
                and hints.destructive_hint is ("D" in expected)
                and hints.idempotent_hint is ("I" in expected)
            )
        if not seen or hints.open_world_hint is not ("O" in expected):
            wrong.append(f"{tool.name}: {hints} is not {expected!r}")
    assert not wrong, "\n".join(wrong)
