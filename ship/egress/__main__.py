"""`python -m ship.egress`: the proxy (mitmproxy, our addon) and its control API in one
event loop. Configured by the environment Bay starts the container with:

  BAY_EGRESS_TOKEN         the control API's bearer token
  BAY_EGRESS_CA            the installation's CA, certificate and key (PEM): what
                           intercepted TLS is signed with (sandboxes trust it)
  BAY_EGRESS_DENY          more ranges never reached (the sandbox networks), comma-separated
  BAY_EGRESS_UPSTREAM_CA   more CAs trusted for intercepted hosts' servers (PEM), optional
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn
from mitmproxy import addons, options
from mitmproxy.addons import errorcheck
from mitmproxy.master import Master

from ship.egress.addon import EgressAddon
from ship.egress.control import control_app
from ship.egress.protocol import CONTROL_PORT, PROXY_PORT
from ship.egress.rules import always_denied
from ship.egress.state import EgressState

CONFDIR = Path("/tmp/egress")
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def _confdir() -> tuple[Path, Path]:
    """mitmproxy's CA file (its confdir) and the bundle it verifies servers with."""
    CONFDIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    (CONFDIR / "mitmproxy-ca.pem").write_text(os.environ["BAY_EGRESS_CA"])
    (CONFDIR / "mitmproxy-ca.pem").chmod(0o600)
    trusted = CONFDIR / "upstream-ca.pem"
    trusted.write_text(SYSTEM_CA.read_text() + "\n" + os.environ.get("BAY_EGRESS_UPSTREAM_CA", ""))
    return CONFDIR, trusted


def outside_address() -> str:
    """The proxy's address on its outside network: the one routing picks for an
    address out there (a UDP "connect" sends nothing). The sandbox networks are
    internal, with no route out, so never this one; nor is the hostname's address,
    which Docker may point at any network the container is on after a restart."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never contacted
        address: str = probe.getsockname()[0]
        return address


async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    confdir, trusted = _confdir()
    state = EgressState()
    extra = [text for text in os.environ.get("BAY_EGRESS_DENY", "").split(",") if text]
    opts = options.Options(
        listen_host="0.0.0.0",
        listen_port=PROXY_PORT,
        confdir=str(confdir),
        ssl_verify_upstream_trusted_ca=str(trusted),
    )
    master = Master(opts)
    # Ours first: its next_layer decides a tunnel before mitmproxy's own does.
    master.addons.add(EgressAddon(state, always_denied(extra)))
    master.addons.add(*addons.default_addons(), errorcheck.ErrorCheck())
    # Options of mitmproxy's addons, known once they are loaded.
    master.options.update(
        # Decide at the request (CONNECT, ClientHello, headers), connect only then.
        connection_strategy="lazy",
        # Bodies past this stream through instead of being held: memory stays bounded.
        stream_large_bodies="256k",
        # What is neither TLS nor HTTP is parsed as HTTP, and so refused.
        rawtcp=False,
        http3=False,
    )
    control = uvicorn.Server(
        uvicorn.Config(
            control_app(state, os.environ["BAY_EGRESS_TOKEN"]),
            host=outside_address(),
            port=CONTROL_PORT,
            log_level="warning",
            access_log=False,
        )
    )
    await asyncio.gather(master.run(), control.serve())


if __name__ == "__main__":
    asyncio.run(main())
