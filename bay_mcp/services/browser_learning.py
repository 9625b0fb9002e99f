"""Browser learning (upstream Shipyard Neo's `learn` and `include_trace`): a browser run
can leave a trace — its commands in order, each with its outcome — and a released
browser skill can be replayed in any sandbox.

A trace is stored as a JSON payload of kind `browser_trace` in the owner's skill
payloads (the same per-owner store and size limit as skill payloads; no table of its
own), named `trace:<id>`. Its `commands` are the shape a browser skill's payload has,
so a trace can be a candidate's payload as it is. `learn` also tags the run's history
entry `learn`: the runs an agent means to turn into skills are found by that tag.
"""

from __future__ import annotations

import json
from typing import Any

from bay_mcp.errors import NotFound, ValidationFailed
from bay_mcp.limits import MAX_SKILL_PAYLOAD_BYTES
from bay_mcp.managers import Progress
from bay_mcp.services.browser_commands import parse_command
from bay_mcp.services.execution import NO_ANNOTATION, ExecService
from bay_mcp.services.history import normalize_tags
from bay_mcp.services.skills import BLOB_PREFIX, SkillService
from bay_mcp.services.views import Annotation, BrowserExecResult
from ship.protocol import MAX_BROWSER_ACTIONS

TRACE_PREFIX = "trace:"
TRACE_KIND = "browser_trace"
LEARN_TAG = "learn"
# A step's output in a trace is a reminder of what the page said, not the page: a
# snapshot can be long, and the whole trace must stay under the payload limit.
_STEP_OUTPUT_CHARS = 2000
# What a trace holds besides its commands, at most: steps' capped outputs and fields.
_TRACE_ROOM_BYTES = 256 * 1024


def trace_of(
    sandbox_id: str, commands: list[str], result: BrowserExecResult, learn: bool
) -> dict[str, Any]:
    """The trace of a browser run: each command with its outcome, in order (the
    commands after a failing one, not run, have none)."""
    steps = []
    for command, step in zip(commands, result.steps, strict=False):
        output = step.output
        if len(output) > _STEP_OUTPUT_CHARS:
            output = output[:_STEP_OUTPUT_CHARS] + " […]"
        steps.append(
            {
                "cmd": command,
                "kind": step.kind,
                "success": step.success,
                "output": output,
                "error": step.error,
                "execution_time_ms": step.execution_time_ms,
            }
        )
    return {
        "execution_id": result.execution_id,
        "sandbox_id": sandbox_id,
        "learn": learn,
        "success": result.success,
        "commands": commands,
        "steps": steps,
        "url": result.url,
        "title": result.title,
    }


def _check_traceable(commands: list[str]) -> None:
    """Refuse, before anything runs, commands too long to keep in a trace: the run
    must not happen and then fail for want of room to record it."""
    size = len(json.dumps(commands, ensure_ascii=False).encode())
    if size > MAX_SKILL_PAYLOAD_BYTES - _TRACE_ROOM_BYTES:
        raise ValidationFailed(
            f"the commands are {size} bytes: too long to keep in a trace (at most "
            f"{MAX_SKILL_PAYLOAD_BYTES - _TRACE_ROOM_BYTES}); run them without learn "
            "and include_trace",
            {"fields": ["commands"], "field": "commands"},
        )


def _trace_id(trace_ref: str) -> str:
    if not trace_ref.startswith(TRACE_PREFIX) or trace_ref == TRACE_PREFIX:
        raise NotFound(f"browser trace {trace_ref} not found")
    return trace_ref.removeprefix(TRACE_PREFIX)


def commands_of(payload: object, payload_ref: str) -> list[str]:
    """The browser commands a skill payload holds (`{"commands": [...]}`, as a trace
    has them); ValidationFailed when it holds none."""
    commands = payload.get("commands") if isinstance(payload, dict) else None
    if (
        not isinstance(commands, list)
        or not commands
        or len(commands) > MAX_BROWSER_ACTIONS
        or not all(isinstance(command, str) and command.strip() for command in commands)
    ):
        raise ValidationFailed(
            f"the payload {payload_ref} holds no browser commands: a browser skill's "
            f'payload is {{"commands": ["open …", …]}} with 1–{MAX_BROWSER_ACTIONS} commands',
            {"fields": ["payload_ref"], "field": "payload_ref"},
        )
    return list(commands)


class BrowserLearning:
    def __init__(self, execution: ExecService, skills: SkillService) -> None:
        self._execution = execution
        self._skills = skills

    async def run(
        self,
        owner: str,
        sandbox_id: str,
        commands: list[str],
        timeout: float,
        progress: Progress,
        *,
        stop_on_error: bool = True,
        annotation: Annotation = NO_ANNOTATION,
        learn: bool = False,
        include_trace: bool = False,
    ) -> BrowserExecResult:
        """Run browser commands (ValidationFailed for one that does not parse, before
        any runs); with `learn` or `include_trace`, the result names its stored trace."""
        actions = [parse_command(command) for command in commands]
        if learn or include_trace:
            _check_traceable(commands)
        if learn:
            annotation = Annotation(
                annotation.description, normalize_tags(f"{annotation.tags or ''},{LEARN_TAG}")
            )
        result = await self._execution.browser(
            owner,
            sandbox_id,
            actions,
            timeout,
            progress,
            stop_on_error=stop_on_error,
            annotation=annotation,
        )
        if not (learn or include_trace):
            return result
        stored = await self._skills.create_payload(
            owner, trace_of(sandbox_id, commands, result, learn), TRACE_KIND
        )
        trace_ref = TRACE_PREFIX + stored.payload_ref.removeprefix(BLOB_PREFIX)
        return result.model_copy(update={"trace_ref": trace_ref})

    async def trace(self, owner: str, sandbox_id: str, trace_ref: str) -> dict[str, Any]:
        """A stored trace of the sandbox's. NotFound for an unknown ref, another
        owner's or another sandbox's."""
        try:
            stored = await self._skills.get_payload(owner, BLOB_PREFIX + _trace_id(trace_ref))
        except (NotFound, ValidationFailed) as exc:
            raise NotFound(f"browser trace {trace_ref} not found") from exc
        payload = stored.payload
        if (
            stored.kind != TRACE_KIND
            or not isinstance(payload, dict)
            or payload.get("sandbox_id") != sandbox_id
        ):
            raise NotFound(f"browser trace {trace_ref} not found")
        return {"trace_ref": trace_ref, **payload}

    async def run_skill(
        self,
        owner: str,
        sandbox_id: str,
        skill_key: str,
        timeout: float,
        progress: Progress,
    ) -> tuple[list[str], BrowserExecResult]:
        """Replay the commands of the skill's active release in the sandbox; the
        commands and the run. NotFound without an active release; ValidationFailed
        when its payload is missing or holds no commands."""
        try:
            release, candidate, _ = await self._skills.released_skill(owner, skill_key)
        except NotFound as exc:
            raise NotFound(
                f"No active release found for skill {skill_key!r}", {"skill_key": skill_key}
            ) from exc
        payload_ref = candidate.payload_ref
        if not payload_ref:
            raise ValidationFailed(
                f"skill {skill_key}'s release (candidate {candidate.id}) has no payload_ref",
                {"fields": ["payload_ref"], "field": "payload_ref"},
            )
        try:
            stored = await self._skills.get_payload(owner, payload_ref)
        except NotFound as exc:  # the release points at nothing: the skill is broken
            raise ValidationFailed(
                f"skill {skill_key}'s payload {payload_ref} does not exist",
                {"fields": ["payload_ref"], "field": "payload_ref"},
            ) from exc
        commands = commands_of(stored.payload, payload_ref)
        annotation = Annotation(
            f"replay of browser skill {skill_key} v{release.version}", f"skill:{skill_key}"
        )
        result = await self.run(
            owner, sandbox_id, commands, timeout, progress, annotation=annotation
        )
        return commands, result
