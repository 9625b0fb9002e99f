"""The mitmproxy addon that decides every request of a sandbox and adds its secrets.

A sandbox is known by its address. A CONNECT is decided by its host and port (and the
address that host resolves to), then the TLS ClientHello's SNI must pass too. A tunnel
is passed through untouched unless a secret is bound to its host: only then is TLS
intercepted (with the installation's CA, which the sandbox trusts) so the placeholder
in a header can be replaced by the value. Plain HTTP is decided by the URL's host and
the Host header. A refusal is a 403 whose body names the host and the rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from mitmproxy import connection, http, tcp
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import layer, layers
from mitmproxy.proxy.layers.tls import parse_client_hello
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from ship.egress.protocol import SecretBinding
from ship.egress.rules import Decision, IPAddress, IPNetwork, decide
from ship.egress.state import EgressState, Registered

log = logging.getLogger(__name__)

RESOLVE_TTL_S = 30.0
REFUSED_HEADER = "X-Bay-Egress"


@dataclass
class _Tunnel:
    """A CONNECT the proxy allowed, until its client goes away."""

    sandbox_id: str
    host: str
    port: int
    refused: Decision | None = None  # its SNI was refused: answered 403 once decrypted
    passthrough: bool = False
    decided: bool = False
    size: int = 0
    reason: str = ""


@dataclass
class _Resolved:
    addresses: list[IPAddress] = field(default_factory=list)
    until: float = 0.0


class EgressAddon:
    def __init__(self, state: EgressState, always_denied: Sequence[IPNetwork]) -> None:
        self._state = state
        self._always_denied = tuple(always_denied)
        self._tunnels: dict[str, _Tunnel] = {}
        self._resolved: dict[str, _Resolved] = {}

    # -- helpers -------------------------------------------------------------------

    def _registered(self, client: connection.Client) -> Registered | None:
        host = str(client.peername[0]).removeprefix("::ffff:")
        return self._state.lookup(host)

    async def _resolve(self, host: str) -> list[IPAddress]:
        """The addresses `host` resolves to, cached briefly; the proxy then connects to
        the first, so the address decided on is the one reached."""
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        cached = self._resolved.get(host)
        if cached is not None and cached.until > time.monotonic():
            return cached.addresses
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        except (OSError, ValueError):
            addresses = []
        if len(self._resolved) > 4096:
            self._resolved.clear()
        self._resolved[host] = _Resolved(addresses, time.monotonic() + RESOLVE_TTL_S)
        return addresses

    async def _decide(self, registered: Registered, host: str, port: int) -> Decision:
        addresses = await self._resolve(host)
        chain = [(named.name, named.policy) for named in registered.egress.chain]
        return decide(chain, host, port, addresses[0] if addresses else None, self._always_denied)

    def _refuse(self, flow: http.HTTPFlow, sandbox_id: str, host: str, port: int, why: str) -> None:
        flow.response = http.Response.make(
            403,
            f"Bay egress refused {host}:{port} for sandbox {sandbox_id}: {why}\n",
            {"Content-Type": "text/plain; charset=utf-8", REFUSED_HEADER: "refused"},
        )
        self._state.record(sandbox_id, host, port, flow.request.method, False, why)

    # -- hooks ---------------------------------------------------------------------

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        host, port = flow.request.host, flow.request.port
        registered = self._registered(flow.client_conn)
        if registered is None:
            self._refuse(flow, "-", host, port, "this address is not a sandbox Bay registered")
            return
        sandbox_id = registered.egress.sandbox_id
        decision = await self._decide(registered, host, port)
        if not decision.allowed:
            self._refuse(flow, sandbox_id, host, port, decision.reason)
            return
        self._tunnels[flow.client_conn.id] = _Tunnel(sandbox_id, host, port, reason=decision.reason)

    async def next_layer(self, nextlayer: layer.NextLayer) -> None:
        """A tunnel's first bytes: a ClientHello whose SNI passes and whose host has no
        secret bound is passed through as it is (counted, never decrypted). The rest
        goes on to mitmproxy's choice: TLS intercepted, where the HTTP hooks answer."""
        context = nextlayer.context
        tunnel = self._tunnels.get(context.client.id)
        if nextlayer.layer is not None or tunnel is None or tunnel.decided:
            return
        data = nextlayer.data_client()
        if not starts_like_tls_record(data):
            return
        try:
            hello = parse_client_hello(data)
        except ValueError:
            return
        if hello is None:
            return  # more of it to come: asked again then
        tunnel.decided = True
        registered = self._registered(context.client)
        if registered is None:
            return
        sni = hello.sni or tunnel.host
        if sni.lower() != tunnel.host.lower():
            decision = await self._decide(registered, sni, tunnel.port)
            if not decision.allowed:
                # Decrypted only to answer the 403 (the client trusts the CA); nothing
                # is forwarded.
                tunnel.refused = decision
                return
        if registered.bound(sni, tunnel.port):
            return  # intercepted: its requests get the secret
        nextlayer.layer = layers.TCPLayer(context)
        tunnel.passthrough = True

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.method == "CONNECT":
            return
        registered = self._registered(flow.client_conn)
        host, port = flow.request.host, flow.request.port
        if registered is None:
            self._refuse(flow, "-", host, port, "this address is not a sandbox Bay registered")
            return
        sandbox_id = registered.egress.sandbox_id
        tunnel = self._tunnels.get(flow.client_conn.id)
        if tunnel is not None and tunnel.refused is not None:
            self._refuse(flow, sandbox_id, host, port, tunnel.refused.reason)
            return
        names = {host, flow.request.host_header or host}
        for name in names:
            name = _without_port(name)
            decision = await self._decide(registered, name, port)
            if not decision.allowed:
                self._refuse(flow, sandbox_id, name, port, decision.reason)
                return
        flow.metadata["bay_reason"] = decision.reason
        if flow.request.scheme == "https":
            _put_secrets(flow, registered.bound(host, port))

    def response(self, flow: http.HTTPFlow) -> None:
        self._finished(
            flow, flow.response.headers.get(REFUSED_HEADER) is None if flow.response else True
        )

    def error(self, flow: http.HTTPFlow) -> None:
        self._finished(flow, True)

    def _finished(self, flow: http.HTTPFlow, forwarded: bool) -> None:
        if not forwarded or flow.request.method == "CONNECT":
            return  # refusals are recorded when made; tunnels when they close
        registered = self._registered(flow.client_conn)
        if registered is None:
            return
        size = len(flow.request.raw_content or b"")
        if flow.response is not None:
            size += len(flow.response.raw_content or b"")
        reason = str(flow.metadata.get("bay_reason", "allowed"))
        if flow.error is not None:
            reason = f"{reason}; failed: {flow.error.msg}"
        self._state.record(
            registered.egress.sandbox_id,
            _without_port(flow.request.host),
            flow.request.port,
            flow.request.method,
            True,
            reason,
            size,
        )

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        tunnel = self._tunnels.get(flow.client_conn.id)
        if tunnel is not None and flow.messages:
            tunnel.size += len(flow.messages[-1].content)
        flow.messages.clear()  # counted; a passed-through tunnel keeps nothing

    async def server_connect(self, data: ServerConnectionHookData) -> None:
        """Connect to the address decided on (resolved once), and never to one no policy
        may reach (a name resolving to the proxy's own loopback, say)."""
        if data.server.address is None:
            return
        host, port = data.server.address[0], data.server.address[1]
        addresses = await self._resolve(host)
        if not addresses:
            return
        decision = decide([], host, port, addresses[0], self._always_denied)
        if not decision.allowed:
            data.server.error = f"refused by Bay egress: {decision.reason}"
            return
        if data.server.sni is None and str(addresses[0]) != host:
            data.server.sni = host
        data.server.address = (str(addresses[0]), port)

    def client_disconnected(self, client: connection.Client) -> None:
        tunnel = self._tunnels.pop(client.id, None)
        if tunnel is not None and tunnel.passthrough:
            self._state.record(
                tunnel.sandbox_id,
                tunnel.host,
                tunnel.port,
                "CONNECT",
                True,
                tunnel.reason,
                tunnel.size,
            )


def _without_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and ":" not in name else host


def _put_secrets(flow: http.HTTPFlow, bindings: list[SecretBinding]) -> None:
    """Replace each bound placeholder in the request's header values by its secret."""
    if not bindings:
        return
    fields = []
    for name, value in flow.request.headers.fields:
        for binding in bindings:
            placeholder = binding.placeholder.encode()
            if placeholder in value:
                value = value.replace(placeholder, binding.value.encode())
        fields.append((name, value))
    flow.request.headers.fields = tuple(fields)
