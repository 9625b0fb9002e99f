"""Every capability a server announces is served: read what the client was told (the
`initialize` result, or at 2026-07-28 `server/discover`) and call each method it implies
once. Follows the announcement, not a list: a capability announced tomorrow (prompts,
completions, logging, subscriptions) is called by the same code.

Used by the unit tests (in memory, over the fakes) and the integration smoke (HTTP, SSE).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable
from typing import Any, TypeVar

from mcp import Client
from mcp.server.apps import EXTENSION_ID as APPS_EXTENSION
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types import METHOD_NOT_FOUND, PromptReference, ResourceTemplateReference
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

T = TypeVar("T")


class Served:
    """The methods called and how each answered."""

    def __init__(self) -> None:
        self.called: list[str] = []
        self.not_served: list[str] = []
        self.failed: list[str] = []

    async def call(self, method: str, work: Awaitable[T], *, strict: bool = True) -> T | None:
        """Call `method`: its result, or None when it failed. A Method-not-found answer
        is always a failure, any other error only when `strict` (a call whose arguments
        the test cannot know to be valid, such as a prompt's, is served if it answers
        anything but Method not found)."""
        self.called.append(method)
        try:
            return await work
        except MCPError as exc:
            if exc.error.code == METHOD_NOT_FOUND:
                self.not_served.append(method)
            elif strict:
                self.failed.append(f"{method}: {exc.error.message}")
            return None

    def check(self) -> None:
        assert not self.not_served, f"announced but Method not found: {self.not_served}"
        assert not self.failed, f"announced but failing: {self.failed}"


async def call_every_announced(client: Client) -> list[str]:
    """Call once each method the server's announced capabilities imply; an
    AssertionError names those answered Method not found (or failing). The caller should
    own at least one sandbox, so that there is a resource to read. The methods called."""
    caps = client.server_capabilities
    modern = client.protocol_version in MODERN_PROTOCOL_VERSIONS
    served = Served()
    listen: dict[str, Any] = {}
    uri: str | None = None
    if caps.tools is not None:
        tools = await served.call("tools/list", client.list_tools())
        if caps.tools.list_changed and modern:
            listen["tools_list_changed"] = True
        if tools is not None and caps.extensions and APPS_EXTENSION in caps.extensions:
            # MCP Apps: every view a tool names is a resource the server reads.
            for tool in tools.tools:
                view = ((tool.meta or {}).get("ui") or {}).get("resourceUri")
                if view is not None:
                    await served.call("resources/read", client.read_resource(view))
    templates: list[str] = []
    if caps.resources is not None:
        listed = await served.call("resources/list", client.list_resources())
        found = await served.call("resources/templates/list", client.list_resource_templates())
        if found is not None:
            templates = [template.uri_template for template in found.resource_templates]
        if listed is not None and listed.resources:
            uri = str(listed.resources[0].uri)
            await served.call("resources/read", client.read_resource(uri))
        if caps.resources.list_changed and modern:
            listen["resources_list_changed"] = True
        if caps.resources.subscribe and uri is not None:
            if modern:
                listen["resource_subscriptions"] = [uri]
            else:
                await _legacy_subscribe(served, client, uri)
    prompts: list[Any] = []
    if caps.prompts is not None:
        answer = await served.call("prompts/list", client.list_prompts())
        prompts = answer.prompts if answer is not None else []
        if prompts:
            first = prompts[0]
            arguments = {argument.name: "x" for argument in first.arguments or []}
            await served.call("prompts/get", client.get_prompt(first.name, arguments), strict=False)
        if caps.prompts.list_changed and modern:
            listen["prompts_list_changed"] = True
    if caps.completions is not None:
        for template in templates:
            variable = template.split("{", 1)[1].lstrip("+#./;?&").split("}", 1)[0].split(",")[0]
            ref = ResourceTemplateReference(type="ref/resource", uri=template)
            await served.call(
                "completion/complete", client.complete(ref, {"name": variable, "value": ""})
            )
        for prompt in prompts:
            if prompt.arguments:
                ref_p = PromptReference(type="ref/prompt", name=prompt.name)
                argument = {"name": prompt.arguments[0].name, "value": ""}
                await served.call("completion/complete", client.complete(ref_p, argument))
                break
    if caps.logging is not None and not modern:  # 2026-07-28 opts in per request, in _meta
        await served.call("logging/setLevel", client.set_logging_level("info"))
    if listen:
        await served.call("subscriptions/listen", _listen_once(client, listen))
    served.check()
    return served.called


async def _legacy_subscribe(served: Served, client: Client, uri: str) -> None:
    # The SDK marks the pair deprecated (removed at 2026-07-28); legacy hosts still call it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        if await served.call("resources/subscribe", client.session.subscribe_resource(uri)):
            # Only once subscribed: an unsubscribe alone proves nothing.
            await served.call("resources/unsubscribe", client.session.unsubscribe_resource(uri))


async def _listen_once(client: Client, notifications: dict[str, Any]) -> None:
    """Open a `subscriptions/listen` stream for every kind announced: served when the
    server acknowledges it (entering waits for the acknowledgement) honouring them all."""
    async with client.listen(**notifications) as subscription:
        honored = subscription.honored
        assert honored is not None
        for kind, wanted in notifications.items():
            assert getattr(honored, kind) == wanted, f"listen did not honour {kind}"
