"""A released skill as an Agent Skills `SKILL.md`: YAML front matter (`name`,
`description`), then the release's notes and the code of the runs it was made from,
for a host to read as the `skill://{skill_key}` resource or take as a prompt."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from bay_mcp.services.skill_views import SkillCandidateView, SkillReleaseView
from bay_mcp.storage.models import Execution

# The Agent Skills format's limit on a description.
MAX_DESCRIPTION_CHARS = 1024
_FENCE_OF = {
    "python": "python",
    "shell": "bash",
    "typescript": "typescript",
    "javascript": "javascript",
    "r": "r",
}


@dataclass(frozen=True)
class SkillDocument:
    name: str
    description: str
    text: str


def _description(release: SkillReleaseView, candidate: SkillCandidateView) -> str:
    said = candidate.summary or candidate.usage_notes or f"The {release.skill_key} skill"
    line = " ".join(said.split())
    return line[:MAX_DESCRIPTION_CHARS]


def _fence(text: str) -> str:
    # A fence longer than any run of backticks in the code, so the code cannot close it.
    return "`" * max(3, _longest_backticks(text) + 1)


def _longest_backticks(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest


def _conditions(title: str, value: dict[str, object] | None) -> list[str]:
    if not value:
        return []
    shown = json.dumps(value, indent=2, ensure_ascii=False)
    return [f"## {title}", "", "```json", shown, "```", ""]


def skill_document(
    release: SkillReleaseView, candidate: SkillCandidateView, runs: Sequence[Execution]
) -> SkillDocument:
    """The SKILL.md of the release; runs gone from the history are named, not shown."""
    description = _description(release, candidate)
    # JSON strings are YAML double-quoted scalars: any text is safe in the front matter.
    lines = [
        "---",
        f"name: {json.dumps(release.skill_key)}",
        f"description: {json.dumps(description, ensure_ascii=False)}",
        "---",
        "",
        f"# {release.skill_key}",
        "",
        f"Release v{release.version} ({release.stage}) of candidate {candidate.id}.",
        "",
    ]
    if candidate.summary:
        lines += [candidate.summary, ""]
    if candidate.usage_notes:
        lines += ["## Usage", "", candidate.usage_notes, ""]
    if release.change_summary:
        lines += ["## Changes", "", release.change_summary, ""]
    lines += _conditions("Preconditions", candidate.preconditions)
    lines += _conditions("Postconditions", candidate.postconditions)
    if candidate.payload_ref:
        lines += [f"Payload: `{candidate.payload_ref}` (get_skill_payload reads it).", ""]
    lines += ["## Code", ""]
    shown = {run.id: run for run in runs}
    for number, run_id in enumerate(candidate.source_execution_ids, start=1):
        run = shown.get(run_id)
        if run is None:
            lines += [f"### Step {number}: {run_id} (no longer in the history)", ""]
            continue
        ticks = _fence(run.code)
        heading = f"### Step {number}: {run.exec_type}"
        if run.description:
            heading += f": {run.description}"
        lines += [heading, "", ticks + _FENCE_OF.get(run.exec_type, ""), run.code, ticks, ""]
    return SkillDocument(release.skill_key, description, "\n".join(lines))
