"""Metrics: a real Prometheus (Debian's package, started here on a free loopback port)
scrapes Bay's /metrics; the execution counters move after execs, read back through
Prometheus's own HTTP API. Never skipped: without the binary the test fails saying how
to install it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.http.conftest import HttpBay, free_port, running_server

SCRAPE_INTERVAL = "1s"
SCRAPE_LABELS = ("__name__", "job", "instance")  # Prometheus's own, not Bay's


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "admin")) as bay:
        yield bay


@pytest.fixture(scope="module")
def prometheus(server: HttpBay) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run scripts/ensure-prometheus (root) or "
                    "apt-get install prometheus", pytrace=False)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bay-prometheus-"))
    target = server.url.removeprefix("http://")
    (work / "prometheus.yml").write_text(
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n"
        f"scrape_configs:\n  - job_name: bay\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    with (work / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={work / 'prometheus.yml'}",
             f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (work / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def query(prometheus: str, expression: str) -> dict[tuple[str, ...], float]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}).json()
    assert answer["status"] == "success", answer
    found: dict[tuple[str, ...], float] = {}
    for series in answer["data"]["result"]:
        labels = sorted(series["metric"].items())
        key = tuple(f"{k}={v}" for k, v in labels if k not in SCRAPE_LABELS)
        found[key] = float(series["value"][1])
    return found


def test_prometheus_sees_executions_counted(server: HttpBay, prometheus: str) -> None:
    with server.client("alice") as alice:
        sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
        for code in ("print(1)", "print(2)", "1/0"):
            alice.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": code})
        alice.post(f"/v1/sandboxes/{sandbox}/shell/exec", json={"command": "true"})
        deadline = time.monotonic() + 60
        expected = {
            ("exec_type=python", "outcome=success"): 2.0,
            ("exec_type=python", "outcome=failure"): 1.0,
            ("exec_type=shell", "outcome=success"): 1.0,
        }
        while True:
            seen = query(prometheus, "bay_exec_total")
            if all(seen.get(labels) == count for labels, count in expected.items()):
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.5)
        started = query(prometheus, "bay_session_start_seconds_count")
        assert sum(started.values()) >= 1
        ready = query(prometheus, 'bay_sandboxes{state="ready"}')
        assert sum(ready.values()) >= 1
        alice.delete(f"/v1/sandboxes/{sandbox}")


def test_metrics_text_has_bounded_labels(server: HttpBay) -> None:
    # Its own exec: the route label must be there whatever ran before.
    with server.client("alice") as alice:
        sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
        ran = alice.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "1"})
        assert ran.status_code == 200, ran.text
        alice.delete(f"/v1/sandboxes/{sandbox}")
    text = httpx.get(f"{server.url}/metrics").text  # open on a loopback bind
    assert "# TYPE bay_exec_total counter" in text
    assert 'route="/v1/sandboxes/{sandbox_id}/python/exec"' in text
    assert "sandbox-" not in text  # no ids as label values
    for name in ("bay_sandboxes", "bay_sessions_running", "bay_session_start_seconds",
                 "bay_exec_duration_seconds", "bay_reaper_cleaned_total",
                 "bay_docker_errors_total", "bay_history_write_failures_total",
                 "bay_http_requests_total",
                 "bay_http_request_duration_seconds"):  # fmt: skip
        assert f"# HELP {name}" in text or f"# HELP {name.removesuffix('_total')}" in text, name
