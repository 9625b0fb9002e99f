"""The MCP server's plumbing: the server class, strict arguments, how a tool finds its
Bay and caller, and how Bay's errors become tool errors.

Tools are module-level functions (one module per capability) that take the SDK's
`Context`; `caller(ctx)` gives them the started Bay and the caller's owner, read from
the `BayMCPServer` the context carries.

Errors: a `BayError` becomes a tool error whose text is its message (what happened,
what to do); anything else is logged with its traceback and the model reads only
that an internal error happened, with an id to find it in the log.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast
from urllib.parse import unquote, urlsplit

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.request_state import RequestStateBoundary
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    GetPromptResult,
    InputRequiredResult,
    ListPromptsResult,
    ListResourcesResult,
    Resource,
    ToolAnnotations,
)
from pydantic import BaseModel, ValidationError, create_model, model_validator

from bay_mcp.errors import BayError
from bay_mcp.mcp import icons, request_state, skill_resources
from bay_mcp.mcp.subscriptions import OwnerScopedBus, relay
from bay_mcp.services.output import cargo_uri

if TYPE_CHECKING:
    from bay_mcp.bay import Bay  # for types only: building the server imports no service

log = logging.getLogger(__name__)

OwnerOf = Callable[[Context[Any, Any] | None], str]
BayReady = Callable[[], Awaitable["Bay"]]
# Completes an argument for a caller: (Bay, owner, the request's params).
Completer = Callable[["Bay", str, CompleteRequestParams], Awaitable[Completion]]
T = TypeVar("T")
Arguments = TypeVar("Arguments", bound=BaseModel)


class Tool(NamedTuple):
    """A tool as a capability module lists it: the function (its name is the tool's, its
    docstring the description) and the hints a host reads."""

    function: Callable[..., Awaitable[Any]]
    hints: ToolAnnotations


class BayMCPServer(MCPServer[Any]):
    """MCPServer over a Bay: tools registered with clean descriptions and strict
    arguments, a resource list that is the caller's sandboxes, and cargo resources
    that carry each file's own MIME type."""

    def __init__(self, ready: BayReady, owner_of: OwnerOf, **kwargs: Any) -> None:
        codec = request_state.SharedKeyCodec()
        security = request_state.request_state_security(codec, self._owner)
        # Subscriptions: each listen stream hears only its owner's events.
        self.bus = OwnerScopedBus()
        super().__init__(subscriptions=self.bus, request_state_security=security, **kwargs)
        self.ready = ready
        self.owner_of = owner_of
        self._relaying: Bay | None = None  # the Bay whose changes reach `bus`
        # The key comes from Bay's database, loaded before the SDK's boundary needs it.
        chain = self._lowlevel_server.middleware
        boundary = next(i for i, m in enumerate(chain) if isinstance(m, RequestStateBoundary))
        chain.insert(boundary, request_state.KeyFromBay(codec, ready))
        # Extensions (MCP Apps) registered their tools in the SDK's constructor.
        for tool in self._tool_manager.list_tools():
            self._refuse_unknown_arguments(tool.name)
            tool.icons = tool.icons or icons.family(tool.fn.__module__)

    def add_tools(self, tools: Sequence[Tool]) -> None:
        """Register `tools`, each described by its docstring without the source's
        indentation (the description is what the model reads), with its family's icons
        (its module's: one module per capability), and refusing arguments it does not
        know."""
        for function, hints in tools:
            name = function.__name__
            description = inspect.cleandoc(function.__doc__ or "")
            self.add_tool(
                function,
                name=name,
                description=description,
                annotations=hints,
                icons=icons.family(function.__module__),
            )
            self._refuse_unknown_arguments(name)

    def complete_with(self, complete: Completer) -> None:
        """Serve `completion/complete` (and announce it) with `complete`, given the
        caller: the SDK's decorator would not tell whose sandboxes to offer."""

        async def handler(ctx: Any, params: CompleteRequestParams) -> CompleteResult:
            bay = await self.ready()
            return CompleteResult(completion=await complete(bay, self._owner(ctx), params))

        self._lowlevel_server.add_request_handler(
            "completion/complete", CompleteRequestParams, handler
        )

    def _refuse_unknown_arguments(self, name: str) -> None:
        # The SDK reads a tool's argument model live; the tool manager is its only
        # handle on a registered tool.
        tool = self._tool_manager.get_tool(name)
        assert tool is not None
        tool.fn_metadata.arg_model = strict_arguments(tool.fn_metadata.arg_model)
        tool.parameters["additionalProperties"] = False

    def _owner(self, ctx: Any) -> str:
        return self.owner_of(None if ctx is None else Context(request_context=ctx, mcp_server=self))

    async def subscriber(self, ctx: Any) -> str:
        """The owner asking to subscribe, once Bay's changes reach `bus` (Bay may
        start after the server is made, so they are relayed from the first asker on)."""
        owner = self._owner(ctx)
        bay = await self.ready()
        if self._relaying is not bay:
            self._relaying = bay
            bay.changes.subscribe(functools.partial(relay, self.bus))
        return owner

    async def _handle_list_resources(self, ctx: Any, params: Any) -> ListResourcesResult:
        owner = self._owner(ctx)
        bay = await self.ready()
        sandboxes = (await bay.sandboxes.list(owner)).items
        return ListResourcesResult(
            resources=[
                Resource(
                    uri=cargo_uri(sandbox.id, ""),
                    name=f"{sandbox.id} workspace",
                    description=f"/workspace of sandbox {sandbox.id} ({sandbox.status}); "
                    "reading it lists its files",
                    mime_type="application/json",
                )
                for sandbox in sandboxes
            ]
            + await skill_resources.skill_resources(bay, owner)
        )

    async def _handle_list_prompts(self, ctx: Any, params: Any) -> ListPromptsResult:
        """The workflows registered on the server, then the caller's released skills,
        one prompt each (a skill named like a workflow is not listed: the workflow
        answers that name)."""
        workflows = await self.list_prompts()
        taken = {prompt.name for prompt in workflows}
        bay = await self.ready()
        skills = await skill_resources.skill_prompts(bay, self._owner(ctx))
        return ListPromptsResult(
            prompts=workflows + [prompt for prompt in skills if prompt.name not in taken]
        )

    async def _handle_get_prompt(
        self, ctx: Any, params: Any
    ) -> GetPromptResult | InputRequiredResult:
        if self._prompt_manager.get_prompt(params.name) is not None:
            try:
                return await super()._handle_get_prompt(ctx, params)
            except ValueError as exc:  # missing or invalid arguments: the caller's to fix
                raise MCPError(code=INVALID_PARAMS, message=prompt_error(exc)) from exc
        bay = await self.ready()
        try:
            return await skill_resources.skill_prompt(
                bay, self._owner(ctx), params.name, params.arguments or {}
            )
        except BayError as exc:  # as the SDK answers an unknown prompt
            raise MCPError(code=INVALID_PARAMS, message=exc.message) from exc

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        """A `cargo://` URI is read here, with the file's own MIME type; others as the
        SDK reads them."""
        text = str(uri)
        if text.startswith(skill_resources.SCHEME):
            try:
                markdown = await skill_resources.read_skill(
                    await self.ready(), self.owner_of(context), text
                )
            except BayError as exc:
                raise ResourceError(exc.message) from exc
            return [ReadResourceContents(content=markdown, mime_type=skill_resources.MIME_TYPE)]
        if text.startswith("ui://"):
            return await self._read_view(uri, context)
        if not text.startswith("cargo://"):
            return await super().read_resource(uri, context)
        parts = urlsplit(text)
        sandbox_id = parts.netloc
        path = unquote(parts.path.lstrip("/")) or "."
        owner = self.owner_of(context)
        try:
            bay = await self.ready()
            read = await bay.files.read_resource(owner, sandbox_id, path)
        except BayError as exc:
            raise ResourceError(exc.message) from exc
        return [ReadResourceContents(content=read.content, mime_type=read.mime_type)]

    async def _read_view(self, uri: Any, context: Any) -> Any:
        """An MCP Apps page, allowed to frame Bay's previews when Bay knows where they
        are served (its public URL): a host's iframe may frame only declared origins."""
        contents = await super().read_resource(uri, context)
        origin = frame_origin((await self.ready()).ports.public_url)
        if origin is None or not isinstance(contents, Iterable):
            return contents
        framed: list[Any] = []
        for content in contents:
            if not isinstance(content, ReadResourceContents):
                framed.append(content)
                continue
            meta = dict(content.meta or {})
            ui = dict(meta.get("ui") or {})
            ui["csp"] = {**ui.get("csp", {}), "frameDomains": [origin]}
            meta["ui"] = ui
            framed.append(ReadResourceContents(content.content, content.mime_type, meta))
        return framed


def prompt_error(error: BaseException) -> str:
    """What was wrong with a prompt's arguments: the invalid ones named (the SDK wraps
    their validation error in a message that does not), else the SDK's message."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ValidationError):
        cause = cause.__cause__
    if cause is None:
        return str(error)
    invalid = sorted({".".join(str(part) for part in e["loc"]) for e in cause.errors()})
    return f"invalid argument{'s' if len(invalid) > 1 else ''}: {', '.join(invalid)}"


def frame_origin(public_url: str | None) -> str | None:
    """The origin previews are served from, when Bay knows it (over HTTP with a public
    URL); over stdio previews are loopback ports no page can declare ahead."""
    if public_url is None:
        return None
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}"


def strict_arguments(model: type[Arguments]) -> type[Arguments]:
    """`model`, refusing arguments it does not know: a misspelt argument is an error
    that names it and the accepted ones, never silently ignored."""
    accepted = [field.alias or name for name, field in model.model_fields.items()]

    def known_only(data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(accepted))
            if unknown:
                raise ValueError(
                    f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                    f"this tool takes {', '.join(accepted) or 'no arguments'}"
                )
        return data

    return create_model(
        model.__name__,
        __base__=model,
        # pydantic's stubs type this dict as plain callables; a decorated one is what works.
        __validators__={
            "known_only": cast(Callable[..., Any], model_validator(mode="before")(known_only))
        },
    )


def server_of(ctx: Context[Any, Any]) -> BayMCPServer:
    """The server a tool call came to."""
    server = ctx.mcp_server
    assert isinstance(server, BayMCPServer), "Bay's tools run on a BayMCPServer"
    return server


async def caller(ctx: Context[Any, Any]) -> tuple[Bay, str]:
    """The started Bay (a tool error if it failed to start) and the caller's owner."""
    server = server_of(ctx)
    return await call(server.ready()), server.owner_of(ctx)


async def call(work: Awaitable[T]) -> T:
    """Run a service call; translate its errors into tool errors a model can act on."""
    with tool_errors():
        return await work


@contextlib.contextmanager
def tool_errors() -> Iterator[None]:
    """Translate the errors raised in the block into tool errors a model can act on."""
    try:
        yield
    except BayError as exc:
        raise ToolError(exc.message) from exc
    except ToolError:
        raise
    except Exception as exc:
        incident = secrets.token_hex(4)
        log.exception("internal error %s", incident)
        raise ToolError(
            f"Bay hit an internal error (incident {incident}); it is logged. Retry, "
            "or report it with that id."
        ) from exc
