"""Egress by allowlist and secrets the sandbox never sees, end to end: a real Bay over
HTTP, real sandboxes on their own networks, the real egress proxy, and an "outside"
container the proxy resolves the test host names to (tests/integration/egress)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.integration.conftest import docker
from tests.integration.egress.outside_fixture import Outside, outside
from tests.integration.http.conftest import HttpBay, error_of, mcp_http, running_server

PROFILE = "egress-test"
ALLOW = ["api.egress.test", "other.egress.test", "pypi.egress.test"]


@pytest.fixture(scope="module")
def world() -> Iterator[Outside]:
    with outside() as made:
        yield made


@pytest.fixture(scope="module")
def bay(world: Outside) -> Iterator[HttpBay]:
    profiles = [
        {"id": "python-default", "warm_pool_size": 0},
        {
            "id": PROFILE,
            "warm_pool_size": 0,
            "ca_bundle": str(world.bundle),
            "egress": {"mode": "allowlist", "allow": ALLOW},
        },
    ]
    env = {
        "BAY_PROFILES": json.dumps(profiles),
        # The load test's twenty sandboxes run at once, all alice's.
        "BAY_MAX_CONCURRENT_EXECS_PER_OWNER": "32",
        **world.egress_env(),
    }
    with running_server(("alice", "bob", "admin"), BAY_ALLOW_ANONYMOUS="false", **env) as server:
        try:
            yield server
        finally:
            docker("rm", "-f", f"bay-egress-{server.instance_id}", check=False)


@pytest.fixture(scope="module")
def alice(bay: HttpBay) -> Iterator[httpx.Client]:
    with bay.client("alice") as client:
        yield client


def create(client: httpx.Client, **body: object) -> str:
    made = client.post("/v1/sandboxes", json={"profile": PROFILE, **body})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def shell(
    client: httpx.Client, sandbox_id: str, command: str, timeout: int = 120
) -> dict[str, object]:
    ran = client.post(
        f"/v1/sandboxes/{sandbox_id}/shell/exec", json={"command": command, "timeout": timeout}
    )
    assert ran.status_code == 200, ran.text
    result: dict[str, object] = ran.json()
    return result


def output(client: httpx.Client, sandbox_id: str, command: str) -> str:
    result = shell(client, sandbox_id, command)
    assert result["exit_code"] == 0, result
    return str(result["output"])


def test_allowed_hosts_are_reached_by_curl_pip_requests_and_node(alice: httpx.Client) -> None:
    sandbox = create(alice)
    text = output(
        alice,
        sandbox,
        "set -e\n"
        "curl -sS https://api.egress.test/curl\n"
        "curl -sS http://api.egress.test/plain\n"
        "pip install -q --disable-pip-version-check --index-url "
        "https://pypi.egress.test/simple/ requests\n"
        "python -c \"import requests; print(requests.get('https://api.egress.test/requests')"
        ".json()['path'])\"\n"
        "node -e \"fetch('https://api.egress.test/node').then(r => r.json())"
        '.then(j => console.log(j.path))"\n',
    )
    assert '"path": "/curl"' in text
    assert '"tls": true' in text
    assert '"path": "/plain"' in text
    assert "/requests" in text
    assert "/node" in text


def test_a_host_not_allowed_is_refused_with_a_403_naming_it(alice: httpx.Client) -> None:
    sandbox = create(alice)
    text = output(
        alice,
        sandbox,
        "curl -sS http://blocked.egress.test/x; echo\n"
        "curl -sS -o /dev/null -w 'https %{http_code} %{http_connect}\\n' "
        "https://blocked.egress.test/x; echo exit=$?",
    )
    assert "Bay egress refused blocked.egress.test:80" in text
    assert "no allow rule of the profile's policy matches" in text
    assert "https 000 403" in text  # the CONNECT was answered 403
    assert "exit=0" not in text


def test_nothing_gets_out_but_through_the_proxy(alice: httpx.Client, world: Outside) -> None:
    sandbox = create(alice)
    other = create(alice)
    other_address = output(
        alice, other, "python -c 'import socket; print(socket.gethostbyname(socket.gethostname()))'"
    ).strip()
    script = f"""
import socket
def tcp():
    try:
        socket.create_connection(("{world.address}", 9000), timeout=3).recv(4)
        return "reached"
    except OSError as exc:
        return f"no: {{exc.__class__.__name__}}"
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    try:
        s.sendto(b"ping", ("{world.address}", 53)); s.recvfrom(4)
        return "reached"
    except OSError as exc:
        return f"no: {{exc.__class__.__name__}}"
def dns():
    try:
        # A real registry's name: the host's resolver knows it (a bridge sandbox resolves
        # it: test_hostile_code.py), a proxied sandbox's network has no resolver out.
        return "resolved " + socket.gethostbyname("pypi.org")
    except OSError as exc:
        return f"no: {{exc.__class__.__name__}}"
print("tcp", tcp()); print("udp", udp()); print("dns", dns())
"""
    text = output(alice, sandbox, f"python - <<'EOF'\n{script}\nEOF")
    assert "tcp no:" in text, text
    assert "udp no:" in text, text
    assert "dns no:" in text, text
    # Through the proxy, an address literal is decided too, and no sandbox network is
    # ever reachable (another sandbox's Ship).
    refused = output(alice, sandbox, f"curl -sS http://{world.address}:9000/; echo")
    assert "Bay egress refused" in refused
    lateral = output(alice, sandbox, f"curl -sS http://{other_address}:8123/meta; echo")
    assert "never reachable" in lateral, lateral


SMUGGLING = """
import socket, ssl
PROXY = ("bay-egress", 3128)
def tunnel(target):
    sock = socket.create_connection(PROXY, timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n".encode())
    answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 200"), answer
    return sock
# An allowed CONNECT whose TLS names a host that is not allowed (domain fronting).
context = ssl.create_default_context()
tls = context.wrap_socket(tunnel("api.egress.test:443"), server_hostname="blocked.egress.test")
tls.sendall(b"GET /fronted HTTP/1.1\\r\\nHost: blocked.egress.test\\r\\n\\r\\n")
print("fronted:", tls.recv(4096).decode().splitlines()[0])
# An allowed host and port carrying neither TLS nor HTTP.
raw = tunnel("api.egress.test:9000")
raw.sendall(b"ping\\n")
try:
    print("raw:", raw.recv(4096) or b"closed")
except OSError as exc:
    print("raw: error", exc.__class__.__name__)
"""


def test_what_is_neither_the_allowed_host_nor_http_or_tls_is_refused(
    alice: httpx.Client,
) -> None:
    sandbox = create(alice)
    text = output(
        alice,
        sandbox,
        # A Host header naming a host that is not allowed, on an allowed address.
        "curl -sS -H 'Host: blocked.egress.test' http://api.egress.test/; echo\n"
        f"python - <<'EOF'\n{SMUGGLING}\nEOF",
    )
    assert "Bay egress refused blocked.egress.test:80" in text
    assert "fronted: HTTP/1.1 403" in text, text
    assert "pong" not in text, text


def test_a_sandbox_may_narrow_its_profile_never_widen_it(alice: httpx.Client) -> None:
    wider = alice.post(
        "/v1/sandboxes",
        json={"profile": PROFILE, "egress": {"mode": "allowlist", "allow": ["example.org"]}},
    )
    error = error_of(wider, 400, "validation_error")
    assert "example.org" in str(error["message"])
    opened = alice.post("/v1/sandboxes", json={"profile": PROFILE, "egress": {"mode": "open"}})
    error_of(opened, 400, "validation_error")
    narrow = create(alice, egress={"mode": "allowlist", "allow": ["api.egress.test"]})
    shown = alice.get(f"/v1/sandboxes/{narrow}").json()
    assert shown["egress"] == {"mode": "allowlist", "allow": ["api.egress.test"], "deny": []}
    text = output(
        alice,
        narrow,
        "curl -sS https://api.egress.test/ok; echo; curl -sS http://other.egress.test/; echo",
    )
    assert '"path": "/ok"' in text
    assert "no allow rule of the sandbox's policy matches" in text


def test_a_bound_secret_reaches_its_host_and_nowhere_else(
    bay: HttpBay, alice: httpx.Client
) -> None:
    value = f"s3cr3t-{secrets.token_hex(12)}"
    stored = alice.put("/v1/secrets/TEST_KEY", json={"value": value})
    assert stored.status_code in (200, 201), stored.text
    sandbox = create(
        alice, secrets=[{"secret": "TEST_KEY", "env": "API_KEY", "hosts": ["api.egress.test"]}]
    )
    text = output(
        alice,
        sandbox,
        'curl -sS -H "Authorization: Bearer $API_KEY" https://api.egress.test/bound; echo\n'
        'curl -sS -H "Authorization: Bearer $API_KEY" https://other.egress.test/unbound; echo\n'
        'curl -sS -H "Authorization: Bearer $API_KEY" http://api.egress.test/plain; echo\n'
        "echo ENV=$API_KEY\n"
        "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep API_KEY | sort -u",
    )
    echoes = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    # The outside answers the Authorization header it received as its SHA-256.
    by_path = {echo["path"]: echo["authorization_sha256"] for echo in echoes}
    assert by_path["/bound"] == _sha256(f"Bearer {value}")
    placeholder = re.search(r"ENV=(bay-secret:[A-Za-z0-9_-]+)", text)
    assert placeholder is not None, text
    assert by_path["/unbound"] == _sha256(f"Bearer {placeholder.group(1)}")
    # Never over plain HTTP, where it would travel in clear.
    assert by_path["/plain"] == _sha256(f"Bearer {placeholder.group(1)}")
    # The sandbox holds only the placeholder: its environment, its history, the views.
    assert value not in text
    history = alice.get(f"/v1/sandboxes/{sandbox}/history").text
    assert value not in history
    shown = alice.get(f"/v1/sandboxes/{sandbox}").json()
    assert shown["secrets"] == [
        {"secret": "TEST_KEY", "env": "API_KEY", "hosts": ["api.egress.test"]}
    ]
    assert value not in json.dumps(shown)
    # Nor Bay's log, nor its database in clear.
    assert value not in (bay.data_dir / "server.log").read_text()
    for database in bay.data_dir.glob("*.db"):
        assert value.encode() not in database.read_bytes()
        with sqlite3.connect(database) as db:
            dumped = "\n".join(db.iterdump())
        assert value not in dumped


def test_the_egress_log_and_metric_count_allowed_and_refused(
    bay: HttpBay, alice: httpx.Client
) -> None:
    sandbox = create(alice)
    output(
        alice,
        sandbox,
        "curl -sS -o /dev/null https://api.egress.test/logged; curl -sS -o /dev/null http://blocked.egress.test/",
    )
    deadline = time.monotonic() + 30
    while True:
        log = alice.get(f"/v1/sandboxes/{sandbox}/egress/log").json()
        hosts = {(item["host"], item["allowed"]) for item in log["items"]}
        if {("api.egress.test", True), ("blocked.egress.test", False)} <= hosts:
            break
        assert time.monotonic() < deadline, log
        time.sleep(0.2)
    refused = next(item for item in log["items"] if not item["allowed"])
    assert refused["port"] == 80
    assert refused["method"] == "GET"
    assert "no allow rule" in refused["reason"]
    allowed = next(item for item in log["items"] if item["allowed"])
    assert allowed["method"] == "CONNECT"
    assert allowed["bytes"] > 0
    assert "allow 'api.egress.test'" in allowed["reason"]
    with bay.client("admin") as admin:
        metrics = admin.get("/metrics").text
    counted = dict(re.findall(r'bay_egress_requests_total\{decision="(\w+)"\} ([0-9.]+)', metrics))
    assert float(counted["allowed"]) >= 1
    assert float(counted["refused"]) >= 1
    with bay.client("bob") as bob:
        error_of(bob.get(f"/v1/sandboxes/{sandbox}/egress/log"), 404, "not_found")


async def test_the_egress_log_over_mcp(bay: HttpBay, alice: httpx.Client) -> None:
    sandbox = create(alice)
    output(alice, sandbox, "curl -sS -o /dev/null http://blocked.egress.test/mcp")
    async with mcp_http(bay, "alice") as client:
        deadline = time.monotonic() + 30
        while True:
            result = await client.call_tool("get_egress_log", {"sandbox_id": sandbox})
            items = (result.structured_content or {}).get("items", [])
            if any(item["host"] == "blocked.egress.test" for item in items):
                break
            assert time.monotonic() < deadline, result
            time.sleep(0.2)


def test_a_killed_proxy_fails_closed_and_bay_starts_it_again(
    bay: HttpBay, alice: httpx.Client
) -> None:
    sandbox = create(alice)
    output(alice, sandbox, "curl -sS -o /dev/null https://api.egress.test/before")
    proxy = f"bay-egress-{bay.instance_id}"
    started = docker("inspect", "-f", "{{.State.StartedAt}}", proxy)
    docker("kill", proxy)
    deadline = time.monotonic() + 60
    while True:
        result = shell(alice, sandbox, "curl -sS --max-time 5 https://api.egress.test/after")
        if result["exit_code"] == 0:
            break
        assert time.monotonic() < deadline, result
    assert docker("inspect", "-f", "{{.State.StartedAt}}", proxy) != started
    # Told of the sandbox again: its policy still holds.
    assert "Bay egress refused" in output(
        alice, sandbox, "curl -sS http://blocked.egress.test/; echo"
    )


def test_twenty_sandboxes_fifty_requests_each_through_the_proxy(
    bay: HttpBay, alice: httpx.Client
) -> None:
    sandboxes = [create(alice) for _ in range(20)]
    script = (
        "python - <<'EOF'\n"
        "import urllib.request\n"
        "ok = sum(urllib.request.urlopen(f'https://api.egress.test/load/{n}').status == 200 "
        "for n in range(50))\n"
        "print('ok', ok)\n"
        "EOF"
    )
    with ThreadPoolExecutor(max_workers=20) as pool:
        texts = list(pool.map(lambda sandbox: output(alice, sandbox, script), sandboxes))
    assert all("ok 50" in text for text in texts), texts
    usage = docker(
        "stats", "--no-stream", "--format", "{{.MemUsage}}", f"bay-egress-{bay.instance_id}"
    )
    used, _, _limit = usage.partition(" / ")
    assert _mib(used) < 256, usage  # bounded: bodies stream, flows are not kept


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _mib(text: str) -> float:
    number, unit = re.match(r"([0-9.]+)\s*([A-Za-z]+)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]
