"""Handlers of a sandbox's background processes and terminals: start, list, get, output
(plain or followed as events), input, signal, wait, screen, resize, kill; and a signed
link for a terminal's WebSocket (served by `bay_mcp/web/terminal.py`).

Each builds the service's request from its body or query (the rules are the request's)
and answers the service's result as JSON."""

from __future__ import annotations

from typing import Any

from bay_mcp.services import process_inputs as inputs
from bay_mcp.services.runs import OutputSink
from rest import models
from rest.endpoint import Call, Result, dump
from rest.events import event_stream, wants_events
from ship.protocol import MAX_OUTPUT_CHUNK_BYTES, ProcessOutput

# A plain read answers at most this much; a followed one (events) stops after it.
CHUNK_BYTES = MAX_OUTPUT_CHUNK_BYTES


def _ids(call: Call) -> tuple[str, str, str]:
    return call.owner, call.params["sandbox_id"], call.params["process_id"]


async def start_process(call: Call) -> Result:
    body: models.ProcessStartBody = call.body
    request = inputs.ProcessStart(**body.model_dump())
    started = await call.bay.processes.start(call.owner, call.params["sandbox_id"], request)
    return 201, dump(started)


async def list_processes(call: Call) -> Result:
    return 200, dump(await call.bay.processes.list(call.owner, call.params["sandbox_id"]))


async def get_process(call: Call) -> Result:
    return 200, dump(await call.bay.processes.get(*_ids(call)))


async def process_output(call: Call) -> Result:
    """One read (long polling up to `wait`), or with `Accept: text/event-stream` the
    output followed for up to `wait` seconds: `output` events, then a `result`."""
    query: models.ProcessOutputQuery = call.query
    request = inputs.OutputRead(since=query.since, wait_seconds=query.wait)
    owner, sandbox_id, process_id = _ids(call)
    processes = call.bay.processes
    if not wants_events(call.request):
        read = await processes.output(owner, sandbox_id, process_id, request, CHUNK_BYTES)
        return 200, dump(read)

    # A process that is not there is a 404 before any stream opens.
    await processes.get(owner, sandbox_id, process_id)

    async def follow(on_output: OutputSink) -> ProcessOutput:
        return await processes.follow(
            owner, sandbox_id, process_id, request, on_output, CHUNK_BYTES
        )

    def answer(followed: ProcessOutput) -> Any:
        # The text went out as events already: the result says where it ended.
        return dump(followed.model_copy(update={"text": ""}))

    return event_stream(follow, answer, call.request_id)


async def process_input(call: Call) -> Result:
    body: models.ProcessInputBody = call.body
    request = inputs.ProcessInput(**body.model_dump())
    return 200, dump(await call.bay.processes.input(*_ids(call), request))


async def signal_process(call: Call) -> Result:
    body: models.ProcessSignalBody = call.body
    request = inputs.SignalSend(signal=body.signal)
    return 200, dump(await call.bay.processes.signal(*_ids(call), request))


async def wait_process(call: Call) -> Result:
    body: models.ProcessWaitBody = call.body
    request = inputs.ProcessWait(timeout=body.timeout)
    return 200, dump(await call.bay.processes.wait(*_ids(call), request))


async def terminal_screen(call: Call) -> Result:
    return 200, dump(await call.bay.processes.screen(*_ids(call)))


async def resize_terminal(call: Call) -> Result:
    body: models.TerminalResizeBody = call.body
    request = inputs.TerminalSize(rows=body.rows, cols=body.cols)
    return 200, dump(await call.bay.processes.resize(*_ids(call), request))


async def terminal_link(call: Call) -> Result:
    body: models.TerminalLinkBody = call.body
    terminals = call.bay.terminals
    link = await terminals.link(call.owner, call.params["sandbox_id"], body.process_id)
    return 200, dump(link)


async def kill_process(call: Call) -> Result:
    return 200, dump(await call.bay.processes.kill(*_ids(call)))
