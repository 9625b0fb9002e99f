"""What the egress proxy costs a request, against the same request made directly.

    .venv/bin/python bench/egress.py [--requests 200] [--threads 8]

Starts the "outside" of the egress tests (HTTP and HTTPS servers in a container on the
proxy's outside network, tests/integration/egress) and a real `bay-mcp serve` whose
profile is an allowlist of the test host names, with a secret bound to one of them.
The same client script (urllib: a new connection per request, as curl and most agent
code make them) then runs:
  direct    in a plain container of Ship's image on the outside network: no proxy
  proxied   in a sandbox of that profile, through the proxy
and measures, one request at a time, the latency of: plain HTTP; HTTPS passed through
to other.egress.test (the proxy sees only the CONNECT and the SNI); HTTPS to
api.egress.test, to which the secret is bound, with its placeholder in a header (TLS
intercepted, the value put in). Then throughput: `--threads` threads making
`--requests` HTTPS requests (passed through) in all. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

import httpx
from common import HEADER, docker, http_server, summary

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bay_mcp.drivers.docker_egress import OUTSIDE_NETWORK
from bay_mcp.limits import DEFAULT_IMAGE
from tests.integration.egress.outside_fixture import outside

CLIENT = r"""
import json, os, ssl, sys, threading, time, urllib.request
n, threads, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=ca)
opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
key = os.environ.get("API_KEY", "direct-key")
def get(url, headers=None):
    started = time.perf_counter()
    with opener.open(urllib.request.Request(url, headers=headers or {})) as answer:
        answer.read()
        assert answer.status == 200
    return (time.perf_counter() - started) * 1000
figures = {
    "http": [get("http://api.egress.test/b") for _ in range(n)],
    "https": [get("https://other.egress.test/b") for _ in range(n)],
    "https+secret": [get("https://api.egress.test/b", {"Authorization": "Bearer " + key})
                     for _ in range(n)],
}
done = []
def worker(count):
    for _ in range(count):
        get("https://other.egress.test/t")
        done.append(1)
started = time.perf_counter()
workers = [threading.Thread(target=worker, args=(n // threads,)) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
figures["throughput"] = len(done) / (time.perf_counter() - started)
print("FIGURES " + json.dumps(figures))
"""


def figures_of(text: str) -> dict[str, object]:
    line = next(line for line in text.splitlines() if line.startswith("FIGURES "))
    figures: dict[str, object] = json.loads(line.removeprefix("FIGURES "))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with outside() as world:
        hosts = [f"{name}:{world.address}" for name in ("api.egress.test", "other.egress.test")]
        direct = docker(
            "run", "--rm", "--network", OUTSIDE_NETWORK, *(f"--add-host={h}" for h in hosts),
            "-v", f"{world.ca}:/ca.pem:ro", "--entrypoint", "/opt/ship/bin/python",
            DEFAULT_IMAGE, "-c", CLIENT, str(args.requests), str(args.threads), "/ca.pem",
        )  # fmt: skip
        profile = {
            "id": "egress-bench",
            "warm_pool_size": 0,
            "ca_bundle": str(world.bundle),
            "egress": {"mode": "allowlist", "allow": ["api.egress.test", "other.egress.test"]},
        }
        with (
            http_server([profile], world.egress_env()) as server,
            httpx.Client(base_url=server.url, timeout=600) as client,
        ):
            client.put("/v1/secrets/BENCH_KEY", json={"value": secrets.token_hex(16)})
            binding = {"secret": "BENCH_KEY", "env": "API_KEY", "hosts": ["api.egress.test"]}
            made = client.post(
                "/v1/sandboxes", json={"profile": "egress-bench", "secrets": [binding]}
            )
            made.raise_for_status()
            sandbox = made.json()["id"]
            client.put(
                f"/v1/sandboxes/{sandbox}/filesystem/files",
                json={"path": "client.py", "content": CLIENT},
            ).raise_for_status()
            ran = client.post(
                f"/v1/sandboxes/{sandbox}/shell/exec",
                json={
                    "command": f"python client.py {args.requests} {args.threads} $SSL_CERT_FILE",
                    "timeout": 300,
                },
            )
            ran.raise_for_status()
            proxied = ran.json()["output"]
            docker("rm", "-f", f"bay-egress-{server.env['BAY_INSTANCE_ID']}")
    report(figures_of(direct), figures_of(proxied), args)


def report(direct: dict[str, object], proxied: dict[str, object], args: argparse.Namespace) -> None:
    print(f"{args.requests} requests each, one at a time; throughput: {args.threads} threads")
    print(HEADER)
    for name in ("http", "https", "https+secret"):
        for where, figures in (("direct", direct), ("proxied", proxied)):
            values = figures[name]
            assert isinstance(values, list)
            print(summary(f"{name} {where}", values))
    for where, figures in (("direct", direct), ("proxied", proxied)):
        print(f"throughput {where}: {figures['throughput']:.0f} requests/s")
    ratio = float(str(direct["throughput"])) / float(str(proxied["throughput"]))
    print(f"throughput, direct / proxied: {ratio:.2f}")


if __name__ == "__main__":
    main()
