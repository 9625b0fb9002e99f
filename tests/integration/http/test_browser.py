"""The sandbox's browser, for real: Chromium in the browser image, driven over REST
(upstream's command language) and MCP (the browser_* tools), on a site served from
inside the sandbox by `python -m http.server`."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp_types import ImageContent

from bay_mcp.limits import BROWSER_IMAGE
from tests.integration.http.conftest import HttpBay, error_of, mcp_http, running_server, text_of

BROWSER = ["python", "shell", "filesystem", "browser"]
PROFILES = json.dumps(
    [
        {"id": "browser", "image": BROWSER_IMAGE, "capabilities": BROWSER, "memory_mb": 1536},
        {"id": "offline", "image": BROWSER_IMAGE, "capabilities": BROWSER, "network": "none"},
        {"id": "plain", "warm_pool_size": 0},
        {"id": "brief", "image": BROWSER_IMAGE, "capabilities": BROWSER, "browser_idle_seconds": 5},
    ]
)
SITE = {
    "site/index.html": """<!doctype html><html><head><title>Search demo</title></head><body>
<h1>Find things</h1>
<form id="f"><label for="q">Search</label> <input id="q" name="q">
<button type="submit">Go</button></form>
<a href="report.csv" download>Download the report</a>
<script>
document.cookie = "seen=yes; max-age=86400; path=/";
document.getElementById("f").addEventListener("submit", (e) => {
  e.preventDefault();
  location.href = "result.html?q=" + encodeURIComponent(document.getElementById("q").value);
});
</script></body></html>""",
    "site/result.html": """<!doctype html><html><head><title>Results</title></head><body>
<p id="out"></p><script>
document.getElementById("out").textContent =
  "You searched for: " + new URLSearchParams(location.search).get("q");
</script></body></html>""",
    "site/report.csv": "a,b\n1,2\n",
    # A download the page starts by itself a moment after it loads: it lands between
    # calls, and the next call tells of it.
    "site/later.html": """<!doctype html><html><head><title>Later</title></head><body><script>
setTimeout(() => {
  const a = document.createElement("a");
  a.href = "report.csv"; a.download = "later.csv"; document.body.append(a); a.click();
}, 500);
</script></body></html>""",
}
HOME = "http://localhost:8000/index.html"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice",), BAY_PROFILES=PROFILES, BAY_GC_ENABLED="false") as bay:
        yield bay


def serve_site(client: httpx.Client, sandbox_id: str) -> None:
    for path, content in SITE.items():
        written = client.put(
            f"/v1/sandboxes/{sandbox_id}/filesystem/files", json={"path": path, "content": content}
        )
        assert written.status_code == 200, written.text
    started = client.post(
        f"/v1/sandboxes/{sandbox_id}/shell/exec",
        json={
            "command": "nohup python3 -m http.server 8000 --directory /workspace/site "
            ">/tmp/http.log 2>&1 & for i in $(seq 100); do "
            "curl -sf localhost:8000/index.html >/dev/null && exit 0; sleep 0.1; done; exit 1"
        },
    )
    assert started.json()["exit_code"] == 0, started.text


@pytest.fixture(scope="module")
def browsing(server: HttpBay) -> Iterator[tuple[httpx.Client, str]]:
    with server.client("alice") as client:
        created = client.post("/v1/sandboxes", json={"profile": "browser"})
        assert created.status_code == 201, created.text
        sandbox_id = created.json()["id"]
        serve_site(client, sandbox_id)
        yield client, sandbox_id
        client.delete(f"/v1/sandboxes/{sandbox_id}")


def browse(browsing: tuple[httpx.Client, str], *commands: str, **extra: Any) -> dict[str, Any]:
    client, sandbox_id = browsing
    if len(commands) == 1:
        response = client.post(
            f"/v1/sandboxes/{sandbox_id}/browser/exec", json={"cmd": commands[0], **extra}
        )
    else:
        response = client.post(
            f"/v1/sandboxes/{sandbox_id}/browser/exec_batch",
            json={"commands": list(commands), **extra},
        )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def ref_of(snapshot: str, role: str, name: str) -> str:
    """The ref of the line `- role "name" … [ref=eN]` in a snapshot."""
    for line in snapshot.splitlines():
        if f'{role} "{name}"' in line and "[ref=" in line:
            return "@" + line.split("[ref=", 1)[1].split("]", 1)[0]
    raise AssertionError(f'no {role} "{name}" with a ref in:\n{snapshot}')


def test_navigate_snapshot_type_submit_and_read_the_next_page(
    browsing: tuple[httpx.Client, str],
) -> None:
    opened = browse(browsing, f"open {HOME}")
    assert opened["success"], opened
    assert (opened["url"], opened["title"], opened["exit_code"]) == (HOME, "Search demo", 0)
    snapshot = browse(browsing, "snapshot")["output"]
    assert 'heading "Find things"' in snapshot
    field = ref_of(snapshot, "textbox", "Search")
    button = ref_of(snapshot, "button", "Go")
    interactive = browse(browsing, "snapshot -i")["output"]
    assert "Find things" not in interactive
    assert field[1:] in interactive

    done = browse(browsing, f"fill {field} blue whales", f"click {button}", "wait #out",
                  "get text #out")  # fmt: skip
    assert done["success"], done
    assert done["url"] == "http://localhost:8000/result.html?q=blue%20whales"
    assert done["title"] == "Results"
    assert [step["kind"] for step in done["results"]] == ["type", "click", "wait", "get"]
    assert done["results"][-1]["output"] == "You searched for: blue whales"


def test_a_stale_or_unknown_ref_says_to_take_a_new_snapshot(
    browsing: tuple[httpx.Client, str],
) -> None:
    browse(browsing, f"open {HOME}")
    snapshot = browse(browsing, "snapshot")["output"]
    field = ref_of(snapshot, "textbox", "Search")
    unknown = browse(browsing, "click @e9999")
    assert (unknown["success"], unknown["exit_code"]) == (False, 1)
    assert "take a new snapshot" in unknown["error"]
    browse(browsing, "reload")  # the page changed: its refs are gone
    stale = browse(browsing, f"fill {field} x")
    assert not stale["success"]
    assert "take a new snapshot" in stale["error"]


def test_a_screenshot_is_a_png_of_the_viewport(browsing: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = browsing
    shot = browse(browsing, f"open {HOME}", "screenshot shots/home.png")
    png = base64.b64decode(shot["results"][-1]["screenshot"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 720)
    saved = client.get(
        f"/v1/sandboxes/{sandbox_id}/filesystem/download", params={"path": "shots/home.png"}
    )
    assert saved.content == png


def test_a_download_lands_in_workspace_downloads(browsing: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = browsing
    browse(browsing, f"open {HOME}")
    link = ref_of(browse(browsing, "snapshot")["output"], "link", "Download the report")
    clicked = browse(browsing, f"click {link}")
    assert clicked["success"], clicked
    assert any(change.startswith("downloaded downloads/report") for change in clicked["changes"])
    listing = client.get(
        f"/v1/sandboxes/{sandbox_id}/filesystem/directories", params={"path": "downloads"}
    ).json()
    [saved] = [e["path"] for e in listing["entries"] if e["name"].startswith("report")]
    read = client.get(f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": saved})
    assert read.json()["content"] == "a,b\n1,2\n"


def test_the_browser_reaches_the_sandbox_by_the_name_ship(
    browsing: tuple[httpx.Client, str],
) -> None:
    # Upstream runs the browser in another container that reaches Ship as `ship`; here
    # that name is the sandbox itself.
    opened = browse(browsing, "open http://ship:8000/index.html")
    assert opened["success"], opened
    assert opened["title"] == "Search demo"


def test_a_download_that_lands_between_calls_is_told_in_the_next(
    browsing: tuple[httpx.Client, str],
) -> None:
    client, sandbox_id = browsing
    opened = browse(browsing, "open http://localhost:8000/later.html")
    assert opened["success"], opened
    deadline = time.monotonic() + 30
    while not any(c.startswith("downloaded downloads/later") for c in opened["changes"]):
        listing = client.get(
            f"/v1/sandboxes/{sandbox_id}/filesystem/directories", params={"path": "downloads"}
        ).json()
        if any(e["name"].startswith("later") for e in listing.get("entries", [])):
            break  # saved while no call ran
        assert time.monotonic() < deadline, "the page's download never landed"
        time.sleep(0.1)
    else:
        return  # it landed during the call itself, and that call said so
    told = browse(browsing, "get url")
    assert any(c.startswith("downloaded downloads/later") for c in told["changes"]), told


def test_cookies_survive_a_stop(browsing: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = browsing
    assert browse(browsing, f"open {HOME}", "eval document.cookie")["results"][-1]["output"] == (
        "seen=yes"
    )
    assert client.post(f"/v1/sandboxes/{sandbox_id}/stop").status_code == 200
    serve_site(client, sandbox_id)  # a new container: start the site again
    again = browse(browsing, "open http://localhost:8000/result.html", "eval document.cookie")
    assert again["launched"] is True
    assert again["results"][-1]["output"] == "seen=yes"


def test_file_urls_outside_the_workspace_are_refused(browsing: tuple[httpx.Client, str]) -> None:
    refused = browse(browsing, "open file:///etc/passwd")
    assert not refused["success"]
    assert "outside /workspace" in refused["error"]
    inside = browse(browsing, "open file:///workspace/site/result.html", "get title")
    assert inside["results"][-1]["output"] == "Results"


def test_the_history_keeps_browser_calls(browsing: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = browsing
    browse(browsing, "get url")
    browse(browsing, "get title", "get url")
    entries = client.get(f"/v1/sandboxes/{sandbox_id}/history", params={"limit": 2}).json()
    batch, single = entries["entries"]
    assert (batch["exec_type"], batch["code"]) == ("browser_batch", "get title\nget url")
    assert (single["exec_type"], single["code"]) == ("browser", "get url")
    only = client.get(
        f"/v1/sandboxes/{sandbox_id}/history", params={"exec_type": "browser", "limit": 1}
    )
    assert only.json()["entries"][0]["id"] == single["id"]


def test_an_idle_browser_closes_and_the_next_call_starts_it(server: HttpBay) -> None:
    with server.client("alice") as client:
        sandbox_id = client.post("/v1/sandboxes", json={"profile": "brief"}).json()["id"]
        try:
            first = browse((client, sandbox_id), "open about:blank")
            assert first["launched"] is True
            count = {"command": "pgrep -c -x chromium || true"}
            exec_url = f"/v1/sandboxes/{sandbox_id}/shell/exec"
            assert int(client.post(exec_url, json=count).json()["output"]) > 0
            deadline = time.monotonic() + 60  # idle after 5 s
            while int(client.post(exec_url, json=count).json()["output"]) > 0:
                assert time.monotonic() < deadline, "the idle browser never closed"
                time.sleep(0.5)
            again = browse((client, sandbox_id), "get url")
            assert (again["launched"], again["steps"][0]["output"]) == (True, "about:blank")
        finally:
            client.delete(f"/v1/sandboxes/{sandbox_id}")


def test_bad_commands_and_profiles_without_a_browser_are_clear_errors(server: HttpBay) -> None:
    with server.client("alice") as client:
        plain = client.post("/v1/sandboxes", json={"profile": "plain"}).json()["id"]
        try:
            refused = client.post(f"/v1/sandboxes/{plain}/browser/exec", json={"cmd": "get url"})
            error = error_of(refused, 400, "capability_not_supported")
            assert "browser" in str(error["message"])
            unknown = client.post(f"/v1/sandboxes/{plain}/browser/exec", json={"cmd": "scroll"})
            message = str(error_of(unknown, 400, "validation_error")["message"])
            assert "unknown browser command 'scroll'" in message
            assert "snapshot [-i]" in message
            extra = client.post(
                f"/v1/sandboxes/{plain}/browser/exec", json={"cmd": "get url", "tab": 1}
            )
            assert "tab" in str(error_of(extra, 400, "validation_error")["message"])
        finally:
            client.delete(f"/v1/sandboxes/{plain}")


def test_network_none_still_browses_its_own_localhost_only(server: HttpBay) -> None:
    with server.client("alice") as client:
        sandbox_id = client.post("/v1/sandboxes", json={"profile": "offline"}).json()["id"]
        try:
            serve_site(client, sandbox_id)
            local = browse((client, sandbox_id), f"open {HOME}", "get title")
            assert local["results"][-1]["output"] == "Search demo"
            outside = browse((client, sandbox_id), "open http://example.com", timeout=20)
            assert not outside["success"]
            assert "ERR_" in outside["error"]
        finally:
            client.delete(f"/v1/sandboxes/{sandbox_id}")


async def test_the_browser_tools_over_mcp(
    server: HttpBay, browsing: tuple[httpx.Client, str]
) -> None:
    _, sandbox_id = browsing
    async with mcp_http(server, "alice") as client:
        opened = await client.call_tool("browser_navigate", {"sandbox_id": sandbox_id, "url": HOME})
        assert not opened.is_error, text_of(opened)
        assert "[page: http://localhost:8000/index.html — Search demo]" in text_of(opened)
        snapshot = await client.call_tool("browser_snapshot", {"sandbox_id": sandbox_id})
        field = ref_of(text_of(snapshot), "textbox", "Search")[1:]
        typed = await client.call_tool(
            "browser_type",
            {"sandbox_id": sandbox_id, "ref": field, "text": "otters", "submit": True},
        )
        assert not typed.is_error, text_of(typed)
        assert typed.structured_content is not None
        assert typed.structured_content["url"] == ("http://localhost:8000/result.html?q=otters")
        stale = await client.call_tool("browser_click", {"sandbox_id": sandbox_id, "ref": field})
        assert stale.is_error
        assert "take a new snapshot" in text_of(stale)
        shot = await client.call_tool("browser_screenshot", {"sandbox_id": sandbox_id})
        [image] = [block for block in shot.content if isinstance(block, ImageContent)]
        assert base64.b64decode(image.data)[:4] == b"\x89PNG"
        tabs = await client.call_tool(
            "browser_tabs", {"sandbox_id": sandbox_id, "action": "new", "url": HOME}
        )
        assert "* 1: Search demo" in text_of(tabs), text_of(tabs)
        closed = await client.call_tool(
            "browser_tabs", {"sandbox_id": sandbox_id, "action": "close", "index": 1}
        )
        assert "1:" not in text_of(closed).split("[page")[0], text_of(closed)
        value = await client.call_tool(
            "browser_evaluate", {"sandbox_id": sandbox_id, "expression": "1 + 41"}
        )
        assert text_of(value).startswith("42")


def release_skill(client: httpx.Client, skill_key: str, execution_id: str, payload: Any) -> None:
    """A candidate from the run with `payload`, evaluated as passed, promoted stable."""
    stored = client.post("/v1/skills/payloads", json={"payload": payload})
    assert stored.status_code == 201, stored.text
    made = client.post(
        "/v1/skills/candidates",
        json={
            "skill_key": skill_key,
            "source_execution_ids": [execution_id],
            "payload_ref": stored.json()["payload_ref"],
        },
    )
    assert made.status_code == 201, made.text
    one = f"/v1/skills/candidates/{made.json()['id']}"
    assert client.post(f"{one}/evaluate", json={"passed": True}).status_code == 200
    promoted = client.post(f"{one}/promote", json={"stage": "stable"})
    assert promoted.status_code == 200, promoted.text


def test_a_learned_sequence_is_traced_released_and_replayed_on_a_fresh_sandbox(
    browsing: tuple[httpx.Client, str],
) -> None:
    client, sandbox_id = browsing
    commands = [f"open {HOME}", "fill #q grey seals", "click button", "wait #out",
                "get text #out"]  # fmt: skip
    learned = browse(browsing, *commands, learn=True, include_trace=True)
    assert learned["success"], learned
    assert learned["results"][-1]["output"] == "You searched for: grey seals"
    trace_ref = learned["trace_ref"]
    assert trace_ref.startswith("trace:")

    traced = client.get(f"/v1/sandboxes/{sandbox_id}/browser/traces/{trace_ref}")
    assert traced.status_code == 200, traced.text
    trace = traced.json()
    assert trace["execution_id"] == learned["execution_id"]
    assert [step["cmd"] for step in trace["steps"]] == commands
    assert all(step["success"] for step in trace["steps"])
    entry = client.get(f"/v1/sandboxes/{sandbox_id}/history/{learned['execution_id']}")
    assert "learn" in entry.json()["tags"].split(","), entry.text
    unknown = client.get(f"/v1/sandboxes/{sandbox_id}/browser/traces/trace:nope")
    error_of(unknown, 404, "not_found")

    release_skill(client, "seal-search", learned["execution_id"], {"commands": trace["commands"]})
    created = client.post("/v1/sandboxes", json={"profile": "browser"})
    assert created.status_code == 201, created.text
    fresh = created.json()["id"]
    try:
        serve_site(client, fresh)
        replayed = client.post(f"/v1/sandboxes/{fresh}/browser/skills/seal-search/run", json={})
        assert replayed.status_code == 200, replayed.text
        again = replayed.json()
        assert again["success"], again
        assert again["launched"]
        assert (again["url"], again["title"]) == (learned["url"], learned["title"])
        assert again["results"][-1]["output"] == "You searched for: grey seals"
        assert again["completed_steps"] == again["total_steps"] == len(commands)
    finally:
        client.delete(f"/v1/sandboxes/{fresh}")


def test_replaying_a_skill_without_a_release_or_commands_is_refused(
    browsing: tuple[httpx.Client, str],
) -> None:
    client, sandbox_id = browsing
    missing = client.post(f"/v1/sandboxes/{sandbox_id}/browser/skills/never-made/run")
    assert "No active release found" in str(error_of(missing, 404, "not_found")["message"])
    ran = browse(browsing, "get title")
    release_skill(client, "no-commands", ran["execution_id"], {"steps": ["open x"]})
    bad = client.post(f"/v1/sandboxes/{sandbox_id}/browser/skills/no-commands/run")
    assert "holds no browser commands" in str(error_of(bad, 400, "validation_error")["message"])
